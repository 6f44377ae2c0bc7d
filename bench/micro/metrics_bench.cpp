// edgepipe's metrics registry against prometheus-cpp (core) on what the gateway does with
// metrics: bump a counter it holds, observe a histogram it holds (12 buckets), find or
// create a series from 3 labels per call, and render ~50 series as text. The *_mt cases run
// two threads: one shared prometheus-cpp series (its atomics and mutex), against one
// registry per thread (ours, as a worker per event loop would hold it).
#include <edgepipe/kit/metrics_registry.hpp>

#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <map>
#include <string>
#include <vector>

namespace {

using ours = edgepipe::kit::metrics_registry;
namespace pm = prometheus;

pm::Histogram::BucketBoundaries const buckets{ours::duration_buckets.begin(), ours::duration_buckets.end()};

// Latencies spread over the buckets, so the bucket search is not always the first compare.
constexpr std::array<double, 8> samples{0.0003, 0.0012, 0.004, 0.02, 0.07, 0.3, 1.5, 4.0};

// 8 label sets of 3 labels, cycled through so lookups hit existing series.
constexpr std::array<char const*, 4> methods{"GET", "POST", "PUT", "DELETE"};
constexpr std::array<char const*, 2> statuses{"200", "503"};

// --- (a) counter held by reference ---
void counter_inc_ours(benchmark::State& state) {
  static ours m;  // one per process: the *_mt case gives each thread its own below
  thread_local ours own;
  double& c = (state.threads() > 1 ? own : m).series_value("requests_total", {{"route", "/v1/orders"}});
  for (auto _ : state) {
    c += 1;
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(counter_inc_ours);
BENCHMARK(counter_inc_ours)->Name("counter_inc_ours_mt")->Threads(2)->UseRealTime();

pm::Registry& shared_registry() {
  static pm::Registry r;
  return r;
}

void counter_inc_prom(benchmark::State& state) {
  static pm::Counter& c = pm::BuildCounter().Name("requests_total").Help("h").Register(shared_registry()).Add(
      {{"route", "/v1/orders"}});
  for (auto _ : state) c.Increment();
  benchmark::DoNotOptimize(c.Value());
}
BENCHMARK(counter_inc_prom);
BENCHMARK(counter_inc_prom)->Name("counter_inc_prom_mt")->Threads(2)->UseRealTime();

// --- (b) histogram held by reference, 12 buckets ---
void histogram_observe_ours(benchmark::State& state) {
  static ours m;
  thread_local ours own;
  auto& h = (state.threads() > 1 ? own : m).series_histogram("duration_seconds", {{"stage", "verify"}});
  std::size_t i = 0;
  for (auto _ : state) h.observe(samples[i++ % samples.size()]);
  benchmark::DoNotOptimize(h.count);
}
BENCHMARK(histogram_observe_ours);
BENCHMARK(histogram_observe_ours)->Name("histogram_observe_ours_mt")->Threads(2)->UseRealTime();

void histogram_observe_prom(benchmark::State& state) {
  static pm::Histogram& h = pm::BuildHistogram().Name("duration_seconds").Help("h").Register(shared_registry()).Add(
      {{"stage", "verify"}}, buckets);
  std::size_t i = 0;
  for (auto _ : state) h.Observe(samples[i++ % samples.size()]);
}
BENCHMARK(histogram_observe_prom);
BENCHMARK(histogram_observe_prom)->Name("histogram_observe_prom_mt")->Threads(2)->UseRealTime();

// --- (c) find-or-create a series from 3 labels per call (labels built per call, as a caller would) ---
void labelled_add_ours(benchmark::State& state) {
  ours m;
  std::size_t i = 0;
  for (auto _ : state) {
    m.add("requests_total", {{"method", methods[i % 4]}, {"route", "/v1/orders"}, {"status", statuses[i / 4 % 2]}});
    ++i;
  }
}
BENCHMARK(labelled_add_ours);

void labelled_add_prom(benchmark::State& state) {
  pm::Registry r;
  auto& family = pm::BuildCounter().Name("requests_total").Help("h").Register(r);
  std::size_t i = 0;
  for (auto _ : state) {
    family.Add({{"method", methods[i % 4]}, {"route", "/v1/orders"}, {"status", statuses[i / 4 % 2]}}).Increment();
    ++i;
  }
}
BENCHMARK(labelled_add_prom);

// prometheus-cpp's Add(labels, args...) constructs the metric before it looks it up, so a
// histogram lookup allocates its bucket vector per call even when the series exists.
void labelled_observe_ours(benchmark::State& state) {
  ours m;
  std::size_t i = 0;
  for (auto _ : state) {
    m.observe("duration_seconds", {{"method", methods[i % 4]}, {"route", "/v1/orders"}, {"status", statuses[i / 4 % 2]}},
              samples[i % samples.size()]);
    ++i;
  }
}
BENCHMARK(labelled_observe_ours);

void labelled_observe_prom(benchmark::State& state) {
  pm::Registry r;
  auto& family = pm::BuildHistogram().Name("duration_seconds").Help("h").Register(r);
  std::size_t i = 0;
  for (auto _ : state) {
    family.Add({{"method", methods[i % 4]}, {"route", "/v1/orders"}, {"status", statuses[i / 4 % 2]}}, buckets)
        .Observe(samples[i % samples.size()]);
    ++i;
  }
}
BENCHMARK(labelled_observe_prom);

// --- (d) text exposition: 40 counter series and 10 histogram series (12 buckets), 3 labels each ---
std::string route(int k) { return "/v1/route" + std::to_string(k); }

void render_ours(benchmark::State& state) {
  ours m;
  m.describe("requests_total", "counter", "Requests.");
  m.describe("duration_seconds", "histogram", "Duration.");
  for (int k = 0; k < 40; ++k)
    m.add("requests_total", {{"method", methods[k % 4]}, {"route", route(k / 8)}, {"status", statuses[k / 4 % 2]}}, k);
  for (int k = 0; k < 10; ++k)
    m.observe("duration_seconds", {{"method", "POST"}, {"route", route(k)}, {"status", "200"}}, samples[k % 8]);
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto text = m.text();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(render_ours);

void render_prom(benchmark::State& state) {
  pm::Registry r;
  auto& counters = pm::BuildCounter().Name("requests_total").Help("Requests.").Register(r);
  auto& hists = pm::BuildHistogram().Name("duration_seconds").Help("Duration.").Register(r);
  for (int k = 0; k < 40; ++k)
    counters.Add({{"method", methods[k % 4]}, {"route", route(k / 8)}, {"status", statuses[k / 4 % 2]}}).Increment(k);
  for (int k = 0; k < 10; ++k)
    hists.Add({{"method", "POST"}, {"route", route(k)}, {"status", "200"}}, buckets).Observe(samples[k % 8]);
  pm::TextSerializer const serializer;
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto text = serializer.Serialize(r.Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(render_prom);

}  // namespace
