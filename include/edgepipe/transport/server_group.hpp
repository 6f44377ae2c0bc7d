// One listening address served by every worker: a server per worker, each with its own
// SO_REUSEPORT listener on the same port, so the kernel spreads new connections over the
// workers and a connection never changes thread.
//
//   edgepipe::transport::worker_pool workers{n};
//   std::vector<edgepipe::transport::router> routes(n);  // one per worker: its handlers' state
//   edgepipe::transport::server_group edge{workers, [&](std::size_t i) -> auto const& { return routes[i]; }};
//   edge.listen(endpoint);  edge.start();  workers.run();
//
// Why a listener per worker rather than one acceptor handing sockets out: no thread hop per
// connection and no acceptor thread to saturate; the kernel's hash of the peer's address
// and port decides, which spreads many clients evenly (one client's connections spread too,
// each from its own port).
#pragma once

#include <edgepipe/transport/router.hpp>
#include <edgepipe/transport/server.hpp>
#include <edgepipe/transport/server_options.hpp>
#include <edgepipe/transport/worker_pool.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <memory>
#include <vector>

namespace edgepipe::transport {

class server_group {
 public:
  // `routes_of(i)` is worker i's router; it must outlive the group.
  template <class RoutesOf>
  server_group(worker_pool& workers, RoutesOf routes_of, server_options options = {}) : workers_{&workers} {
    servers_.reserve(workers.size());
    for (std::size_t i = 0; i < workers.size(); ++i)
      servers_.push_back(std::make_unique<server>(workers.executor(i), routes_of(i), options));
  }

  // Binds every worker's listener to `endpoint` (port 0: the port the first one got);
  // throws on failure (start-up). A port another program listens on is refused as without
  // SO_REUSEPORT (which would otherwise let a second gateway share it, unnoticed): a
  // plain bind is tried first and closed.
  void listen(boost::asio::ip::tcp::endpoint endpoint) {
    if (endpoint.port() != 0) {
      boost::asio::ip::tcp::acceptor probe{workers_->executor(0)};
      probe.open(endpoint.protocol());
      probe.set_option(boost::asio::socket_base::reuse_address(true));
      probe.bind(endpoint);  // throws "address in use" when it is
    }
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      servers_[i]->listen(endpoint, /*reuse_port=*/true);
      if (i == 0) endpoint = servers_[0]->local_endpoint();
    }
  }

  void start() {
    for (auto& s : servers_) s->start();
  }

  // Every worker's server shuts down at once (server::shutdown); completes when all have.
  boost::asio::awaitable<void> shutdown() {
    co_await workers_->on_each([this](std::size_t i) { return servers_[i]->shutdown(); });
  }

  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return servers_[0]->local_endpoint(); }
  [[nodiscard]] std::size_t size() const noexcept { return servers_.size(); }
  [[nodiscard]] server& of_worker(std::size_t i) noexcept { return *servers_[i]; }

 private:
  worker_pool* workers_;
  std::vector<std::unique_ptr<server>> servers_;
};

}  // namespace edgepipe::transport
