// The backend adapter's side of a REST answer: raw HTTP/1.1 response bytes, split
// anywhere, through the answer reader the gateway's HTTP client runs, then read as a
// sessions answer and as a commands answer. Nothing crashes, no body beyond the limit is
// kept, interim answers are skipped, and each answer maps to the status the backend API
// defines for it (result codes checked).
#include <edgepipe/kit/backend_api.hpp>

#include "fuzz_check.hpp"


#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  namespace ref = edgepipe::kit;
  if (size < 1) return 0;
  std::size_t const piece = data[0] == 0 ? size : data[0];
  std::string_view const wire{reinterpret_cast<char const*>(data) + 1, size - 1};

  constexpr std::size_t body_limit = 4096;  // the client's limit, made small to be reached
  edgepipe::transport::detail::http_answer_reader reader{{16 * 1024, body_limit}};
  using state = edgepipe::transport::detail::http_answer_reader::state;
  edgepipe::transport::http_client::outcome r;
  std::string pending;
  for (std::size_t at = 0; at < wire.size() && reader.current() == state::reading; at += piece) {
    pending.append(wire.substr(at, piece));
    pending.erase(0, reader.put(pending));
  }
  reader.put_eof();  // the backend closed the connection here
  switch (reader.current()) {
    case state::done: r.res = reader.release(); break;
    case state::too_large: r.error = edgepipe::transport::http_client::failure::too_large; break;
    case state::malformed: r.error = edgepipe::transport::http_client::failure::malformed; break;
    case state::reading: r.error = edgepipe::transport::http_client::failure::io; break;
  }
  // An interim answer is never the answer.
  if (r.error == edgepipe::transport::http_client::failure::none) FUZZ_CHECK(r.res.result_int() >= 200);
  FUZZ_CHECK(r.res.body().size() <= body_limit);

  using o = edgepipe::stages::session_answer::outcome;
  auto const answer = ref::session_answer_of(r);
  unsigned const http_status = r.error == edgepipe::transport::http_client::failure::none ? r.res.result_int() : 0;
  if (answer.kind == o::found) FUZZ_CHECK(http_status == 200);
  if (answer.kind == o::not_found) FUZZ_CHECK(http_status == 404);
  if (http_status == 404) FUZZ_CHECK(answer.kind == o::not_found);
  if (r.error == edgepipe::transport::http_client::failure::too_large) FUZZ_CHECK(answer.kind == o::malformed);

  std::string const body = r.res.body();
  auto const command = ref::command_result_of(r);
  if (command) {
    FUZZ_CHECK(http_status >= 200 && http_status <= 299);
    FUZZ_CHECK(command->payload == body);
    // A result code is signed and sent as a string: always one the rule allows.
    FUZZ_CHECK(ref::is_result_code(command->result_code));
  } else {
    bool const success = http_status >= 200 && http_status <= 299;
    std::string_view const result_code{r.res["X-Result-Code"].data(), r.res["X-Result-Code"].size()};
    // A 2xx fails only for a result code outside the rule, and then as the backend's error.
    if (success) FUZZ_CHECK(!result_code.empty() && !ref::is_result_code(result_code));
    if (success) FUZZ_CHECK(command.error().reason() == "backend_bad_response");
    FUZZ_CHECK(!command.error().ok());
    FUZZ_CHECK(command.error().reason().starts_with("backend_"));
  }
  return 0;
}
