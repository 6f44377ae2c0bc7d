// W3C Trace Context: what is continued, what is ignored, and the spans the observer and
// a call record.
#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/trace/call_span.hpp>
#include <edgepipe/trace/trace_context.hpp>
#include <edgepipe/trace/tracing_observer.hpp>

#include "../pipeline/sample_stages.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace t = edgepipe::trace;

TEST_CASE("a valid traceparent is parsed and written back the same", "[trace]") {
  std::string const header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto c = t::parse_traceparent(header);
  REQUIRE(c);
  CHECK(t::to_hex(c->trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(t::to_hex(c->parent) == "00f067aa0ba902b7");
  CHECK(c->flags == 1);
  CHECK(t::format_traceparent(c->trace, c->parent, c->flags) == header);
}

TEST_CASE("malformed traceparents are ignored", "[trace]") {
  for (std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",           // no flags
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent id
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 has no more fields
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
       })
    CHECK_FALSE(t::parse_traceparent(bad));
}

TEST_CASE("a later version is read in the version 00 layout, extra fields ignored", "[trace]") {
  auto c = t::parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds");
  REQUIRE(c);
  CHECK(t::to_hex(c->trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK_FALSE(t::parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST_CASE("tracestate: list members are checked, at most 32 and 512 characters", "[trace]") {
  CHECK(t::valid_tracestate(""));
  CHECK(t::valid_tracestate("congo=t61rcWkgMzE"));
  CHECK(t::valid_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,"));
  CHECK(t::valid_tracestate("tenant@vendor=x"));
  CHECK_FALSE(t::valid_tracestate("Upper=1"));
  CHECK_FALSE(t::valid_tracestate("novalue="));
  CHECK_FALSE(t::valid_tracestate("=nokey"));
  CHECK_FALSE(t::valid_tracestate("a=b=c"));
  CHECK_FALSE(t::valid_tracestate("a=\x01"));
  std::string many;
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
  CHECK_FALSE(t::valid_tracestate(many));
  CHECK_FALSE(t::valid_tracestate("k=" + std::string(600, 'v')));
}

TEST_CASE("a call continues a valid incoming trace and starts one otherwise", "[trace]") {
  auto continued = t::call_span::begin("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61rcWkgMzE");
  CHECK(t::to_hex(continued.trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(t::to_hex(continued.parent) == "00f067aa0ba902b7");
  CHECK(continued.tracestate == "congo=t61rcWkgMzE");
  // A callee sees our span as its parent, in the same trace.
  auto const onward = t::parse_traceparent(continued.traceparent());
  REQUIRE(onward);
  CHECK(onward->trace == continued.trace);
  CHECK(onward->parent == continued.id);

  auto fresh = t::call_span::begin("00-zz-not-a-trace-01", "congo=t61rcWkgMzE");
  CHECK(fresh.parent == t::span_id{});
  CHECK(fresh.trace != continued.trace);
  CHECK(fresh.tracestate.empty());  // tracestate only travels with a valid traceparent

  auto const rejected = fresh.finish("proc", edgepipe::status{edgepipe::code::unauthenticated, "signature_invalid"});
  CHECK(rejected.error);
  CHECK(rejected.status_message == "signature_invalid");
  CHECK(rejected.kind == t::span_kind::server);
  CHECK(rejected.end_unix_ns >= rejected.start_unix_ns);
}

namespace {
struct vector_sink {
  std::vector<t::span_record> spans;
  void record(t::span_record s) { spans.push_back(std::move(s)); }
};
}  // namespace

TEST_CASE("the tracing observer records the stages that ran, in order, and the one that rejected", "[trace]") {
  sample::counters seen;
  int in_flight = 0;
  auto const chain = edgepipe::make_chain<sample::raw_request>(
      sample::envelope_stage{&seen}, sample::session_stage{&seen}, sample::concurrency_stage{&in_flight, &seen},
      sample::signature_stage{&seen}, sample::freshness_stage{&seen}, sample::route_stage{&seen});
  vector_sink sink;
  auto const call = t::call_span::begin("");
  t::tracing_observer<vector_sink> observer{&sink, call.trace, call.id, call.flags};
  CHECK_FALSE(chain.run_observed(observer, sample::raw_request{"alice-phone:41"}).has_value());  // bad signature
  std::vector<std::string> names;
  for (auto const& s : sink.spans) {
    names.push_back(s.name);
    CHECK(s.trace == call.trace);
    CHECK(s.parent == call.id);
  }
  REQUIRE(names.size() == 4);
  CHECK(names.back() == "stage signature");
  CHECK(sink.spans.back().error);
  CHECK_FALSE(sink.spans.front().error);
}
