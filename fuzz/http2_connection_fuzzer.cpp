// The HTTP/2 server connection fed raw frames (after the client preface, which the
// listener has already matched): nghttp2 and our callbacks, the four RPC kinds over
// Connect, gRPC and gRPC-Web. Nothing crashes or leaks, and once the peer is gone the
// connection and every handler end.
#include "transport_fixture.hpp"

#include <edgepipe/transport/detail/http2_connection.hpp>
#include <edgepipe/transport/server.hpp>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  return fuzz_transport::serve_one<edgepipe::transport::detail::basic_http2_connection>(
      data, size, edgepipe::transport::http2_preface);
}
