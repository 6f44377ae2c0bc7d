// Token buckets keyed by string, in bounded memory.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace edgepipe::stores {

struct bucket_rate {
  double per_second = 20;  // refill rate
  double burst = 40;       // capacity
};

// Milliseconds to wait before a token is available; 0 when one was taken.
struct take_result {
  bool allowed = true;
  std::int64_t retry_after_ms = 0;
};

// One bucket per key, created full on first use. Memory is bounded by `max_keys`: the
// least recently used bucket is dropped to make room. A dropped bucket that had refilled
// is indistinguishable from a new one, so eviction only ever forgives the least active
// key, never a key under attack that keeps coming back. Not thread-safe: one per thread
// or behind the caller's lock.
class token_buckets {
 public:
  explicit token_buckets(bucket_rate rate, std::size_t max_keys = 100'000)
      : refill_per_ms_{static_cast<std::int64_t>(rate.per_second * 1000.0 + 0.5)},
        capacity_{static_cast<std::int64_t>(rate.burst * unit + 0.5)},
        max_keys_{max_keys} {}

  // Takes one token from key's bucket at time now_ms.
  take_result take(std::string_view key, std::int64_t now_ms) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      if (index_.size() >= max_keys_) evict_one();
      recency_.push_front(bucket{std::string{key}, capacity_, now_ms});
      it = index_.emplace(recency_.front().key, recency_.begin()).first;
    } else {
      recency_.splice(recency_.begin(), recency_, it->second);  // most recent first
    }
    bucket& b = *it->second;
    if (now_ms > b.updated_ms) {
      // Elapsed time is capped where the bucket would be full anyway: no overflow.
      std::int64_t const elapsed = now_ms - b.updated_ms;
      std::int64_t const to_full = refill_per_ms_ > 0 ? (capacity_ - b.units) / refill_per_ms_ + 1 : 0;
      b.units = std::min(capacity_, b.units + std::min(elapsed, to_full) * refill_per_ms_);
      b.updated_ms = now_ms;
    }
    if (b.units >= unit) {
      b.units -= unit;
      return {};
    }
    if (refill_per_ms_ <= 0) return {false, 1000};
    std::int64_t const missing = unit - b.units;
    return {false, std::max<std::int64_t>(1, (missing + refill_per_ms_ - 1) / refill_per_ms_)};
  }

  // Gives back a token taken by `take` (when a later check refused the request).
  void refund(std::string_view key) {
    if (auto it = index_.find(key); it != index_.end())
      it->second->units = std::min(capacity_, it->second->units + unit);
  }

  [[nodiscard]] std::size_t tracked_keys() const noexcept { return index_.size(); }

 private:
  // Tokens are counted in millionths, so refills and retry hints are exact integers.
  static constexpr std::int64_t unit = 1'000'000;

  struct bucket {
    std::string key;
    std::int64_t units;  // tokens * unit
    std::int64_t updated_ms;
  };
  struct transparent_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  void evict_one() {
    if (recency_.empty()) return;
    index_.erase(std::string_view{recency_.back().key});
    recency_.pop_back();
  }

  std::int64_t refill_per_ms_;  // units per millisecond: per_second * unit / 1000
  std::int64_t capacity_;       // units
  std::size_t max_keys_;
  std::list<bucket> recency_;
  std::unordered_map<std::string_view, std::list<bucket>::iterator, transparent_hash, std::equal_to<>> index_;
};

}  // namespace edgepipe::stores
