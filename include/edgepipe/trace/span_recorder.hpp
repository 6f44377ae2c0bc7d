// Where finished spans go: an exporter's queue, or nowhere. Off by default, and then
// record() is never reached, because everything that checks `on()` first builds no span.
#pragma once

#include <edgepipe/trace/span.hpp>

#include <functional>
#include <utility>

namespace edgepipe::trace {

class span_recorder {
 public:
  span_recorder() = default;
  explicit span_recorder(std::function<void(span_record)> sink) : sink_{std::move(sink)} {}
  [[nodiscard]] bool on() const noexcept { return static_cast<bool>(sink_); }
  void record(span_record s) const { sink_(std::move(s)); }

 private:
  std::function<void(span_record)> sink_;
};

}  // namespace edgepipe::trace
