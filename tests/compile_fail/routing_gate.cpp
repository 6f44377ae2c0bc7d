// The routing stage's gate: by default no command runs before the request is verified,
// although routing reads only the envelope and the session. A chain that has only those
// must say so (Gate = facts<>), or it does not compile.
// expect-error-regex: stage_requires_a_fact_that_no_earlier_stage_provides<\s*edgepipe::stages::routing_stage<\s*echo_handler\s*(,\s*edgepipe::facts<[^>]*>\s*)?>\s*,\s*edgepipe::stages::signature_verified\s*>
#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/stages/routing.hpp>

struct echo_handler {
  edgepipe::result<edgepipe::stages::response> execute(edgepipe::stages::command const&) noexcept {
    return edgepipe::stages::response{};
  }
};

int main() {
  edgepipe::stages::route_table<echo_handler> routes;
  auto chain = edgepipe::make_chain<edgepipe::stages::envelope, edgepipe::stages::session>(
#ifdef EDGEPIPE_BREAK
      edgepipe::stages::routing_stage<echo_handler>{&routes}
#else
      edgepipe::stages::routing_stage<echo_handler, edgepipe::facts<>>{&routes}
#endif
  );
  (void)chain;
}
