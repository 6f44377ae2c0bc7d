// The gateway as one object: its three listeners (edge, public, admin), the edge service,
// the backend's push stream, metrics, logs and tracing. start() listens; the program runs
// the event loop, which stops once shutdown() has drained every listener.
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
#include <edgepipe/transport/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>

#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

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

template <class ReplayStore>
class gateway {
 public:
  // `replay_ready` is the replay store's part of /readyz.
  gateway(boost::asio::io_context& io, gateway_config const& config, crypto::ed25519_signer const& signer,
          ReplayStore& replay, std::function<readiness()> replay_ready)
      : io_{&io},
        config_{&config},
        log_{config.log_format == "json"},
        exporter_{make_exporter(io, config, metrics_)},
        tracing_{recorder_for(exporter_.get())},
        edge_{io.get_executor(), config, signer, replay, metrics_, tracing_, log_},
        push_{std::make_shared<kit::backend_push_client>(
            io.get_executor(), config.backend_push, gateway_id(),
            [this](push::v1::PushEvent const& e) { kit::dispatch_push_event(e, edge_.hub(), &metrics_); },
            log_to_spdlog)},
        // Public auth shares the backend's connections: the connection bound is per backend.
        api_{edge_.backend(), config, signer,
             [this, replay_ready = std::move(replay_ready)] {
               readiness r = replay_ready();
               r.push_stream = push_->open();
               r.draining = draining_;
               return r;
             }},
        edge_server_{io.get_executor(), with_edge_routes(), edge_options()},
        public_server_{io.get_executor(), with_public_routes(), body_limit(64 * 1024)},  // public auth bodies; larger is 413
        admin_server_{io.get_executor(), with_admin_routes(), body_limit(1024 * 1024)} {}

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
    spdlog::info("edgepipe-gateway listening: public {}:{}, edge {}:{}, replay store {}", config_->public_addr.host,
                 public_server_.local_endpoint().port(), config_->edge_addr.host,
                 edge_server_.local_endpoint().port(), config_->redis ? "redis" : "memory");
    return std::nullopt;
  }

  // Drains: /readyz turns 503, live subscriptions end with `draining`, every listener
  // finishes its calls, then the event loop stops.
  void shutdown() {
    if (draining_) return;
    draining_ = true;
    edge_.hub().drain();
    boost::asio::co_spawn(
        *io_,
        [this]() -> boost::asio::awaitable<void> {
          using namespace boost::asio::experimental::awaitable_operators;
          co_await (public_server_.shutdown() && admin_server_.shutdown() && edge_server_.shutdown());
          push_->stop();
          if (exporter_) exporter_->stop();
          io_->stop();
        },
        boost::asio::detached);
  }

 private:
  // Spans go to the OTLP exporter when EDGEPIPE_OTLP_ENDPOINT is set, nowhere otherwise.
  static std::shared_ptr<kit::otlp_exporter> make_exporter(boost::asio::io_context& io, gateway_config const& config,
                                                           kit::metrics_registry& metrics) {
    if (config.otlp_endpoint.empty()) return nullptr;
    auto e = std::make_shared<kit::otlp_exporter>(io.get_executor(), *parse_http_url(config.otlp_endpoint), &metrics);
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

  // Each adds a listener's routes once, for its server's constructor.
  transport::router const& with_edge_routes() {
    edge_.add_to(edge_routes_);
    return edge_routes_;
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
      metrics_.set(kit::metric_names::subscriptions_active, {}, static_cast<double>(edge_.hub().size()));
      co_return transport::make_http_response(200, metrics_.text(), "text/plain; version=0.0.4; charset=utf-8");
    });
    admin_routes_.route("*", "/*", [](http_request) -> boost::asio::awaitable<http_response> {
      co_return transport::make_http_response(404, "not found\n", "text/plain");
    });
    return admin_routes_;
  }

  boost::asio::io_context* io_;
  gateway_config const* config_;
  // Declared in the order they are built: each one's constructor reads those above it.
  kit::metrics_registry metrics_ = described_metrics();
  request_log log_;
  std::shared_ptr<kit::otlp_exporter> exporter_;
  trace::span_recorder tracing_;
  edge_service<ReplayStore> edge_;
  std::shared_ptr<kit::backend_push_client> push_;
  public_api api_;
  bool draining_ = false;
  transport::router edge_routes_, public_routes_, admin_routes_;
  transport::server edge_server_, public_server_, admin_server_;
};

}  // namespace edgepipe::reference
