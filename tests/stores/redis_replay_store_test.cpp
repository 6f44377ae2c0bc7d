// The Redis replay store against a real redis-server started by the test.
#include <edgepipe/stores/redis_replay_store.hpp>

#include "../support/redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using edgepipe::stages::reservation;
using edgepipe::stores::parse_redis_url;
using edgepipe::stores::redis_connection;
using edgepipe::stores::redis_options;
using edgepipe::stores::redis_replay_store;
using namespace std::chrono_literals;

namespace {

// Runs the loop until `done` holds (checked every few ms) or `limit` passes.
bool run_until(asio::io_context& io, std::function<bool()> const& done, std::chrono::milliseconds limit = 10s) {
  auto const deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(5ms);
    io.restart();
  }
  return true;
}

reservation reserve_now(asio::io_context& io, redis_replay_store const& store, std::string const& key,
                        std::int64_t ttl = 120'000) {
  std::optional<reservation> answer;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { answer = co_await store.reserve(key, ttl); }, asio::detached);
  REQUIRE(run_until(io, [&] { return answer.has_value(); }));
  return *answer;
}

struct connected_store {
  asio::io_context& io;
  redis_connection connection;
  redis_replay_store store{connection};
  connected_store(asio::io_context& io_, test_support::redis_server const& server, redis_options options = {})
      : io{io_}, connection{io_.get_executor(), *parse_redis_url(server.url()), options} {
    connection.start();
    REQUIRE(run_until(io, [&] { return connection.connected(); }));
  }
};

}  // namespace

TEST_CASE("a key is reserved once, for the requested TTL", "[stores][redis]") {
  test_support::redis_server server;
  asio::io_context io;
  connected_store s{io, server};

  CHECK(reserve_now(io, s.store, "edgepipe:replay:dev-1:req-1") == reservation::reserved);
  CHECK(reserve_now(io, s.store, "edgepipe:replay:dev-1:req-1") == reservation::already_reserved);
  CHECK(reserve_now(io, s.store, "edgepipe:replay:dev-1:req-2") == reservation::reserved);

  long long const pttl = server.integer("PTTL %s", "edgepipe:replay:dev-1:req-1");
  CHECK(pttl > 110'000);  // at least twice the default 60 s window, less the test's own time
  CHECK(pttl <= 120'000);

  bool pong = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { pong = co_await s.store.ping(); }, asio::detached);
  CHECK(run_until(io, [&] { return pong; }));
}

TEST_CASE("a reservation expires with its TTL", "[stores][redis]") {
  test_support::redis_server server;
  asio::io_context io;
  connected_store s{io, server};
  CHECK(reserve_now(io, s.store, "short", 50) == reservation::reserved);
  std::this_thread::sleep_for(100ms);
  CHECK(reserve_now(io, s.store, "short", 50) == reservation::reserved);
}

TEST_CASE("of concurrent reservations of one key exactly one wins, across gateways too", "[stores][redis]") {
  test_support::redis_server server;
  asio::io_context io;
  connected_store gateway_a{io, server};
  connected_store gateway_b{io, server};

  for (int round = 0; round < 10; ++round) {
    std::string const key = "edgepipe:replay:dev:race-" + std::to_string(round);
    int reserved = 0, refused = 0, other = 0;
    for (int i = 0; i < 40; ++i) {
      auto& store = (i % 2 ? gateway_a : gateway_b).store;
      asio::co_spawn(
          io,
          [&, key]() -> asio::awaitable<void> {
            switch (co_await store.reserve(key, 60'000)) {
              case reservation::reserved: ++reserved; break;
              case reservation::already_reserved: ++refused; break;
              default: ++other;
            }
          },
          asio::detached);
    }
    REQUIRE(run_until(io, [&] { return reserved + refused + other == 40; }));
    CHECK(reserved == 1);
    CHECK(refused == 39);
    CHECK(other == 0);
  }
}

TEST_CASE("many reservations are pipelined on one connection", "[stores][redis]") {
  test_support::redis_server server;
  asio::io_context io;
  connected_store s{io, server};
  int done = 0, reserved = 0;
  std::size_t most_in_flight = 0;
  for (int i = 0; i < 2000; ++i)
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          // Sent before any reply could be read: how many are on the wire at once.
          most_in_flight = std::max(most_in_flight, s.connection.in_flight());
          reserved += co_await s.store.reserve("pipelined-" + std::to_string(i), 60'000) == reservation::reserved;
          ++done;
        },
        asio::detached);
  REQUIRE(run_until(io, [&] { return done == 2000; }));
  CHECK(reserved == 2000);
  CHECK(most_in_flight > 100);  // written without waiting for each reply
}

TEST_CASE("when Redis dies requests fail closed, and recover when it returns", "[stores][redis]") {
  test_support::redis_server server;
  asio::io_context io;
  connected_store s{io, server};
  CHECK(reserve_now(io, s.store, "before") == reservation::reserved);

  server.stop();
  REQUIRE(run_until(io, [&] { return !s.connection.connected(); }));
  CHECK(reserve_now(io, s.store, "during") == reservation::unavailable);
  CHECK(reserve_now(io, s.store, "during") == reservation::unavailable);

  server.start();  // same port; the connection comes back by itself (backoff <= 5 s)
  REQUIRE(run_until(io, [&] { return s.connection.connected(); }, 15s));
  CHECK(reserve_now(io, s.store, "after") == reservation::reserved);
  CHECK(reserve_now(io, s.store, "after") == reservation::already_reserved);
}

TEST_CASE("a Redis slower than the command timeout fails requests closed", "[stores][redis]") {
  test_support::redis_server server;
  asio::io_context io;
  redis_options options;
  options.command_timeout = 200ms;
  connected_store s{io, server, options};

  std::thread sleeper{[&] {
    if (auto* r = server.command("DEBUG SLEEP 1.5")) freeReplyObject(r);
  }};
  std::this_thread::sleep_for(100ms);  // the server is now asleep
  CHECK(reserve_now(io, s.store, "slow") == reservation::unavailable);
  sleeper.join();

  REQUIRE(run_until(io, [&] { return s.connection.connected(); }, 15s));
  CHECK(reserve_now(io, s.store, "fast-again") == reservation::reserved);
  // The late reply of the timed-out SET was discarded, not handed to someone else.
  CHECK(s.connection.in_flight() == 0);
}

TEST_CASE("a wrong password never yields a reservation", "[stores][redis]") {
  test_support::redis_server server{{"--requirepass", "right"}};
  asio::io_context io;
  auto endpoint = *parse_redis_url("redis://:wrong@127.0.0.1:" + std::to_string(server.port()));
  redis_connection connection{io.get_executor(), endpoint};
  redis_replay_store store{connection};
  connection.start();
  run_until(io, [&] { return connection.connected(); }, 2s);
  CHECK(reserve_now(io, store, "k") == reservation::unavailable);

  auto good = *parse_redis_url("redis://:right@127.0.0.1:" + std::to_string(server.port()) + "/3");
  redis_connection right{io.get_executor(), good};
  redis_replay_store right_store{right};
  right.start();
  REQUIRE(run_until(io, [&] { return right.connected(); }));
  CHECK(reserve_now(io, right_store, "k") == reservation::reserved);
}
