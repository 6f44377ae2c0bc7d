// One listener serving Connect, gRPC and gRPC-Web: h2c with prior knowledge and HTTP/1.1
// on the same port, told apart by the first bytes (the HTTP/2 client preface).
//
//   edgepipe::transport::router routes;            // register procedures
//   edgepipe::transport::server srv{io.get_executor(), routes, options};
//   srv.listen({boost::asio::ip::make_address("127.0.0.1"), 8081});
//   srv.start();  io.run();
//
// Threading: a server and its connections live on one executor; server_group.hpp runs one
// per worker on the same port (SO_REUSEPORT) to use every core.
#pragma once

#include <edgepipe/transport/detail/dispatch.hpp>
#include <edgepipe/transport/detail/http1_connection.hpp>
#include <edgepipe/transport/detail/http2_connection.hpp>
#include <edgepipe/transport/router.hpp>
#include <edgepipe/transport/server_options.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace edgepipe::transport {

inline constexpr std::string_view http2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class server {
 public:
  server(boost::asio::any_io_executor ex, router const& routes, server_options options = {})
      : executor_{ex},
        acceptor_{ex},
        state_{std::make_shared<detail::server_state>(detail::server_state{&routes, std::move(options), false})},
        live_{std::make_shared<connection_registry>(ex)} {}

  // Binds; throws on failure (start-up).
  void listen(boost::asio::ip::tcp::endpoint const& endpoint, bool reuse_port = false) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
    if (reuse_port) {
      int one = 1;
      ::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    acceptor_.bind(endpoint);
    acceptor_.listen(boost::asio::socket_base::max_listen_connections);
  }

  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void start() { boost::asio::co_spawn(executor_, accept_loop(), boost::asio::detached); }

  // Stops accepting, sends GOAWAY, lets calls in flight finish until `drain_timeout`,
  // then ends what remains with unavailable and closes. Completes when all is closed:
  // each connection's end wakes it, so it returns as soon as the last one has gone.
  boost::asio::awaitable<void> shutdown() {
    state_->draining = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    auto live = live_;  // what this coroutine waits on outlives nothing it needs
    for (auto& c : live->connections) std::visit([](auto& weak) { if (auto p = weak.lock()) p->shutdown(); }, c);
    co_await live->all_closed(std::chrono::steady_clock::now() + state_->options.drain_timeout);
    for (auto& c : live->connections)
      if (auto* h2 = std::get_if<std::weak_ptr<detail::http2_connection>>(&c))
        if (auto p = h2->lock()) p->abort_calls(detail::call_errors::draining);
    // Let those endings reach the wire: each connection closes once its last stream has.
    co_await live->all_closed(std::chrono::steady_clock::now() + std::chrono::seconds{1});
  }

  [[nodiscard]] server_options const& options() const noexcept { return state_->options; }

 private:
  // The connections being served. Each removes itself when it ends, and wakes a
  // shutdown waiting for the last one.
  struct connection_registry {
    using entry = std::variant<std::weak_ptr<detail::http2_connection>, std::weak_ptr<detail::http1_connection>>;
    explicit connection_registry(boost::asio::any_io_executor ex) : ended{std::move(ex)} {}

    std::list<entry> connections;
    boost::asio::steady_timer ended;  // a waiting shutdown, cancelled by each end

    void remove(std::list<entry>::iterator it) {
      connections.erase(it);
      ended.cancel();
    }

    boost::asio::awaitable<void> all_closed(std::chrono::steady_clock::time_point deadline) {
      while (!connections.empty() && std::chrono::steady_clock::now() < deadline) {
        ended.expires_at(deadline);
        (void)co_await ended.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      }
    }
  };

  boost::asio::awaitable<void> accept_loop() {
    boost::asio::steady_timer pause{executor_};
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (out_of_resources(ec)) {
        // The connection waits in the backlog, so accepting again at once would fail at
        // once: pause, and keep serving the connections we have (their closes free
        // descriptors; header_timeout closes the silent ones).
        pause.expires_after(std::chrono::milliseconds{50});
        (void)co_await pause.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        continue;
      }
      if (ec) continue;  // that one connection failed (reset while queued): the next
      socket.set_option(boost::asio::ip::tcp::no_delay(true));
      keep_alive(socket);
      boost::asio::co_spawn(executor_, serve(std::move(socket)), boost::asio::detached);
    }
  }

  static bool out_of_resources(boost::system::error_code const& ec) {
    return ec == boost::system::errc::too_many_files_open || ec == boost::system::errc::too_many_files_open_in_system ||
           ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
  }

  // TCP keep-alive finds a peer that vanished without a word (HTTP/1.1 has no PING):
  // probes after `ping_interval` of silence, the connection dropped after two unanswered
  // ones `ping_ack_timeout / 2` apart, about when an unanswered HTTP/2 PING would close it.
  void keep_alive(boost::asio::ip::tcp::socket& socket) const {
    auto const& o = state_->options;
    auto const seconds = [](std::chrono::milliseconds d) {
      return static_cast<int>(std::max<std::chrono::milliseconds::rep>(1, d.count() / 1000));
    };
    int const on = 1, idle = seconds(o.ping_interval), interval = seconds(o.ping_ack_timeout / 2), count = 2;
    int const fd = socket.native_handle();
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }

  // Reads until the bytes either are the HTTP/2 preface or cannot be.
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket) {
    std::string head;
    char buf[64];
    boost::asio::steady_timer timeout{executor_, state_->options.header_timeout};
    timeout.async_wait([&socket](boost::system::error_code ec) {
      if (!ec) socket.close();
    });
    while (head.size() < http2_preface.size() && http2_preface.starts_with(head)) {
      auto [ec, n] = co_await socket.async_read_some(boost::asio::buffer(buf, http2_preface.size() - head.size()),
                                                     boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) co_return;
      head.append(buf, n);
    }
    timeout.cancel();
    auto live = live_;
    if (head == http2_preface) {
      auto c = std::make_shared<detail::http2_connection>(std::move(socket), state_);
      auto it = live->connections.emplace(live->connections.end(), std::weak_ptr<detail::http2_connection>{c});
      co_await c->run(std::move(head));
      live->remove(it);
    } else {
      auto c = std::make_shared<detail::http1_connection>(boost::beast::tcp_stream{std::move(socket)}, state_);
      auto it = live->connections.emplace(live->connections.end(), std::weak_ptr<detail::http1_connection>{c});
      co_await c->run(std::move(head));
      live->remove(it);
    }
  }

  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<detail::server_state> state_;
  std::shared_ptr<connection_registry> live_;
};

}  // namespace edgepipe::transport
