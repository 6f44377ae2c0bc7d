// Length-prefixed message framing shared by gRPC, gRPC-Web and Connect streaming:
// one flags byte, a 4-byte big-endian length, the message.
#pragma once

#include <edgepipe/status.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgepipe::protocol {

inline constexpr std::uint8_t flag_compressed = 0x01;  // every protocol
inline constexpr std::uint8_t flag_end_stream = 0x02;  // Connect streaming: the end-of-stream JSON
inline constexpr std::uint8_t flag_trailers = 0x80;    // gRPC-Web: the trailers block
inline constexpr std::size_t frame_header_size = 5;
inline constexpr std::size_t default_max_message_size = 4 * 1024 * 1024;

namespace frame_errors {
inline constexpr status bad_flags{code::internal, "protocol_error", "invalid frame flags"};
inline constexpr status compressed_without_encoding{code::internal, "protocol_error",
                                                    "compressed frame without a negotiated encoding"};
inline constexpr status too_large{code::resource_exhausted, "message_too_large", "message larger than the limit"};
inline constexpr status truncated{code::invalid_argument, "malformed_frame", "message cut short"};
}  // namespace frame_errors

template <class Out>
void append_frame(Out& out, std::uint8_t flags, std::string_view message) {
  auto const n = static_cast<std::uint32_t>(message.size());
  char const header[frame_header_size] = {static_cast<char>(flags), static_cast<char>(n >> 24),
                                          static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                                          static_cast<char>(n)};
  out.append(header, frame_header_size);
  out.append(message.data(), message.size());
}

struct frame_view {
  std::uint8_t flags;
  std::string_view message;  // valid during the callback only
};

// Incremental decoder: feed bytes as they arrive, split anywhere; each complete frame is
// handed to the callback, without a copy when it arrived in one piece. The length
// prefix is checked against the limit before any of the message is buffered, so a peer
// cannot make it buffer more than one maximal message.
class frame_decoder {
 public:
  struct options {
    std::uint8_t allowed_flags = flag_compressed;
    std::size_t max_message_size = default_max_message_size;
    bool compression_negotiated = false;
  };

  frame_decoder() = default;
  explicit frame_decoder(options o) noexcept : options_{o} {}

  // Calls on_frame(frame_view) for each complete frame; on_frame returns a status, and a
  // failure stops decoding. Returns the first failure; the decoder then stays failed.
  template <class OnFrame>
  status feed(std::string_view bytes, OnFrame&& on_frame) {
    if (!failure_.ok()) return failure_;
    while (!bytes.empty()) {
      if (header_size_ < frame_header_size) {
        std::size_t const take = std::min(frame_header_size - header_size_, bytes.size());
        for (std::size_t i = 0; i < take; ++i) header_[header_size_ + i] = static_cast<std::uint8_t>(bytes[i]);
        header_size_ += take;
        bytes.remove_prefix(take);
        if (header_size_ < frame_header_size) break;
        if (status s = check_header(); !s.ok()) return failure_ = s;
      }
      std::size_t const missing = length_ - body_.size();
      if (body_.empty() && bytes.size() >= missing) {  // whole message in this chunk: no copy
        std::string_view const message = bytes.substr(0, missing);
        bytes.remove_prefix(missing);
        header_size_ = 0;
        if (status s = on_frame(frame_view{header_[0], message}); !s.ok()) return failure_ = s;
        continue;
      }
      std::size_t const take = std::min(missing, bytes.size());
      body_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (body_.size() == length_) {
        header_size_ = 0;
        status s = on_frame(frame_view{header_[0], body_});
        body_.clear();
        if (!s.ok()) return failure_ = s;
      }
    }
    return {};
  }

  // At the end of the body: a frame begun but not finished is an error.
  [[nodiscard]] status finish() const noexcept {
    if (!failure_.ok()) return failure_;
    return header_size_ == 0 ? status{} : frame_errors::truncated;
  }

  [[nodiscard]] bool mid_frame() const noexcept { return header_size_ != 0; }

 private:
  status check_header() {
    std::uint8_t const flags = header_[0];
    if ((flags & ~options_.allowed_flags) != 0) return frame_errors::bad_flags;
    if ((flags & flag_compressed) && !options_.compression_negotiated) return frame_errors::compressed_without_encoding;
    length_ = (std::uint32_t{header_[1]} << 24) | (std::uint32_t{header_[2]} << 16) | (std::uint32_t{header_[3]} << 8) |
              std::uint32_t{header_[4]};
    if (length_ > options_.max_message_size) return frame_errors::too_large;
    return {};
  }

  options options_{};
  std::array<std::uint8_t, frame_header_size> header_{};
  std::size_t header_size_ = 0;
  std::uint32_t length_ = 0;
  std::string body_;
  status failure_{};
};

}  // namespace edgepipe::protocol
