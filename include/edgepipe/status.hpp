// edgepipe::status: how every failure on the request path is reported.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace edgepipe {

// The status codes shared by gRPC and Connect; the numeric values are gRPC's.
enum class code : std::uint8_t {
  ok = 0,
  canceled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

inline constexpr std::size_t code_count = 17;

namespace detail {
// Connect's spelling of each code, indexed by its numeric value.
inline constexpr std::array<std::string_view, code_count> code_names{
    "ok",        "canceled",           "unknown",           "invalid_argument",
    "deadline_exceeded", "not_found",  "already_exists",    "permission_denied",
    "resource_exhausted", "failed_precondition", "aborted", "out_of_range",
    "unimplemented", "internal",       "unavailable",       "data_loss",
    "unauthenticated"};
}  // namespace detail

// Connect's name for `c` ("invalid_argument"); gRPC uses the number.
constexpr std::string_view to_string(code c) noexcept {
  auto const index = static_cast<std::size_t>(c);
  return index < code_count ? detail::code_names[index] : std::string_view{"unknown"};
}

constexpr std::optional<code> code_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < code_count; ++i)
    if (detail::code_names[i] == name) return static_cast<code>(i);
  return std::nullopt;
}

constexpr std::optional<code> code_from_number(std::uint32_t number) noexcept {
  if (number < code_count) return static_cast<code>(number);
  return std::nullopt;
}

// A code, a stable machine-readable reason token ("signature_invalid") and a short
// human detail. Both strings must have static storage duration (string literals):
// a status never owns memory, so it is trivially copyable and failing costs no
// allocation. The detail is shown to clients; it must never hold keys, signatures,
// payloads or addresses.
class status {
 public:
  constexpr status() noexcept = default;
  constexpr status(edgepipe::code c, std::string_view reason,
                   std::string_view detail = {}) noexcept
      : code_{c}, reason_{reason}, detail_{detail} {}

  [[nodiscard]] constexpr edgepipe::code code() const noexcept { return code_; }
  [[nodiscard]] constexpr std::string_view reason() const noexcept { return reason_; }
  [[nodiscard]] constexpr std::string_view detail() const noexcept { return detail_; }
  [[nodiscard]] constexpr bool ok() const noexcept { return code_ == edgepipe::code::ok; }

  // A hint that the client may retry after this many milliseconds (rate limits, load
  // shedding); sent as `grpc-retry-pushback-ms` / `retry-after-ms`. Negative: no hint.
  [[nodiscard]] constexpr std::int64_t retry_after_ms() const noexcept { return retry_after_ms_; }
  [[nodiscard]] constexpr status with_retry_after(std::int64_t ms) const noexcept {
    status copy = *this;
    copy.retry_after_ms_ = ms < 0 ? 0 : ms;
    return copy;
  }

  // The wire message: "reason" or "reason: detail".
  template <class String>
  void append_message(String& out) const {
    out.append(reason_);
    if (!detail_.empty()) {
      out.append(": ");
      out.append(detail_);
    }
  }

  friend constexpr bool operator==(status const&, status const&) noexcept = default;

 private:
  edgepipe::code code_{edgepipe::code::ok};
  std::string_view reason_{};
  std::string_view detail_{};
  std::int64_t retry_after_ms_{-1};
};

}  // namespace edgepipe
