// A small HTTP/1.1 server for plain routes (health, keys, public auth, metrics, the demo
// backend's REST API): Beast parsing with the header limits (16 KiB, 100 fields), keep-alive,
// one coroutine per connection.
#pragma once

#include <edgepipe/transport/detail/beast_http_parser.hpp>  // first: see there
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace edgepipe::reference {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

struct request_context {
  std::string peer_address;  // without the port
};

using http_handler = std::function<boost::asio::awaitable<http_response>(http_request, request_context)>;

inline http_response make_response(http::status status, std::string body = {},
                                   std::string content_type = "application/json") {
  http_response r{status, 11};
  if (!body.empty() || status != http::status::no_content) r.set(http::field::content_type, content_type);
  r.body() = std::move(body);
  return r;
}

class http_server {
 public:
  struct options {
    std::size_t max_body_bytes = 1024 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    std::chrono::milliseconds header_timeout{10'000};
    // Idle time between requests before a kept-alive connection is closed, announced in
    // `Keep-Alive: timeout=N` (0: only the header timeout applies, nothing is announced).
    std::chrono::seconds keep_alive_timeout{0};
  };

  http_server(boost::asio::any_io_executor ex, http_handler handler, options o)
      : executor_{ex}, acceptor_{ex}, handler_{std::move(handler)}, options_{o} {}

  void listen(boost::asio::ip::tcp::endpoint const& ep) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
  }
  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void start() { boost::asio::co_spawn(executor_, accept_loop(), boost::asio::detached); }
  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  boost::asio::awaitable<void> accept_loop() {
    boost::asio::steady_timer pause{executor_};
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (!acceptor_.is_open()) co_return;
      if (out_of_descriptors(ec)) {
        // The connection stays queued and accept would fail again at once: give the
        // connections being served a moment to close some descriptors instead of spinning.
        pause.expires_after(std::chrono::milliseconds{75});
        (void)co_await pause.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        continue;
      }
      if (ec) continue;  // that connection is gone (reset before accept): serve the next
      boost::asio::co_spawn(executor_, serve(std::move(socket)), boost::asio::detached);
    }
  }

  static bool out_of_descriptors(boost::system::error_code const& ec) noexcept {
    return ec == boost::system::errc::too_many_files_open || ec == boost::system::errc::too_many_files_open_in_system ||
           ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
  }

  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket) {
    boost::beast::tcp_stream stream{std::move(socket)};
    boost::beast::flat_buffer buffer;
    request_context ctx;
    boost::system::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) ctx.peer_address = ep.address().to_string();
    bool const announce = options_.keep_alive_timeout.count() > 0;
    std::string const keep_alive_value = "timeout=" + std::to_string(options_.keep_alive_timeout.count());
    for (bool first = true;; first = false) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
      parser.body_limit(options_.max_body_bytes);
      stream.expires_after(announce && !first ? std::min<std::chrono::milliseconds>(options_.keep_alive_timeout,
                                                                                  options_.header_timeout)
                                              : options_.header_timeout);
      auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, boost::asio::as_tuple(boost::asio::use_awaitable));
      stream.expires_never();
      if (read_ec == http::error::header_limit || read_ec == http::error::body_limit) {
        http_response r = make_response(read_ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                                            : http::status::payload_too_large);
        r.keep_alive(false);
        r.prepare_payload();
        (void)co_await http::async_write(stream, r, boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return;
      }
      if (read_ec) co_return;
      http_request req = parser.release();
      bool const keep_alive = req.keep_alive();
      http_response r = co_await handler_(std::move(req), ctx);
      r.keep_alive(keep_alive);
      if (keep_alive && announce) r.set(http::field::keep_alive, keep_alive_value);
      r.prepare_payload();
      auto [write_ec, m] = co_await http::async_write(stream, r, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (write_ec || !keep_alive) co_return;
    }
  }

  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::acceptor acceptor_;
  http_handler handler_;
  options options_;
};

}  // namespace edgepipe::reference
