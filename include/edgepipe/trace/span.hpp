// A finished span, as the tracing observer and the gateway's adapters record it and an
// exporter ships it. Recording one allocates (names, attributes); nothing here runs when
// tracing is off.
#pragma once

#include <edgepipe/trace/trace_context.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace edgepipe::trace {

enum class span_kind : std::uint8_t { internal = 1, server = 2, client = 3 };

struct span_record {
  trace_id trace{};
  span_id id{};
  span_id parent{};  // all zero: a root span
  std::uint8_t flags = 0;
  std::string name;
  span_kind kind = span_kind::internal;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;
  bool error = false;
  std::string status_message;  // the rejection reason, for an error
  std::vector<std::pair<std::string, std::string>> attributes;
};

// Where finished spans go: a bounded exporter queue, a test's vector.
template <class Sink>
concept span_sink = requires(Sink& s, span_record r) { s.record(std::move(r)); };

inline std::int64_t unix_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace edgepipe::trace
