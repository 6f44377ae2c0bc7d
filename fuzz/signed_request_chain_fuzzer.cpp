// SignedRequest decoding and the whole chain: never a crash, and an input the chain
// rejects never reaches the command handler. An input it accepts verified independently.
#include "../tests/support/contract_world.hpp"

#include "fuzz_check.hpp"

#include <google/protobuf/stubs/logging.h>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  // libprotobuf logs each invalid UTF-8 string it parses; a peer must not be able to
  // fill our stderr (the gateway does the same).
  static bool const quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  static contract_world::world w;  // the replay store remembers across inputs, as a gateway would
  static auto const chain = w.chain();

  contract_world::request req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;

  int const calls_before = w.backend.calls;
  auto outcome = chain.run(edgepipe::stages::received<contract_world::request>{&req});
  bool const reached = w.backend.calls != calls_before;

  FUZZ_CHECK(outcome.has_value() == reached);
  if (outcome) {
    // Accepted: it really was signed by the device key over these exact fields.
    std::string input;
    edgepipe::crypto::append_signing_input(input, edgepipe::crypto::request_signing_fields{
        req.device_session_id(), req.message_type(), req.request_id(), req.timestamp_ms(), req.payload_sha256()});
    FUZZ_CHECK(edgepipe::crypto::ed25519_verify(req.signature(), input,
                                                edgepipe::crypto::as_bytes(w.device_key.public_key())));
    FUZZ_CHECK(req.device_session_id() == "dev-1");
    FUZZ_CHECK(outcome->key_id == "k1");
  } else {
    FUZZ_CHECK(!outcome.error().ok());
    FUZZ_CHECK(!outcome.error().reason().empty());
  }
  return 0;
}
