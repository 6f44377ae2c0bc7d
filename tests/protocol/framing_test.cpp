#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/frame.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace edgepipe::protocol;
using edgepipe::code;

namespace {
struct decoded {
  std::vector<std::pair<std::uint8_t, std::string>> frames;
  edgepipe::status failure;
};

decoded decode_in_pieces(std::string const& wire, std::size_t piece, frame_decoder::options o = {}) {
  frame_decoder d{o};
  decoded out;
  for (std::size_t i = 0; i < wire.size() && out.failure.ok(); i += piece)
    out.failure = d.feed(std::string_view{wire}.substr(i, piece), [&](frame_view f) {
      out.frames.emplace_back(f.flags, std::string{f.message});
      return edgepipe::status{};
    });
  if (out.failure.ok()) out.failure = d.finish();
  return out;
}
}  // namespace

TEST_CASE("a decoder fed one byte at a time yields what one fed everything yields", "[protocol][frame]") {
  std::string wire;
  append_frame(wire, 0, "first");
  append_frame(wire, 0, "");
  append_frame(wire, flag_compressed, std::string(70'000, 'x'));
  append_frame(wire, 0, "last");
  frame_decoder::options o;
  o.compression_negotiated = true;
  auto const whole = decode_in_pieces(wire, wire.size(), o);
  REQUIRE(whole.failure.ok());
  REQUIRE(whole.frames.size() == 4);
  for (std::size_t piece : {1, 2, 3, 5, 7, 4096}) {
    auto const split = decode_in_pieces(wire, piece, o);
    CHECK(split.failure.ok());
    CHECK(split.frames == whole.frames);
  }
}

TEST_CASE("framing errors carry the contract's codes", "[protocol][frame]") {
  std::string wire;
  append_frame(wire, 0x04, "x");
  CHECK(decode_in_pieces(wire, 1).failure.code() == code::internal);  // unknown flag

  wire.clear();
  append_frame(wire, flag_compressed, "x");
  CHECK(decode_in_pieces(wire, 3).failure.code() == code::internal);  // compressed, not negotiated

  wire.clear();
  append_frame(wire, 0, "abcdef");
  wire.pop_back();
  CHECK(decode_in_pieces(wire, 2).failure.code() == code::invalid_argument);  // truncated
  CHECK(decode_in_pieces(wire.substr(0, 3), 1).failure.code() == code::invalid_argument);  // header cut

  // A length prefix over the limit fails before any body is buffered.
  std::string const huge_prefix{"\x00\x7f\xff\xff\xff", 5};
  frame_decoder d{{flag_compressed, 1024, false}};
  bool called = false;
  auto s = d.feed(huge_prefix, [&](frame_view) {
    called = true;
    return edgepipe::status{};
  });
  CHECK(s.code() == code::resource_exhausted);
  CHECK_FALSE(called);
}

TEST_CASE("gzip round trips and inflation stops at the limit", "[protocol][compression]") {
  std::string const text(100'000, 'a');
  std::string zipped;
  REQUIRE(gzip_compress(text, zipped).ok());
  CHECK(zipped.size() < 1000);
  std::string back;
  REQUIRE(gzip_decompress(zipped, back, 100'000).ok());
  CHECK(back == text);

  std::string bounded;
  CHECK(gzip_decompress(zipped, bounded, 99'999).code() == code::resource_exhausted);
  CHECK(bounded.empty());  // nothing kept from a refused message

  std::string none;
  CHECK(gzip_decompress("", none, 10).ok());  // an empty body is never inflated
  CHECK(gzip_decompress("not gzip at all", none, 10).code() == code::invalid_argument);
  CHECK(gzip_decompress(zipped.substr(0, zipped.size() / 2), none, 100'000).code() == code::invalid_argument);
  CHECK(gzip_decompress(zipped + "trailing", none, 100'000).code() == code::invalid_argument);
}

TEST_CASE("response encodings are picked from what the client accepts", "[protocol][compression]") {
  CHECK(pick_response_encoding("gzip") == "gzip");
  CHECK(pick_response_encoding("br, gzip;q=0.5") == "gzip");
  CHECK(pick_response_encoding("br, identity").empty());
  CHECK(pick_response_encoding("").empty());
  CHECK(known_encoding("gzip"));
  CHECK(known_encoding("identity"));
  CHECK(known_encoding(""));
  CHECK_FALSE(known_encoding("br"));
}
