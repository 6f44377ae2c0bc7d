// Call telemetry: what one edge call leaves behind. Its count and duration by procedure,
// protocol and code; its server span, continuing the caller's traceparent, with a child
// per stage (when tracing); and a line in the program's call log with its request and
// trace ids. Built when the call starts, finished once with the call's outcome.
#pragma once

#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/trace/call_span.hpp>
#include <edgepipe/trace/span_recorder.hpp>
#include <edgepipe/trace/trace_context.hpp>
#include <edgepipe/trace/tracing_observer.hpp>
#include <edgepipe/transport/call_context.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::kit {

// Where a finished call is written: the program chooses levels and format. Identifiers and
// outcomes only, never payloads or keys.
template <class L>
concept call_log = requires(L const& log, std::string_view procedure, status const& outcome, std::string_view id) {
  log.call_finished(procedure, outcome, id, id);  // procedure, outcome, request id, trace id
};

// A call log that writes nothing.
struct no_call_log {
  void call_finished(std::string_view, status const&, std::string_view, std::string_view) const noexcept {}
};

constexpr std::string_view protocol_name(protocol::rpc_protocol p) noexcept {
  switch (p) {
    case protocol::rpc_protocol::connect: return "connect";
    case protocol::rpc_protocol::grpc: return "grpc";
    case protocol::rpc_protocol::grpc_web: return "grpc_web";
  }
  return "unknown";
}

// Everything a call's telemetry writes to, alive for the whole run: `metrics` always,
// `tracing` and `log` when not null.
template <call_log Log = no_call_log>
struct telemetry_sinks {
  metrics_registry* metrics;
  trace::span_recorder const* tracing;
  Log const* log;
};

// One procedure's request series: the successful calls' counter (per protocol) and the
// duration histogram are found on first use and kept, so a call that succeeds builds no
// label text. One per procedure and registry, alive as long as the registry.
class procedure_series {
 public:
  explicit procedure_series(std::string procedure) : procedure_{std::move(procedure)} {}
  procedure_series(procedure_series const&) = delete;
  procedure_series& operator=(procedure_series const&) = delete;

  [[nodiscard]] std::string_view procedure() const noexcept { return procedure_; }

  double& ok_calls(metrics_registry& m, protocol::rpc_protocol p) {
    double*& cell = ok_[static_cast<std::size_t>(p)];
    if (cell == nullptr)
      cell = &m.series_value(metric_names::requests,
                             {{"procedure", procedure_}, {"protocol", std::string{protocol_name(p)}}, {"code", "ok"}});
    return *cell;
  }
  metrics_registry::histogram& duration(metrics_registry& m) {
    if (duration_ == nullptr) duration_ = &m.series_histogram(metric_names::request_duration, {{"procedure", procedure_}});
    return *duration_;
  }

 private:
  std::string procedure_;
  std::array<double*, 3> ok_{};  // by rpc_protocol
  metrics_registry::histogram* duration_ = nullptr;
};

template <call_log Log = no_call_log>
class call_telemetry {
 public:
  // `procedure` must outlive the call; its series always go to `sinks.metrics`.
  call_telemetry(procedure_series& procedure, transport::call_context const& ctx, telemetry_sinks<Log> sinks)
      : procedure_{&procedure}, protocol_{ctx.protocol()}, sinks_{sinks} {
    std::string_view const traceparent = ctx.header("traceparent"), tracestate = ctx.header("tracestate");
    if (sinks.tracing != nullptr && sinks.tracing->on()) {
      span_.emplace(trace::call_span::begin(traceparent, tracestate));
      forward_traceparent_ = span_->traceparent();
      forward_tracestate_ = span_->tracestate;
      trace_id_ = trace::to_hex(span_->trace);
    } else if (auto caller = trace::parse_traceparent(traceparent)) {
      forward_traceparent_ = std::string{traceparent};  // not traced here: the caller's context goes on as it came
      forward_tracestate_ = tracestate;
      trace_id_ = trace::to_hex(caller->trace);
    }
  }
  call_telemetry(call_telemetry const&) = delete;
  call_telemetry& operator=(call_telemetry const&) = delete;

  // The chain's input: the request with the trace context its adapters should forward.
  template <class Request>
  stages::received<Request> input(Request const& req) const noexcept {
    return {&req, forward_traceparent_, forward_tracestate_};
  }

  // Stage spans, children of this call's span; off (one branch per stage) when not tracing.
  [[nodiscard]] trace::tracing_observer<trace::span_recorder const> stage_spans() const noexcept {
    if (!span_) return {};
    return {sinks_.tracing, span_->trace, span_->id, span_->flags};
  }

  // Once, with the call's final status; later calls do nothing.
  void finish(status const& outcome, std::string_view request_id) {
    if (finished_) return;
    finished_ = true;
    if (outcome.ok()) {
      procedure_->ok_calls(*sinks_.metrics, protocol_) += 1;
    } else {
      sinks_.metrics->add(metric_names::requests, {{"procedure", std::string{procedure_->procedure()}},
                                                   {"protocol", std::string{protocol_name(protocol_)}},
                                                   {"code", std::string{to_string(outcome.code())}}});
    }
    procedure_->duration(*sinks_.metrics)
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    if (span_) {
      auto record = span_->finish(std::string{procedure_->procedure()}, outcome);
      record.attributes.emplace_back("rpc.system", std::string{protocol_name(protocol_)});
      record.attributes.emplace_back("edgepipe.request_id", std::string{request_id});
      sinks_.tracing->record(std::move(record));
      span_.reset();
    }
    if (sinks_.log != nullptr) sinks_.log->call_finished(procedure_->procedure(), outcome, request_id, trace_id_);
  }

 private:
  procedure_series* procedure_;
  protocol::rpc_protocol protocol_;
  telemetry_sinks<Log> sinks_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<trace::call_span> span_;
  std::string forward_traceparent_;
  std::string_view forward_tracestate_;
  std::string trace_id_;
  bool finished_ = false;
};

}  // namespace edgepipe::kit
