// A stage whose operator() does not take the context (here: a fixed, wrong parameter type).
// expect-first-error: a stage cannot be called with its context
// expect-error-regex: stage_cannot_be_called_with_its_context<\s*int_stage\s*,
#include "sample_stages.hpp"

struct int_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<sample::session>;
  using provides_fact = sample::fresh;
  static constexpr std::string_view name = "int";
#ifdef EDGEPIPE_BREAK
  edgepipe::result<sample::fresh> operator()(int) const noexcept { return sample::fresh{}; }
#else
  edgepipe::result<sample::fresh> operator()(auto const&) const noexcept { return sample::fresh{}; }
#endif
};

int main() {
  sample::counters seen;
  auto chain = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen},
                                                         int_stage{});
  (void)chain;
}
