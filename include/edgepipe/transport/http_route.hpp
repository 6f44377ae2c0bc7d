// Plain HTTP routes beside the RPC procedures, on the same router and server, over
// HTTP/1.1 and h2c alike: a method and a path to a handler that takes the whole request
// and gives the whole response.
//
//   router r;
//   r.route("GET", "/healthz", [](http_request) -> awaitable<http_response> {
//     co_return make_http_response(200, R"({"status":"ok"})");
//   });
//   r.route("GET", "/api/v1/sessions/*", ...);  // every path that starts /api/v1/sessions/
//   r.route("*", "/*", ...);                     // every method on every other path
//
// Paths: exact, or a prefix when the pattern ends in `*` (which stands for the rest of the
// path, possibly empty). A procedure's path wins over every route, an exact route over a
// prefix, a longer prefix over a shorter one. The method `*` takes every method; a path
// whose best pattern has no route for the method is 405 with `Allow`, a path no pattern
// matches is 404 (as for an unknown procedure). The query takes no part in routing.
//
// Bodies are read whole before the handler runs, at most `server_options::
// http1_max_body_bytes` on either HTTP version; a larger one is 413 and the handler does
// not run. A handler that throws answers 500. Allowed CORS origins get the CORS headers on
// every answer; a preflight (OPTIONS) reaches a route only if the route takes OPTIONS.
#pragma once

#include <edgepipe/protocol/metadata.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::transport {

struct http_request {
  std::string method;
  std::string path;   // as sent: percent-encoding is left to the handler
  std::string query;  // after `?`, as sent; empty when none
  protocol::metadata headers;  // lower-case names
  std::string body;   // whole
  std::string peer;   // the client's "address:port"

  // A request header (lower-case name); empty when absent.
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept {
    return protocol::find_metadata(headers, name);
  }
  // The client's address without the port.
  [[nodiscard]] std::string_view peer_address() const noexcept {
    std::string_view const p = peer;
    return p.substr(0, p.rfind(':'));
  }
  // Path and query, as the request line had them.
  [[nodiscard]] std::string target() const { return query.empty() ? path : path + "?" + query; }
};

struct http_response {
  int status = 200;
  // Lower-case names. A pair outside the HTTP field grammar is not sent; the transport
  // writes the framing headers (content-length, connection) itself.
  protocol::metadata headers;
  std::string body;
};

using http_handler = std::function<boost::asio::awaitable<http_response>(http_request)>;

// An answer with `body` of `content_type` (none on a 204).
inline http_response make_http_response(int status, std::string body = {},
                                        std::string_view content_type = "application/json") {
  http_response r{status, {}, std::move(body)};
  if (status != 204) r.headers.emplace_back("content-type", std::string{content_type});
  return r;
}

}  // namespace edgepipe::transport
