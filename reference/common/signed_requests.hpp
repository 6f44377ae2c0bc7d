// A device's side of request signing (crypto/signing_input.hpp): fresh request ids and signed
// requests, for the CLI and the load generator.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/crypto/signing_input.hpp>

#include "gateway.pb.h"

#include <cstdint>
#include <random>
#include <string>

namespace edgepipe::reference {

// 28 characters of [A-Za-z0-9-]: "req-" and 24 random ones.
inline std::string fresh_request_id() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device rd;
  std::string id = "req-";
  for (int i = 0; i < 24; ++i) id.push_back(alphabet[rd() % (sizeof alphabet - 1)]);
  return id;
}

inline gateway::v1::SignedRequest sign_request(crypto::ed25519_signer const& key, std::string const& session,
                                               std::string const& type, std::string const& payload,
                                               std::string request_id = fresh_request_id(),
                                               std::int64_t timestamp_ms = system_clock{}.now_ms()) {
  gateway::v1::SignedRequest r;
  r.set_protocol_version(1);
  r.set_device_session_id(session);
  r.set_message_type(type);
  r.set_payload(payload);
  crypto::sha256_digest digest;
  crypto::sha256(r.payload(), digest);
  r.set_payload_sha256(std::string{crypto::as_bytes(digest)});
  r.set_timestamp_ms(timestamp_ms);
  r.set_request_id(std::move(request_id));
  r.set_signature(std::string{crypto::as_bytes(key.sign_fields(crypto::request_signing_fields{
      r.device_session_id(), r.message_type(), r.request_id(), r.timestamp_ms(), r.payload_sha256()}))});
  return r;
}

}  // namespace edgepipe::reference
