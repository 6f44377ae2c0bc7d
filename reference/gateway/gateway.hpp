// The gateway as one object: its three listeners (edge, public, admin), the edge service,
// the backend's push stream, metrics, logs and tracing. start() listens; the program runs
// its workers, which stop once shutdown() has drained every listener.
#pragma once

#include "../common/http_client.hpp"
#include "../common/request_log.hpp"
#include "config.hpp"
#include "edge_service.hpp"
#include "public_api.hpp"
#include "gateway_id.hpp"

#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/backend_push_client.hpp>
#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/kit/otlp_exporter.hpp>
#include <edgepipe/kit/push_event_decoder.hpp>
#include <edgepipe/trace/span_recorder.hpp>
#include <edgepipe/transport/http_route.hpp>
#include <edgepipe/transport/router.hpp>
#include <edgepipe/push/dispatcher.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>
#include <edgepipe/transport/connection_budget.hpp>
#include <edgepipe/transport/server.hpp>
#include <edgepipe/transport/server_group.hpp>
#include <edgepipe/transport/worker_pool.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>

#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgepipe::reference {

// The kit's state changes (push stream open, closed) in the gateway's log.
inline void log_to_spdlog(kit::log_level level, std::string_view message) {
  switch (level) {
    case kit::log_level::debug: spdlog::debug("{}", message); break;
    case kit::log_level::info: spdlog::info("{}", message); break;
    case kit::log_level::warning: spdlog::warn("{}", message); break;
    case kit::log_level::error: spdlog::error("{}", message); break;
  }
}

inline boost::asio::ip::tcp::endpoint to_endpoint(http_endpoint const& e) {
  boost::asio::io_context resolver_io;
  boost::asio::ip::tcp::resolver resolver{resolver_io};
  return *resolver.resolve(e.host, std::to_string(e.port)).begin();
}

// The gateway on N workers. Each worker has its own edge listener (SO_REUSEPORT), edge
// service, backend connections, hub, metrics registry and span exporter; the limiter, the
// backend connection budget and a memory replay store are shared. The public and admin
// listeners and the backend's push stream live on worker 0.
template <class ReplayStore>
class gateway {
 public:
  // `replay_of(i)` is worker i's replay store (one store may serve all); `replay_ready` the
  // stores' part of /readyz, called on worker 0.
  template <class ReplayOf>
  gateway(transport::worker_pool& workers, gateway_config const& config, crypto::ed25519_signer const& signer,
          ReplayOf replay_of, std::function<readiness()> replay_ready)
      : workers_{&workers},
        config_{&config},
        log_{config.log_format == "json"},
        limiter_{{config.session_rate, config.session_burst}, {config.user_rate, config.user_burst}},
        backend_budget_{std::make_shared<transport::connection_budget>(config.backend_max_connections)},
        shards_{make_workers(signer, replay_of)},
        push_{std::make_shared<kit::backend_push_client>(
            workers.executor(0), config.backend_push, gateway_id(),
            [this](push::v1::PushEvent const& e) {
              kit::dispatch_push_event(e, hubs_, workers_->executor(0), &shards_[0]->metrics);
            },
            log_to_spdlog)},
        // Public auth shares worker 0's backend connections: the connection bound is per backend.
        api_{shards_[0]->edge.backend(), config, signer,
             [this, replay_ready = std::move(replay_ready)] {
               readiness r = replay_ready();
               r.push_stream = push_->open();
               r.draining = draining_;
               return r;
             }},
        edge_server_{workers, [this](std::size_t i) -> transport::router const& { return shards_[i]->routes; },
                     edge_options()},
        public_server_{workers.executor(0), with_public_routes(), body_limit(64 * 1024)},  // public auth bodies; larger is 413
        admin_server_{workers.executor(0), with_admin_routes(), body_limit(1024 * 1024)} {
    for (std::size_t i = 0; i < shards_.size(); ++i) hubs_.add(workers.executor(i), shards_[i]->edge.hub());
  }

  // Listens on every configured address and starts the push stream; why not, when an
  // address cannot be listened on.
  std::optional<std::string> start() {
    try {
      edge_server_.listen(to_endpoint(config_->edge_addr));
      public_server_.listen(to_endpoint(config_->public_addr));
      if (config_->admin_addr) admin_server_.listen(to_endpoint(*config_->admin_addr));
    } catch (std::exception const& e) {
      return std::string{"cannot listen: "} + e.what();
    }
    push_->start();
    edge_server_.start();
    public_server_.start();
    if (config_->admin_addr) {
      admin_server_.start();
      spdlog::info("admin listener on {}:{}", config_->admin_addr->host, admin_server_.local_endpoint().port());
    }
    spdlog::info("edgepipe-gateway listening: public {}:{}, edge {}:{}, replay store {}, {} worker{}",
                 config_->public_addr.host, public_server_.local_endpoint().port(), config_->edge_addr.host,
                 edge_server_.local_endpoint().port(), config_->redis ? "redis" : "memory", shards_.size(),
                 shards_.size() == 1 ? "" : "s");
    return std::nullopt;
  }

  // Drains, on worker 0: /readyz turns 503, every worker's live subscriptions end with
  // `draining`, every listener finishes its calls, then every worker stops.
  void shutdown() {
    if (draining_) return;
    draining_ = true;
    hubs_.drain();
    boost::asio::co_spawn(
        workers_->executor(0),
        [this]() -> boost::asio::awaitable<void> {
          using namespace boost::asio::experimental::awaitable_operators;
          co_await (public_server_.shutdown() && admin_server_.shutdown() && edge_server_.shutdown());
          push_->stop();
          co_await workers_->on_each([this](std::size_t i) -> boost::asio::awaitable<void> {
            if (shards_[i]->exporter) shards_[i]->exporter->stop();
            co_return;
          });
          workers_->stop();
        },
        boost::asio::detached);
  }

 private:
  // What one worker owns; built and used on that worker only.
  struct shard {
    shard(boost::asio::any_io_executor ex, gateway_config const& config, crypto::ed25519_signer const& signer,
          ReplayStore& replay, stores::session_and_user_limiter& limiter,
          std::shared_ptr<transport::connection_budget> budget, request_log const& log)
        : exporter{make_exporter(ex, config, metrics)},
          tracing{recorder_for(exporter.get())},
          edge{ex, config, signer, replay, limiter, std::move(budget), metrics, tracing, log} {
      edge.add_to(routes);
    }
    // Declared in the order they are built: each one's constructor reads those above it.
    kit::metrics_registry metrics = described_metrics();
    std::shared_ptr<kit::otlp_exporter> exporter;
    trace::span_recorder tracing;
    edge_service<ReplayStore> edge;
    transport::router routes;
  };

  template <class ReplayOf>
  std::vector<std::unique_ptr<shard>> make_workers(crypto::ed25519_signer const& signer, ReplayOf& replay_of) {
    std::vector<std::unique_ptr<shard>> out;
    for (std::size_t i = 0; i < workers_->size(); ++i)
      out.push_back(std::make_unique<shard>(workers_->executor(i), *config_, signer, replay_of(i), limiter_,
                                            backend_budget_, log_));
    return out;
  }

  // Spans go to the OTLP exporter when EDGEPIPE_OTLP_ENDPOINT is set, nowhere otherwise;
  // each worker exports its own spans.
  static std::shared_ptr<kit::otlp_exporter> make_exporter(boost::asio::any_io_executor ex,
                                                           gateway_config const& config, kit::metrics_registry& metrics) {
    if (config.otlp_endpoint.empty()) return nullptr;
    auto e = std::make_shared<kit::otlp_exporter>(std::move(ex), *parse_http_url(config.otlp_endpoint), &metrics);
    e->start();
    return e;
  }
  static trace::span_recorder recorder_for(kit::otlp_exporter* e) {
    if (e == nullptr) return {};
    return trace::span_recorder{[e](trace::span_record s) { e->record(std::move(s)); }};
  }
  static kit::metrics_registry described_metrics() {
    kit::metrics_registry m;
    kit::describe_gateway_metrics(m);
    return m;
  }

  transport::server_options edge_options() const {
    transport::server_options o;
    o.cors_origins = config_->cors_origins;
    o.drain_timeout = std::chrono::milliseconds{config_->drain_timeout_ms};
    return o;
  }
  static transport::server_options body_limit(std::size_t bytes) {
    transport::server_options o;
    o.http1_max_body_bytes = bytes;
    return o;
  }
  transport::router const& with_public_routes() {
    api_.add_routes(public_routes_);
    return public_routes_;
  }
  transport::router const& with_admin_routes() {
    using transport::http_request, transport::http_response;
    admin_routes_.route("GET", "/metrics", [this](http_request) -> boost::asio::awaitable<http_response> {
      // Each worker's registry, copied on its own thread, then added up here.
      std::vector<kit::metrics_registry> copies(shards_.size());
      co_await workers_->on_each([&](std::size_t i) -> boost::asio::awaitable<void> {
        shard& w = *shards_[i];
        w.metrics.set(kit::metric_names::subscriptions_active, {}, static_cast<double>(w.edge.hub().size()));
        copies[i] = w.metrics;
        co_return;
      });
      for (std::size_t i = 1; i < copies.size(); ++i) copies[0].merge(copies[i]);
      co_return transport::make_http_response(200, copies[0].text(), "text/plain; version=0.0.4; charset=utf-8");
    });
    admin_routes_.route("*", "/*", [](http_request) -> boost::asio::awaitable<http_response> {
      co_return transport::make_http_response(404, "not found\n", "text/plain");
    });
    return admin_routes_;
  }

  transport::worker_pool* workers_;
  gateway_config const* config_;
  // Declared in the order they are built: each one's constructor reads those above it.
  request_log log_;
  stores::session_and_user_limiter limiter_;
  std::shared_ptr<transport::connection_budget> backend_budget_;
  std::vector<std::unique_ptr<shard>> shards_;
  push::dispatcher hubs_;
  std::shared_ptr<kit::backend_push_client> push_;
  public_api api_;
  bool draining_ = false;  // worker 0's
  transport::router public_routes_, admin_routes_;
  transport::server_group edge_server_;
  transport::server public_server_, admin_server_;
};

}  // namespace edgepipe::reference
