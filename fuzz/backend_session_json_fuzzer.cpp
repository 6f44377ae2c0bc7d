// The backend's session JSON ({"device_session_id","user_id","status","public_key"}), as
// the gateway's session source parses
// it and the session stage judges it: never a crash, and only a well-formed active answer
// for the requested id becomes a session.
#include <edgepipe/kit/backend_api.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const body{reinterpret_cast<char const*>(data), size};
  auto const answer = edgepipe::kit::parse_session_body(body);
  using o = edgepipe::stages::session_answer::outcome;
  FUZZ_CHECK(answer.kind == o::found || answer.kind == o::malformed);
  auto const decided = edgepipe::stages::decide_session(answer.device_session_id, answer);
  if (decided) {
    FUZZ_CHECK(answer.kind == o::found);
    FUZZ_CHECK(answer.status == "active");
    FUZZ_CHECK(!decided->user_id.empty());
  } else {
    auto const reason = decided.error().reason();
    FUZZ_CHECK(reason == "backend_bad_response" || reason == "session_revoked");
  }
  // The same answer for another session id is never accepted.
  FUZZ_CHECK(!edgepipe::stages::decide_session(std::string{answer.device_session_id} + "x", answer));
  return 0;
}
