// Writing JSON strings and base64, for the protocol's small JSON documents.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgepipe::protocol {

inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    auto const c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(ch);  // UTF-8 passes through
        }
    }
  }
  out.push_back('"');
}

enum class base64_alphabet { standard, url };

// Appends base64 of `bytes`; `pad` adds '=' to a multiple of four.
inline void append_base64(std::string& out, std::string_view bytes, base64_alphabet alphabet = base64_alphabet::standard,
                          bool pad = true) {
  static constexpr char standard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char const* table = alphabet == base64_alphabet::url ? url : standard;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t const v = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                            (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out.push_back(table[v >> 18]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(table[(v >> 6) & 63]);
    out.push_back(table[v & 63]);
  }
  std::size_t const rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
  if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
  out.push_back(table[v >> 18]);
  out.push_back(table[(v >> 12) & 63]);
  if (rest == 2) out.push_back(table[(v >> 6) & 63]);
  if (pad) out.append(rest == 1 ? "==" : "=");
}

// Incremental base64 decoder accepting both alphabets, with or without padding, and
// concatenated padded segments ("AA==AA=="), as grpc-web-text bodies arrive split anywhere.
class base64_decoder {
 public:
  // Appends what `in` completes to `out`; false on a character outside base64.
  bool feed(std::string_view in, std::string& out) {
    for (char ch : in) {
      if (ch == '=') {
        if (padding_ > 0 && padding_ < 2) {  // the second '=' of "=="
          ++padding_;
          continue;
        }
        if (count_ < 2) return false;  // padding cannot start a group or follow one character
        padding_ = count_ == 2 ? 1 : 2;  // "xx==" takes two, "xxx=" one
        flush(out);
        continue;
      }
      int const v = value(ch);
      if (v < 0) {
        if (ch == '\r' || ch == '\n') continue;
        return false;
      }
      padding_ = 0;
      group_[count_++] = static_cast<std::uint8_t>(v);
      if (count_ == 4) flush(out);
    }
    return true;
  }
  // Decodes a final unpadded group; false if it was a single character (not valid).
  bool finish(std::string& out) {
    if (count_ == 1) return false;
    flush(out);
    return true;
  }

 private:
  static int value(char ch) noexcept {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
  }
  void flush(std::string& out) {
    if (count_ >= 2) out.push_back(static_cast<char>((group_[0] << 2) | (group_[1] >> 4)));
    if (count_ >= 3) out.push_back(static_cast<char>((group_[1] << 4) | (group_[2] >> 2)));
    if (count_ == 4) out.push_back(static_cast<char>((group_[2] << 6) | group_[3]));
    count_ = 0;
  }

  std::array<std::uint8_t, 4> group_{};
  std::size_t count_ = 0;
  int padding_ = 0;  // '=' seen since the last group: 0, 1 or 2 (then full)
};

}  // namespace edgepipe::protocol
