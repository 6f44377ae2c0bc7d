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
