// What the rate-limit stage asks of a limiter; stores/ implements it.
#pragma once

#include <concepts>
#include <cstdint>
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

}  // namespace edgepipe::stages
