// Stage 6, replay: each (device session, request id) is executed at most once.
#pragma once

#include <edgepipe/crypto/signing_input.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/adapter_call.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/stages/replay_store.hpp>
#include <edgepipe/status.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace edgepipe::stages {

inline constexpr std::string_view replay_key_prefix = "edgepipe:replay:";
// prefix + 128-byte session id + ':' + 64-byte request id
inline constexpr std::size_t max_replay_key = 16 + 128 + 1 + 64;

// "edgepipe:replay:{device_session_id}:{request_id}"
template <class Out>
void append_replay_key(Out& out, std::string_view device_session_id, std::string_view request_id) {
  out.append(replay_key_prefix);
  out.append(device_session_id);
  out.append(":");
  out.append(request_id);
}

namespace replay_failures {
inline constexpr status replayed{code::already_exists, "replayed_request"};
inline constexpr status unavailable{code::unavailable, "replay_store_unavailable"};
}  // namespace replay_failures

inline result<replay_reserved> decide_replay(reservation r) noexcept {
  switch (r) {
    case reservation::reserved: return replay_reserved{};
    case reservation::already_reserved: return replay_failures::replayed;
    case reservation::unavailable: break;
  }
  return replay_failures::unavailable;  // fail closed
}

// Requires envelope and fresh (a stale request is rejected before it can occupy the
// store); adds replay_reserved. Reserves the key for ttl_ms, which must be at least twice
// the freshness window so a request cannot outlive its reservation. A replay is
// already_exists · replayed_request; a store that cannot answer is unavailable ·
// replay_store_unavailable, and the request is never executed.
template <replay_store Store>
struct replay_stage {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope, fresh>;
  using provides_fact = replay_reserved;
  static constexpr std::string_view name = "replay";

  Store* store;
  std::int64_t ttl_ms = 120'000;

  using call_type = decltype(std::declval<Store&>().reserve(std::string_view{}, std::int64_t{}));

  // A store may take the request's traceparent too, to trace its own I/O.
  static auto with_trace(Store& s, std::string_view traceparent, std::string_view key, std::int64_t ttl) {
    if constexpr (requires { s.reserve(key, ttl, traceparent); }) return s.reserve(key, ttl, traceparent);
    else return s.reserve(key, ttl);
  }

  // The store's call. It owns the key: an asynchronous store reads it after operator() has
  // returned, while the awaitable's frame keeps this alive. A constructor rather than
  // aggregate initialisation, which would zero the key's buffer on every request.
  struct reserve_call {
    reserve_call(Store* s, std::string_view tp, std::int64_t ttl) noexcept : store{s}, traceparent{tp}, ttl_ms{ttl} {}
    auto operator()() const { return with_trace(*store, traceparent, key.view(), ttl_ms); }

    Store* store;
    std::string_view traceparent;
    std::int64_t ttl_ms;
    crypto::fixed_buffer<max_replay_key> key;
  };

  adapter_result_t<call_type, result<replay_reserved>> operator()(auto const& ctx) const noexcept {
    auto const& e = get<envelope>(ctx);
    reserve_call call{store, e.traceparent, ttl_ms};
    append_replay_key(call.key, e.device_session_id, e.request_id);
    if (call.key.overflow()) return adapter_failure<call_type, result<replay_reserved>>(replay_failures::unavailable);
    return call_adapter(std::move(call), decide_replay);
  }
};

}  // namespace edgepipe::stages
