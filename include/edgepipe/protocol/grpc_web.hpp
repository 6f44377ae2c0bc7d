// gRPC-Web: trailers travel in the body, as a frame flagged 0x80.
#pragma once

#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/metadata.hpp>

#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::protocol {

// The trailers frame: "name:value\r\n" lines, names lower-case.
inline void append_grpc_web_trailers(std::string& out, metadata const& trailers) {
  std::string block;
  for (auto const& [k, v] : trailers) {
    block += k;
    block += ':';
    block += v;
    block += "\r\n";
  }
  append_frame(out, flag_trailers, block);
}

// Parses a trailers block; nullopt when a line has no ':' or the block is not CRLF-terminated lines.
inline std::optional<metadata> parse_grpc_web_trailers(std::string_view block) {
  metadata out;
  while (!block.empty()) {
    auto eol = block.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    std::string name{line.substr(0, colon)};
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.emplace_back(std::move(name), std::string{value});
  }
  return out;
}

}  // namespace edgepipe::protocol
