// The gateway's side of tracing: where finished spans go (the OTLP exporter, or nowhere
// when EDGEPIPE_OTLP_ENDPOINT is unset), and client spans for the backend and Redis calls
// a request makes, children of the call's span.
#pragma once

#include <edgepipe/stages/adapter_call.hpp>
#include <edgepipe/stages/replay.hpp>
#include <edgepipe/trace/span.hpp>
#include <edgepipe/trace/trace_context.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::reference {

// A span sink that may be off: record() is then never reached, because nothing that
// checks `on()` first builds a span.
class span_recorder {
 public:
  span_recorder() = default;
  explicit span_recorder(std::function<void(trace::span_record)> sink) : sink_{std::move(sink)} {}
  [[nodiscard]] bool on() const noexcept { return static_cast<bool>(sink_); }
  void record(trace::span_record s) const { sink_(std::move(s)); }

 private:
  std::function<void(trace::span_record)> sink_;
};

// One outgoing call, traced when a recorder is on and the request has a trace (its
// traceparent names the call's span as parent). Inactive otherwise: no clock, no id.
class client_span {
 public:
  client_span(span_recorder const* recorder, std::string_view traceparent, std::string_view name) {
    if (recorder == nullptr || !recorder->on()) return;
    auto parent = trace::parse_traceparent(traceparent);
    if (!parent) return;
    recorder_ = recorder;
    record_.trace = parent->trace;
    record_.parent = parent->parent;
    record_.flags = parent->flags;
    record_.id = trace::new_span_id();
    record_.kind = trace::span_kind::client;
    record_.name = std::string{name};
    record_.start_unix_ns = trace::unix_now_ns();
    traceparent_ = trace::format_traceparent(record_.trace, record_.id, record_.flags);
  }
  client_span(client_span const&) = delete;
  client_span& operator=(client_span const&) = delete;

  [[nodiscard]] bool active() const noexcept { return recorder_ != nullptr; }
  // The traceparent the callee gets: this span as its parent.
  [[nodiscard]] std::string const& traceparent() const noexcept { return traceparent_; }

  void attribute(std::string key, std::string value) {
    if (active()) record_.attributes.emplace_back(std::move(key), std::move(value));
  }

  void end(bool error, std::string_view message = {}) {
    if (!active()) return;
    record_.end_unix_ns = trace::unix_now_ns();
    record_.error = error;
    record_.status_message = std::string{message};
    recorder_->record(std::move(record_));
    recorder_ = nullptr;
  }

 private:
  span_recorder const* recorder_ = nullptr;
  trace::span_record record_;
  std::string traceparent_;
};

// A replay store whose reservations are traced ("redis SET NX" client spans).
template <class Store>
class traced_replay_store {
 public:
  traced_replay_store(Store& inner, span_recorder const* recorder, std::string_view span_name)
      : inner_{&inner}, recorder_{recorder}, span_name_{span_name} {}

  auto reserve(std::string_view key, std::int64_t ttl_ms) { return inner_->reserve(key, ttl_ms); }

  boost::asio::awaitable<stages::reservation> reserve(std::string_view key, std::int64_t ttl_ms,
                                                      std::string_view traceparent)
    requires stages::is_asio_awaitable<decltype(std::declval<Store&>().reserve(key, ttl_ms))>
  {
    client_span span{recorder_, traceparent, span_name_};
    auto const r = co_await inner_->reserve(key, ttl_ms);
    span.attribute("edgepipe.reservation", r == stages::reservation::reserved          ? "reserved"
                                           : r == stages::reservation::already_reserved ? "already_reserved"
                                                                                        : "unavailable");
    span.end(r == stages::reservation::unavailable, r == stages::reservation::unavailable ? "replay_store_unavailable" : "");
    co_return r;
  }

  stages::reservation reserve(std::string_view key, std::int64_t ttl_ms, std::string_view traceparent)
    requires(!stages::is_asio_awaitable<decltype(std::declval<Store&>().reserve(key, ttl_ms))>)
  {
    client_span span{recorder_, traceparent, span_name_};
    auto const r = inner_->reserve(key, ttl_ms);
    span.end(r == stages::reservation::unavailable, r == stages::reservation::unavailable ? "replay_store_unavailable" : "");
    return r;
  }

 private:
  Store* inner_;
  span_recorder const* recorder_;
  std::string_view span_name_;
};

}  // namespace edgepipe::reference
