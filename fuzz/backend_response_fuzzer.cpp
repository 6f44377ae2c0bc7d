// The backend adapter's side of a REST answer: raw HTTP/1.1 response bytes, split
// anywhere, through Beast's parser configured as the gateway's HTTP client does, then
// read as a sessions answer and as a commands answer. Nothing crashes, no body beyond
// the limit is kept, and each answer maps to exactly one outcome: only a 2xx is a command
// result (its X-Result-Code checked), only a 404 is not_found, a session answer is read
// only from a 200.
#include <edgepipe/transport/detail/beast_http_parser.hpp>  // first: see there
#include "../reference/gateway/backend.hpp"

#include "fuzz_check.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  namespace http = boost::beast::http;
  namespace ref = edgepipe::reference;
  if (size < 1) return 0;
  std::size_t const piece = data[0] == 0 ? size : data[0];
  std::string_view const wire{reinterpret_cast<char const*>(data) + 1, size - 1};

  constexpr std::size_t body_limit = 4096;  // the client's limit, made small to be reached
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  ref::http_client::outcome r;
  boost::system::error_code ec;
  std::string pending;
  for (std::size_t at = 0; at < wire.size() && !ec && !parser.is_done(); at += piece) {
    pending.append(wire.substr(at, piece));
    auto const used = parser.put(boost::asio::buffer(pending), ec);
    if (ec == http::error::need_more) ec = {};
    pending.erase(0, used);
  }
  if (!ec && !parser.is_done()) {  // the backend closed the connection here
    if (parser.got_some()) parser.put_eof(ec);
    else ec = http::error::end_of_stream;
  }
  if (ec == http::error::body_limit) r.error = ref::http_client::failure::too_large;
  else if (ec || !parser.is_done()) r.error = ref::http_client::failure::io;
  else r.res = parser.release();
  FUZZ_CHECK(r.res.body().size() <= body_limit);

  using o = edgepipe::stages::session_answer::outcome;
  auto const answer = ref::session_answer_of(r);
  unsigned const http_status = r.error == ref::http_client::failure::none ? r.res.result_int() : 0;
  if (answer.kind == o::found) FUZZ_CHECK(http_status == 200);
  if (answer.kind == o::not_found) FUZZ_CHECK(http_status == 404);
  if (http_status == 404) FUZZ_CHECK(answer.kind == o::not_found);
  if (r.error == ref::http_client::failure::too_large) FUZZ_CHECK(answer.kind == o::malformed);

  std::string const body = r.res.body();
  auto const command = ref::command_result_of(r);
  if (command) {
    FUZZ_CHECK(http_status >= 200 && http_status <= 299);
    FUZZ_CHECK(command->payload == body);
    FUZZ_CHECK(!command->result_code.empty());
  } else {
    FUZZ_CHECK(http_status < 200 || http_status > 299);
    FUZZ_CHECK(!command.error().ok());
    FUZZ_CHECK(command.error().reason().starts_with("backend_"));
  }
  return 0;
}
