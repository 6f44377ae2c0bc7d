// The HTTP/1.1 client against an in-process backend on a loopback socket that answers
// byte for byte what each test scripts.
#include <edgepipe/transport/http_client.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using edgepipe::transport::http_client;
using edgepipe::transport::http_retry;

namespace {

// Accepts connections; for each request head it reads, `answer(connection index, request
// index on that connection, socket)` writes whatever it likes.
struct scripted_backend {
  using script = std::function<asio::awaitable<void>(int, int, asio::ip::tcp::socket&)>;
  asio::ip::tcp::acceptor acceptor;
  script answer;
  int connections = 0;
  int requests = 0;

  scripted_backend(asio::io_context& io, script s)
      : acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}}, answer{std::move(s)} {
    asio::co_spawn(io, accept(), asio::detached);
  }
  edgepipe::transport::http_endpoint endpoint() const { return {"127.0.0.1", acceptor.local_endpoint().port()}; }

  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), connections++), asio::detached);
    }
  }
  asio::awaitable<void> serve(asio::ip::tcp::socket socket, int connection) {
    std::string buffer;
    for (int index = 0;; ++index) {
      auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), "\r\n\r\n",
                                                    asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      buffer.erase(0, n);  // the tests send bodiless GETs
      ++requests;
      co_await answer(connection, index, socket);
      if (!socket.is_open()) co_return;
    }
  }
};

asio::awaitable<void> write(asio::ip::tcp::socket& s, std::string bytes) {
  (void)co_await asio::async_write(s, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
}

std::string ok(std::string const& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Runs `send` on the client and the io_context until it completes.
http_client::outcome run_send(asio::io_context& io, http_client& client, std::string target,
                              http_retry retry = http_retry::never) {
  std::optional<http_client::outcome> out;
  http_client::request req{boost::beast::http::verb::get, target, 11};
  asio::co_spawn(io, client.send(std::move(req), std::chrono::seconds{2}, retry),
                 [&](std::exception_ptr, http_client::outcome o) { out = std::move(o); });
  while (!out) io.run_one();
  return std::move(*out);
}

void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
  io.restart();
}

}  // namespace

TEST_CASE("interim answers are skipped and the final answer keeps the connection", "[http_client]") {
  asio::io_context io;
  scripted_backend backend{io, [](int, int index, asio::ip::tcp::socket& s) -> asio::awaitable<void> {
    co_await write(s, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
    co_await write(s, ok("answer " + std::to_string(index)));
  }};
  http_client client{io.get_executor(), backend.endpoint()};
  for (int i = 0; i < 3; ++i) {
    auto r = run_send(io, client, "/x");
    REQUIRE(r.error == http_client::failure::none);
    CHECK(r.res.result_int() == 200);
    CHECK(r.res.body() == "answer " + std::to_string(i));
  }
  CHECK(backend.connections == 1);
}

TEST_CASE("bytes after an answer close the connection; they never answer the next request", "[http_client]") {
  asio::io_context io;
  scripted_backend backend{io, [](int connection, int, asio::ip::tcp::socket& s) -> asio::awaitable<void> {
    co_await write(s, ok("for request on connection " + std::to_string(connection)));
    if (connection == 0) co_await write(s, ok("forged"));
  }};
  http_client client{io.get_executor(), backend.endpoint()};
  CHECK(run_send(io, client, "/a").res.body() == "for request on connection 0");
  run_for(io, std::chrono::milliseconds{50});  // the forged answer arrives while idle
  auto second = run_send(io, client, "/b");
  CHECK(second.res.body() == "for request on connection 1");
  CHECK(backend.connections == 2);
}

TEST_CASE("an idle connection the backend closes leaves the pool without a request", "[http_client]") {
  asio::io_context io;
  scripted_backend backend{io, [](int, int, asio::ip::tcp::socket& s) -> asio::awaitable<void> {
    co_await write(s, ok("once"));
    boost::system::error_code ignored;
    s.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    s.close();
  }};
  http_client client{io.get_executor(), backend.endpoint()};
  REQUIRE(run_send(io, client, "/a").error == http_client::failure::none);
  run_for(io, std::chrono::milliseconds{100});
  CHECK(client.idle_connections() == 0);
  CHECK(client.open_connections() == 0);
  // A command after the quiet period goes on a new connection and succeeds.
  CHECK(run_send(io, client, "/b").error == http_client::failure::none);
  CHECK(backend.requests == 2);
}

TEST_CASE("a reused connection that dies before its answer: a lookup is sent again, a command is not",
          "[http_client]") {
  for (auto retry : {http_retry::once_if_unanswered, http_retry::never}) {
    asio::io_context io;
    scripted_backend backend{io, [](int, int index, asio::ip::tcp::socket& s) -> asio::awaitable<void> {
      if (index == 1) {  // read, then gone without a word
        s.close();
        co_return;
      }
      co_await write(s, ok("fine"));
    }};
    http_client client{io.get_executor(), backend.endpoint()};
    REQUIRE(run_send(io, client, "/first", retry).error == http_client::failure::none);
    auto r = run_send(io, client, "/second", retry);
    if (retry == http_retry::never) {
      CHECK(r.error == http_client::failure::io);
      CHECK(backend.requests == 2);
    } else {
      CHECK(r.error == http_client::failure::none);
      CHECK(backend.requests == 3);
      CHECK(backend.connections == 2);
    }
  }
}

TEST_CASE("a connection is kept no longer than the backend's Keep-Alive timeout", "[http_client]") {
  asio::io_context io;
  scripted_backend backend{io, [](int, int, asio::ip::tcp::socket& s) -> asio::awaitable<void> {
    co_await write(s, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok");
  }};
  http_client client{io.get_executor(), backend.endpoint()};
  REQUIRE(run_send(io, client, "/a").error == http_client::failure::none);
  REQUIRE(run_send(io, client, "/b").error == http_client::failure::none);
  CHECK(backend.connections == 1);
  run_for(io, std::chrono::milliseconds{700});  // past the announced second, less the margin
  REQUIRE(run_send(io, client, "/c").error == http_client::failure::none);
  CHECK(backend.connections == 2);
}

TEST_CASE("at most max_connections are open; the others wait for one", "[http_client]") {
  asio::io_context io;
  int open_now = 0, most = 0;
  scripted_backend backend{io, [&](int, int, asio::ip::tcp::socket& s) -> asio::awaitable<void> {
    most = std::max(most, ++open_now);
    asio::steady_timer t{s.get_executor(), std::chrono::milliseconds{20}};
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    --open_now;
    co_await write(s, ok("done"));
  }};
  http_client client{io.get_executor(), backend.endpoint(), {.max_connections = 2}};
  int done = 0;
  for (int i = 0; i < 8; ++i) {
    http_client::request req{boost::beast::http::verb::get, "/x", 11};
    asio::co_spawn(io, client.send(std::move(req), std::chrono::seconds{2}), [&](std::exception_ptr, http_client::outcome o) {
      if (o.error == http_client::failure::none) ++done;
    });
  }
  while (done < 8) io.run_one();
  CHECK(most <= 2);
  CHECK(backend.connections == 2);
  CHECK(client.open_connections() <= 2);
}

TEST_CASE("a header value outside the grammar is never written", "[http_client]") {
  asio::io_context io;
  scripted_backend backend{io, [](int, int, asio::ip::tcp::socket& s) -> asio::awaitable<void> {
    co_await write(s, ok("sent"));
  }};
  http_client client{io.get_executor(), backend.endpoint()};
  std::optional<http_client::outcome> out;
  http_client::request req{boost::beast::http::verb::get, "/x", 11};
  req.set("X-User-Id", "alice\r\nX-User-Id: bob");
  asio::co_spawn(io, client.send(std::move(req), std::chrono::seconds{1}),
                 [&](std::exception_ptr, http_client::outcome o) { out = std::move(o); });
  while (!out) io.run_one();
  CHECK(out->error == http_client::failure::invalid_request);
  run_for(io, std::chrono::milliseconds{20});
  CHECK(backend.requests == 0);
}
