// The text parsers of the protocols: content types, timeouts, GET queries, gRPC-Web
// trailers, base64 split anywhere; nothing crashes, and what parses is consistent.
#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/grpc.hpp>
#include <edgepipe/protocol/grpc_web.hpp>
#include <edgepipe/protocol/json_text.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string>

using namespace edgepipe::protocol;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view const in{reinterpret_cast<char const*>(data) + 1, size - 1};
  switch (data[0] % 6) {
    case 0:
      if (auto t = classify_content_type(in)) FUZZ_CHECK(!response_content_type(*t).empty());
      break;
    case 1:
      if (auto ms = parse_connect_timeout(in)) FUZZ_CHECK(ms->count() >= 0 && in.size() <= 10);
      if (auto ns = parse_grpc_timeout(in)) FUZZ_CHECK(ns->count() >= 0 && in.size() <= 9);
      break;
    case 2:
      (void)parse_connect_get_query(in);
      break;
    case 3:
      if (auto t = parse_grpc_web_trailers(in)) {
        std::string rebuilt;
        append_grpc_web_trailers(rebuilt, *t);  // what parses can be written again
        auto again = parse_grpc_web_trailers(std::string_view{rebuilt}.substr(5));
        FUZZ_CHECK(again && again->size() == t->size());
      }
      break;
    case 4: {  // base64: encoding then decoding in arbitrary pieces gives the bytes back
      std::string text;
      append_base64(text, in);
      std::size_t const piece = 1 + (size % 7);
      base64_decoder d;
      std::string out;
      for (std::size_t i = 0; i < text.size(); i += piece) FUZZ_CHECK(d.feed(std::string_view{text}.substr(i, piece), out));
      FUZZ_CHECK(d.finish(out));
      FUZZ_CHECK(out == in);
      break;
    }
    default: {  // arbitrary text fed to the decoder in pieces: no crash, bounded output
      base64_decoder d;
      std::string out;
      for (std::size_t i = 0; i < in.size(); i += 3)
        if (!d.feed(in.substr(i, 3), out)) break;
      FUZZ_CHECK(out.size() <= in.size());
      break;
    }
  }
  return 0;
}
