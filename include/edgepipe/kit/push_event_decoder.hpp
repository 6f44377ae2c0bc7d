// The backend's push stream as data: gRPC frames of PushEvent in, hub deliveries out.
// Kept apart from the socket (backend_push_client.hpp) so the fuzzer reaches all of it.
// Needs the generated code of proto/ (the edgepipe-proto dependency).
#pragma once

#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>

#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/push/dispatcher.hpp>
#include <edgepipe/push/hub.hpp>
#include <edgepipe/status.hpp>

#include "push.pb.h"

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>

namespace edgepipe::kit {

// Splits the stream into PushEvents. A message that does not parse as one is skipped
// (counted); a broken frame is an error, and the caller reopens the stream.
class push_event_decoder {
 public:
  template <class OnEvent>
  status feed(std::string_view bytes, OnEvent&& on_event) {
    return frames_.feed(bytes, [&](protocol::frame_view f) {
      if ((f.flags & protocol::flag_compressed) != 0) ++skipped_;
      else message(f.message, on_event);
      return status{};
    });
  }

  // One message, already out of its frame (the h2c client unframes the stream).
  template <class OnEvent>
  void message(std::string_view bytes, OnEvent&& on_event) {
    edgepipe::push::v1::PushEvent event;
    if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      ++skipped_;
      return;
    }
    on_event(static_cast<edgepipe::push::v1::PushEvent const&>(event));
  }

  // Messages that were not PushEvents (we never ask for compression, so a compressed
  // one is not either).
  [[nodiscard]] std::size_t skipped() const noexcept { return skipped_; }

 private:
  protocol::frame_decoder frames_{{protocol::flag_compressed, protocol::default_max_message_size, false}};
  std::size_t skipped_ = 0;
};

namespace detail {
inline void count_push_event(metrics_registry* m, char const* kind, std::size_t reached) {
  if (m != nullptr) m->add(metric_names::push_events, {{"kind", kind}, {"result", reached ? "delivered" : "no_subscriber"}});
}
}  // namespace detail

// One event to the hub: a client event goes to the user's matching subscriptions, an
// invalidation ends them. Counted in edgepipe_push_events_total{kind,result}. Returns how
// many subscriptions it reached.
inline std::size_t dispatch_push_event(edgepipe::push::v1::PushEvent const& e, push::hub& hub, metrics_registry* m) {
  std::size_t reached = 0;
  if (e.has_client_event()) {
    auto const& c = e.client_event();
    // Built once: every matching subscription's queue holds this one copy.
    auto const pushed = std::make_shared<push::event const>(push::event{c.event_id(), c.event_type(), c.payload()});
    reached = hub.deliver(c.user_id(), c.device_session_id(), pushed);
    detail::count_push_event(m, "client_event", reached);
  } else if (e.has_session_invalidation()) {
    auto const& v = e.session_invalidation();
    reached = hub.invalidate(v.user_id(), v.device_session_id());
    detail::count_push_event(m, "session_invalidation", reached);
  }
  return reached;  // an event kind newer than this gateway reaches nobody
}

// The same across workers: every worker's hub gets the event (built once) or the
// invalidation, and the count is made on `home` in `m` (that worker's registry) once all
// have answered.
inline void dispatch_push_event(edgepipe::push::v1::PushEvent const& e, push::dispatcher& hubs,
                                boost::asio::any_io_executor home, metrics_registry* m) {
  if (e.has_client_event()) {
    auto const& c = e.client_event();
    auto pushed = std::make_shared<push::event const>(push::event{c.event_id(), c.event_type(), c.payload()});
    hubs.deliver(std::move(home), c.user_id(), c.device_session_id(), std::move(pushed),
                 [m](std::size_t reached) { detail::count_push_event(m, "client_event", reached); });
  } else if (e.has_session_invalidation()) {
    auto const& v = e.session_invalidation();
    hubs.invalidate(std::move(home), v.user_id(), v.device_session_id(),
                    [m](std::size_t ended) { detail::count_push_event(m, "session_invalidation", ended); });
  }
}

}  // namespace edgepipe::kit
