// A stage that forgets to say which fact it adds violates the stage concept.
// expect-error: stage lacks `using provides_fact = F;`
#include "sample_stages.hpp"

struct audit_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<sample::session>;
#ifndef EDGEPIPE_BREAK
  using provides_fact = struct audited {};
#endif
  static constexpr std::string_view name = "audit";
  template <class Ctx>
  auto operator()(Ctx const&) const noexcept {
    struct audited {};
    return edgepipe::result<audited>{audited{}};
  }
};

int main() {
  sample::counters seen;
#ifdef EDGEPIPE_BREAK
  auto chain = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen},
                                                         audit_stage{});
#else
  auto chain = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen});
#endif
  (void)chain;
}
