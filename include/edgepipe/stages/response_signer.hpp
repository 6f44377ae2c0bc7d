// The response signer: an around stage that signs whatever response the rest of the
// chain produced, so no path can return an unsigned success.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/crypto/signing_input.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <cstdint>
#include <string_view>

namespace edgepipe::stages {

struct response_signing_armed {};

// Fills payload_sha256, timestamp_ms (the gateway's clock), key_id and signature of a
// successful response; failures pass through unsigned (they are statuses, not responses).
inline void sign_response(crypto::ed25519_signer const& signer, std::int64_t now_ms,
                          std::string_view device_session_id, std::string_view request_id, response& r) {
  crypto::sha256(r.payload, r.payload_sha256);
  r.timestamp_ms = now_ms;
  r.key_id = signer.key_id();
  r.signature = signer.sign_fields(crypto::response_signing_fields{
      device_session_id, request_id, r.result_code, r.timestamp_ms, crypto::as_bytes(r.payload_sha256)});
}

// Requires envelope; adds response_signing_armed. Place it before the stage that
// produces the response (routing); it signs on the way out.
template <unix_clock Clock>
struct response_signer_stage {
  using stage_concept = around_stage_tag;
  using requires_facts = facts<envelope>;
  using provides_fact = response_signing_armed;
  static constexpr std::string_view name = "response_signer";

  crypto::ed25519_signer const* signer;
  Clock const* clock;

  result<response_signing_armed> operator()(auto const&) const noexcept { return response_signing_armed{}; }

  void leave(auto const& ctx, response_signing_armed&, result<response>& outcome) const {
    if (!outcome) return;
    auto const& e = get<envelope>(ctx);
    sign_response(*signer, clock->now_ms(), e.device_session_id, e.request_id, *outcome);
  }
};

}  // namespace edgepipe::stages
