// The backend's push stream as the gateway reads it: gRPC frames of PushEvent, split
// anywhere, dispatched into a hub with live subscriptions. Nothing crashes; each
// subscription ends exactly when a model of the push rules says it must (slow_consumer
// when an event would take its queue past its event bound, or its queued bytes plus its
// transport backlog past its byte bound; session_revoked when invalidated), holds exactly
// the events and bytes the model says, and no event reaches a subscription of another
// user or device session.
#include <edgepipe/kit/push_event_decoder.hpp>

#include "fuzz_check.hpp"

#include <boost/asio/io_context.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

struct expected {
  std::size_t queued = 0;
  std::size_t bytes = 0;
  bool ended = false;
  std::string_view reason;
};

// What the transport holds for a subscription's stream, fixed for the run.
struct fixed_backlog {
  std::size_t bytes;
  [[nodiscard]] std::size_t queued_bytes() const noexcept { return bytes; }
};

bool matches(edgepipe::push::subscription const& s, std::string const& user, std::string const& device) {
  return s.user_id() == user && (device.empty() || device == s.device_session_id());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size < 1) return 0;
  static boost::asio::io_context io;
  // Small bounds, so the fuzzer reaches both: the first subscription meets its event bound
  // first, the others their byte bound (one of them with a transport backlog).
  std::array<edgepipe::push::queue_limits, 4> constexpr limits{{{4, 4096}, {4, 64}, {4, 40}, {4, 64}}};
  std::array<fixed_backlog, 4> const backlog{{{0}, {24}, {0}, {0}}};
  std::array<edgepipe::push::subscription, 4> subs{
      edgepipe::push::subscription{io.get_executor(), "u1", "d1", limits[0], edgepipe::push::backlog_probe{backlog[0]}},
      edgepipe::push::subscription{io.get_executor(), "u1", "d2", limits[1], edgepipe::push::backlog_probe{backlog[1]}},
      edgepipe::push::subscription{io.get_executor(), "u2", "d3", limits[2], edgepipe::push::backlog_probe{backlog[2]}},
      edgepipe::push::subscription{io.get_executor(), "", "", limits[3], edgepipe::push::backlog_probe{backlog[3]}},
  };
  edgepipe::push::hub hub;
  for (auto& s : subs) hub.add(s);
  std::array<expected, 4> model{};

  edgepipe::kit::metrics_registry metrics;
  edgepipe::kit::push_event_decoder decoder;
  std::size_t const piece = data[0] == 0 ? size : data[0];
  std::string_view const wire{reinterpret_cast<char const*>(data) + 1, size - 1};
  auto on_event = [&](edgepipe::push::v1::PushEvent const& e) {
    std::size_t predicted = 0;
    if (e.has_client_event() || e.has_session_invalidation()) {
      bool const deliver = e.has_client_event();
      auto const& user = deliver ? e.client_event().user_id() : e.session_invalidation().user_id();
      auto const& device = deliver ? e.client_event().device_session_id() : e.session_invalidation().device_session_id();
      auto const& c = e.client_event();
      std::size_t const bytes = c.event_id().size() + c.event_type().size() + c.payload().size();
      for (std::size_t i = 0; i < subs.size(); ++i) {
        if (!matches(subs[i], user, device)) continue;
        ++predicted;
        auto& m = model[i];
        if (m.ended) continue;
        if (!deliver) m = {0, 0, true, "session_revoked"};
        else if (m.queued + 1 > limits[i].events || m.bytes + backlog[i].bytes + bytes > limits[i].bytes)
          m = {0, 0, true, "slow_consumer"};
        else m = {m.queued + 1, m.bytes + bytes, false, {}};
      }
    }
    FUZZ_CHECK(edgepipe::kit::dispatch_push_event(e, hub, &metrics) == predicted);
  };
  for (std::size_t at = 0; at < wire.size(); at += piece)
    if (!decoder.feed(wire.substr(at, piece), on_event).ok()) break;  // the stream would be reopened

  for (std::size_t i = 0; i < subs.size(); ++i) {
    FUZZ_CHECK(subs[i].ended() == model[i].ended);
    if (model[i].ended) FUZZ_CHECK(subs[i].end_status().reason() == model[i].reason);
    FUZZ_CHECK(subs[i].queued_events() == model[i].queued);
    FUZZ_CHECK(subs[i].queued_bytes() == model[i].bytes);
  }
  return 0;
}
