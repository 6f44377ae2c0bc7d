// The embedded replay store: one process, bounded memory, entries that expire.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/stages/replay_store.hpp>
#include <edgepipe/stores/detail/key_shards.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_set>

namespace edgepipe::stores {

// Reservations kept in a hash set plus a queue in expiry order, so expiring is amortised
// O(1). At capacity, with nothing expired, a new reservation answers `unavailable`
// rather than forgetting an old one: forgetting would reopen replay, refusing fails
// closed.
//
// Thread-safe for any number of workers: the keys are split over 64 parts, each behind its
// own lock, so a reservation locks only its key's part and two workers meet on a lock only
// when their keys share a part. The capacity is one bound for the whole store (a shared
// counter, one atomic add per new reservation).
template <unix_clock Clock = system_clock>
class memory_replay_store {
 public:
  explicit memory_replay_store(Clock const& clock, std::size_t capacity = 1'000'000)
      : clock_{&clock}, capacity_{capacity}, parts_{[] { return part{}; }} {}

  stages::reservation reserve(std::string_view key, std::int64_t ttl_ms) {
    std::int64_t const now = clock_->now_ms();
    auto const r = try_reserve(key, ttl_ms, now);
    if (r != stages::reservation::unavailable) return r;
    // Full: what has expired in the other parts may still count. Sweep them all (each
    // under its own lock, never two at once) and try once more.
    sweep(now);
    return try_reserve(key, ttl_ms, now);
  }

  // Reservations held now, after sweeping what has expired.
  [[nodiscard]] std::size_t size() {
    sweep(clock_->now_ms());
    return size_.load(std::memory_order_relaxed);
  }

 private:
  struct transparent_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct entry {
    std::int64_t expires_at;
    std::string const* key;  // node-based set: stable until erased
  };
  struct part {
    std::unordered_set<std::string, transparent_hash, std::equal_to<>> keys;
    std::deque<entry> expiry;

    // Drops what has expired by `now`; returns how many.
    std::size_t expire(std::int64_t now) {
      std::size_t n = 0;
      while (!expiry.empty() && expiry.front().expires_at <= now) {
        keys.erase(keys.find(*expiry.front().key));  // by iterator: the key lives in the node
        expiry.pop_front();
        ++n;
      }
      return n;
    }

    void insert(std::string_view key, std::int64_t expires_at) {
      auto [it, inserted] = keys.emplace(key);
      // TTLs vary only with configuration; keep the queue ordered by inserting in place
      // when a shorter TTL arrives after a longer one.
      entry e{expires_at, &*it};
      auto pos = expiry.end();
      while (pos != expiry.begin() && std::prev(pos)->expires_at > e.expires_at) --pos;
      expiry.insert(pos, e);
    }
  };

  stages::reservation try_reserve(std::string_view key, std::int64_t ttl_ms, std::int64_t now) {
    return parts_.with(key, [&](part& p) {
      size_.fetch_sub(p.expire(now), std::memory_order_relaxed);
      if (p.keys.contains(key)) return stages::reservation::already_reserved;
      if (size_.fetch_add(1, std::memory_order_relaxed) >= capacity_) {
        size_.fetch_sub(1, std::memory_order_relaxed);
        return stages::reservation::unavailable;
      }
      p.insert(key, now + ttl_ms);
      return stages::reservation::reserved;
    });
  }

  void sweep(std::int64_t now) {
    parts_.for_each([&](part& p) { size_.fetch_sub(p.expire(now), std::memory_order_relaxed); });
  }

  Clock const* clock_;
  std::size_t capacity_;
  std::atomic<std::size_t> size_{0};
  detail::key_shards<part> parts_;
};

}  // namespace edgepipe::stores
