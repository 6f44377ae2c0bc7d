// The h2c client's reading of a gRPC response: header fields, trailer fields and body
// chunks in any order and split anywhere, then the stream's end. Properties: an OK
// outcome means HTTP 200, a gRPC content type, grpc-status 0, a stream the server ended,
// and exactly the messages the whole body frames; merging the body's chunks changes
// neither the messages nor the outcome; no message is over the limit.
//
// Input: records. 'H' or 'T' (header or trailer field), a name length byte, the name, a
// value length byte, the value; 'D', a length byte, that many body bytes; 'E', a byte
// that says how the stream ended (even: the server ended it; odd: it was reset).
#include <edgepipe/transport/detail/grpc_response.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using edgepipe::transport::detail::grpc_response;

constexpr std::size_t max_message = 256;
constexpr edgepipe::status reset{edgepipe::code::unavailable, "stream_reset"};

struct event {
  char kind;
  std::string_view a, b;
};

struct outcome {
  std::vector<std::string> messages;
  edgepipe::status status;
};

outcome read(std::vector<event> const& events, edgepipe::status transport, bool merge_data) {
  grpc_response r{max_message};
  outcome out;
  auto on_message = [&](std::string_view m) {
    FUZZ_CHECK(m.size() <= max_message);
    out.messages.emplace_back(m);
    return edgepipe::status{};
  };
  std::string pending;
  auto flush = [&] {
    if (!pending.empty()) r.on_data(pending, on_message);
    pending.clear();
  };
  for (auto const& e : events) {
    if (e.kind == 'D') {
      if (merge_data) pending.append(e.a);
      else r.on_data(e.a, on_message);
      continue;
    }
    flush();
    r.on_header(e.a, e.b, e.kind == 'T');
  }
  flush();
  out.status = r.finish(transport);
  if (out.status.ok()) {
    FUZZ_CHECK(transport.ok());
    FUZZ_CHECK(r.http_status() == 200);
    FUZZ_CHECK(r.grpc_status() == 0);
  }
  FUZZ_CHECK(static_cast<int>(out.status.code()) <= 16);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view in{reinterpret_cast<char const*>(data), size};
  auto take = [&](std::size_t n) {
    std::string_view const s = in.substr(0, std::min(n, in.size()));
    in.remove_prefix(s.size());
    return s;
  };
  auto length = [&]() -> std::size_t { return in.empty() ? 0 : static_cast<std::uint8_t>(take(1)[0]); };
  std::vector<event> events;
  edgepipe::status transport{};
  while (!in.empty()) {
    char const kind = take(1)[0];
    if (kind == 'H' || kind == 'T') {
      std::string_view const name = take(length());
      std::string_view const value = take(length());
      events.push_back({kind, name, value});
    } else if (kind == 'D') {
      events.push_back({kind, take(length()), {}});
    } else if (kind == 'E') {
      if (!in.empty() && (static_cast<std::uint8_t>(take(1)[0]) & 1)) transport = reset;
      break;
    }
  }
  outcome const as_sent = read(events, transport, false);
  outcome const merged = read(events, transport, true);
  FUZZ_CHECK(as_sent.messages == merged.messages);
  FUZZ_CHECK(as_sent.status == merged.status);
  return 0;
}
