// The metric families the kit's parts write, each named once, and their HELP and TYPE
// lines for a registry that will show them.
#pragma once

#include <edgepipe/kit/metrics_registry.hpp>

#include <string_view>

namespace edgepipe::kit::metric_names {
inline constexpr char const* requests = "edgepipe_requests_total";
inline constexpr char const* request_duration = "edgepipe_request_duration_seconds";
inline constexpr char const* rejections = "edgepipe_rejections_total";
inline constexpr char const* stage_duration = "edgepipe_stage_duration_seconds";
inline constexpr char const* replay_reservations = "edgepipe_replay_reservations_total";
inline constexpr char const* subscriptions_active = "edgepipe_subscriptions_active";
inline constexpr char const* push_events = "edgepipe_push_events_total";
inline constexpr char const* backend_requests = "edgepipe_backend_requests_total";
inline constexpr char const* spans_dropped = "edgepipe_trace_spans_dropped_total";
inline constexpr char const* spans_exported = "edgepipe_trace_spans_exported_total";
}  // namespace edgepipe::kit::metric_names

namespace edgepipe::kit {

inline void describe_gateway_metrics(metrics_registry& m) {
  namespace n = metric_names;
  m.describe(n::requests, "counter", "Edge calls by procedure, protocol and final code.");
  m.describe(n::request_duration, "histogram", "Time from request to final status, by procedure.");
  m.describe(n::rejections, "counter", "Calls a verification stage rejected, by stage and reason.");
  m.describe(n::subscriptions_active, "gauge", "Live SubscribeEvents streams.");
  m.describe(n::push_events, "counter", "Events from the backend's push stream, by kind and result.");
  m.describe(n::backend_requests, "counter", "Backend REST calls by endpoint and HTTP status.");
  m.describe(n::replay_reservations, "counter", "Replay reservations by result.");
  m.describe(n::stage_duration, "histogram", "Time each verification stage took, by stage.");
  m.describe(n::spans_dropped, "counter",
             "Spans not exported: the queue was full, or the collector refused or did not answer.");
  m.describe(n::spans_exported, "counter", "Spans the collector accepted.");
}

}  // namespace edgepipe::kit
