// Stage 4, signature: the session's device key signed this exact request.
#pragma once

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/signing_input.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <string_view>

namespace edgepipe::stages {

// Requires envelope, session and payload_verified (a signature over a hash vouches for the
// payload only once the hash matches it); adds signature_verified. Strict Ed25519 over
// the request signing input; any failure is unauthenticated · signature_invalid.
struct signature_stage {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope, session, payload_verified>;
  using provides_fact = signature_verified;
  static constexpr std::string_view name = "signature";

  static constexpr status invalid{code::unauthenticated, "signature_invalid"};

  result<signature_verified> operator()(auto const& ctx) const noexcept {
    auto const& e = get<envelope>(ctx);
    crypto::fixed_buffer<crypto::max_request_signing_input> input;
    crypto::append_signing_input(
        input, crypto::request_signing_fields{e.device_session_id, e.message_type, e.request_id, e.timestamp_ms,
                                              e.payload_sha256});
    if (input.overflow()) return invalid;  // only reachable when the envelope limits were bypassed
    if (!crypto::ed25519_verify(e.signature, input.view(), crypto::as_bytes(get<session>(ctx).public_key)))
      return invalid;
    return signature_verified{};
  }
};

}  // namespace edgepipe::stages
