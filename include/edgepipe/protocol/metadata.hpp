// Headers and trailers as name/value pairs; names lower-case.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgepipe::protocol {

using metadata = std::vector<std::pair<std::string, std::string>>;

inline std::string_view find_metadata(metadata const& m, std::string_view name) noexcept {
  for (auto const& [k, v] : m)
    if (k == name) return v;
  return {};
}

}  // namespace edgepipe::protocol
