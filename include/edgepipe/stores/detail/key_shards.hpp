// A keyed structure split into independently locked parts: a key always lands in the same
// part, so two threads contend only when their keys share one of the 64 parts.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

namespace edgepipe::stores::detail {

template <class Part, std::size_t N = 64>
  requires(N > 0 && (N & (N - 1)) == 0)
class key_shards {
 public:
  static constexpr std::size_t count = N;

  // Builds each part with `make_part()`.
  template <class MakePart>
  explicit key_shards(MakePart make_part) {
    for (auto& s : shards_) s.part.emplace(make_part());
  }
  key_shards(key_shards const&) = delete;
  key_shards& operator=(key_shards const&) = delete;

  // Calls f(part) under the lock of the part that holds `key`.
  template <class F>
  decltype(auto) with(std::string_view key, F&& f) {
    shard& s = shards_[index(key)];
    std::lock_guard lock{s.mutex};
    return std::forward<F>(f)(*s.part);
  }

  // Calls f(part_a, part_b) holding the locks of both keys' parts at once (one lock when
  // they share a part, which f then sees twice); taken in index order, so no deadlock.
  template <class F>
  decltype(auto) with_both(std::string_view key_a, std::string_view key_b, F&& f) {
    std::size_t const a = index(key_a), b = index(key_b);
    if (a == b) {
      std::lock_guard lock{shards_[a].mutex};
      return std::forward<F>(f)(*shards_[a].part, *shards_[a].part);
    }
    std::scoped_lock lock{shards_[std::min(a, b)].mutex, shards_[std::max(a, b)].mutex};
    return std::forward<F>(f)(*shards_[a].part, *shards_[b].part);
  }

  // Calls f(part) for every part, one lock at a time (a sweep or a count, not a snapshot).
  template <class F>
  void for_each(F&& f) {
    for (auto& s : shards_) {
      std::lock_guard lock{s.mutex};
      f(*s.part);
    }
  }
  template <class F>
  void for_each(F&& f) const {
    for (auto const& s : shards_) {
      std::lock_guard lock{s.mutex};
      f(static_cast<Part const&>(*s.part));
    }
  }

  // The part of `key`: the hash's top bits after a multiplicative mix, so keys that differ
  // only at their end still spread.
  [[nodiscard]] static std::size_t index(std::string_view key) noexcept {
    std::uint64_t const h = std::hash<std::string_view>{}(key) * 0x9E3779B97F4A7C15ull;
    if constexpr (N == 1) return 0;
    else return static_cast<std::size_t>(h >> (64 - std::countr_zero(N)));
  }

 private:
  // A part per cache line pair: a lock taken on one core never invalidates its neighbour's.
  struct alignas(128) shard {
    mutable std::mutex mutex;
    std::optional<Part> part;
  };
  std::array<shard, N> shards_;
};

}  // namespace edgepipe::stores::detail
