// The in-process stores under arbitrary sequences of operations: memory stays within
// its bounds, and a reservation is never granted twice within its TTL.
#include <edgepipe/clock.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/token_buckets.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <map>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  edgepipe::manual_clock clock;
  edgepipe::stores::memory_replay_store store{clock, 16};
  edgepipe::stores::token_buckets buckets{{5, 3}, 8};
  std::map<std::string, std::int64_t> granted_until;  // key -> expiry, the model

  for (std::size_t i = 0; i + 2 < size; i += 3) {
    std::string const key = "k" + std::to_string(data[i] % 40);
    std::int64_t const ttl = 1 + data[i + 1] * 10;
    switch (data[i + 2] % 3) {
      case 0: {
        auto r = store.reserve(key, ttl);
        auto it = granted_until.find(key);
        bool const live = it != granted_until.end() && it->second > clock.now_ms();
        if (live) FUZZ_CHECK(r == edgepipe::stages::reservation::already_reserved);
        if (r == edgepipe::stages::reservation::reserved) granted_until[key] = clock.now_ms() + ttl;
        break;
      }
      case 1: {
        auto t = buckets.take(key, clock.now_ms());
        FUZZ_CHECK(t.allowed == (t.retry_after_ms == 0));
        FUZZ_CHECK(t.retry_after_ms >= 0 && t.retry_after_ms <= 1000);
        break;
      }
      default: clock.advance(data[i + 1] * 7); break;
    }
    FUZZ_CHECK(store.size() <= 16);
    FUZZ_CHECK(buckets.tracked_keys() <= 8);
  }
  return 0;
}
