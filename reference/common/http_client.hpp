// The reference programs' HTTP/1.1 client and addresses: the library's client, and the
// address forms the gateway's settings take.
#pragma once

#include <edgepipe/transport/http_client.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace edgepipe::reference {

using transport::encode_path_segment;
using transport::http_client;
using transport::http_client_options;
using transport::http_endpoint;
using transport::http_retry;
using transport::parse_http_url;

// "host:port" of a peer (port 1..65535).
inline std::optional<http_endpoint> parse_host_port(std::string_view s) {
  return parse_http_url("http://" + std::string{s});
}

// "host:port" to listen on; port 0 asks the system for a free one.
inline std::optional<http_endpoint> parse_listen_address(std::string_view s) {
  if (s.ends_with(":0")) {
    auto e = parse_host_port(std::string{s.substr(0, s.size() - 2)} + ":1");
    if (e) e->port = 0;
    return e;
  }
  return parse_host_port(s);
}

}  // namespace edgepipe::reference
