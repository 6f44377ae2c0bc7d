// What the stage concept accepts and rejects, checked at compile time.
#include <edgepipe/pipeline/stage.hpp>

#include "sample_stages.hpp"

#include <catch2/catch.hpp>

namespace {
struct no_tag {
  using requires_facts = edgepipe::facts<>;
  using provides_fact = sample::fresh;
  [[maybe_unused]] static constexpr std::string_view name = "no_tag";
};
struct const_fact {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<>;
  using provides_fact = sample::fresh const;
  [[maybe_unused]] static constexpr std::string_view name = "const_fact";
};
struct list_is_not_facts {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = sample::session;
  using provides_fact = sample::fresh;
  [[maybe_unused]] static constexpr std::string_view name = "list_is_not_facts";
};
struct nameless {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<>;
  using provides_fact = sample::fresh;
};
}  // namespace

TEST_CASE("the stage concept accepts declared stages and rejects incomplete ones", "[pipeline][concept]") {
  STATIC_REQUIRE(edgepipe::stage<sample::envelope_stage>);
  STATIC_REQUIRE(edgepipe::stage<sample::concurrency_stage>);
  STATIC_REQUIRE(edgepipe::around_stage<sample::concurrency_stage>);
  STATIC_REQUIRE_FALSE(edgepipe::around_stage<sample::route_stage>);
  STATIC_REQUIRE_FALSE(edgepipe::stage<no_tag>);
  STATIC_REQUIRE_FALSE(edgepipe::stage<const_fact>);
  STATIC_REQUIRE_FALSE(edgepipe::stage<list_is_not_facts>);
  STATIC_REQUIRE_FALSE(edgepipe::stage<nameless>);
  STATIC_REQUIRE_FALSE(edgepipe::stage<int>);
}

TEST_CASE("a chain knows its outcome, size, stage names and whether it suspends", "[pipeline][concept]") {
  sample::counters seen;
  auto c = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen});
  using chain_type = decltype(c);
  STATIC_REQUIRE(std::is_same_v<chain_type::outcome_type, sample::session>);
  STATIC_REQUIRE(std::is_same_v<chain_type::run_type, edgepipe::result<sample::session>>);
  STATIC_REQUIRE_FALSE(chain_type::is_async);
  STATIC_REQUIRE(chain_type::size() == 2);
  CHECK(chain_type::stage_names()[0] == "envelope");
  CHECK(chain_type::stage_names()[1] == "session");
}
