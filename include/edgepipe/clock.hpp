// Clocks, injectable so that freshness, rate limits and expiry can be tested.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>

namespace edgepipe {

// Unix time in milliseconds.
template <class C>
concept unix_clock = requires(C const& clock) {
  { clock.now_ms() } -> std::same_as<std::int64_t>;
};

struct system_clock {
  std::int64_t now_ms() const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to.
struct manual_clock {
  std::int64_t now = 1'700'000'000'000;
  std::int64_t now_ms() const noexcept { return now; }
  void advance(std::int64_t ms) noexcept { now += ms; }
};

}  // namespace edgepipe
