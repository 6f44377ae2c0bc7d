// Signing inputs: whatever parses rebuilds to the same bytes, and fields built from
// arbitrary bytes parse back to themselves.
#include <edgepipe/crypto/signing_input.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using namespace edgepipe::crypto;

template <class Fields>
void check_round_trip(std::string_view in, std::optional<Fields> const& parsed) {
  if (!parsed) return;
  std::string rebuilt;
  append_signing_input(rebuilt, *parsed);
  FUZZ_CHECK(rebuilt == in);
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const in{reinterpret_cast<char const*>(data), size};
  check_round_trip(in, parse_request_signing_input(in));
  check_round_trip(in, parse_response_signing_input(in));
  check_round_trip(in, parse_event_signing_input(in));

  // Split the input into fields and go the other way.
  if (size >= 40) {
    std::string_view rest = in;
    auto take = [&](std::size_t n) {
      auto piece = rest.substr(0, n);
      rest.remove_prefix(piece.size());
      return piece;
    };
    std::size_t const a = static_cast<unsigned char>(in[0]) % 64, b = static_cast<unsigned char>(in[1]) % 64;
    take(2);
    std::string_view const hash = take(32);
    std::string_view const dsid = take(a), type = take(b), rid = rest;
    request_signing_fields f{dsid, type, rid, static_cast<std::int64_t>(size) - 1000, hash};
    std::string built;
    append_signing_input(built, f);
    auto back = parse_request_signing_input(built);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->device_session_id == dsid && back->message_type == type && back->request_id == rid);
    FUZZ_CHECK(back->timestamp_ms == f.timestamp_ms && back->payload_sha256 == hash);
  }
  return 0;
}
