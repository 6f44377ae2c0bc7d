// Framing: the same bytes split at fuzzer-chosen points decode exactly as unsplit,
// failures included; no frame exceeds the limit.
#include <edgepipe/protocol/frame.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace {
struct outcome {
  std::vector<std::pair<std::uint8_t, std::string>> frames;
  edgepipe::status failure;
};

template <class Splits>
outcome decode(std::string_view wire, Splits const& splits, edgepipe::protocol::frame_decoder::options o) {
  edgepipe::protocol::frame_decoder d{o};
  outcome out;
  std::size_t at = 0;
  auto feed = [&](std::string_view piece) {
    if (!out.failure.ok()) return;
    out.failure = d.feed(piece, [&](edgepipe::protocol::frame_view f) {
      FUZZ_CHECK(f.message.size() <= o.max_message_size);
      out.frames.emplace_back(f.flags, std::string{f.message});
      return edgepipe::status{};
    });
  };
  for (std::size_t cut : splits) {
    if (cut <= at || cut > wire.size()) continue;
    feed(wire.substr(at, cut - at));
    at = cut;
  }
  feed(wire.substr(at));
  if (out.failure.ok()) out.failure = d.finish();
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size < 3) return 0;
  // The first bytes choose the options and the split points; the rest is the body.
  edgepipe::protocol::frame_decoder::options o;
  o.allowed_flags = static_cast<std::uint8_t>(data[0] & 0x83);
  o.compression_negotiated = data[1] & 1;
  o.max_message_size = 1 + (data[1] >> 1) * 64;
  std::size_t const nsplits = data[2] % 8;
  if (size < 3 + nsplits) return 0;
  std::vector<std::size_t> splits;
  for (std::size_t i = 0; i < nsplits; ++i) splits.push_back(data[3 + i]);
  std::string_view const wire{reinterpret_cast<char const*>(data) + 3 + nsplits, size - 3 - nsplits};

  outcome const whole = decode(wire, std::vector<std::size_t>{}, o);
  outcome const split = decode(wire, splits, o);
  FUZZ_CHECK(whole.frames == split.frames);
  FUZZ_CHECK(whole.failure == split.failure);
  return 0;
}
