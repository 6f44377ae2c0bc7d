// The contract's chain, defined once: envelope, session, payload hash, signature,
// freshness, replay and rate limit, then, for ExecuteCommand, the response signer around
// routing, or, for SubscribeEvents, the subscription grant. The gateway, its tests, fuzzers
// and benches all build their chains here, over their own adapters.
//
//   kit::contract_parts<my_sessions, my_store, my_limiter, edgepipe::system_clock> parts{
//       &sessions, &store, &limiter, &clock, {.max_payload_bytes = 64 * 1024}};
//   auto execute = kit::make_execute_chain<SignedRequest>(parts, signer, routes);
//   auto subscribe = kit::make_subscribe_chain<SignedRequest>(parts);
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/stages/envelope.hpp>
#include <edgepipe/stages/freshness.hpp>
#include <edgepipe/stages/payload_hash.hpp>
#include <edgepipe/stages/rate_limit.hpp>
#include <edgepipe/stages/replay.hpp>
#include <edgepipe/stages/response_signer.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/stages/session.hpp>
#include <edgepipe/stages/signature.hpp>
#include <edgepipe/stages/subscription_grant.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace edgepipe::kit {

// The message type a SubscribeEvents request must carry.
inline constexpr std::string_view subscribe_message_type = "gateway.subscribe_events";

struct contract_settings {
  std::size_t max_payload_bytes = 1024 * 1024;
  std::int64_t freshness_window_ms = 60'000;  // a reservation lives twice as long
};

// The adapters the checks use; each must outlive every chain built on them.
template <class Sessions, class ReplayStore, class Limiter, class Clock>
struct contract_parts {
  Sessions* sessions;
  ReplayStore* replay;
  Limiter* limiter;
  Clock const* clock;
  contract_settings settings{};
};

// The seven checks, then `Last...`.
template <class Request, class Sessions, class ReplayStore, class Limiter, class Clock, class... Last>
using contract_chain =
    chain<facts<stages::received<Request>>, stages::envelope_stage<Request>, stages::session_stage<Sessions>,
          stages::payload_hash_stage, stages::signature_stage, stages::freshness_stage<Clock>,
          stages::replay_stage<ReplayStore>, stages::rate_limit_stage<Limiter, Clock>, Last...>;

template <class Request, class Sessions, class ReplayStore, class Limiter, class Clock, class Handler>
using execute_chain = contract_chain<Request, Sessions, ReplayStore, Limiter, Clock,
                                     stages::response_signer_stage<Clock>, stages::routing_stage<Handler>>;

template <class Request, class Sessions, class ReplayStore, class Limiter, class Clock>
using subscribe_chain =
    contract_chain<Request, Sessions, ReplayStore, Limiter, Clock, stages::subscription_grant_stage<>>;

// The checks with `last...` after them; `required_message_type` empty accepts any.
template <class Request, class Sessions, class ReplayStore, class Limiter, class Clock, class... Last>
constexpr auto make_contract_chain(contract_parts<Sessions, ReplayStore, Limiter, Clock> const& p,
                                   std::string_view required_message_type, Last... last) {
  std::int64_t const window = p.settings.freshness_window_ms;
  return make_chain<stages::received<Request>>(
      stages::envelope_stage<Request>{{p.settings.max_payload_bytes, required_message_type}},
      stages::session_stage<Sessions>{p.sessions}, stages::payload_hash_stage{}, stages::signature_stage{},
      stages::freshness_stage<Clock>{p.clock, window}, stages::replay_stage<ReplayStore>{p.replay, 2 * window},
      stages::rate_limit_stage<Limiter, Clock>{p.limiter, p.clock}, std::move(last)...);
}

// ExecuteCommand: the checks, the response signer, routing. Any message type but the
// subscription's own (routing has no route for the reserved "gateway" segment).
template <class Request, class Sessions, class ReplayStore, class Limiter, class Clock, class Handler>
constexpr execute_chain<Request, Sessions, ReplayStore, Limiter, Clock, Handler> make_execute_chain(
    contract_parts<Sessions, ReplayStore, Limiter, Clock> const& p, crypto::ed25519_signer const& signer,
    stages::route_table<Handler> const& routes) {
  return make_contract_chain<Request>(p, {}, stages::response_signer_stage<Clock>{&signer, p.clock},
                                      stages::routing_stage<Handler>{&routes});
}

// SubscribeEvents: the checks, then the grant; the message type must be the subscription's.
template <class Request, class Sessions, class ReplayStore, class Limiter, class Clock>
constexpr subscribe_chain<Request, Sessions, ReplayStore, Limiter, Clock> make_subscribe_chain(
    contract_parts<Sessions, ReplayStore, Limiter, Clock> const& p) {
  return make_contract_chain<Request>(p, subscribe_message_type, stages::subscription_grant_stage<>{});
}

}  // namespace edgepipe::kit
