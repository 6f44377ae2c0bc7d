// The push hub on an io_context: events held once whatever the fan-out, each subscription
// bounded by events and by bytes (its queue plus its transport backlog).
#include <edgepipe/push/hub.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace push = edgepipe::push;

namespace {

// An event of exactly `bytes` (its id, its one-byte type and its payload).
push::shared_event event_of(std::size_t bytes, std::string id = "") {
  std::size_t const payload = bytes - id.size() - 1;
  return std::make_shared<push::event const>(push::event{std::move(id), "t", std::string(payload, 'p')});
}

// The subscription's next event, which must be ready (queued, or the end).
push::shared_event take(asio::io_context& io, push::subscription& s) {
  push::shared_event got;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        got = co_await s.next();
        done = true;
      },
      asio::detached);
  io.restart();
  io.poll();
  REQUIRE(done);
  return got;
}

// A subscriber that keeps up: takes every event as soon as it is queued.
struct reader {
  explicit reader(push::subscription& s) : sub{s} {}
  push::subscription& sub;
  std::vector<push::shared_event> received;
  bool finished = false;

  void start(asio::io_context& io) {
    asio::co_spawn(
        io,
        [this]() -> asio::awaitable<void> {
          while (auto e = co_await sub.next()) received.push_back(std::move(e));
          finished = true;
        },
        asio::detached);
  }
};

// What a transport holds for a stream, as the test sets it.
struct fake_backlog {
  std::size_t bytes = 0;
  [[nodiscard]] std::size_t queued_bytes() const noexcept { return bytes; }
};

}  // namespace

TEST_CASE("an event delivered to 1,000 subscriptions is held once", "[push][hub]") {
  asio::io_context io;
  push::hub hub;
  std::deque<push::subscription> subs;
  for (int i = 0; i < 1000; ++i) {
    subs.emplace_back(io.get_executor(), "alice", "d" + std::to_string(i));
    hub.add(subs.back());
  }
  auto const e = event_of(64 * 1024);
  CHECK(hub.deliver("alice", "", e) == 1000);
  CHECK(e.use_count() == 1001);  // each queue shares it, none copied it
  for (auto& s : subs) {
    CHECK(s.queued_bytes() == e->bytes());
    auto got = take(io, s);
    REQUIRE(got != nullptr);
    CHECK(got->payload.data() == e->payload.data());
  }
  CHECK(e.use_count() == 1);  // taken by every subscriber: nothing else holds it
}

TEST_CASE("past its byte bound a subscription ends with slow_consumer; one that keeps up continues", "[push][hub]") {
  asio::io_context io;
  push::hub hub;
  push::queue_limits const limits{256, 10'000};
  push::subscription stalled{io.get_executor(), "alice", "stalled", limits};
  push::subscription live{io.get_executor(), "alice", "live", limits};
  hub.add(stalled);
  hub.add(live);
  reader r{live};
  r.start(io);
  io.poll();

  std::vector<push::shared_event> sent;
  for (int i = 0; i < 20; ++i) {
    sent.push_back(event_of(3'000, "e" + std::to_string(i)));
    hub.deliver("alice", "", sent.back());
    io.restart();
    io.poll();
    if (i < 3) {
      CHECK(!stalled.ended());  // 9,000 bytes queued fit in 10,000
      CHECK(stalled.queued_bytes() == 3'000u * static_cast<std::size_t>(i + 1));
    } else {
      CHECK(stalled.ended());  // a fourth would pass the bound: ended, not queued
      CHECK(stalled.end_status() == push::slow_consumer);
      CHECK(stalled.end_status().code() == edgepipe::code::resource_exhausted);
      CHECK(stalled.queued_bytes() == 0);
    }
    CHECK(!live.ended());
  }
  CHECK(take(io, stalled) == nullptr);  // what it had queued is dropped with the end
  REQUIRE(r.received.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) CHECK(r.received[i] == sent[i]);
  hub.drain();
  io.restart();
  io.poll();
  CHECK(r.finished);
}

TEST_CASE("the event bound holds whatever the bytes", "[push][hub]") {
  asio::io_context io;
  push::hub hub;
  push::subscription sub{io.get_executor(), "alice", "d1"};  // the defaults: 256 events, 4 MiB
  hub.add(sub);
  for (int i = 0; i < 256; ++i) hub.deliver("alice", "", event_of(1));
  CHECK(!sub.ended());
  CHECK(sub.queued_events() == 256);
  hub.deliver("alice", "", event_of(1));
  CHECK(sub.ended());
  CHECK(sub.end_status() == push::slow_consumer);
  CHECK(sub.queued_events() == 0);
}

TEST_CASE("one event larger than the byte bound ends the subscription", "[push][hub]") {
  asio::io_context io;
  push::hub hub;
  push::subscription sub{io.get_executor(), "alice", "d1"};
  hub.add(sub);
  hub.deliver("alice", "", event_of(4 * 1024 * 1024 + 1));
  CHECK(sub.ended());
  CHECK(sub.end_status() == push::slow_consumer);
}

TEST_CASE("the transport's backlog counts toward the byte bound", "[push][hub]") {
  asio::io_context io;
  push::hub hub;
  push::queue_limits const limits{256, 10'000};
  fake_backlog transport;
  push::subscription sub{io.get_executor(), "alice", "d1", limits, push::backlog_probe{transport}};
  push::subscription without{io.get_executor(), "alice", "d2", limits};
  hub.add(sub);
  hub.add(without);

  transport.bytes = 6'000;
  hub.deliver("alice", "", event_of(3'000));  // 6,000 + 3,000: fits
  CHECK(!sub.ended());
  REQUIRE(take(io, sub) != nullptr);  // handed to the transport, which now holds 9,000
  REQUIRE(take(io, without) != nullptr);
  transport.bytes = 9'000;
  hub.deliver("alice", "", event_of(1'000));  // 9,000 + 1,000: exactly the bound
  CHECK(!sub.ended());
  hub.deliver("alice", "", event_of(1));  // one byte more than the bound
  CHECK(sub.ended());
  CHECK(sub.end_status() == push::slow_consumer);
  CHECK(!without.ended());  // the same events, with nothing waiting in a transport
  CHECK(without.queued_bytes() == 1'000 + 1);
}

TEST_CASE("taking an event frees its bytes for the next", "[push][hub]") {
  asio::io_context io;
  push::hub hub;
  push::subscription sub{io.get_executor(), "alice", "d1", push::queue_limits{256, 10'000}};
  hub.add(sub);
  for (int i = 0; i < 100; ++i) {
    hub.deliver("alice", "", event_of(8'000));
    REQUIRE(take(io, sub) != nullptr);
  }
  CHECK(!sub.ended());
  CHECK(sub.queued_bytes() == 0);
}

TEST_CASE("an invalidation and a drain end subscriptions and drop their queues", "[push][hub]") {
  asio::io_context io;
  push::hub hub;
  push::subscription a{io.get_executor(), "alice", "d1"};
  push::subscription b{io.get_executor(), "alice", "d2"};
  hub.add(a);
  hub.add(b);
  auto const e = event_of(100);
  hub.deliver("alice", "", e);
  CHECK(hub.invalidate("alice", "d1") == 1);
  CHECK(a.end_status() == push::session_revoked);
  CHECK(a.queued_events() == 0);
  CHECK(take(io, a) == nullptr);
  CHECK(e.use_count() == 2);  // b's queue, and here
  hub.drain();
  CHECK(b.end_status() == push::draining);
  CHECK(e.use_count() == 1);
}
