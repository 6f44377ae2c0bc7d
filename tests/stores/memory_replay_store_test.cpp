#include <edgepipe/clock.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using edgepipe::manual_clock;
using edgepipe::stages::reservation;
using edgepipe::stores::memory_replay_store;

TEST_CASE("the memory store reserves a key once until it expires", "[stores][replay]") {
  manual_clock clock;
  memory_replay_store store{clock};
  CHECK(store.reserve("edgepipe:replay:d:r1", 120'000) == reservation::reserved);
  CHECK(store.reserve("edgepipe:replay:d:r1", 120'000) == reservation::already_reserved);
  CHECK(store.reserve("edgepipe:replay:d:r2", 120'000) == reservation::reserved);
  clock.advance(119'999);
  CHECK(store.reserve("edgepipe:replay:d:r1", 120'000) == reservation::already_reserved);
  clock.advance(1);
  CHECK(store.reserve("edgepipe:replay:d:r1", 120'000) == reservation::reserved);  // expired, reserved anew
  CHECK(store.size() == 1);  // r2 expired with it; r1 holds the new reservation
}

TEST_CASE("at capacity the memory store fails closed instead of forgetting", "[stores][replay]") {
  manual_clock clock;
  memory_replay_store store{clock, 3};
  CHECK(store.reserve("a", 1000) == reservation::reserved);
  CHECK(store.reserve("b", 1000) == reservation::reserved);
  CHECK(store.reserve("c", 1000) == reservation::reserved);
  CHECK(store.reserve("d", 1000) == reservation::unavailable);
  CHECK(store.reserve("a", 1000) == reservation::already_reserved);  // still remembered
  CHECK(store.size() == 3);
  clock.advance(1000);
  CHECK(store.reserve("d", 1000) == reservation::reserved);  // room again once entries expire
  CHECK(store.size() == 1);
}

TEST_CASE("entries with a shorter TTL expire on time even behind longer ones", "[stores][replay]") {
  manual_clock clock;
  memory_replay_store store{clock};
  CHECK(store.reserve("long", 10'000) == reservation::reserved);
  CHECK(store.reserve("short", 1'000) == reservation::reserved);
  clock.advance(1'000);
  CHECK(store.reserve("short", 1'000) == reservation::reserved);
  CHECK(store.reserve("long", 10'000) == reservation::already_reserved);
}

TEST_CASE("of many threads reserving one key at once exactly one wins", "[stores][replay]") {
  edgepipe::system_clock clock;
  memory_replay_store store{clock};
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    std::string const key = "edgepipe:replay:d:race-" + std::to_string(round);
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&] {
        if (store.reserve(key, 60'000) == reservation::reserved) ++winners;
      });
    for (auto& t : threads) t.join();
    CHECK(winners == 1);
  }
}
