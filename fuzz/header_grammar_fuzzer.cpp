// Header building: a value is written into a header only when it passes the field
// grammar. Property: whatever such a value holds, the request it is written into reads
// back as the same single request, with that header once and the value unchanged, and
// every other header as it was — no value can add a header or a second request.
#include <edgepipe/protocol/header_grammar.hpp>
#include <edgepipe/transport/detail/beast_http_parser.hpp>  // first Beast include: see there

#include "fuzz_check.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  namespace http = boost::beast::http;
  std::string_view const input{reinterpret_cast<char const*>(data), size};
  // name \0 value: the value is what a backend, a client or a session record chose.
  std::size_t const split = input.find('\0');
  std::string_view const name = split == std::string_view::npos ? std::string_view{"X-User-Id"} : input.substr(0, split);
  std::string_view const value = split == std::string_view::npos ? input : input.substr(split + 1);

  bool const valid = edgepipe::protocol::is_header_value(value);
  for (unsigned char c : value)
    if (c == '\r' || c == '\n' || c == '\0') FUZZ_CHECK(!valid);
  if (!valid || !edgepipe::protocol::is_header_name(name)) return 0;
  if (http::string_to_field(name) != http::field::unknown) return 0;  // Host, Content-Length...: set by the client

  http::request<http::string_body> req{http::verb::post, "/api/v1/internal/commands/user.echo", 11};
  req.set("X-Request-Id", "req-0123456789abcdef");
  req.set(name, value);
  req.set("X-Device-Session-Id", "ds_1");
  req.body() = "payload";
  req.prepare_payload();
  std::ostringstream wire;
  wire << req;
  std::string const bytes = wire.str();

  http::request_parser<http::string_body> parser;
  boost::system::error_code ec;
  std::size_t const used = parser.put(boost::asio::buffer(bytes), ec);
  std::size_t more = 0;
  if (!ec && !parser.is_done()) more = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(parser.is_done());
  FUZZ_CHECK(used + more == bytes.size());  // one request, nothing after it
  auto const& got = parser.get();
  std::size_t named = 0;
  for (auto const& f : got)
    if (boost::beast::iequals(f.name_string(), name)) {
      ++named;
      FUZZ_CHECK(std::string_view(f.value().data(), f.value().size()) == value);
    }
  FUZZ_CHECK(named == 1);
  FUZZ_CHECK(got["X-Request-Id"] == "req-0123456789abcdef");
  FUZZ_CHECK(got["X-Device-Session-Id"] == "ds_1");
  FUZZ_CHECK(got.body() == "payload");
  return 0;
}
