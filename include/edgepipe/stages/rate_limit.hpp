// Stage 7, rate-limit: every request asks the limiter (the gateway's is
// stores::session_and_user_limiter).
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/stages/rate_limiter.hpp>
#include <edgepipe/status.hpp>

#include <string_view>

namespace edgepipe::stages {

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

  result<rate_permitted> operator()(auto const& ctx) const noexcept {
    rate_decision const d =
        limiter->acquire(get<envelope>(ctx).device_session_id, get<session>(ctx).user_id, clock->now_ms());
    if (!d.allowed) return status{code::resource_exhausted, "rate_limited"}.with_retry_after(d.retry_after_ms);
    return rate_permitted{};
  }
};

}  // namespace edgepipe::stages
