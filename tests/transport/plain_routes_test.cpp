// Plain HTTP routes on the library's server, beside a procedure, over HTTP/1.1 and h2c:
// curl (HTTP/1.1, and HTTP/2 with prior knowledge) and a raw socket are the peers.
#include <edgepipe/transport/http_route.hpp>
#include <edgepipe/transport/server.hpp>

#include "test_service.pb.h"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace asio = boost::asio;
using edgepipe::transport::http_request;
using edgepipe::transport::http_response;
using edgepipe::transport::make_http_response;

namespace {

constexpr std::size_t body_limit = 64 * 1024;

// The server on its own thread, with routes that show what they were given.
struct plain_server {
  asio::io_context io{1};
  edgepipe::transport::router routes;
  std::optional<edgepipe::transport::server> srv;
  std::thread thread;

  plain_server() {
    routes.route("GET", "/exact", [](http_request req) -> asio::awaitable<http_response> {
      co_return make_http_response(200, "exact " + req.query + " from " + std::string{req.peer_address()}, "text/plain");
    });
    routes.route("GET", "/items/*", [](http_request req) -> asio::awaitable<http_response> {
      co_return make_http_response(200, "prefix " + req.path, "text/plain");
    });
    routes.route("GET", "/items/special", [](http_request) -> asio::awaitable<http_response> {
      co_return make_http_response(200, "the exact one", "text/plain");
    });
    routes.route("POST", "/echo", [](http_request req) -> asio::awaitable<http_response> {
      http_response r = make_http_response(201, std::move(req.body), "application/octet-stream");
      r.headers.emplace_back("x-seen-type", std::string{req.header("content-type")});
      co_return r;
    });
    routes.route("PUT", "/echo", [](http_request) -> asio::awaitable<http_response> {
      co_return make_http_response(204);
    });
    routes.route("*", "/any", [](http_request req) -> asio::awaitable<http_response> {
      co_return make_http_response(200, "any " + req.method, "text/plain");
    });
    routes.route("GET", "/any", [](http_request) -> asio::awaitable<http_response> {
      co_return make_http_response(200, "the GET one", "text/plain");
    });
    routes.unary<edgepipe::test::v1::EchoRequest, edgepipe::test::v1::EchoResponse>(
        "/edgepipe.test.v1.TestService/Echo",
        [](edgepipe::test::v1::EchoRequest const& req,
           edgepipe::transport::call_context&) -> asio::awaitable<edgepipe::result<edgepipe::test::v1::EchoResponse>> {
          edgepipe::test::v1::EchoResponse out;
          out.set_text(req.text());
          co_return out;
        });
    edgepipe::transport::server_options o;
    o.http1_max_body_bytes = body_limit;
    o.keep_alive_timeout = std::chrono::seconds{1};
    srv.emplace(io.get_executor(), routes, o);
    srv->listen({asio::ip::make_address("127.0.0.1"), 0});
    srv->start();
    thread = std::thread{[this] { io.run(); }};
  }
  ~plain_server() {
    io.stop();
    thread.join();
    srv.reset();
  }
  [[nodiscard]] std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(srv->local_endpoint().port()) + std::string{path};
  }
};

struct answer {
  int status = 0;
  std::string head;  // status line and headers as received
  std::string body;
};

// Runs curl with `args` (shell words) against the server; its answer, with headers.
answer curl(std::string const& args) {
  std::string const command = "curl -s -S --max-time 10 -D - -o - -w '\\n%{http_code}' " + args;
  std::FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  ::pclose(p);
  answer a;
  auto const last = out.rfind('\n');
  REQUIRE(last != std::string::npos);
  a.status = std::stoi(out.substr(last + 1));
  out.resize(last);
  auto const end_of_head = out.find("\r\n\r\n");
  REQUIRE(end_of_head != std::string::npos);
  a.head = out.substr(0, end_of_head + 2);
  a.body = out.substr(end_of_head + 4);
  for (char& c : a.head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return a;
}

std::string file_of(std::size_t bytes) {
  std::string const path = "plain_routes_body_" + std::to_string(bytes) + ".bin";
  std::string content(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) content[i] = static_cast<char>('a' + i * 7 % 26);
  std::ofstream{path, std::ios::binary} << content;
  return path;
}

// A TCP client on the raw socket: what it reads, and when the server closed.
struct raw_client {
  int fd = -1;
  explicit raw_client(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~raw_client() { ::close(fd); }
  void send(std::string_view bytes) const { REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())); }
  // Reads until `until` is in what was read, the server closes, or `timeout`; false on close or timeout.
  bool read_until(std::string& into, std::string_view until, std::chrono::milliseconds timeout) const {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (into.find(until) == std::string::npos) {
      auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      ssize_t const n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      into.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  // Waits for the server to close; how long that took, or nullopt if it did not within `timeout`.
  [[nodiscard]] std::optional<std::chrono::milliseconds> closed_within(std::chrono::milliseconds timeout) const {
    auto const start = std::chrono::steady_clock::now();
    std::string ignored;
    if (read_until(ignored, "\x01never", timeout)) return std::nullopt;
    auto const took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    if (took >= timeout) return std::nullopt;
    return took;
  }
};

}  // namespace

TEST_CASE("plain routes over HTTP/1.1 and HTTP/2: exact, prefix, 404, 405, whole bodies, 413", "[transport][plain]") {
  plain_server s;
  for (std::string const version : {"--http1.1", "--http2-prior-knowledge"}) {
    DYNAMIC_SECTION(version) {
      std::string const expected_line = version == "--http1.1" ? "http/1.1 " : "http/2 ";

      auto a = curl(version + " '" + s.url("/exact?x=1") + "'");
      CHECK(a.status == 200);
      CHECK(a.head.starts_with(expected_line + "200"));
      CHECK(a.body == "exact x=1 from 127.0.0.1");
      CHECK(a.head.find("content-type: text/plain") != std::string::npos);

      CHECK(curl(version + " " + s.url("/items/a/b%2Fc")).body == "prefix /items/a/b%2Fc");
      CHECK(curl(version + " " + s.url("/items/")).body == "prefix /items/");
      CHECK(curl(version + " " + s.url("/items/special")).body == "the exact one");
      CHECK(curl(version + " " + s.url("/items")).status == 404);  // the prefix is "/items/"
      CHECK(curl(version + " " + s.url("/nothing/here")).status == 404);

      a = curl(version + " -X DELETE " + s.url("/echo"));
      CHECK(a.status == 405);
      CHECK(a.head.find("allow: post, put\r\n") != std::string::npos);
      CHECK(curl(version + " -X POST " + s.url("/exact")).status == 405);
      CHECK(curl(version + " -X PUT " + s.url("/echo")).status == 204);
      CHECK(curl(version + " -X PATCH " + s.url("/any")).body == "any PATCH");
      CHECK(curl(version + " " + s.url("/any")).body == "the GET one");  // its own method first

      // Over HTTP/2 a body this large comes in several DATA frames; over HTTP/1.1 chunked.
      std::string const big = file_of(body_limit);
      std::string const chunked = version == "--http1.1" ? " -H 'transfer-encoding: chunked'" : "";
      a = curl(version + " -H 'content-type: application/x-test'" + chunked + " --data-binary @" + big + " " +
               s.url("/echo"));
      CHECK(a.status == 201);
      CHECK(a.head.find("x-seen-type: application/x-test") != std::string::npos);
      std::ifstream in{big, std::ios::binary};
      std::string const sent{std::istreambuf_iterator<char>{in}, {}};
      CHECK(a.body.size() == sent.size());
      CHECK(a.body == sent);

      std::string const too_big = file_of(body_limit + 1);
      CHECK(curl(version + " --data-binary @" + too_big + " " + s.url("/echo")).status == 413);

      // A procedure on the same server still answers as before.
      a = curl(version + " -H 'content-type: application/json' -d '{\"text\":\"hi\"}' " +
               s.url("/edgepipe.test.v1.TestService/Echo"));
      CHECK(a.status == 200);
      CHECK(a.body == R"({"text":"hi"})");
    }
  }
}

TEST_CASE("HTTP/1.1: a body whose Content-Length is over the limit is 413 before it is sent", "[transport][plain]") {
  plain_server s;
  raw_client c{s.srv->local_endpoint().port()};
  c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body_limit + 1) + "\r\n\r\n");
  std::string got;
  REQUIRE(c.read_until(got, "\r\n\r\n", std::chrono::seconds{5}));
  CHECK(got.starts_with("HTTP/1.1 413 "));
  CHECK(c.closed_within(std::chrono::seconds{5}).has_value());
}

TEST_CASE("HTTP/1.1 keep-alive: the idle limit is announced, kept to, and the connection serves until then",
          "[transport][plain]") {
  plain_server s;
  raw_client c{s.srv->local_endpoint().port()};
  std::string got;
  c.send("GET /exact HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(c.read_until(got, "127.0.0.1", std::chrono::seconds{5}));
  CHECK(got.starts_with("HTTP/1.1 200 "));
  CHECK(got.find("\r\nkeep-alive: timeout=1\r\n") != std::string::npos);

  got.clear();
  c.send("GET /items/x HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(c.read_until(got, "prefix /items/x", std::chrono::seconds{5}));

  auto const closed = c.closed_within(std::chrono::seconds{5});
  REQUIRE(closed.has_value());
  CHECK(*closed >= std::chrono::milliseconds{900});  // the announced second, not at once

  raw_client closing{s.srv->local_endpoint().port()};
  got.clear();
  closing.send("GET /exact HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  REQUIRE(closing.read_until(got, "127.0.0.1", std::chrono::seconds{5}));
  CHECK(got.find("\r\nconnection: close\r\n") != std::string::npos);
  CHECK(got.find("keep-alive:") == std::string::npos);
}
