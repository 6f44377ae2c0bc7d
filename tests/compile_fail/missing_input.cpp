// A chain whose first stage needs a fact that is not among the chain's inputs.
// expect-error: stage_requires_a_fact_that_no_earlier_stage_provides<sample::envelope_stage, sample::raw_request>
#include "sample_stages.hpp"

int main() {
  sample::counters seen;
#ifdef EDGEPIPE_BREAK
  auto chain = edgepipe::make_chain<sample::envelope>(sample::envelope_stage{&seen}, sample::session_stage{&seen});
#else
  auto chain = edgepipe::make_chain<sample::raw_request>(sample::envelope_stage{&seen}, sample::session_stage{&seen});
#endif
  (void)chain;
}
