// The five ways a call travels, and what a request's headers mean in each: which header
// names its compression, what it accepts back, its timeout and its protocol version.
// The request reader and the response writer are written against this one enum, so no
// other code needs to know which protocol a call speaks.
#pragma once

#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/grpc.hpp>
#include <edgepipe/status.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace edgepipe::protocol {

enum class wire_format {
  connect_unary,   // the body is the message; the status is the HTTP status and a JSON error
  connect_stream,  // frames, ended by an end-of-stream JSON frame
  grpc,            // frames, the status in HTTP trailers
  grpc_web,        // frames, the status in a trailers frame
  grpc_web_text,   // grpc_web, base64 on the wire
};

constexpr wire_format wire_format_of(content_type_info const& type) noexcept {
  switch (type.protocol) {
    case rpc_protocol::connect: return type.connect_streaming ? wire_format::connect_stream : wire_format::connect_unary;
    case rpc_protocol::grpc: return wire_format::grpc;
    case rpc_protocol::grpc_web: return type.web_text ? wire_format::grpc_web_text : wire_format::grpc_web;
  }
  return wire_format::grpc;
}

constexpr bool is_framed(wire_format f) noexcept { return f != wire_format::connect_unary; }

// The request header that names the compression of the request's messages.
constexpr std::string_view request_encoding_header(wire_format f) noexcept {
  switch (f) {
    case wire_format::connect_unary: return "content-encoding";
    case wire_format::connect_stream: return "connect-content-encoding";
    default: return "grpc-encoding";
  }
}

// The request header listing what the client accepts back; our response names its
// choice in the same protocol's encoding header.
constexpr std::string_view accept_encoding_header(wire_format f) noexcept {
  switch (f) {
    case wire_format::connect_unary: return "accept-encoding";
    case wire_format::connect_stream: return "connect-accept-encoding";
    default: return "grpc-accept-encoding";
  }
}

namespace request_header_errors {
inline constexpr status bad_connect_timeout{code::invalid_argument, "protocol_error", "invalid connect-timeout-ms"};
inline constexpr status bad_grpc_timeout{code::invalid_argument, "protocol_error", "invalid grpc-timeout"};
inline constexpr status bad_connect_version{code::invalid_argument, "protocol_error",
                                            "connect-protocol-version must be 1"};
}  // namespace request_header_errors

// What a request's protocol headers say. A malformed timeout or a Connect protocol
// version other than 1 is `invalid_argument`, on every call of the protocol, as
// connect-go answers; only a *missing* version is left alone (clients may omit it).
struct request_headers {
  std::string_view encoding;         // as sent; "" when absent
  std::string_view accept_encoding;  // as sent
  std::optional<std::chrono::nanoseconds> timeout;
  status problem;
};

// `header(name)` returns the value of a request header, "" when absent.
template <class Header>
request_headers read_request_headers(wire_format f, Header&& header) {
  request_headers r;
  r.encoding = header(request_encoding_header(f));
  r.accept_encoding = header(accept_encoding_header(f));
  bool const connect = f == wire_format::connect_unary || f == wire_format::connect_stream;
  if (connect) {
    if (std::string_view v = header("connect-protocol-version"); !v.empty() && v != connect_protocol_version)
      r.problem = request_header_errors::bad_connect_version;
    if (std::string_view t = header("connect-timeout-ms"); !t.empty()) {
      if (auto ms = parse_connect_timeout(t)) r.timeout = *ms;
      else if (r.problem.ok()) r.problem = request_header_errors::bad_connect_timeout;
    }
  } else if (std::string_view t = header("grpc-timeout"); !t.empty()) {
    // A year is as good as no deadline, and keeps time_point arithmetic in range.
    constexpr std::chrono::nanoseconds longest = std::chrono::hours{24 * 365};
    if (auto ns = parse_grpc_timeout(t)) r.timeout = std::min(*ns, longest);
    else if (r.problem.ok()) r.problem = request_header_errors::bad_grpc_timeout;
  }
  return r;
}

}  // namespace edgepipe::protocol
