// Stage 7, rate-limit: token buckets per device session and per user.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/stores/token_buckets.hpp>

#include <concepts>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace edgepipe::stages {

struct rate_decision {
  bool allowed = true;
  std::int64_t retry_after_ms = 0;
};

// Decides whether this session and user may make one more request now.
template <class L>
concept rate_limiter = requires(L& limiter, std::string_view device_session_id, std::string_view user_id,
                                std::int64_t now_ms) {
  { limiter.acquire(device_session_id, user_id, now_ms) } -> std::same_as<rate_decision>;
};

// The contract's limiter: a bucket per device session (default 20/s, burst 40) and one
// per user (50/s, burst 100); a request needs a token from both. Thread-safe.
class session_and_user_limiter {
 public:
  session_and_user_limiter(stores::bucket_rate per_session = {20, 40}, stores::bucket_rate per_user = {50, 100},
                           std::size_t max_keys = 100'000)
      : sessions_{per_session, max_keys}, users_{per_user, max_keys} {}

  rate_decision acquire(std::string_view device_session_id, std::string_view user_id, std::int64_t now_ms) {
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
  stores::token_buckets sessions_;
  stores::token_buckets users_;
};

// Requires envelope, session and signature_verified (only an authenticated request may
// spend a user's budget); adds rate_permitted. Refusal: resource_exhausted · rate_limited
// with a retry hint.
template <rate_limiter Limiter, unix_clock Clock>
struct rate_limit_stage {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope, session, signature_verified>;
  using provides_fact = rate_permitted;
  static constexpr std::string_view name = "rate_limit";

  Limiter* limiter;
  Clock const* clock;

  result<rate_permitted> operator()(auto const& ctx) const {
    rate_decision const d =
        limiter->acquire(get<envelope>(ctx).device_session_id, get<session>(ctx).user_id, clock->now_ms());
    if (!d.allowed) return status{code::resource_exhausted, "rate_limited"}.with_retry_after(d.retry_after_ms);
    return rate_permitted{};
  }
};

}  // namespace edgepipe::stages
