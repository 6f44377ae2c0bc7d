// W3C trace context from a client: traceparent and tracestate headers. Nothing crashes;
// what parses writes back as a header that parses the same; a call continues a trace
// exactly when the traceparent is valid, and carries tracestate only then.
#include <edgepipe/trace/call_span.hpp>
#include <edgepipe/trace/trace_context.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  namespace t = edgepipe::trace;
  std::string_view const input{reinterpret_cast<char const*>(data), size};
  // The input is "traceparent\ntracestate".
  auto const newline = input.find('\n');
  std::string_view const traceparent = input.substr(0, newline);
  std::string_view const tracestate = newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);

  auto const parsed = t::parse_traceparent(traceparent);
  bool const state_ok = t::valid_tracestate(tracestate);
  if (state_ok) FUZZ_CHECK(tracestate.size() <= 512);
  auto const call = t::call_span::begin(traceparent, tracestate);
  if (parsed) {
    FUZZ_CHECK(parsed->trace != t::trace_id{});
    FUZZ_CHECK(parsed->parent != t::span_id{});
    auto const again = t::parse_traceparent(t::format_traceparent(parsed->trace, parsed->parent, parsed->flags));
    FUZZ_CHECK(again && again->trace == parsed->trace && again->parent == parsed->parent && again->flags == parsed->flags);
    FUZZ_CHECK(call.trace == parsed->trace && call.parent == parsed->parent);
    FUZZ_CHECK(call.tracestate == (state_ok ? tracestate : std::string_view{}));
  } else {
    FUZZ_CHECK(call.parent == t::span_id{});
    FUZZ_CHECK(call.tracestate.empty());
  }
  // What we send onwards is always a valid version-00 header naming our span.
  auto const onward = t::parse_traceparent(call.traceparent());
  FUZZ_CHECK(onward && onward->parent == call.id && onward->trace == call.trace);
  return 0;
}
