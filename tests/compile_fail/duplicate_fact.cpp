// Two stages that provide the same fact would make the second one's reader ambiguous.
// expect-error: two_stages_provide_the_same_fact<sample::session_stage, sample::session>
#include "sample_stages.hpp"

int main() {
  sample::counters seen;
  auto chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, sample::session_stage{&seen},
#ifdef EDGEPIPE_BREAK
      sample::session_stage{&seen},
#endif
      sample::signature_stage{&seen});
  (void)chain;
}
