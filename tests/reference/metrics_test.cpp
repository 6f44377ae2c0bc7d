#include <edgepipe/kit/metrics_registry.hpp>

#include <catch2/catch.hpp>

using metrics = edgepipe::kit::metrics_registry;

TEST_CASE("label values are escaped as the Prometheus text format requires", "[reference][metrics]") {
  std::string out;
  edgepipe::kit::append_label_value(out, "a\\b\"c\nd");
  CHECK(out == "a\\\\b\\\"c\\nd");
  CHECK(edgepipe::kit::label_text({{"reason", "x\"y"}, {"stage", "s"}}) == "{reason=\"x\\\"y\",stage=\"s\"}");
}

TEST_CASE("counters, gauges and cumulative histograms in text format", "[reference][metrics]") {
  metrics m;
  m.describe("c_total", "counter", "A counter.");
  m.describe("d_seconds", "histogram", "A histogram.");
  m.add("c_total", {{"code", "ok"}});
  m.add("c_total", {{"code", "ok"}}, 2);
  m.observe("d_seconds", {{"p", "x"}}, 0.002);
  m.observe("d_seconds", {{"p", "x"}}, 3.0);
  std::string const text = m.text();
  CHECK_THAT(text, Catch::Contains("# TYPE c_total counter\n"));
  CHECK_THAT(text, Catch::Contains("c_total{code=\"ok\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("d_seconds_bucket{p=\"x\",le=\"0.001\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("d_seconds_bucket{p=\"x\",le=\"0.0025\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("d_seconds_bucket{p=\"x\",le=\"2.5\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("d_seconds_bucket{p=\"x\",le=\"+Inf\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("d_seconds_count{p=\"x\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("d_seconds_sum{p=\"x\"} 3.002"));
}

TEST_CASE("registries merged at scrape time read as one registry fed every update", "[metrics]") {
  auto feed = [](metrics& m, int from, int to) {
    for (int i = from; i < to; ++i) {
      m.add("c_total", {{"code", i % 3 ? "ok" : "denied"}});
      m.observe("d_seconds", {{"p", "x"}}, i % 4 ? 0.25 : 0.5);  // exact in binary: sums need no rounding
      m.set("g", {}, 1);
    }
  };
  auto describe = [](metrics& m) {
    m.describe("c_total", "counter", "A counter.");
    m.describe("d_seconds", "histogram", "A histogram.");
    m.describe("g", "gauge", "One per registry.");
  };
  metrics one, first, second, merged;
  describe(one);
  describe(first);  // `second` has no families of its own: the merge takes them from `first`
  feed(one, 0, 100);
  one.set("g", {}, 2);  // two registries, each holding 1
  feed(first, 0, 40);
  feed(second, 40, 100);
  merged.merge(first);
  merged.merge(second);
  CHECK(merged.text() == one.text());
  CHECK_THAT(merged.text(), Catch::Contains("c_total{code=\"ok\"} 66\n"));
  CHECK_THAT(merged.text(), Catch::Contains("d_seconds_count{p=\"x\"} 100\n"));
}
