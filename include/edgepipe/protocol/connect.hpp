// The Connect protocol's wire details: status codes as HTTP statuses, the error and
// end-of-stream JSON, timeouts, and GET requests for side-effect-free methods.
#pragma once

#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/error_detail.hpp>
#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/status.hpp>

#include <charconv>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::protocol {

inline constexpr std::string_view connect_protocol_version = "1";

// Connect's code -> HTTP status table.
constexpr int connect_http_status(code c) noexcept {
  switch (c) {
    case code::ok: return 200;
    case code::canceled: return 499;
    case code::unknown: return 500;
    case code::invalid_argument: return 400;
    case code::deadline_exceeded: return 504;
    case code::not_found: return 404;
    case code::already_exists: return 409;
    case code::permission_denied: return 403;
    case code::resource_exhausted: return 429;
    case code::failed_precondition: return 400;
    case code::aborted: return 409;
    case code::out_of_range: return 400;
    case code::unimplemented: return 501;
    case code::internal: return 500;
    case code::unavailable: return 503;
    case code::data_loss: return 500;
    case code::unauthenticated: return 401;
  }
  return 500;
}

// The code a Connect client infers from an HTTP status without a usable error body.
constexpr code code_from_http_status(int http) noexcept {
  switch (http) {
    case 400: return code::internal;
    case 401: return code::unauthenticated;
    case 403: return code::permission_denied;
    case 404: return code::unimplemented;
    case 429: case 502: case 503: case 504: return code::unavailable;
    default: return code::unknown;
  }
}

// The "type" of a detail in Connect's JSON: the message name, without the URL prefix.
inline std::string_view detail_type_name(std::string_view type_url) noexcept {
  auto slash = type_url.rfind('/');
  return slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
}

// {"code":"...","message":"...","details":[{"type":"...","value":"..."}]}
inline void append_connect_error_json(std::string& out, status const& s, error_details const& details = {}) {
  out += "{\"code\":";
  append_json_string(out, to_string(s.code()));
  std::string message;
  s.append_message(message);
  if (!message.empty()) {
    out += ",\"message\":";
    append_json_string(out, message);
  }
  if (!details.empty()) {
    out += ",\"details\":[";
    bool first = true;
    for (auto const& d : details) {
      if (!first) out += ',';
      first = false;
      out += "{\"type\":";
      append_json_string(out, detail_type_name(d.type_url));
      out += ",\"value\":\"";
      append_base64(out, d.value, base64_alphabet::standard, false);
      out += "\"}";
    }
    out += ']';
  }
  out += '}';
}

// The end-of-stream message of a Connect stream: {} on success, else {"error":{...}},
// with trailing metadata when there is any.
inline void append_connect_end_stream_json(std::string& out, status const& s, error_details const& details = {},
                                           metadata const& trailers = {}) {
  out += '{';
  bool comma = false;
  if (!s.ok()) {
    out += "\"error\":";
    append_connect_error_json(out, s, details);
    comma = true;
  }
  if (!trailers.empty()) {
    if (comma) out += ',';
    out += "\"metadata\":{";
    bool first = true;
    for (auto const& [k, v] : trailers) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, k);
      out += ":[";
      append_json_string(out, v);
      out += ']';
    }
    out += '}';
  }
  out += '}';
}

// connect-timeout-ms: a positive integer of at most 10 digits. nullopt: malformed.
inline std::optional<std::chrono::milliseconds> parse_connect_timeout(std::string_view text) noexcept {
  if (text.empty() || text.size() > 10) return std::nullopt;
  long long ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec != std::errc{} || end != text.data() + text.size() || ms < 0) return std::nullopt;
  return std::chrono::milliseconds{ms};
}

// --- GET requests --------------------------------------------------------------------

struct connect_get_request {
  std::string message;  // still compressed when `compression` says so
  message_codec codec = message_codec::proto;
  std::string compression;
};

namespace detail {
inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i] == '+' ? ' ' : in[i]);
    }
  }
  return out;
}
}  // namespace detail

inline constexpr status bad_get{code::invalid_argument, "malformed_get", "invalid Connect GET query"};

// The query of a Connect GET: message=...&encoding=proto|json[&base64=1][&compression=gzip][&connect=v1]
inline result<connect_get_request> parse_connect_get_query(std::string_view query) {
  connect_get_request r;
  std::optional<std::string> message;
  bool base64 = false, have_encoding = false;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto value = detail::percent_decode(raw);
    if (!value) return bad_get;
    if (key == "message") {
      message = std::move(*value);
    } else if (key == "encoding") {
      have_encoding = true;
      if (*value == "proto") r.codec = message_codec::proto;
      else if (*value == "json") r.codec = message_codec::json;
      else return bad_get;
    } else if (key == "base64") {
      base64 = *value == "1";
    } else if (key == "compression") {
      r.compression = std::move(*value);
    } else if (key == "connect") {
      if (*value != "v1") return bad_get;
    }
  }
  if (!message || !have_encoding) return bad_get;
  if (base64) {
    base64_decoder d;
    if (!d.feed(*message, r.message) || !d.finish(r.message)) return bad_get;
  } else {
    r.message = std::move(*message);
  }
  return r;
}

}  // namespace edgepipe::protocol
