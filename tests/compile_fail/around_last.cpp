// An around stage wraps the rest of the chain, so it cannot be the last stage.
// expect-error: a_chain_must_end_in_a_plain_stage<sample::concurrency_stage>
#include "sample_stages.hpp"

int main() {
  sample::counters seen;
  int in_flight = 0;
  auto chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, sample::session_stage{&seen}, sample::concurrency_stage{&in_flight, &seen}
#ifndef EDGEPIPE_BREAK
      , sample::signature_stage{&seen}
#endif
  );
  (void)chain;
}
