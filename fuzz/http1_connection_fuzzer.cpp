// The HTTP/1.1 server connection fed raw bytes: Connect unary and streaming, gRPC-Web,
// CORS preflights, keep-alive, chunked bodies, and `Upgrade: h2c` (served as HTTP/1.1:
// the listener speaks h2c by prior knowledge only). Nothing crashes or leaks, and once
// the peer is gone the connection and every handler end.
#include "transport_fixture.hpp"

#include <edgepipe/transport/detail/http1_connection.hpp>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  return fuzz_transport::serve_one<edgepipe::transport::detail::basic_http1_connection>(data, size, {});
}
