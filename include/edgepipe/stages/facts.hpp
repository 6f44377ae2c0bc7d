// The facts the verification stages establish, in the order the gateway's chain runs
// them (docs/wire-protocol.md).
#pragma once

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/trace/trace_context.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace edgepipe::stages {

// The chain's input: the decoded request message, owned by the caller for the whole run,
// and the W3C trace context to carry on to the backend (checked by the envelope stage:
// malformed values are dropped).
template <class Message>
struct received {
  Message const* message;
  std::string_view traceparent{};
  std::string_view tracestate{};
};

// A W3C traceparent the gateway may continue and forward; anything else is ignored.
constexpr bool valid_traceparent(std::string_view t) noexcept { return trace::parse_traceparent(t).has_value(); }

// The request's fields after every limit was checked. Views into the received message.
struct envelope {
  std::string_view device_session_id;
  std::string_view message_type;
  std::string_view payload;
  std::string_view payload_sha256;  // 32 bytes
  std::int64_t timestamp_ms = 0;
  std::string_view request_id;
  std::string_view signature;  // 64 bytes
  std::string_view traceparent;  // valid W3C trace context, or empty
  std::string_view tracestate;   // valid W3C tracestate (with a valid traceparent), or empty
};

// The device session, as the session source reported it; active.
struct session {
  std::string user_id;
  crypto::ed25519_public_key public_key{};
};

struct payload_verified {};    // SHA-256(payload) == payload_sha256
struct signature_verified {};  // the device key signed the request signing input
struct fresh {};               // the timestamp is within the freshness window
struct replay_reserved {};     // this (session, request id) was never seen before
struct rate_permitted {};      // the session's and user's buckets had a token

// The facts that make a request safe to act on: signed by its session's key, fresh, not a
// replay, within its rate. Routing and the subscription grant require them by default,
// though they read none of them, so no chain can run a command or open a stream before
// they are established.
using verified_request = facts<signature_verified, fresh, replay_reserved, rate_permitted>;

// What a routed command answers: the chain's outcome for ExecuteCommand. The routing
// stage fills result_code and payload; the response signer, an around stage, fills the rest.
struct response {
  std::string result_code;
  std::string payload;
  crypto::sha256_digest payload_sha256{};
  std::int64_t timestamp_ms = 0;
  std::string_view key_id;  // the signer's, which outlives every response
  crypto::ed25519_signature signature{};
};

}  // namespace edgepipe::stages
