// A client span: one outgoing call (a backend request, a store command) traced as a
// child of the request's span, with the traceparent the callee should get.
#pragma once

#include <edgepipe/trace/span.hpp>
#include <edgepipe/trace/span_recorder.hpp>
#include <edgepipe/trace/trace_context.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::trace {

// One outgoing call, traced when a recorder is on and the request has a trace (its
// traceparent names the call's span as parent). Inactive otherwise: no clock, no id.
class client_span {
 public:
  client_span(span_recorder const* recorder, std::string_view traceparent, std::string_view name) {
    if (recorder == nullptr || !recorder->on()) return;
    auto parent = parse_traceparent(traceparent);
    if (!parent) return;
    recorder_ = recorder;
    record_.trace = parent->trace;
    record_.parent = parent->parent;
    record_.flags = parent->flags;
    record_.id = new_span_id();
    record_.kind = span_kind::client;
    record_.name = std::string{name};
    record_.start_unix_ns = unix_now_ns();
    traceparent_ = format_traceparent(record_.trace, record_.id, record_.flags);
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
    record_.end_unix_ns = unix_now_ns();
    record_.error = error;
    record_.status_message = std::string{message};
    recorder_->record(std::move(record_));
    recorder_ = nullptr;
  }

 private:
  span_recorder const* recorder_ = nullptr;
  span_record record_;
  std::string traceparent_;
};

}  // namespace edgepipe::trace
