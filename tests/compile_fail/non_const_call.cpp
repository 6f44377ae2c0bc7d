// A stage's operator() must be const: the chain calls its stages through a const reference.
// expect-first-error: the stage's operator() is not const
// expect-error-regex: stage_call_operator_must_be_const<\s*non_const_stage\s*>
#include "sample_stages.hpp"

struct non_const_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<sample::session>;
  using provides_fact = sample::fresh;
  static constexpr std::string_view name = "non_const";
#ifdef EDGEPIPE_BREAK
  edgepipe::result<sample::fresh> operator()(auto const&) noexcept { return sample::fresh{}; }
#else
  edgepipe::result<sample::fresh> operator()(auto const&) const noexcept { return sample::fresh{}; }
#endif
};

int main() {
  sample::counters seen;
  auto chain = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen},
                                                         non_const_stage{});
  (void)chain;
}
