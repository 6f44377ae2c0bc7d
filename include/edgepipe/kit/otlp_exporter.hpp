// The OTLP/HTTP trace exporter: finished spans wait in a bounded
// queue and leave in batches (by size or every second) as one protobuf POST to
// {EDGEPIPE_OTLP_ENDPOINT}/v1/traces, on the gateway's event loop, one at a time.
//
// A collector that is down, slow or answers garbage never affects requests: recording a
// span is a push onto the queue; when the queue is full the span is dropped and counted
// (edgepipe_trace_spans_dropped_total); an export waits at most `timeout`; 429 and 5xx
// are retried with backoff, then the batch is dropped and counted.
// Needs the generated code of proto/ (the edgepipe-proto dependency).
#pragma once

#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/trace/span.hpp>
#include <edgepipe/transport/http_client.hpp>

#include "otlp_trace.pb.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace edgepipe::kit {


struct otlp_exporter_options {
  std::size_t max_queued_spans = 8192;
  std::size_t batch_spans = 512;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{2000};
  int attempts = 3;  // per batch, with 200 ms doubling between them
};

class otlp_exporter : public std::enable_shared_from_this<otlp_exporter> {
 public:
  otlp_exporter(boost::asio::any_io_executor ex, transport::http_endpoint collector, metrics_registry* m, otlp_exporter_options o = {})
      : client_{ex, std::move(collector), {.max_connections = 1, .max_response_bytes = 64 * 1024}},
        timer_{ex},
        metrics_{m},
        options_{o} {}

  void start() {
    boost::asio::co_spawn(timer_.get_executor(), [self = shared_from_this()] { return self->run(); },
                          boost::asio::detached);
  }
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

  // The span sink the tracing observer and the adapters write to.
  void record(trace::span_record s) {
    if (queue_.size() >= options_.max_queued_spans) return dropped(1);
    queue_.push_back(std::move(s));
    if (queue_.size() >= options_.batch_spans && !exporting_) timer_.cancel();  // a full batch leaves now
  }

  [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }

 private:
  boost::asio::awaitable<void> run() {
    while (!stopped_) {
      if (queue_.size() < options_.batch_spans) {
        timer_.expires_after(options_.interval);
        (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      }
      while (!queue_.empty() && !stopped_) {
        std::size_t const n = std::min(queue_.size(), options_.batch_spans);
        std::string body = encode(n);
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        exporting_ = true;
        bool const sent = co_await send(std::move(body));
        exporting_ = false;
        if (sent) count(metric_names::spans_exported, n);
        else dropped(n);
      }
    }
  }

  boost::asio::awaitable<bool> send(std::string body) {
    namespace http = boost::beast::http;
    auto backoff = std::chrono::milliseconds{200};
    for (int attempt = 1; attempt <= options_.attempts && !stopped_; ++attempt) {
      transport::http_client::request req{http::verb::post, "/v1/traces", 11};
      req.set(http::field::content_type, "application/x-protobuf");
      req.body() = body;
      auto r = co_await client_.send(std::move(req), options_.timeout);
      if (r.error == transport::http_client::failure::none) {
        unsigned const s = r.res.result_int();
        if (s >= 200 && s < 300) co_return true;
        if (s != 429 && s < 500) co_return false;  // refused for good: retrying cannot help
      }
      if (attempt == options_.attempts) break;
      timer_.expires_after(backoff);
      (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      backoff *= 2;
    }
    co_return false;
  }

  std::string encode(std::size_t n) const {
    namespace otlp = opentelemetry::proto::trace::v1;
    otlp::ExportTraceServiceRequest request;
    auto* resource_spans = request.add_resource_spans();
    auto* service = resource_spans->mutable_resource()->add_attributes();
    service->set_key("service.name");
    service->mutable_value()->set_string_value("edgepipe-gateway");
    auto* scope_spans = resource_spans->add_scope_spans();
    scope_spans->mutable_scope()->set_name("edgepipe");
    for (std::size_t i = 0; i < n; ++i) {
      trace::span_record const& s = queue_[i];
      auto* span = scope_spans->add_spans();
      span->set_trace_id(s.trace.data(), s.trace.size());
      span->set_span_id(s.id.data(), s.id.size());
      if (s.parent != trace::span_id{}) span->set_parent_span_id(s.parent.data(), s.parent.size());
      span->set_flags(s.flags);
      span->set_name(s.name);
      span->set_kind(static_cast<otlp::Span::SpanKind>(s.kind));
      span->set_start_time_unix_nano(static_cast<std::uint64_t>(s.start_unix_ns));
      span->set_end_time_unix_nano(static_cast<std::uint64_t>(s.end_unix_ns));
      for (auto const& [k, v] : s.attributes) {
        auto* a = span->add_attributes();
        a->set_key(k);
        a->mutable_value()->set_string_value(v);
      }
      if (s.error) {
        span->mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
        span->mutable_status()->set_message(s.status_message);
      }
    }
    return request.SerializeAsString();
  }

  void dropped(std::size_t n) { count(metric_names::spans_dropped, n); }
  void count(char const* name, std::size_t n) {
    if (metrics_ != nullptr) metrics_->add(name, {}, static_cast<double>(n));
  }

  transport::http_client client_;
  boost::asio::steady_timer timer_;
  metrics_registry* metrics_;
  otlp_exporter_options options_;
  std::deque<trace::span_record> queue_;
  bool exporting_ = false;
  bool stopped_ = false;
};

}  // namespace edgepipe::kit
