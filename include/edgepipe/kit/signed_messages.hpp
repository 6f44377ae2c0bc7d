// The signed facts as wire messages: a chain's signed response and a signed event, copied
// into the classes protoc generates for edgepipe.gateway.v1.SignedResponse and SignedEvent
// (or any message with the same setters).
#pragma once

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/stages/event_signer.hpp>
#include <edgepipe/stages/facts.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::kit {

template <class M>
concept signed_response_message = requires(M m, std::string s, std::int64_t t) {
  m.set_request_id(s);
  m.set_result_code(std::move(s));
  m.set_payload(std::move(s));
  m.set_payload_sha256(s);
  m.set_timestamp_ms(t);
  m.set_key_id(s);
  m.set_signature(s);
};

template <class M>
concept signed_event_message = requires(M m, std::string s, std::int64_t t) {
  m.set_subscription_id(s);
  m.set_event_id(s);
  m.set_event_type(s);
  m.set_payload(s);
  m.set_payload_sha256(s);
  m.set_timestamp_ms(t);
  m.set_key_id(s);
  m.set_signature(s);
};

// The response's strings move into the message; the rest is copied.
template <signed_response_message Message>
Message to_signed_response(std::string_view request_id, stages::response&& r) {
  Message out;
  out.set_request_id(std::string{request_id});
  out.set_result_code(std::move(r.result_code));
  out.set_payload(std::move(r.payload));
  out.set_payload_sha256(std::string{crypto::as_bytes(r.payload_sha256)});
  out.set_timestamp_ms(r.timestamp_ms);
  out.set_key_id(std::string{r.key_id});
  out.set_signature(std::string{crypto::as_bytes(r.signature)});
  return out;
}

template <signed_event_message Message>
Message to_signed_event(stages::signed_event const& e) {
  Message out;
  out.set_event_id(std::string{e.event_id});
  out.set_event_type(std::string{e.event_type});
  out.set_payload(std::string{e.payload});
  out.set_payload_sha256(std::string{crypto::as_bytes(e.payload_sha256)});
  out.set_timestamp_ms(e.timestamp_ms);
  out.set_subscription_id(std::string{e.subscription_id});
  out.set_key_id(std::string{e.key_id});
  out.set_signature(std::string{crypto::as_bytes(e.signature)});
  return out;
}

}  // namespace edgepipe::kit
