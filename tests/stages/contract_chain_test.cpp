// Every row of the chain's failure table (each stage's code and reason), reached through the composed
// chain: the code, the reason, and proof that no later stage ran.
#include "gateway_fixture.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

using edgepipe::code;
using fixture::request;
namespace st = edgepipe::stages;

namespace {

std::vector<std::string> const contract_order{"envelope",  "session", "payload_hash",    "signature", "freshness",
                                              "replay",    "rate_limit", "response_signer", "routing"};

std::vector<std::string> stages_through(std::string const& last) {
  std::vector<std::string> out;
  for (auto const& s : contract_order) {
    out.push_back(s);
    if (s == last) break;
  }
  return out;
}

struct row {
  std::string name;
  std::function<void(fixture::gateway<>&, request&)> mutate;
  code expected_code;
  std::string reason;
  std::string failing_stage;
};

void resign(fixture::gateway<>& g, request& r) { fixture::sign(r, g.device_key); }

std::vector<row> failure_rows() {
  auto envelope = [](std::string name, std::function<void(request&)> f) {
    return row{"envelope: " + name, [f](auto&, request& r) { f(r); }, code::invalid_argument, "malformed_envelope",
               "envelope"};
  };
  return {
      envelope("protocol_version 2", [](request& r) { r.protocol_version_ = 2; }),
      envelope("protocol_version 0", [](request& r) { r.protocol_version_ = 0; }),
      envelope("empty device_session_id", [](request& r) { r.device_session_id_.clear(); }),
      envelope("129-byte device_session_id", [](request& r) { r.device_session_id_ = std::string(129, 'd'); }),
      envelope("device_session_id with '/'", [](request& r) { r.device_session_id_ = "dev/1"; }),
      envelope("empty message_type", [](request& r) { r.message_type_.clear(); }),
      envelope("upper-case message_type", [](request& r) { r.message_type_ = "User.echo"; }),
      envelope("empty segment", [](request& r) { r.message_type_ = "user..echo"; }),
      envelope("leading dot", [](request& r) { r.message_type_ = ".user"; }),
      envelope("trailing dot", [](request& r) { r.message_type_ = "user."; }),
      envelope("129-byte message_type", [](request& r) { r.message_type_ = std::string(129, 'u'); }),
      envelope("payload over the limit", [](request& r) { r.payload_ = std::string(1024 * 1024 + 1, 'p'); }),
      envelope("31-byte payload_sha256", [](request& r) { r.payload_sha256_.pop_back(); }),
      envelope("33-byte payload_sha256", [](request& r) { r.payload_sha256_.push_back('x'); }),
      envelope("15-byte request_id", [](request& r) { r.request_id_ = std::string(15, 'r'); }),
      envelope("65-byte request_id", [](request& r) { r.request_id_ = std::string(65, 'r'); }),
      envelope("request_id with '+'", [](request& r) { r.request_id_ = "req+0123456789abcdef"; }),
      envelope("63-byte signature", [](request& r) { r.signature_.pop_back(); }),
      envelope("empty signature", [](request& r) { r.signature_.clear(); }),

      {"session: unknown", [](auto&, request& r) { r.device_session_id_ = "dev-unknown"; }, code::unauthenticated,
       "session_not_found", "session"},
      {"session: revoked",
       [](auto& g, request&) { g.add_session("dev-1", "user-1", g.device_key, "revoked"); }, code::unauthenticated,
       "session_revoked", "session"},
      {"session: backend unreachable",
       [](auto& g, request&) { g.sessions.answers["dev-1"].kind = st::session_answer::outcome::unreachable; },
       code::unavailable, "backend_unavailable", "session"},
      {"session: malformed body",
       [](auto& g, request&) { g.sessions.answers["dev-1"].kind = st::session_answer::outcome::malformed; },
       code::internal, "backend_bad_response", "session"},
      {"session: key not base64", [](auto& g, request&) { g.sessions.answers["dev-1"].public_key = "%%%"; },
       code::internal, "backend_bad_response", "session"},
      {"session: 31-byte key",
       [](auto& g, request&) { g.sessions.answers["dev-1"].public_key = edgepipe::crypto::to_base64(std::string(31, 'k')); },
       code::internal, "backend_bad_response", "session"},
      {"session: unknown status", [](auto& g, request&) { g.sessions.answers["dev-1"].status = "paused"; },
       code::internal, "backend_bad_response", "session"},
      {"session: empty user id", [](auto& g, request&) { g.sessions.answers["dev-1"].user_id.clear(); },
       code::internal, "backend_bad_response", "session"},
      {"session: answer for another session",
       [](auto& g, request&) { g.sessions.answers["dev-1"].device_session_id = "dev-2"; }, code::internal,
       "backend_bad_response", "session"},

      {"payload-hash: payload changed after signing", [](auto&, request& r) { r.payload_ += " "; },
       code::invalid_argument, "payload_hash_mismatch", "payload_hash"},
      {"payload-hash: hash changed", [](auto&, request& r) { r.payload_sha256_[0] ^= 1; }, code::invalid_argument,
       "payload_hash_mismatch", "payload_hash"},

      {"signature: another device's key",
       [](auto& g, request& r) { fixture::sign(r, g.gateway_key); }, code::unauthenticated, "signature_invalid",
       "signature"},
      {"signature: flipped bit", [](auto&, request& r) { r.signature_[10] ^= 0x20; }, code::unauthenticated,
       "signature_invalid", "signature"},
      {"signature: message_type changed", [](auto&, request& r) { r.message_type_ = "user.echp"; },
       code::unauthenticated, "signature_invalid", "signature"},
      {"signature: request_id changed", [](auto&, request& r) { r.request_id_[5] ^= 1; }, code::unauthenticated,
       "signature_invalid", "signature"},
      {"signature: timestamp changed", [](auto&, request& r) { r.timestamp_ms_ += 1; }, code::unauthenticated,
       "signature_invalid", "signature"},
      {"signature: payload and hash replaced consistently",
       [](auto&, request& r) {
         r.payload_ = "{\"text\":\"bye\"}";
         r.payload_sha256_ = fixture::sha256_of(r.payload_);
       },
       code::unauthenticated, "signature_invalid", "signature"},
      {"signature: device_session_id changed to another session of the same key",
       [](auto& g, request& r) {
         g.add_session("dev-2", "user-1", g.device_key);
         r.device_session_id_ = "dev-2";
       },
       code::unauthenticated, "signature_invalid", "signature"},

      {"freshness: 60001 ms old",
       [](auto& g, request& r) {
         r.timestamp_ms_ = g.clock.now_ms() - 60'001;
         resign(g, r);
       },
       code::unauthenticated, "stale_request", "freshness"},
      {"freshness: 60001 ms ahead",
       [](auto& g, request& r) {
         r.timestamp_ms_ = g.clock.now_ms() + 60'001;
         resign(g, r);
       },
       code::unauthenticated, "stale_request", "freshness"},
      {"freshness: the most negative timestamp",
       [](auto& g, request& r) {
         r.timestamp_ms_ = INT64_MIN;
         resign(g, r);
       },
       code::unauthenticated, "stale_request", "freshness"},
      {"freshness: the largest timestamp",
       [](auto& g, request& r) {
         r.timestamp_ms_ = INT64_MAX;
         resign(g, r);
       },
       code::unauthenticated, "stale_request", "freshness"},

      {"routing: no route", [](auto& g, request& r) {
         r.message_type_ = "billing.charge";
         resign(g, r);
       },
       code::not_found, "route_not_found", "routing"},
      {"routing: gateway.* is never routed", [](auto& g, request& r) {
         r.message_type_ = "gateway.subscribe_events";
         resign(g, r);
       },
       code::not_found, "route_not_found", "routing"},
  };
}

}  // namespace

TEST_CASE("every failure of the contract's table stops the chain at its stage", "[stages][contract]") {
  for (row const& r : failure_rows()) {
    DYNAMIC_SECTION(r.name) {
      fixture::gateway<> g;
      auto const chain = g.chain();
      request req = g.valid();
      r.mutate(g, req);
      fixture::recording_observer observer;

      auto outcome = g.run(chain, req, observer);

      REQUIRE_FALSE(outcome.has_value());
      CHECK(outcome.error().code() == r.expected_code);
      CHECK(outcome.error().reason() == r.reason);
      CHECK(observer.started == stages_through(r.failing_stage));
      CHECK(g.backend.calls == 0);
      // The detail never repeats what the client sent.
      if (req.device_session_id().size() > 1)
        CHECK(outcome.error().detail().find(req.device_session_id()) == std::string_view::npos);
    }
  }
}

TEST_CASE("a valid request runs every stage once and gets a response signed by the gateway", "[stages][contract]") {
  fixture::gateway<> g;
  auto const chain = g.chain();
  request const req = g.valid();
  fixture::recording_observer observer;

  auto outcome = g.run(chain, req, observer);

  REQUIRE(outcome.has_value());
  CHECK(observer.started == contract_order);
  CHECK(g.backend.calls == 1);
  CHECK(g.backend.user_ids == std::vector<std::string>{"user-1"});
  CHECK(outcome->result_code == "ok");
  CHECK(outcome->payload == "echo:{\"text\":\"hi\"}");
  CHECK(outcome->timestamp_ms == g.clock.now_ms());
  CHECK(outcome->key_id == "k1");
  CHECK(std::string{edgepipe::crypto::as_bytes(outcome->payload_sha256)} == fixture::sha256_of(outcome->payload));

  std::string input;
  edgepipe::crypto::append_signing_input(
      input, edgepipe::crypto::response_signing_fields{"dev-1", req.request_id(), outcome->result_code,
                                                       outcome->timestamp_ms,
                                                       edgepipe::crypto::as_bytes(outcome->payload_sha256)});
  CHECK(edgepipe::crypto::ed25519_verify(edgepipe::crypto::as_bytes(outcome->signature), input,
                                         edgepipe::crypto::as_bytes(g.gateway_key.public_key())));
  // ...and by no other key.
  CHECK_FALSE(edgepipe::crypto::ed25519_verify(edgepipe::crypto::as_bytes(outcome->signature), input,
                                               edgepipe::crypto::as_bytes(g.device_key.public_key())));
}

TEST_CASE("timestamps exactly at the window's edges are fresh", "[stages][contract]") {
  for (std::int64_t offset : {-60'000, 60'000}) {
    fixture::gateway<> g;
    auto const chain = g.chain();
    request req = g.valid("req-edge-0123456789");
    req.timestamp_ms_ = g.clock.now_ms() + offset;
    fixture::sign(req, g.device_key);
    fixture::recording_observer observer;
    CHECK(g.run(chain, req, observer).has_value());
  }
}

TEST_CASE("a request replayed within the window is rejected and never executed twice", "[stages][contract]") {
  fixture::gateway<> g;
  auto const chain = g.chain();
  request const req = g.valid();
  fixture::recording_observer first, second;
  REQUIRE(g.run(chain, req, first).has_value());

  g.clock.advance(30'000);  // still fresh
  auto replayed = g.run(chain, req, second);
  REQUIRE_FALSE(replayed.has_value());
  CHECK(replayed.error().code() == code::already_exists);
  CHECK(replayed.error().reason() == "replayed_request");
  CHECK(second.started == stages_through("replay"));
  CHECK(g.backend.calls == 1);

  fixture::recording_observer other;
  CHECK(g.run(chain, g.valid("req-another-0123456789"), other).has_value());  // a fresh id passes
}

TEST_CASE("a replay store that cannot answer fails the request closed", "[stages][contract]") {
  fixture::gateway<fixture::scripted_replay_store> g;
  auto const chain = g.chain();
  fixture::recording_observer observer;
  auto outcome = g.run(chain, g.valid(), observer);
  REQUIRE_FALSE(outcome.has_value());
  CHECK(outcome.error().code() == code::unavailable);
  CHECK(outcome.error().reason() == "replay_store_unavailable");
  CHECK(observer.started == stages_through("replay"));
  CHECK(g.backend.calls == 0);
}

TEST_CASE("past the session's burst a request is rate limited with a retry hint", "[stages][contract]") {
  fixture::gateway<> g{{1, 2}, {50, 100}};  // 1/s, burst 2 per session
  auto const chain = g.chain();
  fixture::recording_observer o1, o2, o3;
  REQUIRE(g.run(chain, g.valid("req-burst-000000001"), o1).has_value());
  REQUIRE(g.run(chain, g.valid("req-burst-000000002"), o2).has_value());
  auto limited = g.run(chain, g.valid("req-burst-000000003"), o3);
  REQUIRE_FALSE(limited.has_value());
  CHECK(limited.error().code() == code::resource_exhausted);
  CHECK(limited.error().reason() == "rate_limited");
  CHECK(limited.error().retry_after_ms() == 1000);
  CHECK(o3.started == stages_through("rate_limit"));
  CHECK(g.backend.calls == 2);

  g.clock.advance(1000);  // one token back
  fixture::recording_observer o4;
  CHECK(g.run(chain, g.valid("req-burst-000000004"), o4).has_value());
}

TEST_CASE("the user's bucket spans all of the user's sessions", "[stages][contract]") {
  fixture::gateway<> g{{20, 40}, {1, 1}};  // the user may make one request
  auto const chain = g.chain();
  auto second_key = edgepipe::crypto::ed25519_signer::from_seed(std::string(32, '\x07'), "device-2");
  g.add_session("dev-2", "user-1", second_key);
  fixture::recording_observer o1, o2;
  REQUIRE(g.run(chain, g.valid("req-user-0000000001"), o1).has_value());

  request other = g.valid("req-user-0000000002");
  other.device_session_id_ = "dev-2";
  fixture::sign(other, second_key);
  auto limited = g.run(chain, other, o2);
  REQUIRE_FALSE(limited.has_value());
  CHECK(limited.error().reason() == "rate_limited");
}

TEST_CASE("a route table refuses the gateway namespace and malformed routes", "[stages][routing]") {
  fixture::counting_handler h;
  st::route_table<fixture::counting_handler> routes;
  CHECK_THROWS(routes.add("gateway", h));
  CHECK_THROWS(routes.add("user.echo", h));
  CHECK_THROWS(routes.add("", h));
  CHECK_THROWS(routes.add("User", h));
  routes.add("user", h);
  CHECK_THROWS(routes.add("user", h));
  CHECK(routes.find("user.echo") == &h);
  CHECK(routes.find("user") == &h);
  CHECK(routes.find("users.echo") == nullptr);
  CHECK(routes.find("gateway.subscribe_events") == nullptr);
}
