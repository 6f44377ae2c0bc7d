// A replay store whose reservations are traced: a client span per reservation, child of
// the request's span, when the request is traced. Wraps any store, sync or async.
#pragma once

#include <edgepipe/stages/adapter_call.hpp>
#include <edgepipe/stages/replay_store.hpp>
#include <edgepipe/trace/client_span.hpp>
#include <edgepipe/trace/span_recorder.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <string_view>
#include <utility>

namespace edgepipe::stores {

// Each reservation is a client span named `span_name`, with its outcome.
template <class Store>
class traced_replay_store {
 public:
  traced_replay_store(Store& inner, trace::span_recorder const* recorder, std::string_view span_name)
      : inner_{&inner}, recorder_{recorder}, span_name_{span_name} {}

  auto reserve(std::string_view key, std::int64_t ttl_ms) { return inner_->reserve(key, ttl_ms); }

  boost::asio::awaitable<stages::reservation> reserve(std::string_view key, std::int64_t ttl_ms,
                                                      std::string_view traceparent)
    requires stages::is_asio_awaitable<decltype(std::declval<Store&>().reserve(key, ttl_ms))>
  {
    trace::client_span span{recorder_, traceparent, span_name_};
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
    trace::client_span span{recorder_, traceparent, span_name_};
    auto const r = inner_->reserve(key, ttl_ms);
    span.end(r == stages::reservation::unavailable, r == stages::reservation::unavailable ? "replay_store_unavailable" : "");
    return r;
  }

 private:
  Store* inner_;
  trace::span_recorder const* recorder_;
  std::string_view span_name_;
};

}  // namespace edgepipe::stores
