// An HTTP/1.1 client for one backend host: a pool of keep-alive connections, a timeout
// per call, bounded response bodies. Errors are values.
#pragma once

#include <edgepipe/transport/detail/beast_http_parser.hpp>  // first: see there
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgepipe::reference {

struct http_endpoint {
  std::string host;
  std::uint16_t port = 80;
};

// "http://host:port" (no path); nullopt otherwise.
inline std::optional<http_endpoint> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return std::nullopt;
  url.remove_prefix(scheme.size());
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  if (url.find('/') != std::string_view::npos) return std::nullopt;
  auto colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  unsigned port = 0;
  for (char c : url.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
    if (port > 65535) return std::nullopt;
  }
  if (port == 0) return std::nullopt;
  return http_endpoint{std::string{url.substr(0, colon)}, static_cast<std::uint16_t>(port)};
}

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

struct http_client_options {
  // As many as the calls a gateway keeps in flight: fewer, and a busy gateway closes and
  // reopens backend connections all the time (measured: a connect per call at 512 in flight).
  std::size_t max_idle_connections = 512;
  std::size_t max_response_bytes = 4 * 1024 * 1024;
};

class http_client {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  enum class failure { none, connect, timeout, io, too_large };
  struct outcome {
    failure error = failure::none;
    response res;
  };

  http_client(boost::asio::any_io_executor ex, http_endpoint endpoint, http_client_options o = {})
      : executor_{std::move(ex)}, endpoint_{std::move(endpoint)}, options_{o} {}

  // Sends `req` (Host and keep-alive set here) and reads the response within `timeout`.
  // (g++ 12 misreports Asio's coroutine frame new/delete pair as mismatched.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
  boost::asio::awaitable<outcome> send(request req, std::chrono::milliseconds timeout) {
    namespace http = boost::beast::http;
    req.set(http::field::host, endpoint_.host + ":" + std::to_string(endpoint_.port));
    req.keep_alive(true);
    req.prepare_payload();
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    // A pooled connection may have been closed by the server: one retry on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool const reused = !idle_.empty();
      std::unique_ptr<boost::beast::tcp_stream> stream;
      if (reused) {
        stream = std::move(idle_.back());
        idle_.pop_back();
      } else {
        stream = std::make_unique<boost::beast::tcp_stream>(executor_);
        stream->expires_at(deadline);
        // Resolved once and kept (a resolve is a thread hop); resolved again after a failed connect.
        if (resolved_.empty()) {
          boost::asio::ip::tcp::resolver resolver{executor_};
          auto [rec, results] = co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                                                                boost::asio::as_tuple(boost::asio::use_awaitable));
          if (rec) co_return outcome{failure::connect, {}};
          resolved_ = std::move(results);
        }
        auto [cec, ep] = co_await stream->async_connect(resolved_, boost::asio::as_tuple(boost::asio::use_awaitable));
        if (cec) {
          resolved_ = {};
          co_return outcome{cec == boost::beast::error::timeout ? failure::timeout : failure::connect, {}};
        }
        stream->socket().set_option(boost::asio::ip::tcp::no_delay(true));
      }
      stream->expires_at(deadline);
      auto [wec, wn] = co_await http::async_write(*stream, req, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (wec) {
        if (reused && wec != boost::beast::error::timeout) continue;
        co_return outcome{wec == boost::beast::error::timeout ? failure::timeout : failure::io, {}};
      }
      boost::beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(options_.max_response_bytes);
      auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (rec) {
        if (reused && rn == 0 && rec != boost::beast::error::timeout) continue;  // stale keep-alive
        if (rec == http::error::body_limit) co_return outcome{failure::too_large, {}};
        co_return outcome{rec == boost::beast::error::timeout ? failure::timeout : failure::io, {}};
      }
      response res = parser.release();
      stream->expires_never();
      if (res.keep_alive() && idle_.size() < options_.max_idle_connections && buffer.size() == 0)
        idle_.push_back(std::move(stream));
      co_return outcome{failure::none, std::move(res)};
    }
    co_return outcome{failure::io, {}};
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

 private:
  boost::asio::any_io_executor executor_;
  http_endpoint endpoint_;
  http_client_options options_;
  std::vector<std::unique_ptr<boost::beast::tcp_stream>> idle_;
  boost::asio::ip::tcp::resolver::results_type resolved_;
};

// Percent-encodes one path segment (RFC 3986 unreserved characters pass).
inline std::string encode_path_segment(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

}  // namespace edgepipe::reference
