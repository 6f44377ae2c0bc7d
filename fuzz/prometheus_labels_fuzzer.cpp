// Prometheus label escaping: any bytes become a label value that reads back as the same bytes
// and never ends the quoted value early or breaks the line.
#include <edgepipe/kit/metrics_registry.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const value{reinterpret_cast<char const*>(data), size};
  std::string escaped;
  edgepipe::kit::append_label_value(escaped, value);
  FUZZ_CHECK(escaped.find('\n') == std::string::npos);
  // Unescape as a Prometheus parser does; an unescaped quote would end the value.
  std::string back;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    char const c = escaped[i];
    FUZZ_CHECK(c != '"');
    if (c != '\\') {
      back.push_back(c);
      continue;
    }
    FUZZ_CHECK(i + 1 < escaped.size());
    char const next = escaped[++i];
    FUZZ_CHECK(next == '\\' || next == '"' || next == 'n');
    back.push_back(next == 'n' ? '\n' : next);
  }
  FUZZ_CHECK(back == value);
  return 0;
}
