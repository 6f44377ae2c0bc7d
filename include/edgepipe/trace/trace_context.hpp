// W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing and writing
// `traceparent`, checking `tracestate`, and fresh trace and span ids.
//
// A malformed header is ignored (the request starts a new trace), never trusted for
// anything else. Versions other than 00 are read as the spec asks: the first four fields
// in the 00 layout, anything after them ignored; version ff is invalid.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>

namespace edgepipe::trace {

using trace_id = std::array<std::uint8_t, 16>;
using span_id = std::array<std::uint8_t, 8>;

struct trace_context {
  trace_id trace{};
  span_id parent{};  // the caller's span: the parent of ours
  std::uint8_t flags = 0;  // bit 0: sampled
};

inline constexpr std::size_t traceparent_size = 55;  // "00-" 32 "-" 16 "-" 2

namespace detail {
constexpr int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}
template <std::size_t N>
constexpr bool read_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  bool nonzero = false;
  for (std::size_t i = 0; i < N; ++i) {
    int const hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    nonzero = nonzero || out[i] != 0;
  }
  return nonzero;  // an all-zero id is invalid
}
inline void write_hex(std::string& out, std::uint8_t const* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 15]);
  }
}
}  // namespace detail

constexpr std::optional<trace_context> parse_traceparent(std::string_view t) noexcept {
  if (t.size() < traceparent_size || t[2] != '-' || t[35] != '-' || t[52] != '-') return std::nullopt;
  int const v_hi = detail::hex_digit(t[0]), v_lo = detail::hex_digit(t[1]);
  if (v_hi < 0 || v_lo < 0 || (v_hi == 15 && v_lo == 15)) return std::nullopt;
  bool const version_00 = v_hi == 0 && v_lo == 0;
  if (version_00 ? t.size() != traceparent_size : t.size() > traceparent_size && t[traceparent_size] != '-')
    return std::nullopt;
  trace_context c;
  std::array<std::uint8_t, 1> flags{};
  if (!detail::read_hex(t.substr(3, 32), c.trace) || !detail::read_hex(t.substr(36, 16), c.parent)) return std::nullopt;
  int const f_hi = detail::hex_digit(t[53]), f_lo = detail::hex_digit(t[54]);
  if (f_hi < 0 || f_lo < 0) return std::nullopt;
  flags[0] = static_cast<std::uint8_t>(f_hi << 4 | f_lo);
  c.flags = flags[0];
  return c;
}

// "00-<trace>-<span>-<flags>": the header a callee receives when `span` is its parent.
inline std::string format_traceparent(trace_id const& trace, span_id const& span, std::uint8_t flags) {
  std::string out;
  out.reserve(traceparent_size);
  out.append("00-");
  detail::write_hex(out, trace.data(), trace.size());
  out.push_back('-');
  detail::write_hex(out, span.data(), span.size());
  out.push_back('-');
  detail::write_hex(out, &flags, 1);
  return out;
}

inline std::string to_hex(std::span<std::uint8_t const> bytes) {
  std::string out;
  detail::write_hex(out, bytes.data(), bytes.size());
  return out;
}

// tracestate: at most 32 list members "key=value" separated by commas (optional
// whitespace around them), at most 512 characters; keys lower-case [a-z0-9_-*/@], values
// printable ASCII without ',' and '='. Carried on unchanged when valid, dropped otherwise.
constexpr bool valid_tracestate(std::string_view s) noexcept {
  if (s.size() > 512) return false;
  std::size_t members = 0;
  while (!s.empty()) {
    std::size_t const comma = s.find(',');
    std::string_view m = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    while (!m.empty() && (m.front() == ' ' || m.front() == '\t')) m.remove_prefix(1);
    while (!m.empty() && (m.back() == ' ' || m.back() == '\t')) m.remove_suffix(1);
    if (m.empty()) continue;  // empty members are allowed and ignored
    if (++members > 32) return false;
    std::size_t const eq = m.find('=');
    if (eq == 0 || eq == std::string_view::npos || eq > 256 || m.size() - eq - 1 > 256 || m.size() == eq + 1)
      return false;
    for (char c : m.substr(0, eq))
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/' ||
            c == '@'))
        return false;
    std::string_view const value = m.substr(eq + 1);
    for (std::size_t i = 0; i < value.size(); ++i) {
      char const c = value[i];
      if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
      if (c == ' ' && i + 1 == value.size()) return false;  // trimmed above; inner spaces allowed
    }
  }
  return true;
}

// Fresh random ids: a per-thread generator seeded once from the OS (ids need to be
// unique, not secret).
inline std::mt19937_64& id_generator() {
  static thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }()};
  return rng;
}

inline span_id new_span_id() {
  span_id out;
  std::uint64_t v = 0;
  while (v == 0) v = id_generator()();
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
  return out;
}

inline trace_id new_trace_id() {
  trace_id out;
  auto const a = new_span_id(), b = new_span_id();
  std::copy(a.begin(), a.end(), out.begin());
  std::copy(b.begin(), b.end(), out.begin() + 8);
  return out;
}

}  // namespace edgepipe::trace
