// gRPC's wire details: grpc-timeout, grpc-message percent-encoding, and
// grpc-status-details-bin (a serialized google.rpc.Status).
#pragma once

#include <edgepipe/protocol/error_detail.hpp>
#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/status.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::protocol {

// grpc-timeout: 1..8 digits and a unit (H, M, S, m, u, n). nullopt: malformed.
inline std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view text) noexcept {
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  char const unit = text.back();
  text.remove_suffix(1);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 0) return std::nullopt;
  std::int64_t ns_per_unit = 0;
  switch (unit) {
    case 'H': ns_per_unit = 3'600'000'000'000; break;
    case 'M': ns_per_unit = 60'000'000'000; break;
    case 'S': ns_per_unit = 1'000'000'000; break;
    case 'm': ns_per_unit = 1'000'000; break;
    case 'u': ns_per_unit = 1'000; break;
    case 'n': ns_per_unit = 1; break;
    default: return std::nullopt;
  }
  // 99999999H does not fit in int64 nanoseconds: saturate (it means "no deadline" anyway).
  if (n > std::chrono::nanoseconds::max().count() / ns_per_unit) return std::chrono::nanoseconds::max();
  return std::chrono::nanoseconds{n * ns_per_unit};
}

// grpc-message: bytes outside printable ASCII, and '%', as %XX.
inline void append_grpc_message(std::string& out, std::string_view message) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : message) {
    auto const c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}

namespace detail {
inline void append_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
inline void append_length_delimited(std::string& out, int field, std::string_view bytes) {
  append_varint(out, static_cast<std::uint64_t>(field) << 3 | 2);
  append_varint(out, bytes.size());
  out.append(bytes);
}
}  // namespace detail

// google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3; }
inline std::string encode_rpc_status(status const& s, error_details const& details) {
  std::string out;
  if (s.code() != code::ok) {
    detail::append_varint(out, 1 << 3 | 0);
    detail::append_varint(out, static_cast<std::uint64_t>(s.code()));
  }
  std::string message;
  s.append_message(message);
  if (!message.empty()) detail::append_length_delimited(out, 2, message);
  for (auto const& d : details) {
    std::string any;  // google.protobuf.Any { string type_url = 1; bytes value = 2; }
    detail::append_length_delimited(any, 1, d.type_url);
    detail::append_length_delimited(any, 2, d.value);
    detail::append_length_delimited(out, 3, any);
  }
  return out;
}

// The trailers that end a gRPC (or gRPC-Web) call with `s`.
inline metadata grpc_status_trailers(status const& s, error_details const& details = {}) {
  metadata t;
  t.emplace_back("grpc-status", std::to_string(static_cast<int>(s.code())));
  if (!s.ok()) {
    std::string message, encoded;
    s.append_message(message);
    append_grpc_message(encoded, message);
    t.emplace_back("grpc-message", std::move(encoded));
    if (!details.empty()) {
      std::string bin;
      append_base64(bin, encode_rpc_status(s, details), base64_alphabet::standard, false);
      t.emplace_back("grpc-status-details-bin", std::move(bin));
    }
  }
  if (s.retry_after_ms() >= 0) t.emplace_back("grpc-retry-pushback-ms", std::to_string(s.retry_after_ms()));
  return t;
}

}  // namespace edgepipe::protocol
