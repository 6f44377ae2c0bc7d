// Serving a granted subscription: the stream joins the push hub, gets the
// "gateway.subscribed" event first, then every event the hub hands it, each signed for this
// subscriber, until the hub ends it (revoked, slow consumer, draining) or the client leaves.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/signed_messages.hpp>
#include <edgepipe/push/hub.hpp>
#include <edgepipe/stages/event_signer.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/transport/call_context.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <random>
#include <string>
#include <string_view>

namespace edgepipe::kit {

inline constexpr std::string_view subscribed_event_type = "gateway.subscribed";

// Who the stream is for. Views: the request outlives the stream.
struct subscriber {
  std::string user_id;                 // from the chain's subscription_grant
  std::string_view device_session_id;  // the request's session
  std::string_view subscription_id;    // the request's id
};

// "evt_" and 64 random bits in decimal: unique enough to tell a client's events apart.
inline std::string new_event_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return "evt_" + std::to_string(rng());
}

// Returns how the stream ended: the hub's status, `canceled` when the client left, or a
// failed write's status.
template <signed_event_message Message, unix_clock Clock>
boost::asio::awaitable<status> serve_signed_events(boost::asio::any_io_executor ex, push::hub& hub, subscriber who,
                                                   transport::message_writer<Message>& out,
                                                   crypto::ed25519_signer const& signer, Clock const& clock,
                                                   push::queue_limits limits) {
  if (hub.is_draining()) co_return push::draining;
  // Bounded in bytes wherever they wait: queued here, or written to `out` but not yet sent.
  push::subscription sub{ex, who.user_id, std::string{who.device_session_id}, limits, push::backlog_probe{out}};
  hub.add(sub);
  struct leave_hub {
    push::hub& h;
    push::subscription& s;
    ~leave_hub() { h.remove(s); }
  } const guard{hub, sub};
  auto const sign = [&](std::string_view id, std::string_view type, std::string_view payload) {
    stages::event_to_sign const e{who.device_session_id, who.subscription_id, id, type, payload};
    return to_signed_event<Message>(stages::sign_event(signer, clock.now_ms(), e));
  };
  // Named, not braced temporaries inside co_await: g++ 12 destroys those twice.
  std::string const first_id = new_event_id();
  Message const first = sign(first_id, subscribed_event_type, "");
  if (status const s = co_await out.write(first); !s.ok()) co_return s;
  for (;;) {
    auto e = co_await sub.next();
    if (!e) {
      status const end = sub.ended() ? sub.end_status() : status{code::canceled, "canceled"};
      co_return end;
    }
    Message const signed_event = sign(e->event_id, e->event_type, e->payload);
    e.reset();  // the signed copy is what waits from here; the shared event may go
    if (status const s = co_await out.write(signed_event); !s.ok()) co_return s;
  }
}

}  // namespace edgepipe::kit
