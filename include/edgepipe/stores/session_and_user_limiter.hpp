// The gateway's rate limiter: token buckets per device session and per user, behind a lock.
#pragma once

#include <edgepipe/stages/rate_limiter.hpp>
#include <edgepipe/stores/token_buckets.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace edgepipe::stores {

// A bucket per device session (default 20/s, burst 40) and one per user (50/s, burst
// 100); a request needs a token from both. Thread-safe.
class session_and_user_limiter {
 public:
  session_and_user_limiter(bucket_rate per_session = {20, 40}, bucket_rate per_user = {50, 100},
                           std::size_t max_keys = 100'000)
      : sessions_{per_session, max_keys}, users_{per_user, max_keys} {}

  stages::rate_decision acquire(std::string_view device_session_id, std::string_view user_id, std::int64_t now_ms) {
    std::lock_guard lock{mutex_};
    auto const s = sessions_.take(device_session_id, now_ms);
    if (!s.allowed) return {false, s.retry_after_ms};
    auto const u = users_.take(user_id, now_ms);
    if (!u.allowed) {
      sessions_.refund(device_session_id);  // the request is refused: it used nothing
      return {false, u.retry_after_ms};
    }
    return {};
  }

  [[nodiscard]] std::size_t tracked_keys() const {
    std::lock_guard lock{mutex_};
    return sessions_.tracked_keys() + users_.tracked_keys();
  }

 private:
  mutable std::mutex mutex_;
  token_buckets sessions_;
  token_buckets users_;
};

static_assert(stages::rate_limiter<session_and_user_limiter>);

}  // namespace edgepipe::stores
