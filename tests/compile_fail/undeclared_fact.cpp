// A stage may read only the facts it declared: its declaration cannot lie.
// expect-error: this stage reads a fact it did not declare
#include "sample_stages.hpp"

struct greedy_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<sample::envelope>;
  using provides_fact = sample::fresh;
  static constexpr std::string_view name = "greedy";
  template <class Ctx>
  edgepipe::result<sample::fresh> operator()(Ctx const& ctx) const noexcept {
#ifdef EDGEPIPE_BREAK
    (void)edgepipe::get<sample::session>(ctx);  // available in the chain, but not declared
#else
    (void)edgepipe::get<sample::envelope>(ctx);
#endif
    return sample::fresh{};
  }
};

int main() {
  sample::counters seen;
  auto chain = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen},
                                                         greedy_stage{});
  return chain.run(sample::raw_request{"alice-phone:1"}).has_value() ? 0 : 1;
}
