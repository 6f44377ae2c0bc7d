// What a handler knows about its call, and what it may add to the response.
#pragma once

#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/error_detail.hpp>
#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/protocol/protobuf_codec.hpp>
#include <edgepipe/transport/detail/call.hpp>

#include <google/protobuf/message.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::transport {

class call_context {
 public:
  explicit call_context(detail::call& c) noexcept : call_{&c} {}

  // A request header (lower-case name); empty when absent.
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept {
    return protocol::find_metadata(call_->info().headers, name);
  }
  [[nodiscard]] protocol::metadata const& request_headers() const noexcept { return call_->info().headers; }
  [[nodiscard]] std::string_view peer() const noexcept { return call_->info().peer; }
  [[nodiscard]] std::string_view procedure() const noexcept { return call_->info().path; }
  [[nodiscard]] std::string_view http_method() const noexcept { return call_->info().method; }
  [[nodiscard]] protocol::rpc_protocol protocol() const noexcept { return call_->info().type.protocol; }
  [[nodiscard]] bool http1() const noexcept { return call_->info().http1; }
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept {
    return call_->info().deadline;
  }

  // Sent with the response headers (before the first message).
  void set_response_header(std::string name, std::string value) {
    call_->response_metadata().emplace_back(std::move(name), std::move(value));
  }
  void add_trailer(std::string name, std::string value) { trailers_.emplace_back(std::move(name), std::move(value)); }

  // Details travel with a failed status (Connect "details", gRPC grpc-status-details-bin).
  void add_error_detail(google::protobuf::Message const& detail) {
    details_.push_back({"type.googleapis.com/" + detail.GetTypeName(), detail.SerializeAsString()});
  }
  [[nodiscard]] protocol::error_details const& error_details() const noexcept { return details_; }
  [[nodiscard]] protocol::metadata const& trailers() const noexcept { return trailers_; }

 private:
  detail::call* call_;
  protocol::error_details details_;
  protocol::metadata trailers_;
};

// Reads a client's messages: read() yields the next one, nullopt at the end of the
// stream, or the failure that ended the request (malformed, too large, canceled).
template <class Message>
class message_reader {
 public:
  explicit message_reader(detail::call& c) noexcept : call_{&c} {}

  boost::asio::awaitable<result<std::optional<Message>>> read() {
    auto next = co_await call_->next_message();
    if (!next) co_return next.error();
    if (!*next) co_return std::optional<Message>{};
    Message m;
    if (status s = protocol::decode_message(call_->info().type.codec, **next, m); !s.ok()) co_return s;
    co_return std::optional<Message>{std::move(m)};
  }

 private:
  detail::call* call_;
};

// Writes messages to the client. write() suspends while the client is behind (the
// queue above its high-water mark): a slow reader slows the writer down instead of
// growing a buffer. A failed write (canceled: the client left) ends the handler's use.
template <class Message>
class message_writer {
 public:
  explicit message_writer(detail::call& c) noexcept : call_{&c} {}

  // Sends the response headers at once, so the client knows the stream was accepted
  // before the first message (otherwise they go with it).
  void send_headers() { call_->send_headers(); }

  boost::asio::awaitable<status> write(Message const& m) {
    if (status s = protocol::encode_message(call_->info().type.codec, m, buffer_); !s.ok()) co_return s;
    in_write_ = buffer_.size();
    status s = co_await call_->write_message(buffer_);
    in_write_ = 0;
    // An idle stream does not keep the largest message it ever sent.
    if (buffer_.capacity() > kept_buffer_bytes) buffer_ = std::string{};
    co_return s;
  }

  // Response bytes accepted by write() and not yet written to the socket: the transport's
  // queue for this stream, plus the message a write() suspended above the high-water mark
  // still holds.
  [[nodiscard]] std::size_t queued_bytes() const { return call_->queued_bytes() + in_write_; }

 private:
  static constexpr std::size_t kept_buffer_bytes = 64 * 1024;
  detail::call* call_;
  std::string buffer_;
  std::size_t in_write_ = 0;
};

}  // namespace edgepipe::transport
