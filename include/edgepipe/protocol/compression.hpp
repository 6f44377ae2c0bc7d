// gzip both ways, with the decompressed size bounded (no zip bombs).
#pragma once

#include <edgepipe/status.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace edgepipe::protocol {

inline constexpr std::string_view encoding_gzip = "gzip";
inline constexpr std::string_view encoding_identity = "identity";
inline constexpr std::string_view supported_encodings = "gzip, identity";

namespace compression_errors {
inline constexpr status too_large{code::resource_exhausted, "message_too_large",
                                  "message larger than the limit after decompression"};
inline constexpr status corrupt{code::invalid_argument, "malformed_compression", "invalid gzip data"};
inline constexpr status failed{code::internal, "compression_failed"};
}  // namespace compression_errors

// Appends the gzip of `in` to `out`.
inline status gzip_compress(std::string_view in, std::string& out) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return compression_errors::failed;
  std::size_t const start = out.size();
  out.resize(start + deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data() + start);
  z.avail_out = static_cast<uInt>(out.size() - start);
  int const rc = deflate(&z, Z_FINISH);
  out.resize(start + z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? status{} : compression_errors::failed;
}

// Appends the decompression of `in` to `out`, writing at most `max_out` bytes: past that
// it stops and fails, whatever the input claims. An empty input is an empty message,
// never inflated (an empty gzip stream is not valid gzip, and clients send it that way).
inline status gzip_decompress(std::string_view in, std::string& out, std::size_t max_out) {
  if (in.empty()) return {};
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return compression_errors::failed;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::size_t const start = out.size();
  status result = compression_errors::corrupt;
  char chunk[16384];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    int const rc = inflate(&z, Z_NO_FLUSH);
    std::size_t const produced = sizeof chunk - z.avail_out;
    if (out.size() - start + produced > max_out) {
      result = compression_errors::too_large;
      break;
    }
    out.append(chunk, produced);
    if (rc == Z_STREAM_END) {
      // Trailing bytes after the gzip member are not a valid message.
      result = z.avail_in == 0 ? status{} : compression_errors::corrupt;
      break;
    }
    if (rc != Z_OK || (produced == 0 && z.avail_in == 0)) break;  // corrupt or truncated
  }
  inflateEnd(&z);
  if (!result.ok()) out.resize(start);
  return result;
}

// Whether `name` is an encoding we can decode ("" and "identity" mean none).
inline bool known_encoding(std::string_view name) noexcept {
  return name.empty() || name == encoding_identity || name == encoding_gzip;
}

// The first of our encodings that an Accept-Encoding style list ("gzip, br") offers.
inline std::string_view pick_response_encoding(std::string_view accepted) noexcept {
  while (!accepted.empty()) {
    auto comma = accepted.find(',');
    std::string_view item = accepted.substr(0, comma);
    accepted.remove_prefix(comma == std::string_view::npos ? accepted.size() : comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    item = item.substr(0, item.find(';'));
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == encoding_gzip) return encoding_gzip;
  }
  return {};
}

}  // namespace edgepipe::protocol
