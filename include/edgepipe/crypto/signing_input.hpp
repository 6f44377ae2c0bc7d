// The exact bytes each party signs, built in one place for the
// verifier, the signer, the CLI and the tests.
//
//   lp(x)  = 4-byte big-endian length of x, then x
//   i64(t) = t as 8 bytes, big-endian two's complement
//   request : "edgepipe.v1.request"  0x00 lp(device_session_id) lp(message_type) lp(request_id) i64(timestamp_ms) payload_sha256
//   response: "edgepipe.v1.response" 0x00 lp(device_session_id) lp(request_id) lp(result_code) i64(timestamp_ms) payload_sha256
//   event   : "edgepipe.v1.event"    0x00 lp(device_session_id) lp(subscription_id) lp(event_id) lp(event_type) i64(timestamp_ms) payload_sha256
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace edgepipe::crypto {

struct request_signing_fields {
  std::string_view device_session_id;
  std::string_view message_type;
  std::string_view request_id;
  std::int64_t timestamp_ms = 0;
  std::string_view payload_sha256;
};

struct response_signing_fields {
  std::string_view device_session_id;
  std::string_view request_id;
  std::string_view result_code;
  std::int64_t timestamp_ms = 0;
  std::string_view payload_sha256;
};

struct event_signing_fields {
  std::string_view device_session_id;
  std::string_view subscription_id;
  std::string_view event_id;
  std::string_view event_type;
  std::int64_t timestamp_ms = 0;
  std::string_view payload_sha256;
};

inline constexpr std::string_view request_domain{"edgepipe.v1.request\0", 20};
inline constexpr std::string_view response_domain{"edgepipe.v1.response\0", 21};
inline constexpr std::string_view event_domain{"edgepipe.v1.event\0", 18};

// A byte buffer of fixed capacity on the stack. Appending past the end sets overflow()
// and drops the bytes, so a signing input that does not fit can never be signed or
// verified truncated.
template <std::size_t Capacity>
class fixed_buffer {
 public:
  void append(std::string_view bytes) noexcept {
    if (bytes.size() > Capacity - size_) {
      overflow_ = true;
      return;
    }
    std::memcpy(data_.data() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
  }
  [[nodiscard]] bool overflow() const noexcept { return overflow_; }
  [[nodiscard]] std::string_view view() const noexcept { return {data_.data(), size_}; }

 private:
  std::array<char, Capacity> data_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

namespace detail {
template <class Out>
void append_u32(Out& out, std::uint32_t v) {
  char const bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  out.append(std::string_view{bytes, 4});
}
template <class Out>
void append_i64(Out& out, std::int64_t t) {
  auto const v = static_cast<std::uint64_t>(t);
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(v >> (56 - 8 * i));
  out.append(std::string_view{bytes, 8});
}
template <class Out>
void append_lp(Out& out, std::string_view x) {
  append_u32(out, static_cast<std::uint32_t>(x.size()));
  out.append(x);
}
}  // namespace detail

// Appends the signing input to `out`: any type with append(std::string_view), such as
// std::string or fixed_buffer.
template <class Out>
void append_signing_input(Out& out, request_signing_fields const& f) {
  out.append(request_domain);
  detail::append_lp(out, f.device_session_id);
  detail::append_lp(out, f.message_type);
  detail::append_lp(out, f.request_id);
  detail::append_i64(out, f.timestamp_ms);
  out.append(f.payload_sha256);
}

template <class Out>
void append_signing_input(Out& out, response_signing_fields const& f) {
  out.append(response_domain);
  detail::append_lp(out, f.device_session_id);
  detail::append_lp(out, f.request_id);
  detail::append_lp(out, f.result_code);
  detail::append_i64(out, f.timestamp_ms);
  out.append(f.payload_sha256);
}

template <class Out>
void append_signing_input(Out& out, event_signing_fields const& f) {
  out.append(event_domain);
  detail::append_lp(out, f.device_session_id);
  detail::append_lp(out, f.subscription_id);
  detail::append_lp(out, f.event_id);
  detail::append_lp(out, f.event_type);
  detail::append_i64(out, f.timestamp_ms);
  out.append(f.payload_sha256);
}

// The largest request signing input the envelope limits allow (128 + 128 + 64 bytes of
// strings, a 32-byte hash): it fits a stack buffer.
inline constexpr std::size_t max_request_signing_input = 20 + 4 + 128 + 4 + 128 + 4 + 64 + 8 + 32;

// --- parsing, for tests, tools and the fuzzers' round trips ---------------------------

namespace detail {
class signing_input_reader {
 public:
  explicit signing_input_reader(std::string_view in) noexcept : in_{in} {}
  bool literal(std::string_view expected) noexcept {
    if (in_.substr(0, expected.size()) != expected) return false;
    in_.remove_prefix(expected.size());
    return true;
  }
  bool lp(std::string_view& out) noexcept {
    if (in_.size() < 4) return false;
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(in_[static_cast<std::size_t>(i)]);
    in_.remove_prefix(4);
    if (n > in_.size()) return false;
    out = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool i64(std::int64_t& out) noexcept {
    if (in_.size() < 8) return false;
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in_[static_cast<std::size_t>(i)]);
    in_.remove_prefix(8);
    out = static_cast<std::int64_t>(v);
    return true;
  }
  // The rest must be exactly one SHA-256 digest.
  bool digest(std::string_view& out) noexcept {
    if (in_.size() != 32) return false;
    out = in_;
    in_ = {};
    return true;
  }

 private:
  std::string_view in_;
};
}  // namespace detail

inline std::optional<request_signing_fields> parse_request_signing_input(std::string_view in) noexcept {
  detail::signing_input_reader r{in};
  request_signing_fields f;
  if (r.literal(request_domain) && r.lp(f.device_session_id) && r.lp(f.message_type) && r.lp(f.request_id) &&
      r.i64(f.timestamp_ms) && r.digest(f.payload_sha256))
    return f;
  return std::nullopt;
}

inline std::optional<response_signing_fields> parse_response_signing_input(std::string_view in) noexcept {
  detail::signing_input_reader r{in};
  response_signing_fields f;
  if (r.literal(response_domain) && r.lp(f.device_session_id) && r.lp(f.request_id) && r.lp(f.result_code) &&
      r.i64(f.timestamp_ms) && r.digest(f.payload_sha256))
    return f;
  return std::nullopt;
}

inline std::optional<event_signing_fields> parse_event_signing_input(std::string_view in) noexcept {
  detail::signing_input_reader r{in};
  event_signing_fields f;
  if (r.literal(event_domain) && r.lp(f.device_session_id) && r.lp(f.subscription_id) && r.lp(f.event_id) &&
      r.lp(f.event_type) && r.i64(f.timestamp_ms) && r.digest(f.payload_sha256))
    return f;
  return std::nullopt;
}

}  // namespace edgepipe::crypto
