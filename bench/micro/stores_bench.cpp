// The replay stores: the in-process one, and Redis (a real redis-server started here)
// one reservation at a time and pipelined (many in flight on one connection).
#include <edgepipe/clock.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/redis_replay_store.hpp>
#include <edgepipe/stores/redis_url.hpp>

#include "../../tests/support/redis_server.hpp"

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>

namespace {

namespace s = edgepipe::stores;

std::string key(std::uint64_t i) { return "replay:dev-1:req-bench-" + std::to_string(i); }

void replay_memory(benchmark::State& state) {
  edgepipe::manual_clock clock{1'700'000'000'000};
  auto store = std::make_unique<s::memory_replay_store<edgepipe::manual_clock>>(clock, 1 << 20);
  std::uint64_t i = 0;
  std::string k = key(0);
  for (auto _ : state) {
    if (++i % (1 << 20) == 0) {
      state.PauseTiming();
      store = std::make_unique<s::memory_replay_store<edgepipe::manual_clock>>(clock, 1 << 20);
      state.ResumeTiming();
    }
    k.replace(k.size() - 8, 8, std::to_string(10'000'000 + i % 90'000'000));
    benchmark::DoNotOptimize(store->reserve(k, 120'000));
  }
}
BENCHMARK(replay_memory);

test_support::redis_server& redis() {
  static test_support::redis_server server;
  return server;
}

// range(0) reservations in flight at once.
void replay_redis(benchmark::State& state) {
  boost::asio::io_context io;
  auto endpoint = s::parse_redis_url(redis().url());
  s::redis_connection connection{io.get_executor(), *endpoint};
  connection.start();
  s::redis_replay_store store{connection};
  // Connected before the clock starts: a command sent earlier gets no reply (fail closed).
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto ready = boost::asio::co_spawn(io, store.ping(), boost::asio::use_future);
    while (ready.wait_for(std::chrono::seconds{0}) != std::future_status::ready) io.run_one();
    if (ready.get()) break;
    io.run_for(std::chrono::milliseconds{20});  // the connection is still being made
  }
  std::uint64_t next = 0;
  std::uint64_t const prefix = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  long const in_flight = state.range(0);
  std::int64_t failures = 0;
  for (auto _ : state) {
    long pending = in_flight;
    for (long j = 0; j < in_flight; ++j)
      boost::asio::co_spawn(io, [&, k = key(prefix + next++)]() -> boost::asio::awaitable<void> {
        auto r = co_await store.reserve(k, 120'000);
        if (r != edgepipe::stages::reservation::reserved) ++failures;
        --pending;
      }, boost::asio::detached);
    while (pending > 0) io.run_one();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * in_flight);
  if (failures > 0) state.SkipWithError("a reservation was not granted");
  state.SetLabel("per batch of " + std::to_string(in_flight));
}
BENCHMARK(replay_redis)->Arg(1)->Arg(32)->UseRealTime();

}  // namespace
