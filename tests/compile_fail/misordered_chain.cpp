// Signature before session: signature needs the session's key, which no earlier stage provides.
// expect-error: stage_requires_a_fact_that_no_earlier_stage_provides<sample::signature_stage, sample::session>
// expect-error: Fix: move the stage that provides the fact before this one
#include "sample_stages.hpp"

int main() {
  sample::counters seen;
  auto chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen},
#ifdef EDGEPIPE_BREAK
      sample::signature_stage{&seen}, sample::session_stage{&seen},
#else
      sample::session_stage{&seen}, sample::signature_stage{&seen},
#endif
      sample::freshness_stage{&seen}, sample::route_stage{&seen});
  return chain.run(sample::raw_request{"alice-phone:42"}).has_value() ? 0 : 1;
}
