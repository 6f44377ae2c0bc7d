// gzip with a limit: never more output than the limit, whatever the input claims;
// compressing then decompressing gives the input back.
#include <edgepipe/protocol/compression.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t const limit = 1 + data[0] * 257;
  std::string_view const in{reinterpret_cast<char const*>(data) + 1, size - 1};

  std::string out;
  auto s = edgepipe::protocol::gzip_decompress(in, out, limit);
  FUZZ_CHECK(out.size() <= limit);
  if (!s.ok()) FUZZ_CHECK(out.empty());

  std::string zipped, back;
  FUZZ_CHECK(edgepipe::protocol::gzip_compress(in, zipped).ok());
  FUZZ_CHECK(edgepipe::protocol::gzip_decompress(zipped, back, in.size() + 1).ok());
  FUZZ_CHECK(back == in);
  return 0;
}
