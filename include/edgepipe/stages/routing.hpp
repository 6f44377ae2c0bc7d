// Stage 8, routing: the first segment of the message type picks where a command goes.
#pragma once

#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/adapter_call.hpp>
#include <edgepipe/stages/envelope.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <concepts>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgepipe::stages {

// A verified command, as a handler receives it. Views valid for the handler's call.
struct command {
  std::string_view message_type;
  std::string_view payload;
  std::string_view request_id;
  std::string_view device_session_id;
  std::string_view user_id;
  std::string_view traceparent;  // to propagate to the backend; empty when absent
  std::string_view tracestate;   // likewise
};

// Executes a command: `execute(command)` returns result<response> (result_code and
// payload filled), or an awaitable of it.
template <class H>
concept command_handler = requires(H& handler, command const& c) {
  requires std::same_as<adapter_answer_t<decltype(handler.execute(c))>, result<response>>;
};

// The segment "gateway" is the gateway's own namespace and is never routed.
inline constexpr std::string_view reserved_route = "gateway";

inline std::string_view first_segment(std::string_view message_type) noexcept {
  return message_type.substr(0, message_type.find('.'));
}

// First segment -> handler. Built at start-up (throws on a bad route), read on every
// request (a linear scan: route tables have a handful of entries).
template <command_handler Handler>
class route_table {
 public:
  route_table& add(std::string_view segment, Handler& handler) {
    if (segment == reserved_route) throw std::invalid_argument("the 'gateway' route is reserved");
    if (segment.empty() || segment.find('.') != std::string_view::npos ||
        !envelope_rules::valid_message_type(segment))
      throw std::invalid_argument("a route is one message-type segment of [a-z0-9_]");
    for (auto& [existing, h] : routes_)
      if (existing == segment) throw std::invalid_argument("duplicate route");
    routes_.emplace_back(std::string{segment}, &handler);
    return *this;
  }

  [[nodiscard]] Handler* find(std::string_view message_type) const noexcept {
    std::string_view const segment = first_segment(message_type);
    if (segment == reserved_route) return nullptr;
    for (auto const& [existing, handler] : routes_)
      if (existing == segment) return handler;
    return nullptr;
  }

 private:
  std::vector<std::pair<std::string, Handler*>> routes_;
};

inline constexpr status route_not_found{code::not_found, "route_not_found"};

// Reads the envelope and the session; adds response (unsigned: the response signer, an
// around stage, signs it). No route: not_found · route_not_found. `Gate`: what must hold
// before any command runs (a chain of other stages names its own, or facts<> for none).
template <command_handler Handler, class Gate = verified_request>
struct routing_stage;

template <command_handler Handler, class... Gate>
struct routing_stage<Handler, facts<Gate...>> {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope, session, Gate...>;
  using provides_fact = response;
  static constexpr std::string_view name = "routing";

  route_table<Handler> const* routes;

  using call_type = decltype(std::declval<Handler&>().execute(std::declval<command const&>()));

  static command command_of(auto const& ctx) noexcept {
    auto const& e = get<envelope>(ctx);
    return {e.message_type, e.payload, e.request_id, e.device_session_id, get<session>(ctx).user_id, e.traceparent,
            e.tracestate};
  }

  // The command's views point into the chain's storage, which outlives the handler's call.
  adapter_result_t<call_type, result<response>> operator()(auto const& ctx) const noexcept {
    Handler* handler = routes->find(get<envelope>(ctx).message_type);
    if (handler == nullptr) return adapter_failure<call_type, result<response>>(route_not_found);
    return call_adapter([handler, c = command_of(ctx)] { return handler->execute(c); });
  }
};

}  // namespace edgepipe::stages
