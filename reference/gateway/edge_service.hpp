// The gateway's edge service: ExecuteCommand and SubscribeEvents, the contract's two
// chains over the backend's REST API, the replay store and the local rate limits.
#pragma once

#include "../common/request_log.hpp"
#include "config.hpp"

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/backend_api.hpp>
#include <edgepipe/kit/call_telemetry.hpp>
#include <edgepipe/kit/contract_chain.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/kit/signed_event_stream.hpp>
#include <edgepipe/kit/signed_messages.hpp>
#include <edgepipe/kit/stage_metrics.hpp>
#include <edgepipe/push/hub.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>
#include <edgepipe/stores/traced_replay_store.hpp>
#include <edgepipe/transport/call_context.hpp>
#include <edgepipe/transport/http_client.hpp>
#include <edgepipe/transport/router.hpp>

#include "gateway.pb.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>

namespace edgepipe::reference {

namespace gw = edgepipe::gateway::v1;

template <class ReplayStore>
class edge_service {
 public:
  static constexpr std::string_view execute_path = "/edgepipe.gateway.v1.EdgeGateway/ExecuteCommand";
  static constexpr std::string_view subscribe_path = "/edgepipe.gateway.v1.EdgeGateway/SubscribeEvents";

  // Everything passed in must outlive the service.
  edge_service(boost::asio::any_io_executor ex, gateway_config const& c, crypto::ed25519_signer const& signer,
               ReplayStore& replay, kit::metrics_registry& metrics, trace::span_recorder const& tracing,
               request_log const& log)
      : executor_{ex},
        config_{&c},
        signer_{&signer},
        sinks_{&metrics, &tracing, &log},
        replay_{replay, &tracing, "replay store: reserve"},
        backend_{ex, c.backend, {.max_connections = c.backend_max_connections}},
        sessions_{backend_, std::chrono::milliseconds{c.backend_timeout_ms}, &metrics, &tracing},
        commands_{backend_, std::chrono::milliseconds{c.backend_timeout_ms}, &metrics, &tracing},
        limiter_{{c.session_rate, c.session_burst}, {c.user_rate, c.user_burst}},
        routes_{make_routes(commands_)},
        parts_{&sessions_, &replay_, &limiter_, &clock_, {c.max_payload_bytes, c.freshness_window_ms}},
        execute_{kit::make_execute_chain<gw::SignedRequest>(parts_, signer, routes_)},
        subscribe_{kit::make_subscribe_chain<gw::SignedRequest>(parts_)},
        execute_metrics_{metrics},
        subscribe_metrics_{metrics} {}
  edge_service(edge_service const&) = delete;
  edge_service& operator=(edge_service const&) = delete;

  // The service's two methods on `r`; the service must outlive the router's server.
  void add_to(transport::router& r) {
    r.unary<gw::SignedRequest, gw::SignedResponse>(
        std::string{execute_path}, [this](gw::SignedRequest const& req, transport::call_context& ctx) {
          return execute_command(req, ctx);
        });
    r.server_streaming<gw::SignedRequest, gw::SignedEvent>(
        std::string{subscribe_path},
        [this](gw::SignedRequest const& req, transport::message_writer<gw::SignedEvent>& out,
               transport::call_context& ctx) { return subscribe_events(req, out, ctx); });
  }

  boost::asio::awaitable<result<gw::SignedResponse>> execute_command(gw::SignedRequest const& req,
                                                                     transport::call_context& ctx) {
    kit::call_telemetry<request_log> telemetry{execute_path.substr(1), ctx, sinks_};
    auto spans = telemetry.stage_spans();
    observers hooks{execute_metrics_, spans};
    auto r = co_await execute_.run_observed(hooks, telemetry.input(req));
    telemetry.finish(r ? status{} : r.error(), req.request_id());
    if (!r) co_return r.error();
    co_return kit::to_signed_response<gw::SignedResponse>(req.request_id(), std::move(*r));
  }

  boost::asio::awaitable<status> subscribe_events(gw::SignedRequest const& req,
                                                  transport::message_writer<gw::SignedEvent>& out,
                                                  transport::call_context& ctx) {
    kit::call_telemetry<request_log> telemetry{subscribe_path.substr(1), ctx, sinks_};
    auto spans = telemetry.stage_spans();
    observers hooks{subscribe_metrics_, spans};
    auto granted = co_await subscribe_.run_observed(hooks, telemetry.input(req));
    if (!granted) {
      telemetry.finish(granted.error(), req.request_id());
      co_return granted.error();
    }
    kit::subscriber who{std::move(granted->user_id), req.device_session_id(), req.request_id()};
    push::queue_limits const limits{.bytes = config_->push_queue_bytes};
    status const ended = co_await kit::serve_signed_events(executor_, hub_, std::move(who), out, *signer_, clock_, limits);
    telemetry.finish(ended, req.request_id());
    co_return ended;
  }

  [[nodiscard]] push::hub& hub() noexcept { return hub_; }
  // The backend's HTTP/1.1 connections, shared with the public auth passthrough.
  [[nodiscard]] transport::http_client& backend() noexcept { return backend_; }

 private:
  using replay_type = stores::traced_replay_store<ReplayStore>;
  using parts_type = kit::contract_parts<kit::backend_sessions, replay_type, stores::session_and_user_limiter,
                                         system_clock>;
  using execute_type = kit::execute_chain<gw::SignedRequest, kit::backend_sessions, replay_type,
                                          stores::session_and_user_limiter, system_clock, kit::backend_commands>;
  using subscribe_type = kit::subscribe_chain<gw::SignedRequest, kit::backend_sessions, replay_type,
                                              stores::session_and_user_limiter, system_clock>;

  static stages::route_table<kit::backend_commands> make_routes(kit::backend_commands& commands) {
    stages::route_table<kit::backend_commands> routes;
    routes.add("user", commands).add("lobby", commands);
    return routes;
  }

  boost::asio::any_io_executor executor_;
  gateway_config const* config_;
  crypto::ed25519_signer const* signer_;
  kit::telemetry_sinks<request_log> sinks_;
  system_clock clock_;
  replay_type replay_;
  transport::http_client backend_;
  kit::backend_sessions sessions_;
  kit::backend_commands commands_;
  stores::session_and_user_limiter limiter_;
  stages::route_table<kit::backend_commands> routes_;
  parts_type parts_;
  execute_type execute_;
  subscribe_type subscribe_;
  kit::stage_metrics<execute_type> execute_metrics_;
  kit::stage_metrics<subscribe_type> subscribe_metrics_;
  push::hub hub_;
};

}  // namespace edgepipe::reference
