// The backend REST API's adapters (docs/wire-protocol.md, section 5): the session
// source the session stage asks, and the command handler routing sends commands to, over
// the library's pooled HTTP/1.1 client.
#pragma once

#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/protocol/header_grammar.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/stages/session.hpp>
#include <edgepipe/trace/client_span.hpp>
#include <edgepipe/transport/http_client.hpp>

#include <nlohmann/json.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::kit {


// edgepipe_backend_requests_total{endpoint,code}: the HTTP status, or "error".
inline void count_backend_call(metrics_registry* m, char const* endpoint, transport::http_client::outcome const& r) {
  if (m == nullptr) return;
  m->add(metric_names::backend_requests,
         {{"endpoint", endpoint},
          {"code", r.error == transport::http_client::failure::none ? std::to_string(r.res.result_int()) : std::string{"error"}}});
}

// Parses the body of a 200 answer from the sessions endpoint. Anything but an object
// with four string fields is `malformed`.
inline stages::session_answer parse_session_body(std::string_view body) {
  using o = stages::session_answer::outcome;
  stages::session_answer a;
  a.kind = o::malformed;
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return a;
  auto field = [&](char const* name, std::string& out) {
    auto it = json.find(name);
    if (it == json.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  if (field("device_session_id", a.device_session_id) && field("user_id", a.user_id) && field("status", a.status) &&
      field("public_key", a.public_key))
    a.kind = o::found;
  return a;
}

inline void end_backend_span(trace::client_span& span, transport::http_client::outcome const& r) {
  if (!span.active()) return;
  bool const answered = r.error == transport::http_client::failure::none;
  if (answered) span.attribute("http.response.status_code", std::to_string(r.res.result_int()));
  span.end(!answered || r.res.result_int() >= 500, answered ? "" : "backend_unavailable");
}

// What the sessions endpoint's answer means: 200 with a well-formed body is `found`, 404
// `not_found`, an oversized answer `malformed`, anything else (5xx, no answer, not HTTP)
// `unreachable`. Whether a found session's fields are acceptable is the stage's decision.
inline stages::session_answer session_answer_of(transport::http_client::outcome const& r) {
  using o = stages::session_answer::outcome;
  stages::session_answer a;
  if (r.error != transport::http_client::failure::none) {
    a.kind = r.error == transport::http_client::failure::too_large ? o::malformed : o::unreachable;
    return a;
  }
  switch (r.res.result_int()) {
    case 200: return parse_session_body(r.res.body());
    case 404: a.kind = o::not_found; return a;
    default: a.kind = o::unreachable; return a;
  }
}

// GET {backend}/api/v1/internal/sessions/{device_session_id}
class backend_sessions {
 public:
  backend_sessions(transport::http_client& client, std::chrono::milliseconds timeout, metrics_registry* m = nullptr,
                   trace::span_recorder const* tracing = nullptr)
      : client_{&client}, timeout_{timeout}, metrics_{m}, tracing_{tracing} {}

  boost::asio::awaitable<stages::session_answer> find(std::string_view device_session_id) {
    co_return co_await find(device_session_id, {});
  }

  // Traced as a client span when the request has a trace; the backend gets its traceparent.
  boost::asio::awaitable<stages::session_answer> find(std::string_view device_session_id, std::string_view traceparent) {
    namespace http = boost::beast::http;
    trace::client_span span{tracing_, traceparent, "GET /api/v1/internal/sessions/{id}"};
    transport::http_client::request req{http::verb::get, "/api/v1/internal/sessions/" + transport::encode_path_segment(device_session_id), 11};
    req.set(http::field::accept, "application/json");
    if (span.active()) req.set("traceparent", span.traceparent());
    // A lookup has no effect: it may be sent again when a reused connection turns out closed.
    auto r = co_await client_->send(std::move(req), timeout_, transport::http_retry::once_if_unanswered);
    count_backend_call(metrics_, "sessions", r);
    auto answer = session_answer_of(r);
    end_backend_span(span, r);
    co_return answer;
  }

 private:
  transport::http_client* client_;
  std::chrono::milliseconds timeout_;
  metrics_registry* metrics_;
  trace::span_recorder const* tracing_;
};

// X-Result-Code: absent or empty means "ok"; otherwise 1..64 bytes of [a-z0-9_.-]. It is
// signed and sent to clients as a string, so anything else is the backend's error.
constexpr bool is_result_code(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

inline constexpr status backend_bad_response{code::internal, "backend_bad_response"};

// The backend's HTTP status -> the command's status.
inline status command_status_of(unsigned http) noexcept {
  switch (http) {
    case 400: return {code::invalid_argument, "backend_rejected"};
    case 401:
    case 403: return {code::permission_denied, "backend_denied"};
    case 404: return {code::not_found, "backend_not_found"};
    case 409: return {code::aborted, "backend_conflict"};
    case 429: return {code::resource_exhausted, "backend_throttled"};
    default: return {code::unavailable, "backend_unavailable"};
  }
}

// What the commands endpoint's answer means: 2xx is the response (X-Result-Code, default
// "ok", and the body as payload); anything else is the status the backend API defines for it.
inline result<stages::response> command_result_of(transport::http_client::outcome& r) {
  if (r.error != transport::http_client::failure::none) return status{code::unavailable, "backend_unavailable"};
  auto const http_status = r.res.result_int();
  if (http_status < 200 || http_status > 299) return command_status_of(http_status);
  stages::response out;
  std::string_view const result_code{r.res["X-Result-Code"].data(), r.res["X-Result-Code"].size()};
  if (!result_code.empty() && !is_result_code(result_code)) return backend_bad_response;
  out.result_code = result_code.empty() ? std::string{"ok"} : std::string{result_code};
  out.payload = std::move(r.res.body());
  return out;
}

// POST {backend}/api/v1/internal/commands/{message_type}
class backend_commands {
 public:
  backend_commands(transport::http_client& client, std::chrono::milliseconds timeout, metrics_registry* m = nullptr,
                   trace::span_recorder const* tracing = nullptr)
      : client_{&client}, timeout_{timeout}, metrics_{m}, tracing_{tracing} {}

  boost::asio::awaitable<result<stages::response>> execute(stages::command const& c) {
    namespace http = boost::beast::http;
    transport::http_client::request req{http::verb::post, "/api/v1/internal/commands/" + transport::encode_path_segment(c.message_type), 11};
    req.set(http::field::content_type, "application/octet-stream");
    req.set("X-User-Id", std::string{c.user_id});
    req.set("X-Device-Session-Id", std::string{c.device_session_id});
    req.set("X-Request-Id", std::string{c.request_id});
    // The command's own span when traced, else the caller's context as it came.
    trace::client_span span{tracing_, c.traceparent, "POST /api/v1/internal/commands/{message_type}"};
    if (span.active()) req.set("traceparent", span.traceparent());
    else if (!c.traceparent.empty()) req.set("traceparent", std::string{c.traceparent});
    // The caller's tracestate goes on only as a valid header value: the client refuses
    // a request with any other, and a trace header must never cost the call.
    if (!c.tracestate.empty() && protocol::is_header_value(c.tracestate))
      req.set("tracestate", std::string{c.tracestate});
    span.attribute("edgepipe.message_type", std::string{c.message_type});
    req.body().assign(c.payload);
    auto r = co_await client_->send(std::move(req), timeout_);
    count_backend_call(metrics_, "commands", r);
    end_backend_span(span, r);
    co_return command_result_of(r);
  }

 private:
  transport::http_client* client_;
  std::chrono::milliseconds timeout_;
  metrics_registry* metrics_;
  trace::span_recorder const* tracing_;
};

}  // namespace edgepipe::kit
