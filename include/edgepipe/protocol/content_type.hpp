// Which protocol and codec a request speaks, from its Content-Type.
#pragma once

#include <cctype>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace edgepipe::protocol {

enum class rpc_protocol { connect, grpc, grpc_web };
enum class message_codec { proto, json };

struct content_type_info {
  rpc_protocol protocol = rpc_protocol::connect;
  message_codec codec = message_codec::proto;
  bool connect_streaming = false;  // application/connect+...
  bool web_text = false;           // application/grpc-web-text: base64 bodies
};

namespace detail {
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}
inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace detail

// nullopt for anything we do not serve (the server answers 415). Parameters such as
// "; charset=utf-8" are tolerated; case does not matter.
inline std::optional<content_type_info> classify_content_type(std::string_view value) {
  std::string_view const mime = detail::trim(value.substr(0, value.find(';')));
  struct entry {
    std::string_view name;
    content_type_info info;
  };
  using p = rpc_protocol;
  using c = message_codec;
  static constexpr entry table[] = {
      {"application/proto", {p::connect, c::proto, false, false}},
      {"application/json", {p::connect, c::json, false, false}},
      {"application/connect+proto", {p::connect, c::proto, true, false}},
      {"application/connect+json", {p::connect, c::json, true, false}},
      {"application/grpc", {p::grpc, c::proto, false, false}},
      {"application/grpc+proto", {p::grpc, c::proto, false, false}},
      {"application/grpc+json", {p::grpc, c::json, false, false}},
      {"application/grpc-web", {p::grpc_web, c::proto, false, false}},
      {"application/grpc-web+proto", {p::grpc_web, c::proto, false, false}},
      {"application/grpc-web+json", {p::grpc_web, c::json, false, false}},
      {"application/grpc-web-text", {p::grpc_web, c::proto, false, true}},
      {"application/grpc-web-text+proto", {p::grpc_web, c::proto, false, true}},
      {"application/grpc-web-text+json", {p::grpc_web, c::json, false, true}},
  };
  for (auto const& e : table)
    if (detail::iequals(mime, e.name)) return e.info;
  return std::nullopt;
}

// The Content-Type of our response for a request of `info`.
inline std::string_view response_content_type(content_type_info const& info) noexcept {
  bool const json = info.codec == message_codec::json;
  switch (info.protocol) {
    case rpc_protocol::grpc: return json ? "application/grpc+json" : "application/grpc+proto";
    case rpc_protocol::grpc_web:
      if (info.web_text) return json ? "application/grpc-web-text+json" : "application/grpc-web-text+proto";
      return json ? "application/grpc-web+json" : "application/grpc-web+proto";
    case rpc_protocol::connect:
      if (info.connect_streaming) return json ? "application/connect+json" : "application/connect+proto";
      return json ? "application/json" : "application/proto";
  }
  return "application/proto";
}

// For 415 answers: what a POST may carry.
inline constexpr std::string_view accepted_post_types =
    "application/proto, application/json, application/connect+proto, application/connect+json, "
    "application/grpc, application/grpc+proto, application/grpc+json, application/grpc-web, "
    "application/grpc-web+proto, application/grpc-web+json, application/grpc-web-text, "
    "application/grpc-web-text+proto, application/grpc-web-text+json";

}  // namespace edgepipe::protocol
