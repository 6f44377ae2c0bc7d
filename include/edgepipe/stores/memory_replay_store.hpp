// The embedded replay store: one process, bounded memory, entries that expire.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/stages/replay_store.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace edgepipe::stores {

// Reservations kept in a hash set plus a queue in expiry order, so expiring is amortised
// O(1). At capacity, with nothing expired, a new reservation answers `unavailable`
// rather than forgetting an old one: forgetting would reopen replay, refusing fails
// closed. Thread-safe; one short lock per reservation.
template <unix_clock Clock = system_clock>
class memory_replay_store {
 public:
  explicit memory_replay_store(Clock const& clock, std::size_t capacity = 1'000'000)
      : clock_{&clock}, capacity_{capacity} {}

  stages::reservation reserve(std::string_view key, std::int64_t ttl_ms) {
    std::int64_t const now = clock_->now_ms();
    std::lock_guard lock{mutex_};
    expire(now);
    if (keys_.contains(key)) return stages::reservation::already_reserved;
    if (keys_.size() >= capacity_) return stages::reservation::unavailable;
    auto [it, inserted] = keys_.emplace(key);
    // TTLs vary only with configuration; keep the queue ordered by inserting in place
    // when a shorter TTL arrives after a longer one.
    entry e{now + ttl_ms, &*it};
    auto pos = expiry_.end();
    while (pos != expiry_.begin() && std::prev(pos)->expires_at > e.expires_at) --pos;
    expiry_.insert(pos, e);
    return stages::reservation::reserved;
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock{mutex_};
    return keys_.size();
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

  void expire(std::int64_t now) {
    while (!expiry_.empty() && expiry_.front().expires_at <= now) {
      keys_.erase(keys_.find(*expiry_.front().key));  // by iterator: the key lives in the node
      expiry_.pop_front();
    }
  }

  Clock const* clock_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_set<std::string, transparent_hash, std::equal_to<>> keys_;
  std::deque<entry> expiry_;
};

}  // namespace edgepipe::stores
