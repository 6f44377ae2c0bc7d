// One RPC on the wire, between the HTTP exchange that carries it (HTTP/2 stream or
// HTTP/1.1 request) and the handler that serves it. The request side turns body bytes
// into messages for the protocol at hand; the response side turns messages and a final
// status into that protocol's headers, body and trailers.
//
// Everything runs on the connection's executor: no locks.
#pragma once

#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/error_detail.hpp>
#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/grpc.hpp>
#include <edgepipe/protocol/grpc_web.hpp>
#include <edgepipe/protocol/header_grammar.hpp>
#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/protocol/metadata.hpp>
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

enum class rpc_kind { unary, server_streaming, client_streaming, bidi_streaming };

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
inline constexpr status bad_base64{code::invalid_argument, "malformed_frame", "invalid grpc-web-text base64"};
inline constexpr status body_too_large{code::resource_exhausted, "message_too_large", "message larger than the limit"};
inline constexpr status canceled{code::canceled, "canceled"};
inline constexpr status deadline{code::deadline_exceeded, "deadline_exceeded"};
inline constexpr status draining{code::unavailable, "draining", "the server is shutting down"};
inline constexpr status connection_backlog{code::resource_exhausted, "connection_backlog",
                                           "too many response bytes wait on this connection"};
inline constexpr status unexpected_end_stream{code::invalid_argument, "malformed_frame",
                                              "end-of-stream frame in a request"};
}  // namespace call_errors

class call : public std::enable_shared_from_this<call> {
 public:
  call(boost::asio::any_io_executor ex, request_info info, rpc_kind kind, server_options const& options)
      : info_{std::move(info)},
        kind_{kind},
        options_{&options},
        inbound_signal_{ex},
        decoder_{protocol::frame_decoder::options{allowed_request_flags(), options.max_message_bytes,
                                                  compressed_requests()}},
        drained_signal_{ex} {}

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
  [[nodiscard]] rpc_kind kind() const noexcept { return kind_; }
  boost::asio::cancellation_signal& cancellation() noexcept { return cancel_; }

  // --- request side, fed by the transport ----------------------------------------------

  // Body bytes as they arrive; a failure ends the call (the transport then stops reading).
  status feed_body(std::string_view bytes) {
    if (!request_failure_.ok()) return request_failure_;
    pending_wire_ = bytes.size();
    status s = decode_body(bytes);
    // Bytes that completed no message are acknowledged now: the peer must be able to
    // send the rest of a message larger than the flow-control window. Bytes that did
    // complete one are acknowledged when the handler takes it, which is how a slow
    // handler slows the peer down.
    if (pending_wire_ > 0 && sink_ != nullptr) sink_->consumed(std::exchange(pending_wire_, 0));
    return s;
  }

 private:
  status decode_body(std::string_view bytes) {
    if (info_.type.protocol == protocol::rpc_protocol::connect && !info_.type.connect_streaming) {
      // A Connect unary body is the (possibly compressed) message itself.
      if (unary_body_.size() + bytes.size() > options_->max_message_bytes)
        return fail_request(call_errors::body_too_large);
      unary_body_.append(bytes);
      return {};
    }
    if (info_.type.web_text) {
      text_scratch_.clear();
      if (!base64_.feed(bytes, text_scratch_)) return fail_request(call_errors::bad_base64);
      return fail_request(decode_frames(text_scratch_));
    }
    return fail_request(decode_frames(bytes));
  }

 public:
  // The request body is complete.
  void end_body() {
    if (body_ended_) return;
    body_ended_ = true;
    if (request_failure_.ok()) {
      if (info_.type.protocol == protocol::rpc_protocol::connect && !info_.type.connect_streaming) {
        std::string message;
        status s = decompress(std::move(unary_body_), info_.request_encoding, message);
        if (s.ok()) push_message(std::move(message), 0);
        else request_failure_ = s;
      } else {
        if (info_.type.web_text) {
          text_scratch_.clear();
          if (!base64_.finish(text_scratch_)) request_failure_ = call_errors::bad_base64;
          else fail_request(decode_frames(text_scratch_));
        }
        if (request_failure_.ok()) request_failure_ = decoder_.finish();
      }
    }
    inbound_signal_.notify();
  }

  // A request that arrived whole (Connect GET).
  void set_single_message(std::string message) {
    std::string out;
    status s = decompress(std::move(message), info_.request_encoding, out);
    if (s.ok()) push_message(std::move(out), 0);
    else request_failure_ = s;
    body_ended_ = true;
    inbound_signal_.notify();
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

  [[nodiscard]] status request_failure() const noexcept { return request_failure_; }

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
    send_headers_once();
    std::string& out = scratch_;
    out.clear();
    bool const compress = !info_.response_encoding.empty() && message.size() >= options_->compress_min_bytes;
    if (is_connect_unary()) {
      unary_response_.assign(message);  // sent with the final status
      co_return status{};
    }
    if (compress) {
      std::string zipped;
      if (status s = protocol::gzip_compress(message, zipped); !s.ok()) co_return s;
      protocol::append_frame(out, protocol::flag_compressed, zipped);
    } else {
      protocol::append_frame(out, 0, message);
    }
    emit_body(out);
    co_return status{};
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

  // Sends the response headers now, before any message (streaming calls; Connect unary
  // sends them with its status).
  void send_headers() { send_headers_once(); }

  [[nodiscard]] bool finished() const noexcept { return finished_; }
  [[nodiscard]] bool peer_is_gone() const noexcept { return peer_gone_; }
  [[nodiscard]] status final_status() const noexcept { return final_status_; }
  protocol::metadata& response_metadata() noexcept { return extra_headers_; }

 private:
  void send_ending() {
    ending_sent_ = true;
    write_ending();
    // Sized for the largest message: a finished call whose answer still waits for the
    // peer's window should hold only that answer.
    std::string{}.swap(scratch_);
  }

  void write_ending() {
    status const& s = final_status_;
    protocol::error_details const& details = final_details_;
    protocol::metadata const& trailers = final_trailers_;
    if (is_connect_unary()) return finish_connect_unary(s, details, trailers);
    switch (info_.type.protocol) {
      case protocol::rpc_protocol::connect: {
        send_headers_once();
        std::string end;
        protocol::append_connect_end_stream_json(end, s, details, with_retry_hint(trailers, s, "retry-after-ms"));
        scratch_.clear();
        protocol::append_frame(scratch_, protocol::flag_end_stream, end);
        emit_body(scratch_);
        sink_->end_response(nullptr);
        break;
      }
      case protocol::rpc_protocol::grpc: {
        protocol::metadata t = protocol::grpc_status_trailers(s, details);
        t.insert(t.end(), trailers.begin(), trailers.end());
        if (!headers_sent_) {  // Trailers-Only: one HEADERS frame that ends the stream
          headers_sent_ = true;
          protocol::metadata h = response_headers(false);
          h.insert(h.end(), t.begin(), t.end());
          sink_->start_response(200, std::move(h), true);
        } else {
          sink_->end_response(&t);
        }
        break;
      }
      case protocol::rpc_protocol::grpc_web: {
        protocol::metadata t = protocol::grpc_status_trailers(s, details);
        t.insert(t.end(), trailers.begin(), trailers.end());
        if (!headers_sent_) {  // nothing written: the status travels in the headers alone
          headers_sent_ = true;
          protocol::metadata h = response_headers(false);
          h.insert(h.end(), t.begin(), t.end());
          sink_->start_response(200, std::move(h), true);
        } else {
          scratch_.clear();
          protocol::append_grpc_web_trailers(scratch_, t);
          emit_body(scratch_);
          sink_->end_response(nullptr);
        }
        break;
      }
    }
  }

  [[nodiscard]] bool is_connect_unary() const noexcept {
    return info_.type.protocol == protocol::rpc_protocol::connect && !info_.type.connect_streaming;
  }
  [[nodiscard]] std::uint8_t allowed_request_flags() const noexcept {
    // gRPC-Web requests never carry trailers; Connect requests never end-of-stream.
    return protocol::flag_compressed;
  }
  [[nodiscard]] bool compressed_requests() const noexcept {
    return info_.request_encoding == protocol::encoding_gzip;
  }

  status fail_request(status s) {
    if (!s.ok() && request_failure_.ok()) {
      request_failure_ = s;
      inbound_signal_.notify();
    }
    return s;
  }

  status decode_frames(std::string_view bytes) {
    return decoder_.feed(bytes, [&](protocol::frame_view f) -> status {
      std::string message;
      if (f.flags & protocol::flag_compressed) {
        if (status s = protocol::gzip_decompress(f.message, message, options_->max_message_bytes); !s.ok()) return s;
      } else {
        message.assign(f.message);
      }
      push_message(std::move(message), std::exchange(pending_wire_, 0));
      return {};
    });
  }

  void push_message(std::string message, std::size_t wire_bytes) {
    inbound_.emplace_back(std::move(message), wire_bytes);
    inbound_signal_.notify();
  }

  status decompress(std::string in, std::string_view encoding, std::string& out) {
    if (encoding == protocol::encoding_gzip) return protocol::gzip_decompress(in, out, options_->max_message_bytes);
    out = std::move(in);
    return {};
  }

  protocol::metadata response_headers(bool for_body) const {
    protocol::metadata h;
    h.emplace_back("content-type", std::string{protocol::response_content_type(info_.type)});
    if (!info_.response_encoding.empty() && for_body) {
      switch (info_.type.protocol) {
        case protocol::rpc_protocol::connect:
          h.emplace_back(info_.type.connect_streaming ? "connect-content-encoding" : "content-encoding",
                         std::string{info_.response_encoding});
          break;
        case protocol::rpc_protocol::grpc:
        case protocol::rpc_protocol::grpc_web:
          h.emplace_back("grpc-encoding", std::string{info_.response_encoding});
          break;
      }
    }
    if (info_.type.protocol != protocol::rpc_protocol::connect)
      h.emplace_back("grpc-accept-encoding", std::string{protocol::supported_encodings});
    else if (info_.type.connect_streaming)
      h.emplace_back("connect-accept-encoding", std::string{protocol::supported_encodings});
    h.insert(h.end(), extra_headers_.begin(), extra_headers_.end());
    return h;
  }

  void send_headers_once() {
    if (headers_sent_ || sink_ == nullptr || is_connect_unary()) return;
    headers_sent_ = true;
    sink_->start_response(200, response_headers(true), false);
  }

  void emit_body(std::string const& bytes) {
    if (sink_ == nullptr) return;
    if (info_.type.web_text) {
      std::string text;
      protocol::append_base64(text, bytes);
      sink_->append_body(text);
    } else {
      sink_->append_body(bytes);
    }
  }

  static protocol::metadata with_retry_hint(protocol::metadata t, status const& s, char const* name) {
    if (s.retry_after_ms() >= 0) t.emplace_back(name, std::to_string(s.retry_after_ms()));
    return t;
  }

  void finish_connect_unary(status const& s, protocol::error_details const& details, protocol::metadata const& trailers) {
    headers_sent_ = true;
    protocol::metadata h;
    std::string body;
    if (s.ok()) {
      h = response_headers(false);
      bool const compress =
          !info_.response_encoding.empty() && unary_response_.size() >= options_->compress_min_bytes;
      if (compress && protocol::gzip_compress(unary_response_, body).ok()) {
        h.emplace_back("content-encoding", std::string{info_.response_encoding});
      } else {
        body = std::move(unary_response_);
      }
    } else {
      h.emplace_back("content-type", "application/json");
      protocol::append_connect_error_json(body, s, details);
      h.insert(h.end(), extra_headers_.begin(), extra_headers_.end());
    }
    // Connect unary trailers travel as headers prefixed "trailer-"; the retry hint is a
    // plain header (once: clients merge headers and trailers into one metadata).
    for (auto const& [k, v] : trailers) h.emplace_back("trailer-" + k, v);
    if (s.retry_after_ms() >= 0) h.emplace_back("retry-after-ms", std::to_string(s.retry_after_ms()));
    int const http = protocol::connect_http_status(s.code());
    sink_->start_response(http, std::move(h), body.empty());
    if (!body.empty()) {
      sink_->append_body(body);
      sink_->end_response(nullptr);
    }
  }

  request_info info_;
  rpc_kind kind_;
  server_options const* options_;
  sink* sink_ = nullptr;
  boost::asio::cancellation_signal cancel_;

  // request side
  signal inbound_signal_;
  std::deque<std::pair<std::string, std::size_t>> inbound_;  // message, wire bytes to acknowledge
  protocol::frame_decoder decoder_;
  protocol::base64_decoder base64_;
  std::string text_scratch_;
  std::string unary_body_;
  std::size_t pending_wire_ = 0;  // bytes of the chunk being decoded, not yet attributed
  status request_failure_{};
  bool body_ended_ = false;
  bool peer_gone_ = false;

  // response side
  signal drained_signal_;
  std::string scratch_;
  std::string unary_response_;
  protocol::metadata extra_headers_;
  bool headers_sent_ = false;
  bool finished_ = false;
  bool ending_sent_ = false;
  status final_status_{};
  protocol::error_details final_details_;
  protocol::metadata final_trailers_;
};

}  // namespace edgepipe::transport::detail
