#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/grpc.hpp>
#include <edgepipe/protocol/grpc_web.hpp>
#include <edgepipe/protocol/json_text.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace edgepipe::protocol;
using edgepipe::code;
using edgepipe::status;
using namespace std::chrono_literals;

TEST_CASE("content types pick protocol, codec and framing", "[protocol]") {
  auto c = classify_content_type("application/json; charset=utf-8");
  REQUIRE(c);
  CHECK(c->protocol == rpc_protocol::connect);
  CHECK(c->codec == message_codec::json);
  CHECK_FALSE(c->connect_streaming);
  CHECK(classify_content_type("Application/Connect+Proto")->connect_streaming);
  CHECK(classify_content_type("application/grpc")->protocol == rpc_protocol::grpc);
  CHECK(classify_content_type("application/grpc+json")->codec == message_codec::json);
  CHECK(classify_content_type("application/grpc-web-text")->web_text);
  CHECK(classify_content_type("application/grpc-web+proto")->protocol == rpc_protocol::grpc_web);
  CHECK_FALSE(classify_content_type("text/plain"));
  CHECK_FALSE(classify_content_type(""));
  CHECK_FALSE(classify_content_type("application/grpc+xml"));
}

TEST_CASE("Connect maps every code to its HTTP status", "[protocol][connect]") {
  CHECK(connect_http_status(code::canceled) == 499);
  CHECK(connect_http_status(code::invalid_argument) == 400);
  CHECK(connect_http_status(code::deadline_exceeded) == 504);
  CHECK(connect_http_status(code::not_found) == 404);
  CHECK(connect_http_status(code::already_exists) == 409);
  CHECK(connect_http_status(code::permission_denied) == 403);
  CHECK(connect_http_status(code::resource_exhausted) == 429);
  CHECK(connect_http_status(code::failed_precondition) == 400);
  CHECK(connect_http_status(code::aborted) == 409);
  CHECK(connect_http_status(code::out_of_range) == 400);
  CHECK(connect_http_status(code::unimplemented) == 501);
  CHECK(connect_http_status(code::internal) == 500);
  CHECK(connect_http_status(code::unavailable) == 503);
  CHECK(connect_http_status(code::data_loss) == 500);
  CHECK(connect_http_status(code::unauthenticated) == 401);
  CHECK(connect_http_status(code::unknown) == 500);
}

TEST_CASE("Connect error and end-of-stream JSON", "[protocol][connect]") {
  std::string json;
  append_connect_error_json(json, status{code::unauthenticated, "signature_invalid"},
                            {{"type.googleapis.com/pkg.Info", "\x0a\x01x"}});
  CHECK(json == R"({"code":"unauthenticated","message":"signature_invalid","details":[{"type":"pkg.Info","value":"CgF4"}]})");

  std::string end;
  append_connect_end_stream_json(end, status{});
  CHECK(end == "{}");
  end.clear();
  append_connect_end_stream_json(end, status{code::unavailable, "draining", "bye \"now\""}, {}, {{"k", "v"}});
  CHECK(end == R"({"error":{"code":"unavailable","message":"draining: bye \"now\""},"metadata":{"k":["v"]}})");
}

TEST_CASE("timeouts in both protocols' notations", "[protocol]") {
  CHECK(parse_connect_timeout("1500") == 1500ms);
  CHECK(parse_connect_timeout("0") == 0ms);
  CHECK_FALSE(parse_connect_timeout(""));
  CHECK_FALSE(parse_connect_timeout("12345678901"));  // 11 digits
  CHECK_FALSE(parse_connect_timeout("-5"));
  CHECK_FALSE(parse_connect_timeout("5s"));

  CHECK(parse_grpc_timeout("2H") == 2h);
  CHECK(parse_grpc_timeout("3M") == 3min);
  CHECK(parse_grpc_timeout("4S") == 4s);
  CHECK(parse_grpc_timeout("5m") == 5ms);
  CHECK(parse_grpc_timeout("6u") == 6us);
  CHECK(parse_grpc_timeout("99999999n") == 99999999ns);
  CHECK_FALSE(parse_grpc_timeout("123456789n"));  // 9 digits
  CHECK(parse_grpc_timeout("99999999H") == std::chrono::nanoseconds::max());  // saturates (found by fuzzing)
  CHECK_FALSE(parse_grpc_timeout("5"));
  CHECK_FALSE(parse_grpc_timeout("5x"));
  CHECK_FALSE(parse_grpc_timeout("S"));
}

TEST_CASE("gRPC trailers: status, percent-encoded message, details, retry hint", "[protocol][grpc]") {
  auto t = grpc_status_trailers(status{code::resource_exhausted, "rate_limited", "100% full\n"}.with_retry_after(250));
  CHECK(find_metadata(t, "grpc-status") == "8");
  CHECK(find_metadata(t, "grpc-message") == "rate_limited: 100%25 full%0A");
  CHECK(find_metadata(t, "grpc-retry-pushback-ms") == "250");
  auto ok = grpc_status_trailers(status{});
  CHECK(find_metadata(ok, "grpc-status") == "0");
  CHECK(find_metadata(ok, "grpc-message").empty());

  // google.rpc.Status{code: 5, message: "r", details: [Any{type_url: "t", value: "v"}]}
  CHECK(encode_rpc_status(status{code::not_found, "r"}, {{"t", "v"}}) ==
        std::string{"\x08\x05\x12\x01r\x1a\x06\x0a\x01t\x12\x01v", 13});
}

TEST_CASE("gRPC-Web trailers round trip", "[protocol][grpc-web]") {
  std::string body;
  append_grpc_web_trailers(body, {{"grpc-status", "0"}, {"x-custom", "a b"}});
  REQUIRE(static_cast<unsigned char>(body[0]) == flag_trailers);
  auto parsed = parse_grpc_web_trailers(std::string_view{body}.substr(5));
  REQUIRE(parsed);
  CHECK(find_metadata(*parsed, "grpc-status") == "0");
  CHECK(find_metadata(*parsed, "x-custom") == "a b");
  CHECK_FALSE(parse_grpc_web_trailers("no-colon\r\n"));
  CHECK_FALSE(parse_grpc_web_trailers("a:b"));  // not CRLF-terminated
  CHECK(parse_grpc_web_trailers("Grpc-Status: 3\r\n")->front().first == "grpc-status");
}

TEST_CASE("base64 decodes padded segments split at any point", "[protocol][base64]") {
  std::string const bytes{"\x00\x01\x02hello world\xff", 15};
  std::string a, b;
  append_base64(a, bytes.substr(0, 4));
  append_base64(a, bytes.substr(4));  // two padded segments back to back
  for (std::size_t piece = 1; piece <= a.size(); ++piece) {
    base64_decoder d;
    std::string out;
    for (std::size_t i = 0; i < a.size(); i += piece) REQUIRE(d.feed(std::string_view{a}.substr(i, piece), out));
    REQUIRE(d.finish(out));
    CHECK(out == bytes);
  }
  base64_decoder d;
  std::string out;
  CHECK_FALSE(d.feed("ab!c", out));
  base64_decoder e;
  CHECK_FALSE(e.feed("a===", out));
  append_base64(b, "\xfb\xff", base64_alphabet::url, false);
  CHECK(b == "-_8");
}

TEST_CASE("Connect GET queries", "[protocol][connect]") {
  auto r = parse_connect_get_query("connect=v1&encoding=json&message=%7B%22text%22%3A%22hi%22%7D");
  REQUIRE(r);
  CHECK(r->message == R"({"text":"hi"})");
  CHECK(r->codec == message_codec::json);
  auto b = parse_connect_get_query("encoding=proto&base64=1&message=CgJoaQ");
  REQUIRE(b);
  CHECK(b->message == "\x0a\x02hi");
  CHECK_FALSE(parse_connect_get_query("encoding=proto"));           // no message
  CHECK_FALSE(parse_connect_get_query("message=x"));                // no encoding
  CHECK_FALSE(parse_connect_get_query("encoding=xml&message=x"));
  CHECK_FALSE(parse_connect_get_query("encoding=json&message=%zz"));
  CHECK_FALSE(parse_connect_get_query("encoding=json&message=x&connect=v2"));
}
