// Event signing, beside response signing: what the gateway signs for each event it pushes
// to one subscriber, so a client can check every event came from the gateway, for its own
// session and subscription, and was not altered or moved to another stream.
#pragma once

#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/crypto/signing_input.hpp>

#include <cstdint>
#include <string_view>

namespace edgepipe::stages {

// One event for one subscriber. Views: the event and the subscription outlive it.
struct event_to_sign {
  std::string_view device_session_id;  // the subscriber's session
  std::string_view subscription_id;    // the SubscribeEvents request's id
  std::string_view event_id;
  std::string_view event_type;
  std::string_view payload;
};

// The signed event: the fields of event_to_sign it carries, and what signing added.
struct signed_event {
  std::string_view subscription_id;
  std::string_view event_id;
  std::string_view event_type;
  std::string_view payload;
  crypto::sha256_digest payload_sha256{};
  std::int64_t timestamp_ms = 0;  // the gateway's clock
  std::string_view key_id;        // the signer's, which outlives every event
  crypto::ed25519_signature signature{};
};

inline signed_event sign_event(crypto::ed25519_signer const& signer, std::int64_t now_ms, event_to_sign const& e) {
  signed_event out{e.subscription_id, e.event_id, e.event_type, e.payload, {}, now_ms, signer.key_id(), {}};
  crypto::sha256(e.payload, out.payload_sha256);
  out.signature = signer.sign_fields(crypto::event_signing_fields{e.device_session_id, e.subscription_id, e.event_id,
                                                                  e.event_type, now_ms,
                                                                  crypto::as_bytes(out.payload_sha256)});
  return out;
}

}  // namespace edgepipe::stages
