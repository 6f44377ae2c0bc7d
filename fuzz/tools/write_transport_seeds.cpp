// Writes seed corpora for the connection fuzzers from real client traffic: the bytes an
// nghttp2 client session sends for calls of every kind and protocol (HTTP/2), and the
// requests browsers and Connect clients send over HTTP/1.1. The first byte of each seed
// is the read size the fuzzer starts from.
// Run: build/fuzz/edgepipe-write-transport-seeds fuzz/corpus
#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/json_text.hpp>

#include <google/protobuf/wrappers.pb.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace p = edgepipe::protocol;
using headers = std::vector<std::pair<std::string, std::string>>;

struct request {
  headers fields;
  std::string body;
};

std::string message(std::string const& value) {
  google::protobuf::StringValue m;
  m.set_value(value);
  return m.SerializeAsString();
}

std::string framed(std::vector<std::string> const& messages, bool gzip = false) {
  std::string out;
  for (auto const& m : messages) {
    if (gzip) {
      std::string z;
      (void)p::gzip_compress(m, z);
      p::append_frame(out, p::flag_compressed, z);
    } else {
      p::append_frame(out, 0, m);
    }
  }
  return out;
}

struct body_source {
  std::string bytes;
  std::size_t offset = 0;
};

ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                  nghttp2_data_source* source, void*) {
  auto& b = *static_cast<body_source*>(source->ptr);
  std::size_t const n = std::min(length, b.bytes.size() - b.offset);
  std::memcpy(buf, b.bytes.data() + b.offset, n);
  b.offset += n;
  if (b.offset == b.bytes.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

// What a client session sends for these requests on one connection, without the preface.
std::string http2_wire(std::vector<request> const& requests, bool extra_frames = false) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session* session = nullptr;
  nghttp2_session_client_new(&session, cb, nullptr);
  nghttp2_session_callbacks_del(cb);
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  std::vector<body_source> bodies(requests.size());
  std::int32_t last = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    std::vector<nghttp2_nv> nva;
    for (auto const& [k, v] : requests[i].fields)
      nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(k.data())),
                     reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    bodies[i].bytes = requests[i].body;
    nghttp2_data_provider provider{};
    provider.source.ptr = &bodies[i];
    provider.read_callback = &read_body;
    last = nghttp2_submit_request(session, nullptr, nva.data(), nva.size(),
                                  requests[i].body.empty() ? nullptr : &provider, nullptr);
  }
  if (extra_frames) {
    std::uint8_t const opaque[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    nghttp2_submit_ping(session, NGHTTP2_FLAG_NONE, opaque);
    nghttp2_submit_window_update(session, NGHTTP2_FLAG_NONE, 0, 65536);
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, last, NGHTTP2_CANCEL);
  }
  std::string out;
  for (;;) {
    std::uint8_t const* data = nullptr;
    auto const n = nghttp2_session_mem_send(session, &data);
    if (n <= 0) break;
    out.append(reinterpret_cast<char const*>(data), static_cast<std::size_t>(n));
  }
  nghttp2_session_del(session);
  return out.substr(24);  // the client magic; the fuzzer supplies it
}

headers call(std::string const& path, std::string const& content_type, headers extra = {}) {
  headers h{{":method", "POST"}, {":scheme", "http"}, {":authority", "localhost"}, {":path", path},
            {"content-type", content_type}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

void write(std::filesystem::path const& dir, std::string const& name, char read_size, std::string const& wire) {
  std::ofstream{dir / (name + ".bin"), std::ios::binary} << read_size << wire;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::filesystem::path const h2 = std::filesystem::path{argv[1]} / "http2_connection";
  std::filesystem::path const h1 = std::filesystem::path{argv[1]} / "http1_connection";
  std::filesystem::create_directories(h2);
  std::filesystem::create_directories(h1);

  std::string const hello = message("hello");
  std::string const connect_stream = framed({hello});  // a client sends no end-of-stream frame
  std::string grpc_web_text;
  p::append_base64(grpc_web_text, framed({hello}));

  write(h2, "grpc-unary", 0,
        http2_wire({{call("/fuzz.v1.Fuzz/Echo", "application/grpc", {{"te", "trailers"}, {"grpc-timeout", "5S"}}),
                     framed({hello})}}));
  write(h2, "grpc-unary-gzip", 3,
        http2_wire({{call("/fuzz.v1.Fuzz/Echo", "application/grpc+proto",
                          {{"te", "trailers"}, {"grpc-encoding", "gzip"}, {"grpc-accept-encoding", "gzip"}}),
                     framed({hello}, true)}}));
  write(h2, "grpc-streams", 0,
        http2_wire({{call("/fuzz.v1.Fuzz/Repeat", "application/grpc", {{"te", "trailers"}}), framed({hello})},
                    {call("/fuzz.v1.Fuzz/Collect", "application/grpc", {{"te", "trailers"}}),
                     framed({hello, message("world")})},
                    {call("/fuzz.v1.Fuzz/Chat", "application/grpc", {{"te", "trailers"}}),
                     framed({hello, message("again")})}},
                   true));
  write(h2, "grpc-fail-and-unknown", 0,
        http2_wire({{call("/fuzz.v1.Fuzz/Echo", "application/grpc", {{"te", "trailers"}}), framed({message("fail")})},
                    {call("/fuzz.v1.Nope/Missing", "application/grpc", {{"te", "trailers"}}), framed({hello})}}));
  write(h2, "connect-unary-json", 11,
        http2_wire({{call("/fuzz.v1.Fuzz/Echo", "application/json",
                          {{"connect-protocol-version", "1"}, {"connect-timeout-ms", "5000"}}),
                     "\"hello\""}}));
  write(h2, "connect-unary-proto-gzip", 0,
        http2_wire({{call("/fuzz.v1.Fuzz/Echo", "application/proto",
                          {{"connect-protocol-version", "1"}, {"content-encoding", "gzip"}}),
                     [&] {
                       std::string z;
                       (void)p::gzip_compress(hello, z);
                       return z;
                     }()}}));
  write(h2, "connect-get", 0,
        http2_wire({{{{":method", "GET"}, {":scheme", "http"}, {":authority", "localhost"},
                      {":path", "/fuzz.v1.Fuzz/Echo?connect=v1&encoding=json&message=%22hi%22"}},
                     ""}}));
  write(h2, "connect-streaming", 0,
        http2_wire({{call("/fuzz.v1.Fuzz/Repeat", "application/connect+proto", {{"connect-protocol-version", "1"}}),
                     connect_stream},
                    {call("/fuzz.v1.Fuzz/Chat", "application/connect+json", {}),
                     framed({"\"a\"", "\"b\""})}}));
  write(h2, "grpc-web", 0,
        http2_wire({{call("/fuzz.v1.Fuzz/Echo", "application/grpc-web+proto", {{"x-grpc-web", "1"}}),
                     framed({hello})},
                    {call("/fuzz.v1.Fuzz/Repeat", "application/grpc-web-text", {{"origin", "https://app.example"}}),
                     grpc_web_text}}));
  write(h2, "cors-preflight", 0,
        http2_wire({{{{":method", "OPTIONS"}, {":scheme", "http"}, {":authority", "localhost"},
                      {":path", "/fuzz.v1.Fuzz/Echo"}, {"origin", "https://app.example"},
                      {"access-control-request-method", "POST"}},
                     ""}}));

  auto http1 = [](std::string const& path, std::string const& content_type, std::string const& body,
                  std::string const& extra = "") {
    return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + content_type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
  };
  write(h1, "connect-unary-json", 0,
        http1("/fuzz.v1.Fuzz/Echo", "application/json", "\"hello\"", "Connect-Protocol-Version: 1\r\n"));
  write(h1, "keep-alive-two-calls", 5,
        http1("/fuzz.v1.Fuzz/Echo", "application/proto", hello) +
            http1("/fuzz.v1.Fuzz/Echo", "application/json", "\"fail\"", "Connection: close\r\n"));
  write(h1, "connect-streaming", 0, http1("/fuzz.v1.Fuzz/Repeat", "application/connect+proto", connect_stream));
  write(h1, "grpc-web-binary", 0,
        http1("/fuzz.v1.Fuzz/Repeat", "application/grpc-web+proto", framed({hello}), "X-Grpc-Web: 1\r\n"));
  write(h1, "grpc-web-text", 2,
        http1("/fuzz.v1.Fuzz/Collect", "application/grpc-web-text", grpc_web_text,
              "Origin: https://app.example\r\n"));
  write(h1, "chunked", 0,
        "POST /fuzz.v1.Fuzz/Echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n4\r\n\"hel\r\n3\r\nlo\"\r\n0\r\n\r\n");
  write(h1, "upgrade-h2c", 0,
        "POST /fuzz.v1.Fuzz/Echo HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Type: application/json\r\n"
        "Content-Length: 7\r\n\r\n\"hello\"");
  write(h1, "get-and-preflight", 0,
        "GET /fuzz.v1.Fuzz/Echo?connect=v1&encoding=json&message=%22hi%22 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        "OPTIONS /fuzz.v1.Fuzz/Echo HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example\r\n"
        "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n");
  write(h1, "not-found", 0, http1("/fuzz.v1.Nope/Missing", "application/json", "{}"));
}
