// The span of one call: it continues the caller's trace when the request carried a valid
// traceparent (and tracestate), and starts a new one otherwise. Its id is the parent of
// the stage spans and of the spans of the calls the request makes onwards.
#pragma once

#include <edgepipe/status.hpp>
#include <edgepipe/trace/span.hpp>
#include <edgepipe/trace/trace_context.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::trace {

struct call_span {
  trace_id trace{};
  span_id id{};
  span_id parent{};  // the caller's span; all zero when the trace starts here
  std::uint8_t flags = 1;
  std::string tracestate;  // the caller's, when valid: carried on unchanged
  std::int64_t start_unix_ns = 0;

  static call_span begin(std::string_view traceparent, std::string_view tracestate = {}) {
    call_span s;
    s.start_unix_ns = unix_now_ns();
    s.id = new_span_id();
    if (auto incoming = parse_traceparent(traceparent)) {
      s.trace = incoming->trace;
      s.parent = incoming->parent;
      s.flags = incoming->flags;
      if (valid_tracestate(tracestate)) s.tracestate = std::string{tracestate};
    } else {
      s.trace = new_trace_id();
    }
    return s;
  }

  // What a callee receives: this span as its parent.
  [[nodiscard]] std::string traceparent() const { return format_traceparent(trace, id, flags); }

  [[nodiscard]] span_record finish(std::string name, status const& outcome, span_kind kind = span_kind::server) const {
    span_record r;
    r.trace = trace;
    r.id = id;
    r.parent = parent;
    r.flags = flags;
    r.name = std::move(name);
    r.kind = kind;
    r.start_unix_ns = start_unix_ns;
    r.end_unix_ns = unix_now_ns();
    r.attributes.emplace_back("rpc.grpc.status_code", std::to_string(static_cast<int>(outcome.code())));
    if (!outcome.ok()) {
      r.error = true;
      r.status_message = std::string{outcome.reason()};
      r.attributes.emplace_back("edgepipe.reason", std::string{outcome.reason()});
    }
    return r;
  }
};

}  // namespace edgepipe::trace
