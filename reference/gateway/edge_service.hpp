// The gateway's edge service on one worker: the kit's contract service over the backend's
// REST API, the replay store (traced) and the rate limits. Each worker has its own (its
// backend connections, its hub); what every worker shares (the limiter, the connection
// budget, a memory replay store) is passed in.
#pragma once

#include "../common/request_log.hpp"
#include "config.hpp"

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/backend_api.hpp>
#include <edgepipe/kit/contract_chain.hpp>
#include <edgepipe/kit/contract_service.hpp>
#include <edgepipe/kit/edge_gateway_messages.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/push/hub.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>
#include <edgepipe/stores/traced_replay_store.hpp>
#include <edgepipe/trace/span_recorder.hpp>
#include <edgepipe/transport/connection_budget.hpp>
#include <edgepipe/transport/http_client.hpp>
#include <edgepipe/transport/router.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>

namespace edgepipe::reference {

template <class ReplayStore>
class edge_service {
 public:
  // Everything passed in must outlive the service.
  edge_service(boost::asio::any_io_executor ex, gateway_config const& c, crypto::ed25519_signer const& signer,
               ReplayStore& replay, stores::session_and_user_limiter& limiter,
               std::shared_ptr<transport::connection_budget> backend_budget, kit::metrics_registry& metrics,
               trace::span_recorder const& tracing, request_log const& log)
      : replay_{replay, &tracing, "replay store: reserve"},
        backend_{ex, c.backend, {}, std::move(backend_budget)},
        sessions_{backend_, std::chrono::milliseconds{c.backend_timeout_ms}, &metrics, &tracing},
        commands_{backend_, std::chrono::milliseconds{c.backend_timeout_ms}, &metrics, &tracing},
        routes_{routes_for(commands_)},
        service_{ex,
                 {&sessions_, &replay_, &limiter, &clock_, {c.max_payload_bytes, c.freshness_window_ms}},
                 signer,
                 routes_,
                 hub_,
                 {&metrics, &tracing, &log},
                 {.bytes = c.push_queue_bytes}} {}
  edge_service(edge_service const&) = delete;
  edge_service& operator=(edge_service const&) = delete;

  // ExecuteCommand and SubscribeEvents on `r`; the service must outlive the router's server.
  void add_to(transport::router& r) { service_.add_to(r); }

  [[nodiscard]] push::hub& hub() noexcept { return hub_; }
  // The backend's HTTP/1.1 connections, shared with the public auth passthrough.
  [[nodiscard]] transport::http_client& backend() noexcept { return backend_; }

 private:
  using replay_type = stores::traced_replay_store<ReplayStore>;
  using parts_type =
      kit::contract_parts<kit::backend_sessions, replay_type, stores::session_and_user_limiter, system_clock>;

  // Commands of the "user" and "lobby" families go to the backend.
  static stages::route_table<kit::backend_commands> routes_for(kit::backend_commands& commands) {
    stages::route_table<kit::backend_commands> routes;
    routes.add("user", commands).add("lobby", commands);
    return routes;
  }

  system_clock clock_;
  replay_type replay_;
  transport::http_client backend_;
  kit::backend_sessions sessions_;
  kit::backend_commands commands_;
  stages::route_table<kit::backend_commands> routes_;
  push::hub hub_;
  kit::contract_service<kit::edge_gateway_messages, parts_type, kit::backend_commands, request_log> service_;
};

}  // namespace edgepipe::reference
