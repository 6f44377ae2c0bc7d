// One RPC on the wire, between the HTTP exchange that carries it (HTTP/2 stream or
// HTTP/1.1 request) and the handler that serves it: flow control, back-pressure,
// cancellation and the order of events. What the bytes look like in each protocol is
// the protocol layer's: a request_reader turns body bytes into messages, a
// response_writer turns messages and the final status into headers, body and trailers.
//
// Everything runs on the connection's executor: no locks.
#pragma once

#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/error_detail.hpp>
#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/header_grammar.hpp>
#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/protocol/request_reader.hpp>
#include <edgepipe/protocol/response_writer.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/transport/detail/signal.hpp>
#include <edgepipe/transport/server_options.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::transport::detail {

// What a call needs from the HTTP exchange carrying it.
class sink {
 public:
  // The response's status and headers; end_stream: there is no body (gRPC Trailers-Only).
  virtual void start_response(int http_status, protocol::metadata headers, bool end_stream) = 0;
  virtual void append_body(std::string_view bytes) = 0;
  // Ends the response; trailers are sent as HTTP trailers (HTTP/2 only; null: none).
  virtual void end_response(protocol::metadata const* trailers) = 0;
  // Body bytes accepted but not yet written to the socket.
  [[nodiscard]] virtual std::size_t queued() const = 0;
  // Handler has taken `bytes` of body off the queue: the peer may send that much more.
  virtual void consumed(std::size_t bytes) = 0;

 protected:
  ~sink() = default;
};

// Calls `write(name, value)` for each pair of a response's headers or trailers that fits
// the HTTP field grammar, and drops the others: a handler's value with a CR or LF in it
// would otherwise end its header early and write headers of its own.
template <class Write>
void for_each_wire_header(protocol::metadata const& m, Write&& write) {
  for (auto const& [name, value] : m)
    if (protocol::is_header_name(name) && protocol::is_header_value(value)) write(name, value);
}

// plain: an HTTP route, not an RPC: the body raw and whole, the answer the handler's own.
enum class rpc_kind { unary, server_streaming, client_streaming, bidi_streaming, plain };

struct request_info {
  std::string method;  // "POST" or "GET"
  std::string path;
  std::string query;
  protocol::content_type_info type;
  std::string request_encoding;  // "" or "identity" or "gzip"
  std::string_view response_encoding;  // chosen from what the client accepts
  protocol::metadata headers;
  std::string peer;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  bool http1 = false;
};

namespace call_errors {
inline constexpr status unsupported_encoding{code::unimplemented, "unsupported_compression",
                                             "supported encodings: gzip, identity"};
inline constexpr status no_message{code::unimplemented, "protocol_error", "unary call without a request message"};
inline constexpr status two_messages{code::unimplemented, "protocol_error",
                                     "unary call with more than one request message"};
inline constexpr status canceled{code::canceled, "canceled"};
inline constexpr status deadline{code::deadline_exceeded, "deadline_exceeded"};
inline constexpr status draining{code::unavailable, "draining", "the server is shutting down"};
inline constexpr status connection_backlog{code::resource_exhausted, "connection_backlog",
                                           "too many response bytes wait on this connection"};
}  // namespace call_errors

class call : public std::enable_shared_from_this<call> {
 public:
  call(boost::asio::any_io_executor ex, request_info info, rpc_kind kind, server_options const& options)
      : info_{std::move(info)},
        kind_{kind},
        options_{&options},
        inbound_signal_{ex},
        reader_{kind == rpc_kind::plain ? plain_reader(options)
                                        : protocol::request_reader{protocol::wire_format_of(info_.type),
                                                                   info_.request_encoding == protocol::encoding_gzip,
                                                                   options.max_message_bytes}},
        drained_signal_{ex},
        writer_{info_.type, info_.response_encoding, options.compress_min_bytes} {}

  call(call const&) = delete;
  call& operator=(call const&) = delete;

  // The exchange that carries the call; a call finished before it had one (a refusal)
  // sends its ending now.
  void attach(sink* s) {
    sink_ = s;
    if (finished_ && !ending_sent_) send_ending();
  }
  void detach() noexcept { sink_ = nullptr; }
  [[nodiscard]] request_info const& info() const noexcept { return info_; }
  // The HTTP/1.1 connection watches its peer while a server stream is written.
  [[nodiscard]] rpc_kind kind() const noexcept { return kind_; }
  boost::asio::cancellation_signal& cancellation() noexcept { return cancel_; }

  // --- request side, fed by the transport ----------------------------------------------

  // Body bytes as they arrive; a failure ends the call (the transport then stops reading).
  status feed_body(std::string_view bytes) {
    pending_wire_ = bytes.size();
    status s = fail_request(reader_.feed(bytes, [this](std::string&& m) { push_message(std::move(m)); }));
    // Bytes that completed no message are acknowledged now: the peer must be able to
    // send the rest of a message larger than the flow-control window. Bytes that did
    // complete one are acknowledged when the handler takes it, which is how a slow
    // handler slows the peer down.
    if (pending_wire_ > 0 && sink_ != nullptr) sink_->consumed(std::exchange(pending_wire_, 0));
    return s;
  }

  // The request body is complete.
  void end_body() {
    if (body_ended_) return;
    body_ended_ = true;
    pending_wire_ = 0;  // every byte fed was attributed or acknowledged
    fail_request(reader_.finish([this](std::string&& m) { push_message(std::move(m)); }));
    inbound_signal_.notify();
  }

  // A request that arrived whole (Connect GET): the body it would have had.
  void set_single_message(std::string_view message) {
    pending_wire_ = 0;
    fail_request(reader_.feed(message, [this](std::string&& m) { push_message(std::move(m)); }));
    end_body();
  }

  // The peer went away (reset, disconnect): nothing more will be read or written.
  void peer_gone() {
    peer_gone_ = true;
    sink_ = nullptr;
    cancel_.emit(boost::asio::cancellation_type::terminal);
    inbound_signal_.notify();
    drained_signal_.notify();
  }

  // The transport wrote some of the queue: a suspended writer may continue.
  void on_drained() {
    if (sink_ == nullptr || sink_->queued() <= options_->stream_high_water_bytes / 2) drained_signal_.notify();
  }

  // Response body bytes the transport accepted and has not written to the socket yet.
  [[nodiscard]] std::size_t queued_bytes() const { return sink_ == nullptr ? 0 : sink_->queued(); }

  // --- handler side ------------------------------------------------------------------

  // The next request message (decompressed), nullopt at the end, or the request's failure.
  boost::asio::awaitable<result<std::optional<std::string>>> next_message() {
    for (;;) {
      if (!inbound_.empty()) {
        auto [message, wire_bytes] = std::move(inbound_.front());
        inbound_.pop_front();
        if (sink_ != nullptr && wire_bytes > 0) sink_->consumed(wire_bytes);
        co_return std::optional<std::string>{std::move(message)};
      }
      if (!request_failure_.ok()) co_return request_failure_;
      if (body_ended_) co_return std::optional<std::string>{};
      if (peer_gone_) co_return call_errors::canceled;
      if (!co_await inbound_signal_.wait()) co_return call_errors::canceled;
    }
  }

  // Sends one serialized response message; suspends while the peer is behind.
  boost::asio::awaitable<status> write_message(std::string_view message) {
    if (finished_) co_return status{code::internal, "call_finished"};
    while (sink_ != nullptr && sink_->queued() > options_->stream_high_water_bytes) {
      if (!co_await drained_signal_.wait()) co_return call_errors::canceled;
    }
    if (sink_ == nullptr || peer_gone_) co_return call_errors::canceled;
    // Named, not returned directly: g++ 12 miscompiles that co_return (SIGILL).
    status const sent = writer_.send_message(*sink_, message, extra_headers_);
    co_return sent;
  }

  // Ends the call with `s` (and details when it failed). Idempotent: the first wins.
  void finish(status s, protocol::error_details const& details = {}, protocol::metadata const& trailers = {}) {
    if (finished_) return;
    finished_ = true;
    final_status_ = s;
    final_details_ = details;
    final_trailers_ = trailers;
    if (sink_ != nullptr) send_ending();
  }

  // A plain call's answer, as its handler gave it. Ends the call.
  void answer(int http_status, protocol::metadata headers, std::string body) {
    if (finished_) return;
    plain_answer_ = {http_status, std::move(headers), std::move(body)};
    finish(status{});
  }

  // Sends the response headers now, before any message (streaming calls; Connect unary
  // sends them with its status).
  void send_headers() {
    if (sink_ != nullptr) writer_.send_headers(*sink_, extra_headers_);
  }

  [[nodiscard]] bool finished() const noexcept { return finished_; }
  protocol::metadata& response_metadata() noexcept { return extra_headers_; }

 private:
  void send_ending() {
    ending_sent_ = true;
    if (kind_ == rpc_kind::plain) return write_plain_answer(final_status_);
    writer_.finish(*sink_, final_status_, final_details_, final_trailers_, extra_headers_);
  }

  // A plain body is read as a Connect unary one is, uncompressed: whole, within the body limit.
  static protocol::request_reader plain_reader(server_options const& o) {
    return protocol::request_reader{protocol::wire_format::connect_unary, false, o.http1_max_body_bytes};
  }

  // The handler's answer, or, when the call failed before it answered (a body over the
  // limit, a handler that threw), the failure's HTTP status with a JSON error.
  void write_plain_answer(status const& s) {
    auto& [http, headers, body] = plain_answer_;
    if (!s.ok()) {
      http = s == protocol::frame_errors::too_large ? 413 : protocol::connect_http_status(s.code());
      headers = {{"content-type", "application/json"}};
      body.clear();
      protocol::append_connect_error_json(body, s);
    }
    headers.insert(headers.end(), extra_headers_.begin(), extra_headers_.end());
    sink_->start_response(http, std::move(headers), body.empty());
    if (!body.empty()) {
      sink_->append_body(body);
      sink_->end_response(nullptr);
    }
  }

  status fail_request(status s) {
    if (!s.ok() && request_failure_.ok()) {
      request_failure_ = s;
      inbound_signal_.notify();
    }
    return s;
  }

  // The first message a chunk completes carries the chunk's bytes, to be acknowledged
  // when the handler takes it.
  void push_message(std::string message) {
    inbound_.emplace_back(std::move(message), std::exchange(pending_wire_, 0));
    inbound_signal_.notify();
  }

  request_info info_;
  rpc_kind kind_;
  server_options const* options_;
  sink* sink_ = nullptr;
  boost::asio::cancellation_signal cancel_;

  // request side
  signal inbound_signal_;
  std::deque<std::pair<std::string, std::size_t>> inbound_;  // message, wire bytes to acknowledge
  protocol::request_reader reader_;
  std::size_t pending_wire_ = 0;  // bytes of the chunk being read, not yet attributed
  status request_failure_{};
  bool body_ended_ = false;
  bool peer_gone_ = false;

  // response side
  signal drained_signal_;
  protocol::response_writer writer_;
  protocol::metadata extra_headers_;
  bool finished_ = false;
  bool ending_sent_ = false;
  status final_status_{};
  protocol::error_details final_details_;
  protocol::metadata final_trailers_;
  struct {
    int status = 200;
    protocol::metadata headers;
    std::string body;
  } plain_answer_;
};

}  // namespace edgepipe::transport::detail
