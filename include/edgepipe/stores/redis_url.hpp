// redis://[:password@]host:port[/db], as EDGEPIPE_REDIS_URL gives it.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgepipe::stores {

struct redis_endpoint {
  std::string host;
  std::uint16_t port = 6379;
  std::string password;  // empty: no AUTH
  int db = 0;
};

// nullopt when `url` is not of that form (no host, a port outside 1..65535, a db that
// is not a small number, anything trailing).
inline std::optional<redis_endpoint> parse_redis_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (!url.starts_with(scheme)) return std::nullopt;
  url.remove_prefix(scheme.size());
  redis_endpoint e;
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = url.substr(0, at);
    url.remove_prefix(at + 1);
    if (!userinfo.starts_with(':')) return std::nullopt;  // only ":password" is supported
    e.password = std::string{userinfo.substr(1)};
    if (e.password.empty()) return std::nullopt;
  }
  std::string_view hostport = url.substr(0, url.find('/'));
  std::string_view rest = url.substr(hostport.size());
  if (hostport.starts_with('[')) {  // [::1]:6379
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    e.host = std::string{hostport.substr(1, close - 1)};
    hostport.remove_prefix(close + 1);
  } else {
    auto colon = hostport.find(':');
    e.host = std::string{hostport.substr(0, colon)};
    hostport.remove_prefix(colon == std::string_view::npos ? hostport.size() : colon);
  }
  if (e.host.empty()) return std::nullopt;
  if (!hostport.empty()) {
    if (hostport.front() != ':' || hostport.size() == 1) return std::nullopt;
    unsigned port = 0;
    auto [end, ec] = std::from_chars(hostport.data() + 1, hostport.data() + hostport.size(), port);
    if (ec != std::errc{} || end != hostport.data() + hostport.size() || port == 0 || port > 65535)
      return std::nullopt;
    e.port = static_cast<std::uint16_t>(port);
  }
  if (!rest.empty()) {
    rest.remove_prefix(1);  // '/'
    if (!rest.empty()) {
      auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), e.db);
      if (ec != std::errc{} || end != rest.data() + rest.size() || e.db < 0 || e.db > 1000) return std::nullopt;
    }
  }
  return e;
}

}  // namespace edgepipe::stores
