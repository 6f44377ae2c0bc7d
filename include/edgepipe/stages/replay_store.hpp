// What the replay stage asks of a store; stores/ implements it.
#pragma once

#include <edgepipe/stages/adapter_call.hpp>

#include <concepts>
#include <cstdint>
#include <string_view>

namespace edgepipe::stages {

enum class reservation {
  reserved,          // first time: go ahead
  already_reserved,  // seen within the TTL: a replay
  unavailable,       // the store could not answer (down, timed out, full)
};

// Atomically reserves a key for ttl_ms: `reserve(key, ttl_ms)` returns a reservation, or an
// awaitable<reservation> when it does I/O.
template <class S>
concept replay_store = requires(S& store, std::string_view key, std::int64_t ttl_ms) {
  requires std::same_as<adapter_answer_t<decltype(store.reserve(key, ttl_ms))>, reservation>;
};

}  // namespace edgepipe::stages
