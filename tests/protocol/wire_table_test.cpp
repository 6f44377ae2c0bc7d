// The status-to-wire table, per wire format, against the bytes a Connect/gRPC peer
// expects (connect-go's server writes the same): each response is recorded as the
// HTTP/2 frames a transport would send for it.
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/request_reader.hpp>
#include <edgepipe/protocol/response_writer.hpp>
#include <edgepipe/protocol/wire_format.hpp>

#include <catch2/catch.hpp>

#include <list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace edgepipe::protocol;
using edgepipe::code;
using edgepipe::status;
using namespace std::string_literals;

namespace {

// What a transport would be asked to send, in order.
struct recording {
  int http_status = 0;
  metadata headers;
  bool headers_end_stream = false;
  std::string body;
  std::vector<std::string> body_writes;
  bool ended = false;
  bool has_trailers = false;
  metadata trailers;
  int starts = 0;

  void start_response(int s, metadata h, bool end_stream) {
    ++starts;
    http_status = s;
    headers = std::move(h);
    headers_end_stream = end_stream;
    if (end_stream) ended = true;
  }
  void append_body(std::string_view bytes) {
    body.append(bytes);
    body_writes.emplace_back(bytes);
  }
  void end_response(metadata const* t) {
    ended = true;
    if (t != nullptr) {
      has_trailers = true;
      trailers = *t;
    }
  }
};
static_assert(response_output<recording>);

content_type_info type_of(std::string_view content_type) { return *classify_content_type(content_type); }

std::string frame(std::uint8_t flags, std::string_view message) {
  std::string out;
  append_frame(out, flags, message);
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out;
  append_base64(out, bytes);
  return out;
}

status const unavailable = status{code::unavailable, "backend_unavailable", "backend down"};

}  // namespace

TEST_CASE("Connect unary: the status is the HTTP status, an error a JSON body", "[protocol][wire]") {
  SECTION("success: the message is the body, no framing") {
    recording out;
    response_writer w{type_of("application/proto"), "", 0};
    REQUIRE(w.send_message(out, "\x0a\x02hi", {}).ok());
    CHECK(out.starts == 0);  // nothing goes out before the status is known
    w.finish(out, status{}, {}, {{"x-t", "1"}}, {{"vary", "Origin"}});
    CHECK(out.http_status == 200);
    CHECK(out.headers == metadata{{"content-type", "application/proto"}, {"vary", "Origin"}, {"trailer-x-t", "1"}});
    CHECK(out.body == "\x0a\x02hi");
    CHECK(out.ended);
    CHECK_FALSE(out.has_trailers);
  }
  SECTION("an empty message is a response without a body") {
    recording out;
    response_writer w{type_of("application/json"), "", 0};
    REQUIRE(w.send_message(out, "", {}).ok());
    w.finish(out, status{}, {}, {}, {});
    CHECK(out.http_status == 200);
    CHECK(out.headers_end_stream);
    CHECK(out.body.empty());
  }
  SECTION("error: JSON with code, message and details; the retry hint is a header") {
    recording out;
    response_writer w{type_of("application/proto"), "gzip", 0};
    error_details details{{"type.googleapis.com/google.rpc.RetryInfo", "\x0a\x02\x08\x01"}};
    w.finish(out, status{code::resource_exhausted, "rate_limited"}.with_retry_after(1500), details, {}, {});
    CHECK(out.http_status == 429);
    CHECK(out.headers == metadata{{"content-type", "application/json"}, {"retry-after-ms", "1500"}});
    CHECK(out.body == R"({"code":"resource_exhausted","message":"rate_limited","details":[{"type":"google.rpc.RetryInfo","value":"CgIIAQ"}]})");
  }
  SECTION("gzip above the threshold, named in content-encoding") {
    recording out;
    response_writer w{type_of("application/proto"), "gzip", 8};
    std::string const message(1000, 'a');
    REQUIRE(w.send_message(out, message, {}).ok());
    w.finish(out, status{}, {}, {}, {});
    CHECK(out.headers == metadata{{"content-type", "application/proto"}, {"content-encoding", "gzip"}});
    std::string plain;
    REQUIRE(gzip_decompress(out.body, plain, 1 << 20).ok());
    CHECK(plain == message);
  }
  SECTION("below the threshold the body goes as it is") {
    recording out;
    response_writer w{type_of("application/proto"), "gzip", 1024};
    REQUIRE(w.send_message(out, "small", {}).ok());
    w.finish(out, status{}, {}, {}, {});
    CHECK(out.headers == metadata{{"content-type", "application/proto"}});
    CHECK(out.body == "small");
  }
}

TEST_CASE("Connect stream: frames, then the end-of-stream JSON frame", "[protocol][wire]") {
  recording out;
  response_writer w{type_of("application/connect+proto"), "gzip", 1024};
  REQUIRE(w.send_message(out, "m1", {{"vary", "Origin"}}).ok());
  CHECK(out.starts == 1);
  CHECK(out.http_status == 200);
  CHECK(out.headers == metadata{{"content-type", "application/connect+proto"},
                                {"connect-content-encoding", "gzip"},
                                {"connect-accept-encoding", "gzip, identity"},
                                {"vary", "Origin"}});
  SECTION("success with trailers: {\"metadata\":...}") {
    w.finish(out, status{}, {}, {{"x-t", "v"}}, {});
    CHECK(out.body == frame(0, "m1") + frame(flag_end_stream, R"({"metadata":{"x-t":["v"]}})"));
    CHECK(out.ended);
    CHECK_FALSE(out.has_trailers);
  }
  SECTION("an error, with its retry hint among the metadata") {
    w.finish(out, unavailable.with_retry_after(250), {}, {}, {});
    CHECK(out.body == frame(0, "m1") + frame(flag_end_stream,
                                              R"({"error":{"code":"unavailable","message":"backend_unavailable: backend down"},)"
                                              R"("metadata":{"retry-after-ms":["250"]}})"));
  }
  SECTION("an error before any message still sends headers first") {
    recording fresh;
    response_writer w2{type_of("application/connect+json"), "", 0};
    w2.finish(fresh, unavailable, {}, {}, {});
    CHECK(fresh.starts == 1);
    CHECK_FALSE(fresh.headers_end_stream);
    CHECK(fresh.headers == metadata{{"content-type", "application/connect+json"},
                                    {"connect-accept-encoding", "gzip, identity"}});
    CHECK(fresh.body == frame(flag_end_stream,
                              R"({"error":{"code":"unavailable","message":"backend_unavailable: backend down"}})"));
  }
}

TEST_CASE("gRPC: the status in HTTP trailers, or Trailers-Only", "[protocol][wire]") {
  SECTION("messages, then trailers") {
    recording out;
    response_writer w{type_of("application/grpc"), "", 0};
    REQUIRE(w.send_message(out, "m1", {}).ok());
    REQUIRE(w.send_message(out, "m2", {}).ok());
    w.finish(out, status{}, {}, {{"x-t", "v"}}, {});
    CHECK(out.headers == metadata{{"content-type", "application/grpc+proto"}, {"grpc-accept-encoding", "gzip, identity"}});
    CHECK(out.body == frame(0, "m1") + frame(0, "m2"));
    REQUIRE(out.has_trailers);
    CHECK(out.trailers == metadata{{"grpc-status", "0"}, {"x-t", "v"}});
  }
  SECTION("an error before any message: one HEADERS block that ends the stream") {
    recording out;
    response_writer w{type_of("application/grpc+json"), "gzip", 0};
    error_details details{{"type.googleapis.com/google.rpc.RetryInfo", "\x0a\x02\x08\x01"}};
    w.finish(out, status{code::resource_exhausted, "rate_limited", "50% used"}.with_retry_after(7), details, {}, {});
    CHECK(out.starts == 1);
    CHECK(out.headers_end_stream);
    CHECK(out.body.empty());
    CHECK_FALSE(out.has_trailers);
    // Content-Type and the accepted encodings, then the status; no grpc-encoding, as
    // there is no message to compress.
    REQUIRE(out.headers.size() == 6);
    CHECK(out.headers[0] == std::pair{"content-type"s, "application/grpc+json"s});
    CHECK(out.headers[1] == std::pair{"grpc-accept-encoding"s, "gzip, identity"s});
    CHECK(out.headers[2] == std::pair{"grpc-status"s, "8"s});
    CHECK(out.headers[3] == std::pair{"grpc-message"s, "rate_limited: 50%25 used"s});
    CHECK(out.headers[4].first == "grpc-status-details-bin");
    CHECK(out.headers[5] == std::pair{"grpc-retry-pushback-ms"s, "7"s});
  }
  SECTION("compressed frames carry the flag, and grpc-encoding names it") {
    recording out;
    response_writer w{type_of("application/grpc"), "gzip", 10};
    std::string const big(200, 'z');
    REQUIRE(w.send_message(out, big, {}).ok());
    REQUIRE(w.send_message(out, "tiny", {}).ok());
    CHECK(find_metadata(out.headers, "grpc-encoding") == "gzip");
    frame_decoder d{frame_decoder::options{flag_compressed, 1 << 20, true}};
    std::vector<std::pair<std::uint8_t, std::string>> frames;
    REQUIRE(d.feed(out.body, [&](frame_view f) {
                frames.emplace_back(f.flags, std::string{f.message});
                return status{};
              }).ok());
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].first == flag_compressed);
    std::string plain;
    REQUIRE(gzip_decompress(frames[0].second, plain, 1 << 20).ok());
    CHECK(plain == big);
    CHECK(frames[1] == std::pair{std::uint8_t{0}, "tiny"s});
  }
}

TEST_CASE("gRPC-Web: the status in a trailers frame; text is base64", "[protocol][wire]") {
  SECTION("binary") {
    recording out;
    response_writer w{type_of("application/grpc-web+proto"), "", 0};
    REQUIRE(w.send_message(out, "m1", {}).ok());
    w.finish(out, unavailable, {}, {}, {});
    CHECK(out.headers == metadata{{"content-type", "application/grpc-web+proto"}, {"grpc-accept-encoding", "gzip, identity"}});
    CHECK(out.body == frame(0, "m1") + frame(flag_trailers, "grpc-status:14\r\ngrpc-message:backend_unavailable: backend down\r\n"));
    CHECK(out.ended);
    CHECK_FALSE(out.has_trailers);
  }
  SECTION("text: each write is base64 of its frames") {
    recording out;
    response_writer w{type_of("application/grpc-web-text"), "", 0};
    REQUIRE(w.send_message(out, "m1", {}).ok());
    w.finish(out, status{}, {}, {}, {});
    CHECK(out.headers[0] == std::pair{"content-type"s, "application/grpc-web-text+proto"s});
    REQUIRE(out.body_writes.size() == 2);
    CHECK(out.body_writes[0] == base64(frame(0, "m1")));
    CHECK(out.body_writes[1] == base64(frame(flag_trailers, "grpc-status:0\r\n")));
  }
  SECTION("nothing written: Trailers-Only, as for gRPC") {
    recording out;
    response_writer w{type_of("application/grpc-web-text"), "", 0};
    w.finish(out, status{code::unauthenticated, "bad_signature"}, {}, {}, {});
    CHECK(out.headers_end_stream);
    CHECK(out.body.empty());
    CHECK(find_metadata(out.headers, "grpc-status") == "16");
  }
}

TEST_CASE("request headers: timeouts and the Connect version, per protocol", "[protocol][wire]") {
  // The answer holds views of the request's headers: each request is kept for the test.
  std::list<std::map<std::string, std::string>> requests;
  auto read = [&](wire_format f, std::map<std::string, std::string> h) {
    auto const& kept = requests.emplace_back(std::move(h));
    return read_request_headers(f, [&kept](std::string_view name) -> std::string_view {
      auto it = kept.find(std::string{name});
      return it == kept.end() ? std::string_view{} : std::string_view{it->second};
    });
  };
  SECTION("each format names its own encoding headers") {
    auto r = read(wire_format::connect_stream, {{"connect-content-encoding", "gzip"}, {"content-encoding", "br"},
                                                {"connect-accept-encoding", "gzip"}});
    CHECK(r.encoding == "gzip");
    CHECK(r.accept_encoding == "gzip");
    CHECK(read(wire_format::connect_unary, {{"content-encoding", "gzip"}}).encoding == "gzip");
    CHECK(read(wire_format::grpc_web, {{"grpc-encoding", "gzip"}}).encoding == "gzip");
  }
  SECTION("a wrong connect-protocol-version is invalid_argument on unary and stream alike") {
    for (auto f : {wire_format::connect_unary, wire_format::connect_stream}) {
      CHECK(read(f, {{"connect-protocol-version", "1"}}).problem.ok());
      CHECK(read(f, {}).problem.ok());  // missing: tolerated
      auto r = read(f, {{"connect-protocol-version", "2"}});
      CHECK(r.problem.code() == code::invalid_argument);
      CHECK(r.problem.reason() == "protocol_error");
    }
    CHECK(read(wire_format::grpc, {{"connect-protocol-version", "2"}}).problem.ok());  // not a Connect header there
  }
  SECTION("a malformed grpc-timeout is invalid_argument") {
    for (std::string bad : {"300", "123456789S", "10x", "-5m", "S"}) {
      INFO(bad);
      auto r = read(wire_format::grpc, {{"grpc-timeout", bad}});
      CHECK_FALSE(r.timeout);
      CHECK(r.problem.code() == code::invalid_argument);
      CHECK(r.problem.reason() == "protocol_error");
    }
    auto ok = read(wire_format::grpc_web_text, {{"grpc-timeout", "250m"}});
    REQUIRE(ok.timeout);
    CHECK(*ok.timeout == std::chrono::milliseconds{250});
    CHECK(*read(wire_format::grpc, {{"grpc-timeout", "99999999H"}}).timeout == std::chrono::hours{24 * 365});
  }
  SECTION("a malformed connect-timeout-ms is invalid_argument") {
    auto r = read(wire_format::connect_unary, {{"connect-timeout-ms", "1.5"}});
    CHECK(r.problem.code() == code::invalid_argument);
    CHECK(*read(wire_format::connect_stream, {{"connect-timeout-ms", "40"}}).timeout == std::chrono::milliseconds{40});
  }
}

TEST_CASE("request reader: whole body or frames, bounded, any split", "[protocol][wire]") {
  std::vector<std::string> got;
  auto collect = [&](std::string&& m) { got.push_back(std::move(m)); };
  SECTION("Connect unary: the body is one message, gzip inflated at the end") {
    std::string zipped;
    REQUIRE(gzip_compress("hello", zipped).ok());
    request_reader r{wire_format::connect_unary, true, 1024};
    REQUIRE(r.feed(std::string_view{zipped}.substr(0, 3), collect).ok());
    REQUIRE(r.feed(std::string_view{zipped}.substr(3), collect).ok());
    CHECK(got.empty());
    REQUIRE(r.finish(collect).ok());
    CHECK(got == std::vector<std::string>{"hello"});
  }
  SECTION("Connect unary over the limit fails before the body is whole") {
    request_reader r{wire_format::connect_unary, false, 4};
    CHECK(r.feed("abc", collect).ok());
    CHECK(r.feed("de", collect).code() == code::resource_exhausted);
    CHECK(r.finish(collect).code() == code::resource_exhausted);  // stays failed
  }
  SECTION("gRPC-Web text: base64 split anywhere") {
    std::string const wire = base64(frame(0, "ab") + frame(0, "cde"));
    request_reader r{wire_format::grpc_web_text, false, 1024};
    for (char ch : wire) REQUIRE(r.feed(std::string_view{&ch, 1}, collect).ok());
    REQUIRE(r.finish(collect).ok());
    CHECK(got == std::vector<std::string>{"ab", "cde"});
  }
  SECTION("a frame cut short is malformed at the end") {
    request_reader r{wire_format::grpc, false, 1024};
    std::string const f = frame(0, "abcdef");
    REQUIRE(r.feed(std::string_view{f}.substr(0, 7), collect).ok());
    CHECK(r.finish(collect).reason() == "malformed_frame");
  }
  SECTION("a compressed frame without a negotiated encoding is refused") {
    request_reader r{wire_format::connect_stream, false, 1024};
    CHECK(r.feed(frame(flag_compressed, "x"), collect).reason() == "protocol_error");
  }
}
