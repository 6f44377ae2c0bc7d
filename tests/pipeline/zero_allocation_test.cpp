// A synchronous chain allocates nothing: this binary replaces the global operator new
// and counts every heap allocation made while chains run.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/trace/tracing_observer.hpp>

#include "sample_stages.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

namespace {
std::atomic<long> allocations{0};
}

// g++ pairs these replacements with its built-in knowledge of new/delete and warns that
// free() does not match new; here it does, since our operator new calls malloc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc{};
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::aligned_alloc(static_cast<std::size_t>(align), (size + static_cast<std::size_t>(align) - 1) &
                                                                         ~(static_cast<std::size_t>(align) - 1)))
    return p;
  throw std::bad_alloc{};
}
void* operator new[](std::size_t size, std::align_val_t align) { return ::operator new(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {
// Counts what runs; the kind of observer tracing would install, minus the clock.
struct counting_observer {
  struct token {};
  int started = 0, finished = 0;
  template <class Stage>
  token stage_started(Stage const&) noexcept {
    ++started;
    return {};
  }
  template <class Stage>
  void stage_finished(Stage const&, token, edgepipe::status const&) noexcept {
    ++finished;
  }
};
}  // namespace

TEST_CASE("the counter sees heap allocations", "[pipeline][allocation]") {
  long const before = allocations.load();
  auto* leak_free = new std::string(100, 'x');  // too long for the small-string buffer
  delete leak_free;
  CHECK(allocations.load() - before == 2);
}

TEST_CASE("a six-stage synchronous chain with an around stage allocates nothing", "[pipeline][allocation]") {
  sample::counters seen;
  int in_flight = 0;
  auto const chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, sample::session_stage{&seen}, sample::concurrency_stage{&in_flight, &seen},
      sample::signature_stage{&seen}, sample::freshness_stage{&seen}, sample::route_stage{&seen});
  STATIC_REQUIRE(decltype(chain)::size() >= 5);
  counting_observer observer;
  int passed = 0, rejected = 0;

  long const before = allocations.load();
  for (int i = 0; i < 1000; ++i) {
    auto ok = chain.run(sample::raw_request{"alice-phone:42"});
    auto bad_signature = chain.run(sample::raw_request{"alice-phone:41"});
    auto observed = chain.run_observed(observer, sample::raw_request{"alice-phone:42"});
    passed += ok.has_value() + observed.has_value();
    rejected += !bad_signature.has_value();
  }
  long const during = allocations.load() - before;

  CHECK(during == 0);
  CHECK(passed == 2000);
  CHECK(rejected == 1000);
  CHECK(observer.finished == 6000);
  CHECK(in_flight == 0);
}

namespace {
// A sink that must never be reached with tracing off.
struct forbidden_sink {
  int recorded = 0;
  void record(edgepipe::trace::span_record) { ++recorded; }
};
}  // namespace

TEST_CASE("with tracing off, the tracing observer allocates nothing and records nothing", "[pipeline][allocation][trace]") {
  sample::counters seen;
  int in_flight = 0;
  auto const chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, sample::session_stage{&seen}, sample::concurrency_stage{&in_flight, &seen},
      sample::signature_stage{&seen}, sample::freshness_stage{&seen}, sample::route_stage{&seen});
  forbidden_sink sink;
  edgepipe::trace::tracing_observer<forbidden_sink> off{};  // no sink: tracing is off
  counting_observer counting;
  edgepipe::observers both{counting, off};
  int passed = 0;

  long const before = allocations.load();
  for (int i = 0; i < 1000; ++i) passed += chain.run_observed(both, sample::raw_request{"alice-phone:42"}).has_value();
  long const during = allocations.load() - before;

  CHECK(during == 0);
  CHECK(passed == 1000);
  CHECK(counting.finished == 6000);  // the combined observer reached the other one every time
  CHECK(sink.recorded == 0);

  // On, the same observer records one span per stage, named after it.
  edgepipe::trace::tracing_observer<forbidden_sink> on{&sink, edgepipe::trace::new_trace_id(), edgepipe::trace::new_span_id(), 1};
  CHECK(chain.run_observed(on, sample::raw_request{"alice-phone:42"}).has_value());
  CHECK(sink.recorded == 6);
}
