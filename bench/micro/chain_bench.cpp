// What each stage costs alone, and what the chain adds over hand-written code making the
// same calls in the same order: the contract's chain (crypto included) and a chain of six
// trivial stages (where any overhead would show). allocs/op counts heap allocations.
#include "../../tests/support/contract_world.hpp"
#include "allocation_counter.hpp"

#include <edgepipe/trace/call_span.hpp>
#include <edgepipe/trace/tracing_observer.hpp>

#include <benchmark/benchmark.h>

#include <optional>
#include <tuple>
#include <utility>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace st = edgepipe::stages;
using contract_world::request;
using clock_type = edgepipe::manual_clock;
using replay_store = edgepipe::stores::memory_replay_store<clock_type>;

// The stages, shared by the chain and the hand-written function.
struct fixture {
  contract_world::world w;
  replay_store replay{w.clock, 1 << 20};
  edgepipe::stores::session_and_user_limiter limiter{{1'000'000, 1'000'000}, {1'000'000, 1'000'000}, 1024};
  // The contract's chain, built as the gateway builds it; the hand-written code calls its stages.
  using chain_type = edgepipe::kit::execute_chain<request, contract_world::fixed_sessions, replay_store,
                                                  edgepipe::stores::session_and_user_limiter, clock_type,
                                                  contract_world::counting_handler>;
  chain_type const contract = edgepipe::kit::make_execute_chain<request>(
      edgepipe::kit::contract_parts{&w.sessions, &replay, &limiter, &w.clock}, w.gateway_key, w.routes);
  auto const& envelope() const { return contract.get<0>(); }
  auto const& session() const { return contract.get<1>(); }
  auto const& payload_hash() const { return contract.get<2>(); }
  auto const& signature() const { return contract.get<3>(); }
  auto const& freshness() const { return contract.get<4>(); }
  auto const& replay_check() const { return contract.get<5>(); }
  auto const& rate_limit() const { return contract.get<6>(); }
  auto const& signer() const { return contract.get<7>(); }
  auto const& routing() const { return contract.get<8>(); }

  // Signed before timing; a run that uses them all starts over with empty stores.
  std::vector<request> pool;
  std::size_t next = 0;

  explicit fixture(std::size_t n = 4096) {
    pool.reserve(n);
    for (std::size_t i = 0; i < n; ++i) pool.push_back(w.valid("req-bench-" + std::to_string(1'000'000 + i)));
  }

  request const& take(benchmark::State& state) {
    if (next == pool.size()) {
      state.PauseTiming();
      next = 0;
      std::destroy_at(&replay);
      std::construct_at(&replay, w.clock, std::size_t{1} << 20);
      std::destroy_at(&limiter);
      std::construct_at(&limiter, edgepipe::stores::bucket_rate{1'000'000, 1'000'000},
                        edgepipe::stores::bucket_rate{1'000'000, 1'000'000}, std::size_t{1024});
      state.ResumeTiming();
    }
    return pool[next++];
  }

  chain_type const& chain() const { return contract; }
};

// The facts of one request, as hand-written code would keep them: one optional each,
// read by the stages through the same kind of view the chain gives them.
using all_facts = edgepipe::facts<st::received<request>, st::envelope, st::session, st::payload_verified,
                                  st::signature_verified, st::fresh, st::replay_reserved, st::rate_permitted,
                                  st::response_signing_armed>;
using fact_storage =
    std::tuple<std::optional<st::received<request>>, std::optional<st::envelope>, std::optional<st::session>,
               std::optional<st::payload_verified>, std::optional<st::signature_verified>, std::optional<st::fresh>,
               std::optional<st::replay_reserved>, std::optional<st::rate_permitted>,
               std::optional<st::response_signing_armed>>;
using hand_context = edgepipe::context<fact_storage, all_facts>;

template <class F>
void keep(fact_storage& s, F&& fact) {
  std::get<std::optional<std::decay_t<F>>>(s) = std::forward<F>(fact);
}

edgepipe::result<st::response> hand_written(fixture const& f, request const& r) {
  fact_storage s;
  keep(s, st::received<request>{&r});
  hand_context const c{s};
  auto e = f.envelope()(c);
  if (!e) return e.error();
  keep(s, *e);
  auto session = f.session()(c);
  if (!session) return session.error();
  keep(s, std::move(*session));
  if (auto x = f.payload_hash()(c); !x) return x.error();
  if (auto x = f.signature()(c); !x) return x.error();
  if (auto x = f.freshness()(c); !x) return x.error();
  if (auto x = f.replay_check()(c); !x) return x.error();
  if (auto x = f.rate_limit()(c); !x) return x.error();
  auto armed = f.signer()(c);
  edgepipe::result<st::response> out = f.routing()(c);
  f.signer().leave(c, *armed, out);
  return out;
}

void report_allocations(benchmark::State& state, std::uint64_t before) {
  state.counters["allocs/op"] = benchmark::Counter(
      static_cast<double>(bench::allocations.load() - before) / static_cast<double>(state.iterations()));
}

void contract_chain(benchmark::State& state) {
  fixture f;
  auto const& chain = f.chain();
  auto const before = bench::allocations.load();
  for (auto _ : state) {
    auto out = chain.run(st::received<request>{&f.take(state)});
    if (!out) state.SkipWithError(std::string{out.error().reason()}.c_str());
    benchmark::DoNotOptimize(out);
  }
  report_allocations(state, before);
}
BENCHMARK(contract_chain);

void contract_hand_written(benchmark::State& state) {
  fixture f;
  auto const before = bench::allocations.load();
  for (auto _ : state) {
    auto out = hand_written(f, f.take(state));
    if (!out) state.SkipWithError(std::string{out.error().reason()}.c_str());
    benchmark::DoNotOptimize(out);
  }
  report_allocations(state, before);
}
BENCHMARK(contract_hand_written);

// The same chain watched by the tracing observer: off (no sink: one branch per stage),
// and on (a span per stage into a sink that keeps the last few).
struct discarding_sink {
  std::size_t recorded = 0;
  void record(edgepipe::trace::span_record s) {
    ++recorded;
    benchmark::DoNotOptimize(s);
  }
};

void contract_chain_tracing(benchmark::State& state) {
  fixture f;
  auto const& chain = f.chain();
  discarding_sink sink;
  auto const call = edgepipe::trace::call_span::begin("");
  edgepipe::trace::tracing_observer<discarding_sink> observer{state.range(0) ? &sink : nullptr, call.trace, call.id, 1};
  auto const before = bench::allocations.load();
  for (auto _ : state) {
    auto out = chain.run_observed(observer, st::received<request>{&f.take(state)});
    if (!out) state.SkipWithError(std::string{out.error().reason()}.c_str());
    benchmark::DoNotOptimize(out);
  }
  report_allocations(state, before);
  state.SetLabel(state.range(0) ? "tracing on" : "tracing off");
}
BENCHMARK(contract_chain_tracing)->Arg(0)->Arg(1);

// --- each stage alone, on a context where the earlier stages have run -------------------

// The facts the earlier stages established for `r`.
fact_storage facts_for(fixture const& f, request const& r) {
  fact_storage s;
  keep(s, st::received<request>{&r});
  keep(s, *f.envelope()(hand_context{s}));
  keep(s, *f.session()(hand_context{s}));
  return s;
}

void stage_envelope(benchmark::State& state) {
  fixture f;
  request const r = f.w.valid();
  auto const before = bench::allocations.load();
  fact_storage s;
  keep(s, st::received<request>{&r});
  hand_context const c{s};
  for (auto _ : state) benchmark::DoNotOptimize(f.envelope()(c));
  report_allocations(state, before);
}
BENCHMARK(stage_envelope);

template <class F>
void cheap_stage(benchmark::State& state, F pick) {
  fixture f;
  request const r = f.w.valid();
  fact_storage s = facts_for(f, r);
  hand_context const c{s};
  auto const& stage = pick(f);
  auto const before = bench::allocations.load();
  for (auto _ : state) benchmark::DoNotOptimize(stage(c));
  report_allocations(state, before);
}

void stage_session(benchmark::State& s) { cheap_stage(s, [](fixture& f) -> auto const& { return f.session(); }); }
void stage_payload_hash(benchmark::State& s) { cheap_stage(s, [](fixture& f) -> auto const& { return f.payload_hash(); }); }
void stage_signature(benchmark::State& s) { cheap_stage(s, [](fixture& f) -> auto const& { return f.signature(); }); }
void stage_freshness(benchmark::State& s) { cheap_stage(s, [](fixture& f) -> auto const& { return f.freshness(); }); }
void stage_rate_limit(benchmark::State& s) { cheap_stage(s, [](fixture& f) -> auto const& { return f.rate_limit(); }); }
void stage_routing(benchmark::State& s) { cheap_stage(s, [](fixture& f) -> auto const& { return f.routing(); }); }
BENCHMARK(stage_session);
BENCHMARK(stage_payload_hash);
BENCHMARK(stage_signature);
BENCHMARK(stage_freshness);
BENCHMARK(stage_rate_limit);
BENCHMARK(stage_routing);

// A fresh request id each time (a repeated one is refused sooner, and cheaper).
void stage_replay_memory(benchmark::State& state) {
  fixture f;
  std::vector<fact_storage> contexts;
  for (auto const& r : f.pool) contexts.push_back(facts_for(f, r));
  std::size_t i = 0;
  auto const before = bench::allocations.load();
  for (auto _ : state) {
    f.take(state);  // empties the store when the pool starts over
    benchmark::DoNotOptimize(f.replay_check()(hand_context{contexts[i]}));
    i = (i + 1) % contexts.size();
  }
  report_allocations(state, before);
}
BENCHMARK(stage_replay_memory);

void stage_response_signer(benchmark::State& state) {
  fixture f;
  request const r = f.w.valid();
  fact_storage s = facts_for(f, r);
  hand_context const c{s};
  st::response_signing_armed armed;
  auto const before = bench::allocations.load();
  for (auto _ : state) {
    edgepipe::result<st::response> out = st::response{"ok", "payload", {}, 0, {}, {}};
    f.signer().leave(c, armed, out);
    benchmark::DoNotOptimize(out);
  }
  report_allocations(state, before);
}
BENCHMARK(stage_response_signer);

// --- six trivial stages: the chain's own cost -------------------------------------------

template <int N>
struct step {
  int value;
};

template <int N>
struct add_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<step<N - 1>>;
  using provides_fact = step<N>;
  static constexpr std::string_view name = "add";
  edgepipe::result<step<N>> operator()(auto const& ctx) const noexcept {
    int const v = edgepipe::get<step<N - 1>>(ctx).value;
    if (v < 0) return edgepipe::status{edgepipe::code::invalid_argument, "negative"};
    return step<N>{v * 3 + N};
  }
};

using step_facts = edgepipe::facts<step<0>, step<1>, step<2>, step<3>, step<4>, step<5>, step<6>>;
using step_storage = std::tuple<std::optional<step<0>>, std::optional<step<1>>, std::optional<step<2>>,
                                std::optional<step<3>>, std::optional<step<4>>, std::optional<step<5>>,
                                std::optional<step<6>>>;
using step_context = edgepipe::context<step_storage, step_facts>;

using trivial_chain_type = decltype(edgepipe::make_chain<step<0>>(add_stage<1>{}, add_stage<2>{}, add_stage<3>{},
                                                                   add_stage<4>{}, add_stage<5>{}, add_stage<6>{}));

[[gnu::noinline]] edgepipe::result<step<6>> trivial_chained(trivial_chain_type const& chain, int input) {
  return chain.run(step<0>{input});
}

void trivial_chain(benchmark::State& state) {
  auto const chain = edgepipe::make_chain<step<0>>(add_stage<1>{}, add_stage<2>{}, add_stage<3>{}, add_stage<4>{},
                                                   add_stage<5>{}, add_stage<6>{});
  int input = 1;
  auto const before = bench::allocations.load();
  for (auto _ : state) {
    benchmark::DoNotOptimize(input);
    auto out = trivial_chained(chain, input);
    benchmark::DoNotOptimize(out);
  }
  report_allocations(state, before);
}
BENCHMARK(trivial_chain);

[[gnu::noinline]] edgepipe::result<step<6>> trivial_hand_written(int input) {
  step_storage storage;
  std::get<std::optional<step<0>>>(storage) = step<0>{input};
  step_context const c{storage};
  auto run = [&]<int N>(add_stage<N> s) -> edgepipe::status {
    auto r = s(c);
    if (!r) return r.error();
    std::get<std::optional<step<N>>>(storage) = *r;
    return {};
  };
  if (auto s = run(add_stage<1>{}); !s.ok()) return s;
  if (auto s = run(add_stage<2>{}); !s.ok()) return s;
  if (auto s = run(add_stage<3>{}); !s.ok()) return s;
  if (auto s = run(add_stage<4>{}); !s.ok()) return s;
  if (auto s = run(add_stage<5>{}); !s.ok()) return s;
  if (auto s = run(add_stage<6>{}); !s.ok()) return s;
  return *std::get<std::optional<step<6>>>(storage);
}

void trivial_hand_written(benchmark::State& state) {
  int input = 1;
  auto const before = bench::allocations.load();
  for (auto _ : state) {
    benchmark::DoNotOptimize(input);
    auto out = trivial_hand_written(input);
    benchmark::DoNotOptimize(out);
  }
  report_allocations(state, before);
}
BENCHMARK(trivial_hand_written);

}  // namespace
