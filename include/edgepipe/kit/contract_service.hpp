// The contract's edge service over any adapters: ExecuteCommand runs the execute chain and
// answers the signed response; SubscribeEvents runs the subscribe chain and serves the
// granted stream from the push hub. Each call gets its telemetry (metrics, spans, log line)
// and per-stage metrics. A program chooses the adapters and wires the service to a router.
//
//   kit::contract_service<kit::edge_gateway_messages, parts_type, my_handler> service{
//       ex, parts, signer, routes, hub, {&metrics, &tracing, &log}};
//   service.add_to(router);
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/call_telemetry.hpp>
#include <edgepipe/kit/contract_chain.hpp>
#include <edgepipe/kit/signed_event_stream.hpp>
#include <edgepipe/kit/signed_messages.hpp>
#include <edgepipe/kit/stage_metrics.hpp>
#include <edgepipe/pipeline/observer.hpp>
#include <edgepipe/push/hub.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/transport/call_context.hpp>
#include <edgepipe/transport/router.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <string>
#include <utility>

namespace edgepipe::kit {

template <class Messages, class Parts, class Handler, call_log Log = no_call_log>
class contract_service;

// `Messages`: the request, response and event classes and the two method paths (see
// edge_gateway_messages). Everything the constructor takes must outlive the service.
template <class Messages, class Sessions, class ReplayStore, class Limiter, class Clock, class Handler, call_log Log>
class contract_service<Messages, contract_parts<Sessions, ReplayStore, Limiter, Clock>, Handler, Log> {
 public:
  using request_type = typename Messages::request;
  using response_type = typename Messages::response;
  using event_type = typename Messages::event;
  using parts_type = contract_parts<Sessions, ReplayStore, Limiter, Clock>;
  using execute_type = execute_chain<request_type, Sessions, ReplayStore, Limiter, Clock, Handler>;
  using subscribe_type = subscribe_chain<request_type, Sessions, ReplayStore, Limiter, Clock>;

  contract_service(boost::asio::any_io_executor ex, parts_type const& parts, crypto::ed25519_signer const& signer,
                   stages::route_table<Handler> const& routes, push::hub& hub, telemetry_sinks<Log> sinks,
                   push::queue_limits limits = {})
      : executor_{std::move(ex)},
        signer_{&signer},
        clock_{parts.clock},
        hub_{&hub},
        sinks_{sinks},
        limits_{limits},
        execute_{make_execute_chain<request_type>(parts, signer, routes)},
        subscribe_{make_subscribe_chain<request_type>(parts)},
        execute_metrics_{*sinks.metrics},
        subscribe_metrics_{*sinks.metrics},
        execute_series_{std::string{Messages::execute_path.substr(1)}},
        subscribe_series_{std::string{Messages::subscribe_path.substr(1)}} {}
  contract_service(contract_service const&) = delete;
  contract_service& operator=(contract_service const&) = delete;

  // Both methods on `r`; the service must outlive the router's server.
  void add_to(transport::router& r) {
    r.template unary<request_type, response_type>(
        std::string{Messages::execute_path},
        [this](request_type const& req, transport::call_context& ctx) { return execute_command(req, ctx); });
    r.template server_streaming<request_type, event_type>(
        std::string{Messages::subscribe_path},
        [this](request_type const& req, transport::message_writer<event_type>& out, transport::call_context& ctx) {
          return subscribe_events(req, out, ctx);
        });
  }

  boost::asio::awaitable<result<response_type>> execute_command(request_type const& req, transport::call_context& ctx) {
    call_telemetry<Log> telemetry{execute_series_, ctx, sinks_};
    auto spans = telemetry.stage_spans();
    observers hooks{execute_metrics_, spans};
    result<stages::response> r = co_await run(execute_, hooks, telemetry.input(req));
    telemetry.finish(r ? status{} : r.error(), req.request_id());
    if (!r) co_return r.error();
    response_type out = to_signed_response<response_type>(req.request_id(), std::move(*r));
    co_return out;
  }

  boost::asio::awaitable<status> subscribe_events(request_type const& req, transport::message_writer<event_type>& out,
                                                  transport::call_context& ctx) {
    call_telemetry<Log> telemetry{subscribe_series_, ctx, sinks_};
    auto spans = telemetry.stage_spans();
    observers hooks{subscribe_metrics_, spans};
    result<stages::subscription_grant> granted = co_await run(subscribe_, hooks, telemetry.input(req));
    if (!granted) {
      telemetry.finish(granted.error(), req.request_id());
      co_return granted.error();
    }
    subscriber who{std::move(granted->user_id), req.device_session_id(), req.request_id()};
    status const ended = co_await serve_signed_events(executor_, *hub_, std::move(who), out, *signer_, *clock_, limits_);
    telemetry.finish(ended, req.request_id());
    co_return ended;
  }

 private:
  // A chain with any asynchronous adapter is awaited as it is; one over synchronous
  // adapters only has answered already, and its answer is handed over as an awaitable.
  template <class Chain, class Observer, class Input>
  static auto run(Chain const& chain, Observer& hooks, Input input) {
    if constexpr (Chain::is_async) return chain.run_observed(hooks, std::move(input));
    else return answered(chain.run_observed(hooks, std::move(input)));
  }
  template <class T>
  static boost::asio::awaitable<T> answered(T value) {
    co_return value;
  }

  boost::asio::any_io_executor executor_;
  crypto::ed25519_signer const* signer_;
  Clock const* clock_;
  push::hub* hub_;
  telemetry_sinks<Log> sinks_;
  push::queue_limits limits_;
  execute_type execute_;
  subscribe_type subscribe_;
  stage_metrics<execute_type> execute_metrics_;
  stage_metrics<subscribe_type> subscribe_metrics_;
  procedure_series execute_series_;
  procedure_series subscribe_series_;
};

}  // namespace edgepipe::kit
