// Stage 3, payload-hash: the payload is the one the client hashed.
#pragma once

#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <string_view>

namespace edgepipe::stages {

// Requires envelope; adds payload_verified. SHA-256(payload) compared in constant time
// with payload_sha256; a mismatch is invalid_argument · payload_hash_mismatch.
struct payload_hash_stage {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope>;
  using provides_fact = payload_verified;
  static constexpr std::string_view name = "payload_hash";

  result<payload_verified> operator()(auto const& ctx) const noexcept {
    auto const& e = get<envelope>(ctx);
    crypto::sha256_digest digest;
    if (!crypto::sha256(e.payload, digest)) return status{code::internal, "hash_failed"};
    if (!crypto::digest_equals(digest, e.payload_sha256))
      return status{code::invalid_argument, "payload_hash_mismatch"};
    return payload_verified{};
  }
};

}  // namespace edgepipe::stages
