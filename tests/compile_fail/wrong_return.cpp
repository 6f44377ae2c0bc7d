// A stage must return result<provides_fact> (or an awaitable of it), not a bare bool.
// expect-first-error: a stage returns the wrong type
// expect-error-regex: stage_returns_the_wrong_type<\s*boolean_stage\s*,\s*bool\s*,\s*edgepipe::result<\s*sample::fresh\s*>\s*>
#include "sample_stages.hpp"

struct boolean_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<sample::session>;
  using provides_fact = sample::fresh;
  static constexpr std::string_view name = "boolean";
#ifdef EDGEPIPE_BREAK
  bool operator()(auto const&) const noexcept { return true; }
#else
  edgepipe::result<sample::fresh> operator()(auto const&) const noexcept { return sample::fresh{}; }
#endif
};

int main() {
  sample::counters seen;
  auto chain = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen},
                                                         boolean_stage{});
  (void)chain;
}
