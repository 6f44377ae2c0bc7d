// A chain observer that records a span per stage, children of the call's span: every
// stage gets one, users' own stages included, named after the stage, with its outcome.
//
// Off (no sink) it reads no clock and allocates nothing: each hook is one branch.
#pragma once

#include <edgepipe/status.hpp>
#include <edgepipe/trace/span.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace edgepipe::trace {

template <span_sink Sink>
struct tracing_observer {
  Sink* sink = nullptr;  // nullptr: tracing is off
  trace_id trace{};
  span_id parent{};  // the call's span
  std::uint8_t flags = 0;

  struct token {
    std::int64_t started_ns = 0;
  };

  template <class Stage>
  token stage_started(Stage const&) noexcept {
    return {sink != nullptr ? unix_now_ns() : 0};
  }

  template <class Stage>
  void stage_finished(Stage const&, token t, status const& outcome) noexcept {
    if (sink == nullptr) return;
    try {
      span_record s;
      s.trace = trace;
      s.id = new_span_id();
      s.parent = parent;
      s.flags = flags;
      s.name = "stage " + std::string{Stage::name};
      s.start_unix_ns = t.started_ns;
      s.end_unix_ns = unix_now_ns();
      s.attributes.emplace_back("edgepipe.stage", std::string{Stage::name});
      s.attributes.emplace_back("edgepipe.outcome", outcome.ok() ? std::string{"ok"} : std::string{outcome.reason()});
      if (!outcome.ok()) {
        s.error = true;
        s.status_message = std::string{outcome.reason()};
        s.attributes.emplace_back("edgepipe.code", std::string{to_string(outcome.code())});
      }
      sink->record(std::move(s));
    } catch (...) {
      // Out of memory while tracing: the span is lost, the request is not.
    }
  }
};

}  // namespace edgepipe::trace
