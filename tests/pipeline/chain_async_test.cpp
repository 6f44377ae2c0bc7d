// Chains with asynchronous stages on Boost.Asio: only those stages suspend.
#include <edgepipe/pipeline/chain.hpp>

#include "sample_stages.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>

namespace asio = boost::asio;

namespace {

// Looks the session up "remotely": suspends on a timer before answering.
struct remote_session_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<sample::envelope>;
  using provides_fact = sample::session;
  static constexpr std::string_view name = "session";
  sample::counters* seen;
  int* suspensions;

  template <class Context>  // by value: the context must stay valid across suspension
  asio::awaitable<edgepipe::result<sample::session>> operator()(Context ctx) const {
    asio::steady_timer timer{co_await asio::this_coro::executor, std::chrono::milliseconds(1)};
    ++*suspensions;
    co_await timer.async_wait(asio::use_awaitable);
    ++seen->session;
    if (edgepipe::get<sample::envelope>(ctx).session_id == "alice-phone") co_return sample::session{"alice", 42};
    co_return edgepipe::status{edgepipe::code::unauthenticated, "session_not_found"};
  }
};

// A replay reservation that yields to the event loop before answering.
struct remote_fresh_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<sample::signature_verified>;
  using provides_fact = sample::fresh;
  static constexpr std::string_view name = "replay";
  int* suspensions;
  bool fail = false;

  template <class Context>
  asio::awaitable<edgepipe::result<sample::fresh>> operator()(Context) const {
    ++*suspensions;
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    if (fail) co_return edgepipe::status{edgepipe::code::unavailable, "replay_store_unavailable"};
    co_return sample::fresh{};
  }
};

template <class Chain>
auto run_to_completion(Chain const& chain, std::string_view input) {
  asio::io_context io;
  auto future = asio::co_spawn(io, chain.run(sample::raw_request{input}), asio::use_future);
  io.run();
  return future.get();
}

}  // namespace

TEST_CASE("an async chain awaits its I/O stages and runs the rest inline", "[pipeline][async]") {
  sample::counters seen;
  int in_flight = 0, suspensions = 0;
  auto const chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, remote_session_stage{&seen, &suspensions},
      sample::concurrency_stage{&in_flight, &seen}, sample::signature_stage{&seen},
      remote_fresh_stage{&suspensions}, sample::route_stage{&seen});
  using chain_type = std::remove_const_t<decltype(chain)>;
  STATIC_REQUIRE(chain_type::is_async);
  STATIC_REQUIRE(std::is_same_v<chain_type::run_type, asio::awaitable<edgepipe::result<sample::reply>>>);

  SECTION("success") {
    auto r = run_to_completion(chain, "alice-phone:42");
    REQUIRE(r.has_value());
    CHECK(r->user == "alice");
    CHECK(suspensions == 2);
    CHECK(seen.route == 1);
    CHECK(seen.left == 1);
    CHECK(in_flight == 0);
  }
  SECTION("a sync failure before the first async stage never suspends") {
    auto r = run_to_completion(chain, "garbage");
    CHECK(r.error().reason() == "malformed_envelope");
    CHECK(suspensions == 0);
    CHECK(seen.session == 0);
  }
  SECTION("an async failure stops the chain") {
    auto r = run_to_completion(chain, "mallory:1");
    CHECK(r.error().reason() == "session_not_found");
    CHECK(suspensions == 1);
    CHECK(seen.signature == 0);
    CHECK(seen.left == 0);
  }
  SECTION("a sync failure between async stages leaves the around stage") {
    auto r = run_to_completion(chain, "alice-phone:7");
    CHECK(r.error().reason() == "signature_invalid");
    CHECK(suspensions == 1);
    CHECK(seen.left == 1);
    CHECK(in_flight == 0);
  }
}

TEST_CASE("an async failure after an around stage still leaves it", "[pipeline][async]") {
  sample::counters seen;
  int in_flight = 0, suspensions = 0;
  auto const chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, sample::session_stage{&seen}, sample::concurrency_stage{&in_flight, &seen},
      sample::signature_stage{&seen}, remote_fresh_stage{&suspensions, true}, sample::route_stage{&seen});
  auto r = run_to_completion(chain, "alice-phone:42");
  CHECK(r.error().code() == edgepipe::code::unavailable);
  CHECK(r.error().reason() == "replay_store_unavailable");
  CHECK(seen.route == 0);
  CHECK(seen.left == 1);
  CHECK(in_flight == 0);
}

TEST_CASE("many async runs of one chain interleave on one event loop", "[pipeline][async]") {
  sample::counters seen;
  int suspensions = 0;
  auto const chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, remote_session_stage{&seen, &suspensions}, sample::signature_stage{&seen},
      sample::freshness_stage{&seen}, sample::route_stage{&seen});
  asio::io_context io;
  int passed = 0, failed = 0;
  for (int i = 0; i < 50; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto r = co_await chain.run(sample::raw_request{i % 2 ? "alice-phone:42" : "alice-phone:1"});
          ++(r ? passed : failed);
        },
        [](std::exception_ptr e) { REQUIRE_FALSE(e); });
  }
  io.run();
  CHECK(passed == 25);
  CHECK(failed == 25);
  CHECK(suspensions == 50);
}
