// Running synchronous chains: order, short-circuit, around stages, observers.
#include <edgepipe/pipeline/chain.hpp>

#include "sample_stages.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

struct recording_observer {
  struct token {
    std::size_t index;
  };
  std::vector<std::string> events;
  template <class Stage>
  token stage_started(Stage const&) noexcept {
    events.push_back(std::string("start ") + std::string(Stage::name));
    return {events.size()};
  }
  template <class Stage>
  void stage_finished(Stage const&, token t, edgepipe::status const& s) noexcept {
    events.push_back(std::string("end ") + std::string(Stage::name) + " " +
                     (s.ok() ? std::string("ok") : std::string(s.reason())) + " #" + std::to_string(t.index));
  }
};

auto gateway_like(sample::counters& seen, int& in_flight, bool route_fails = false) {
  return edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, sample::session_stage{&seen},
      sample::concurrency_stage{&in_flight, &seen}, sample::signature_stage{&seen},
      sample::freshness_stage{&seen}, sample::route_stage{&seen, route_fails});
}

}  // namespace

TEST_CASE("a passing request runs every stage once, in order, and yields the last fact", "[pipeline]") {
  sample::counters seen;
  int in_flight = 0;
  auto const chain = gateway_like(seen, in_flight);
  recording_observer observer;

  edgepipe::result<sample::reply> r = chain.run_observed(observer, sample::raw_request{"alice-phone:42"});

  REQUIRE(r.has_value());
  CHECK(r->user == "alice");
  CHECK(seen.envelope == 1);
  CHECK(seen.session == 1);
  CHECK(seen.signature == 1);
  CHECK(seen.freshness == 1);
  CHECK(seen.route == 1);
  CHECK(seen.left == 1);
  CHECK(in_flight == 0);
  CHECK(observer.events == std::vector<std::string>{
                               "start envelope", "end envelope ok #1", "start session", "end session ok #3",
                               "start concurrency", "end concurrency ok #5", "start signature",
                               "end signature ok #7", "start freshness", "end freshness ok #9", "start route",
                               "end route ok #11"});
}

TEST_CASE("the first failing stage ends the run and no later stage runs", "[pipeline]") {
  struct row {
    std::string_view input;
    edgepipe::code code;
    std::string_view reason;
    int envelope, session, signature, route, left;
  };
  auto const which = GENERATE(values<row>({
      {"no-colon", edgepipe::code::invalid_argument, "malformed_envelope", 1, 0, 0, 0, 0},
      {"mallory:42", edgepipe::code::unauthenticated, "session_not_found", 1, 1, 0, 0, 0},
      {"alice-phone:41", edgepipe::code::unauthenticated, "signature_invalid", 1, 1, 1, 0, 1},
  }));
  sample::counters seen;
  int in_flight = 0;
  auto const chain = gateway_like(seen, in_flight);

  auto r = chain.run(sample::raw_request{which.input});

  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == which.code);
  CHECK(r.error().reason() == which.reason);
  CHECK(seen.envelope == which.envelope);
  CHECK(seen.session == which.session);
  CHECK(seen.signature == which.signature);
  CHECK(seen.freshness == 0);
  CHECK(seen.route == which.route);
  CHECK(seen.left == which.left);  // left only when the around stage was entered
  CHECK(in_flight == 0);           // and then always: the permit is never leaked
}

TEST_CASE("an around stage sees the outcome of the rest of the chain", "[pipeline]") {
  sample::counters seen;
  int in_flight = 0;
  auto const chain = gateway_like(seen, in_flight, /*route_fails=*/true);
  auto r = chain.run(sample::raw_request{"alice-phone:42"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason() == "backend_unavailable");
  CHECK(seen.left == 1);
  CHECK(in_flight == 0);

  SECTION("and a failing entry leaves nothing to release") {
    in_flight = 1;  // someone else holds the only permit
    auto again = chain.run(sample::raw_request{"alice-phone:42"});
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().reason() == "rate_limited");
    CHECK(seen.left == 1);
    CHECK(in_flight == 1);
  }
}

namespace {
// Rewrites one backend failure into a retryable code: an around stage may change the outcome.
struct retry_hint_stage {
  using stage_concept = edgepipe::around_stage_tag;
  using requires_facts = edgepipe::facts<>;
  using provides_fact = struct retry_hint_entered {};
  static constexpr std::string_view name = "retry_hint";

  edgepipe::result<retry_hint_entered> operator()(auto const&) const noexcept { return retry_hint_entered{}; }
  template <class Outcome>
  void leave(auto const&, retry_hint_entered&, edgepipe::result<Outcome>& outcome) const noexcept {
    if (!outcome && outcome.error().reason() == "backend_unavailable")
      outcome = edgepipe::status{edgepipe::code::aborted, "retry_later"};
  }
};
}  // namespace

TEST_CASE("around stages leave innermost first and may rewrite the outcome", "[pipeline]") {
  sample::counters seen;
  int in_flight = 0;
  auto const chain = edgepipe::make_chain<sample::raw_request>(
      retry_hint_stage{}, sample::envelope_stage{&seen}, sample::session_stage{&seen},
      sample::concurrency_stage{&in_flight, &seen}, sample::signature_stage{&seen},
      sample::freshness_stage{&seen}, sample::route_stage{&seen, true});
  auto r = chain.run(sample::raw_request{"alice-phone:42"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == edgepipe::code::aborted);
  CHECK(r.error().reason() == "retry_later");
  CHECK(in_flight == 0);
}

TEST_CASE("a chain may take several inputs and start from any of them", "[pipeline]") {
  sample::counters seen;
  // session is an input here, so signature can run without a session stage
  auto const chain = edgepipe::make_chain<sample::envelope, sample::session>(
      sample::signature_stage{&seen}, sample::freshness_stage{&seen}, sample::route_stage{&seen});
  auto ok = chain.run(sample::envelope{"x", 7}, sample::session{"carol", 7});
  REQUIRE(ok.has_value());
  CHECK(ok->user == "carol");
  auto bad = chain.run(sample::envelope{"x", 7}, sample::session{"carol", 8});
  CHECK(bad.error().reason() == "signature_invalid");
}
