// The h2c client against the library's own server on a loopback port, and against peers
// that accept and then stop answering.
#include <edgepipe/transport/h2c_client.hpp>

#include <edgepipe/transport/server.hpp>

#include "test_service.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace tv1 = edgepipe::test::v1;
using edgepipe::code;
using edgepipe::status;
using edgepipe::transport::h2c_client;
using edgepipe::transport::h2c_client_options;
using clock_type = std::chrono::steady_clock;

namespace {

std::string const svc = "/edgepipe.test.v1.TestService/";

// Runs `body` on `io` until it returns (the server keeps the context busy forever).
template <class T>
T run(asio::io_context& io, asio::awaitable<T> body) {
  auto f = asio::co_spawn(io, std::move(body), asio::use_future);
  while (f.wait_for(std::chrono::seconds{0}) != std::future_status::ready) io.run_one();
  return f.get();
}

struct test_server {
  edgepipe::transport::router routes;
  std::unique_ptr<edgepipe::transport::server> srv;
  explicit test_server(asio::io_context& io) {
    test_service::register_test_service(routes);
    srv = std::make_unique<edgepipe::transport::server>(io.get_executor(), routes, edgepipe::transport::server_options{});
    srv->listen({asio::ip::make_address("127.0.0.1"), 0});
    srv->start();
  }
  std::uint16_t port() const { return srv->local_endpoint().port(); }
};

// A peer that accepts and, when `speak`, sends its HTTP/2 SETTINGS, then reads and never
// answers anything: a server that hangs after the handshake, or before it.
struct silent_peer {
  asio::ip::tcp::acceptor acceptor;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> held;
  bool speak;
  silent_peer(asio::io_context& io, bool speak_settings)
      : acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}}, speak{speak_settings} {
    asio::co_spawn(io, accept(), asio::detached);
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
      held.push_back(s);
      if (speak) {
        static constexpr char settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};  // empty SETTINGS
        auto [wec, n] = co_await asio::async_write(*s, asio::buffer(settings, sizeof settings),
                                                   asio::as_tuple(asio::use_awaitable));
        if (wec) co_return;
      }
      // Reads nothing: what the client sends sits in the socket buffers.
    }
  }
};

std::shared_ptr<h2c_client> client_for(asio::io_context& io, std::uint16_t port, h2c_client_options o = {}) {
  return std::make_shared<h2c_client>(io.get_executor(), "127.0.0.1", port, o);
}

}  // namespace

TEST_CASE("h2c client: unary calls to the library's server") {
  asio::io_context io;
  test_server server{io};
  auto client = client_for(io, server.port());
  run(io, [&]() -> asio::awaitable<void> {
    status const connected = co_await client->connect();
    REQUIRE(connected.ok());
    tv1::EchoRequest req;
    req.set_text("hello");
    req.set_blob(std::string(100000, 'b'));  // several DATA frames each way
    std::string const path = svc + "Echo";
    auto r = co_await client->unary<tv1::EchoResponse>(path, req);
    REQUIRE(r.has_value());
    CHECK(r->text() == "hello");
    CHECK(r->blob().size() == 100000);

    tv1::FailRequest fail;
    fail.set_code("permission_denied");
    std::string const fail_path = svc + "Fail";
    auto f = co_await client->unary<tv1::EchoResponse>(fail_path, fail);
    REQUIRE_FALSE(f.has_value());
    CHECK(f.error().code() == code::permission_denied);

    std::string const missing = svc + "NoSuchMethod";
    auto m = co_await client->unary<tv1::EchoResponse>(missing, req);
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error().code() == code::unimplemented);
    client->close();
  }());
}

TEST_CASE("h2c client: a server stream delivers every message, in order, then the status") {
  asio::io_context io;
  test_server server{io};
  auto client = client_for(io, server.port());
  run(io, [&]() -> asio::awaitable<void> {
    status const connected = co_await client->connect();
    REQUIRE(connected.ok());
    tv1::StreamRequest req;
    req.set_text("s");
    req.set_count(50);
    std::vector<int> seen;
    auto on_message = [&](tv1::EchoResponse&& m) { seen.push_back(m.index()); };
    std::string const path = svc + "ServerStream";
    status const s = co_await client->server_stream<tv1::EchoResponse>(path, req, on_message);
    CHECK(s.ok());
    REQUIRE(seen.size() == 50);
    for (int i = 0; i < 50; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);
    client->close();
  }());
}

TEST_CASE("h2c client: a call past its deadline ends with deadline_exceeded; the connection serves on") {
  asio::io_context io;
  test_server server{io};
  auto client = client_for(io, server.port());
  run(io, [&]() -> asio::awaitable<void> {
    status const connected = co_await client->connect();
    REQUIRE(connected.ok());
    tv1::StreamRequest slow;
    slow.set_delay_ms(5000);
    std::string const path = svc + "Sleep";
    auto const deadline = clock_type::now() + std::chrono::milliseconds{300};
    auto r = co_await client->unary<tv1::EchoResponse>(path, slow, deadline);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == code::deadline_exceeded);
    CHECK(clock_type::now() < deadline + std::chrono::seconds{2});
    tv1::EchoRequest req;
    req.set_text("after");
    std::string const echo = svc + "Echo";
    auto again = co_await client->unary<tv1::EchoResponse>(echo, req);
    REQUIRE(again.has_value());
    CHECK(again->text() == "after");
    client->close();
  }());
}

TEST_CASE("h2c client: a server that stops answering is noticed by its PING, and the call ends") {
  asio::io_context io;
  silent_peer peer{io, true};
  h2c_client_options o;
  o.ping_interval = std::chrono::milliseconds{200};
  o.ping_ack_timeout = std::chrono::milliseconds{300};
  auto client = client_for(io, peer.port(), o);
  run(io, [&]() -> asio::awaitable<void> {
    status const connected = co_await client->connect();  // it sent SETTINGS
    REQUIRE(connected.ok());
    tv1::StreamRequest req;
    req.set_delay_ms(10);
    int messages = 0;
    auto on_message = [&](tv1::EchoResponse&&) { ++messages; };
    std::string const path = svc + "Endless";
    auto const started = clock_type::now();
    status const s = co_await client->server_stream<tv1::EchoResponse>(path, req, on_message);
    CHECK(s.code() == code::unavailable);
    CHECK(s.reason() == "ping_timeout");
    CHECK(messages == 0);
    CHECK(clock_type::now() - started < std::chrono::seconds{5});  // PING interval + ACK timeout, with slack
    CHECK_FALSE(client->open());
  }());
}

TEST_CASE("h2c client: a server that never sends SETTINGS fails connect within the timeout") {
  asio::io_context io;
  silent_peer peer{io, false};
  h2c_client_options o;
  o.connect_timeout = std::chrono::milliseconds{300};
  auto client = client_for(io, peer.port(), o);
  run(io, [&]() -> asio::awaitable<void> {
    status const s = co_await client->connect();
    CHECK(s.code() == code::unavailable);
    CHECK(s.reason() == "connect_timeout");
    tv1::EchoRequest req;
    std::string const path = svc + "Echo";
    auto r = co_await client->unary<tv1::EchoResponse>(path, req);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().reason() == "not_connected");
  }());
}

TEST_CASE("h2c client: closing ends the calls in flight with unavailable") {
  asio::io_context io;
  test_server server{io};
  auto client = client_for(io, server.port());
  run(io, [&]() -> asio::awaitable<void> {
    status const connected = co_await client->connect();
    REQUIRE(connected.ok());
    asio::steady_timer later{io, std::chrono::milliseconds{100}};
    later.async_wait([&](boost::system::error_code) { client->close(); });
    tv1::StreamRequest req;
    req.set_delay_ms(20);
    auto on_message = [](tv1::EchoResponse&&) {};
    std::string const path = svc + "Endless";
    status const s = co_await client->server_stream<tv1::EchoResponse>(path, req, on_message);
    CHECK(s.code() == code::unavailable);
    CHECK(s.reason() == "closed");
  }());
}
