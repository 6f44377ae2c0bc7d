// The contract's chain (edgepipe/kit/contract_chain.hpp) with every adapter synchronous and deterministic: a fixed device
// key and session, a fixed clock, the in-process replay store and a counting handler.
// Shared by the chain fuzzer, the tool that writes its seed corpus, and the benchmarks.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/contract_chain.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/stages/session.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>

#include "gateway.pb.h"

#include <string>

namespace contract_world {

namespace st = edgepipe::stages;
using request = edgepipe::gateway::v1::SignedRequest;

inline std::string const device_seed(32, '\x11');
inline std::string const gateway_seed(32, '\x22');
inline constexpr std::int64_t now_ms = 1'700'000'000'000;

struct fixed_sessions {
  std::string public_key_b64;
  st::session_answer find(std::string_view id) const {
    if (id == "dev-1") return {st::session_answer::outcome::found, "dev-1", "user-1", "active", public_key_b64};
    if (id == "dev-revoked") return {st::session_answer::outcome::found, "dev-revoked", "user-1", "revoked", public_key_b64};
    if (id == "dev-down") return {st::session_answer::outcome::unreachable, {}, {}, {}, {}};
    return {st::session_answer::outcome::not_found, {}, {}, {}, {}};
  }
};

struct counting_handler {
  int calls = 0;
  edgepipe::result<st::response> execute(st::command const& c) {
    ++calls;
    st::response r;
    r.result_code = "ok";
    r.payload = std::string(c.payload);
    return r;
  }
};

struct world {
  edgepipe::manual_clock clock{now_ms};
  edgepipe::crypto::ed25519_signer device_key = edgepipe::crypto::ed25519_signer::from_seed(device_seed, "device");
  edgepipe::crypto::ed25519_signer gateway_key = edgepipe::crypto::ed25519_signer::from_seed(gateway_seed, "k1");
  fixed_sessions sessions{edgepipe::crypto::to_base64(edgepipe::crypto::as_bytes(device_key.public_key()))};
  edgepipe::stores::memory_replay_store<edgepipe::manual_clock> replay{clock, 1024};
  edgepipe::stores::session_and_user_limiter limiter{{1000, 1000}, {1000, 1000}, 1024};
  counting_handler backend;
  st::route_table<counting_handler> routes;

  world() { routes.add("user", backend); }

  auto chain() {
    return edgepipe::kit::make_execute_chain<request>(edgepipe::kit::contract_parts{&sessions, &replay, &limiter, &clock},
                                                      gateway_key, routes);
  }

  // A request that passes every stage.
  request valid(std::string request_id = "req-0123456789abcdef") const {
    request r;
    r.set_protocol_version(1);
    r.set_device_session_id("dev-1");
    r.set_message_type("user.echo");
    r.set_payload("{\"text\":\"hello\"}");
    edgepipe::crypto::sha256_digest d;
    edgepipe::crypto::sha256(r.payload(), d);
    r.set_payload_sha256(std::string{edgepipe::crypto::as_bytes(d)});
    r.set_timestamp_ms(now_ms);
    r.set_request_id(std::move(request_id));
    sign(r);
    return r;
  }

  void sign(request& r) const {
    r.set_signature(std::string{edgepipe::crypto::as_bytes(device_key.sign_fields(edgepipe::crypto::request_signing_fields{
        r.device_session_id(), r.message_type(), r.request_id(), r.timestamp_ms(), r.payload_sha256()}))});
  }
};

}  // namespace contract_world
