// The HTTP field grammar (RFC 9110 section 5), checked wherever a header is built from a
// value that came from outside: a backend's answer, a client's request, a session record.
// A value that fails is never written; a CR or LF in one would end the header early and
// let whoever chose the value write headers, or a whole second request, of their own.
#pragma once

#include <string_view>

namespace edgepipe::protocol {

// token: the characters a field name may hold.
constexpr bool is_header_name_char(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

constexpr bool is_header_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (!is_header_name_char(c)) return false;
  return true;
}

// field-value: visible ASCII, obs-text, and spaces or tabs inside, never at either end;
// never CR, LF, NUL or another control character. Empty is a valid value.
constexpr bool is_header_value(std::string_view value) noexcept {
  for (unsigned char c : value)
    if (c < 0x20 ? c != '\t' : c == 0x7F) return false;
  if (value.empty()) return true;
  auto const edge = [](char c) { return c == ' ' || c == '\t'; };
  return !edge(value.front()) && !edge(value.back());
}

}  // namespace edgepipe::protocol
