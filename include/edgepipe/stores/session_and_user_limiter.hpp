// The gateway's rate limiter: token buckets per device session and per user, shared by
// every worker.
#pragma once

#include <edgepipe/stages/rate_limiter.hpp>
#include <edgepipe/stores/detail/key_shards.hpp>
#include <edgepipe/stores/token_buckets.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edgepipe::stores {

// A bucket per device session (default 20/s, burst 40) and one per user (50/s, burst
// 100); a request needs a token from both, so a refused one takes neither.
//
// Thread-safe and exact across workers: the buckets are split over 64 parts by key, each
// behind its own lock; a request holds the locks of its session's and its user's parts
// (one, when they share it) while it takes, so a burst of 40 is 40 calls whatever worker
// serves them. Memory is bounded by `max_keys` per kind, spread over the parts, each
// evicting its own least recently used bucket.
class session_and_user_limiter {
 public:
  session_and_user_limiter(bucket_rate per_session = {20, 40}, bucket_rate per_user = {50, 100},
                           std::size_t max_keys = 100'000)
      : parts_{[&] {
          std::size_t const per_part = (max_keys + parts_type::count - 1) / parts_type::count;
          return part{token_buckets{per_session, per_part}, token_buckets{per_user, per_part}};
        }} {}

  stages::rate_decision acquire(std::string_view device_session_id, std::string_view user_id, std::int64_t now_ms) {
    return parts_.with_both(device_session_id, user_id, [&](part& of_session, part& of_user) -> stages::rate_decision {
      auto const s = of_session.sessions.take(device_session_id, now_ms);
      if (!s.allowed) return {false, s.retry_after_ms};
      auto const u = of_user.users.take(user_id, now_ms);
      if (!u.allowed) {
        of_session.sessions.refund(device_session_id);  // the request is refused: it used nothing
        return {false, u.retry_after_ms};
      }
      return {};
    });
  }

  [[nodiscard]] std::size_t tracked_keys() const {
    std::size_t n = 0;
    parts_.for_each([&](part const& p) { n += p.sessions.tracked_keys() + p.users.tracked_keys(); });
    return n;
  }

 private:
  struct part {
    token_buckets sessions;
    token_buckets users;
  };
  using parts_type = detail::key_shards<part>;
  parts_type parts_;
};

static_assert(stages::rate_limiter<session_and_user_limiter>);

}  // namespace edgepipe::stores
