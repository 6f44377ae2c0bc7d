// Stage 1, envelope: every field of the request within its limits (protocol version 1,
// id and type grammars and lengths, 32-byte digest, 64-byte signature, payload size).
#pragma once

#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edgepipe::stages {

// Any decoded request with the accessors of edgepipe.gateway.v1.SignedRequest, such as
// the class protoc generates for it.
template <class M>
concept signed_request_message = requires(M const& m) {
  { m.protocol_version() } -> std::convertible_to<std::uint32_t>;
  { m.device_session_id() } -> std::convertible_to<std::string_view>;
  { m.message_type() } -> std::convertible_to<std::string_view>;
  { m.payload() } -> std::convertible_to<std::string_view>;
  { m.payload_sha256() } -> std::convertible_to<std::string_view>;
  { m.timestamp_ms() } -> std::convertible_to<std::int64_t>;
  { m.request_id() } -> std::convertible_to<std::string_view>;
  { m.signature() } -> std::convertible_to<std::string_view>;
};

struct envelope_limits {
  std::size_t max_payload_bytes = 1024 * 1024;
  // When set, the only message type accepted (SubscribeEvents: "gateway.subscribe_events").
  std::string_view required_message_type{};
};

namespace envelope_rules {
inline constexpr std::uint32_t protocol_version = 1;

constexpr bool session_id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}
constexpr bool request_id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
constexpr bool message_type_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

constexpr bool valid_device_session_id(std::string_view s) noexcept {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!session_id_char(c)) return false;
  return true;
}
constexpr bool valid_request_id(std::string_view s) noexcept {
  if (s.size() < 16 || s.size() > 64) return false;
  for (char c : s)
    if (!request_id_char(c)) return false;
  return true;
}
// [a-z0-9_]+ segments joined by '.', 1..128 bytes.
constexpr bool valid_message_type(std::string_view s) noexcept {
  if (s.empty() || s.size() > 128) return false;
  bool segment_empty = true;
  for (char c : s) {
    if (c == '.') {
      if (segment_empty) return false;
      segment_empty = true;
    } else if (message_type_char(c)) {
      segment_empty = false;
    } else {
      return false;
    }
  }
  return !segment_empty;
}
}  // namespace envelope_rules

// Requires received<Message>; adds envelope. Fails with invalid_argument ·
// malformed_envelope, the detail naming the first field out of bounds.
template <signed_request_message Message>
struct envelope_stage {
  using stage_concept = stage_tag;
  using requires_facts = facts<received<Message>>;
  using provides_fact = envelope;
  static constexpr std::string_view name = "envelope";

  envelope_limits limits{};

  static constexpr status malformed(std::string_view detail) noexcept {
    return status{code::invalid_argument, "malformed_envelope", detail};
  }

  result<envelope> operator()(auto const& ctx) const noexcept {
    auto const& in = get<received<Message>>(ctx);
    Message const& m = *in.message;
    using namespace envelope_rules;
    if (m.protocol_version() != protocol_version) return malformed("protocol_version must be 1");
    bool const traced = valid_traceparent(in.traceparent);
    envelope e{m.device_session_id(), m.message_type(), m.payload(),  m.payload_sha256(),
               m.timestamp_ms(),      m.request_id(),   m.signature(),
               traced ? in.traceparent : std::string_view{},
               traced && trace::valid_tracestate(in.tracestate) ? in.tracestate : std::string_view{}};
    if (!valid_device_session_id(e.device_session_id))
      return malformed("device_session_id must be 1..128 bytes of [A-Za-z0-9._:-]");
    if (!valid_message_type(e.message_type))
      return malformed("message_type must be 1..128 bytes of [a-z0-9_] segments joined by '.'");
    if (!limits.required_message_type.empty() && e.message_type != limits.required_message_type)
      return malformed("message_type not accepted by this procedure");
    if (e.payload.size() > limits.max_payload_bytes) return malformed("payload too large");
    if (e.payload_sha256.size() != 32) return malformed("payload_sha256 must be 32 bytes");
    if (!valid_request_id(e.request_id)) return malformed("request_id must be 16..64 bytes of [A-Za-z0-9_-]");
    if (e.signature.size() != 64) return malformed("signature must be 64 bytes");
    return e;
  }
};

}  // namespace edgepipe::stages
