// A gRPC response as the h2c client reads it, fed field by field and chunk by chunk: the
// HTTP status, the content type, grpc-status (in the trailers, or in the headers of a
// Trailers-Only answer), and the length-prefixed messages of the body. Kept apart from
// the socket so the fuzzer reaches all of it.
//
// The outcome is OK only for HTTP 200 with a gRPC content type, a whole body of
// uncompressed frames (we never offer compression) and grpc-status 0; anything else is a
// failure value, never an exception.
#pragma once

#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/status.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace edgepipe::transport::detail {

namespace grpc_response_errors {
inline constexpr status no_grpc_status{code::internal, "no_grpc_status", "the response ended without grpc-status"};
inline constexpr status not_grpc{code::unknown, "not_grpc", "the response is not application/grpc"};
inline constexpr status server_status{code::unknown, "grpc_status", "the server ended the call with this code"};
}  // namespace grpc_response_errors

// The gRPC code for a response that is not HTTP 200 (gRPC's HTTP-to-code mapping).
constexpr code code_from_http_status(int http_status) noexcept {
  switch (http_status) {
    case 400: return code::internal;
    case 401: return code::unauthenticated;
    case 403: return code::permission_denied;
    case 404: return code::unimplemented;
    case 429:
    case 502:
    case 503:
    case 504: return code::unavailable;
    default: return code::unknown;
  }
}

class grpc_response {
 public:
  explicit grpc_response(std::size_t max_message_bytes = protocol::default_max_message_size) noexcept
      : frames_{{protocol::flag_compressed, max_message_bytes, false}} {}

  // One field of the response headers, or (`trailer`) of its trailers.
  void on_header(std::string_view name, std::string_view value, bool trailer) {
    if (name == ":status") {
      if (!trailer || http_status_ == 0 || http_status_ / 100 == 1) http_status_ = parse_number(value, 999);
    } else if (name == "content-type") {
      grpc_content_ = value == "application/grpc" || value.starts_with("application/grpc+") ||
                      value.starts_with("application/grpc;");
    } else if (name == "grpc-status") {
      int const n = parse_number(value, 99);
      grpc_status_ = n < 0 || n > 16 ? static_cast<int>(code::unknown) : n;
    } else if (name == "grpc-message") {
      message_.assign(value.substr(0, 512));
    }
  }

  // Body bytes; `on_message(std::string_view)` gets each whole message and returns a
  // status (a failure ends the decoding and becomes the outcome).
  template <class OnMessage>
  void on_data(std::string_view bytes, OnMessage&& on_message) {
    if (!failure_.ok()) return;
    if (http_status_ != 200 || !grpc_content_) return;  // not ours to decode
    failure_ = frames_.feed(bytes, [&](protocol::frame_view f) -> status { return on_message(f.message); });
  }

  // The call's outcome once the stream ended; `transport` says how it ended (OK: the
  // server ended its stream). A failure's detail is static text: the server's own
  // message is `grpc_message()`.
  [[nodiscard]] status finish(status transport) const noexcept {
    if (!failure_.ok()) return failure_;
    if (!transport.ok()) return transport;
    if (http_status_ != 200)
      return status{code_from_http_status(http_status_), "http_status", "the response is not HTTP 200"};
    if (grpc_status_ < 0) return grpc_response_errors::no_grpc_status;
    if (grpc_status_ == 0) {
      if (!grpc_content_) return grpc_response_errors::not_grpc;
      return frames_.finish();
    }
    auto const& s = grpc_response_errors::server_status;
    return status{static_cast<code>(grpc_status_), s.reason(), s.detail()};
  }

  [[nodiscard]] int http_status() const noexcept { return http_status_; }
  [[nodiscard]] int grpc_status() const noexcept { return grpc_status_; }  // -1: none yet
  [[nodiscard]] std::string_view grpc_message() const noexcept { return message_; }

 private:
  // A decimal number of at most `max`, or -1.
  static int parse_number(std::string_view text, int max) noexcept {
    if (text.empty() || text.size() > 3) return -1;
    int n = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return -1;
      n = n * 10 + (c - '0');
    }
    return n <= max ? n : -1;
  }

  protocol::frame_decoder frames_;
  status failure_{};
  std::string message_;
  int http_status_ = 0;
  int grpc_status_ = -1;
  bool grpc_content_ = false;
};

}  // namespace edgepipe::transport::detail
