// Stage 5, freshness: the signed timestamp is close to now.
#pragma once

#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/clock.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <cstdint>
#include <string_view>

namespace edgepipe::stages {

// The largest window accepted: keeps now ± window far from int64 overflow.
inline constexpr std::int64_t max_freshness_window_ms = 7LL * 24 * 3600 * 1000;

// Requires envelope and signature_verified (only a signed timestamp means anything);
// adds fresh. abs(now - timestamp_ms) <= window, else unauthenticated · stale_request.
template <unix_clock Clock>
struct freshness_stage {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope, signature_verified>;
  using provides_fact = fresh;
  static constexpr std::string_view name = "freshness";

  Clock const* clock;
  std::int64_t window_ms = 60'000;  // in [0, max_freshness_window_ms]

  result<fresh> operator()(auto const& ctx) const noexcept {
    std::int64_t const now = clock->now_ms();
    std::int64_t const t = get<envelope>(ctx).timestamp_ms;
    // Written without subtracting t, which may be any int64.
    if (t < now - window_ms || t > now + window_ms) return status{code::unauthenticated, "stale_request"};
    return fresh{};
  }
};

}  // namespace edgepipe::stages
