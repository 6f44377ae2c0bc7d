// EDGEPIPE_REDIS_URL parsing: never crashes; what it accepts is a usable endpoint.
#include <edgepipe/stores/redis_url.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const in{reinterpret_cast<char const*>(data), size};
  if (auto e = edgepipe::stores::parse_redis_url(in)) {
    FUZZ_CHECK(!e->host.empty());
    FUZZ_CHECK(e->port != 0);
    FUZZ_CHECK(e->db >= 0 && e->db <= 1000);
    FUZZ_CHECK(in.starts_with("redis://"));
  }
  return 0;
}
