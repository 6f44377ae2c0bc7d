// The kit's pieces over the test fixture's adapters: the subscribe chain, the stage metrics
// observer, event signing and the mapping of signed facts to messages.
#include "../stages/gateway_fixture.hpp"

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/signing_input.hpp>
#include <edgepipe/kit/contract_chain.hpp>
#include <edgepipe/kit/contract_service.hpp>
#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/kit/signed_messages.hpp>
#include <edgepipe/kit/stage_metrics.hpp>
#include <edgepipe/stages/event_signer.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace asio = boost::asio;
using edgepipe::code;
using fixture::request;

namespace {

// Shaped like the classes protoc generates for SignedResponse and SignedEvent.
struct response_message {
  std::string request_id, result_code, payload, payload_sha256, key_id, signature;
  std::int64_t timestamp_ms = 0;
  void set_request_id(std::string v) { request_id = std::move(v); }
  void set_result_code(std::string v) { result_code = std::move(v); }
  void set_payload(std::string v) { payload = std::move(v); }
  void set_payload_sha256(std::string v) { payload_sha256 = std::move(v); }
  void set_timestamp_ms(std::int64_t v) { timestamp_ms = v; }
  void set_key_id(std::string v) { key_id = std::move(v); }
  void set_signature(std::string v) { signature = std::move(v); }
};
struct event_message {
  std::string subscription_id, event_id, event_type, payload, payload_sha256, key_id, signature;
  std::int64_t timestamp_ms = 0;
  void set_subscription_id(std::string v) { subscription_id = std::move(v); }
  void set_event_id(std::string v) { event_id = std::move(v); }
  void set_event_type(std::string v) { event_type = std::move(v); }
  void set_payload(std::string v) { payload = std::move(v); }
  void set_payload_sha256(std::string v) { payload_sha256 = std::move(v); }
  void set_timestamp_ms(std::int64_t v) { timestamp_ms = v; }
  void set_key_id(std::string v) { key_id = std::move(v); }
  void set_signature(std::string v) { signature = std::move(v); }
};
static_assert(edgepipe::kit::signed_response_message<response_message>);
static_assert(edgepipe::kit::signed_event_message<event_message>);
static_assert(!edgepipe::kit::signed_event_message<response_message>);

template <class Chain, class Observer>
auto run(Chain const& c, Observer& o, request const& r) {
  asio::io_context io;
  auto f = asio::co_spawn(io, c.run_observed(o, edgepipe::stages::received<request>{&r}), asio::use_future);
  io.run();
  return f.get();
}

bool verifies(edgepipe::crypto::ed25519_signer const& key, std::string const& signature, std::string const& input) {
  return edgepipe::crypto::ed25519_verify(signature, input, edgepipe::crypto::as_bytes(key.public_key()));
}

// A session source that answers at once: with it and the memory store every stage is
// synchronous, and the service still serves (its handlers are coroutines either way).
struct sync_sessions {
  edgepipe::stages::session_answer find(std::string_view) const { return {}; }
};
struct messages {
  using request = fixture::request;
  using response = response_message;
  using event = event_message;
  static constexpr std::string_view execute_path = "/test.v1.Edge/Execute";
  static constexpr std::string_view subscribe_path = "/test.v1.Edge/Subscribe";
};
using sync_parts = edgepipe::kit::contract_parts<sync_sessions, edgepipe::stores::memory_replay_store<edgepipe::manual_clock>,
                                                 edgepipe::stores::session_and_user_limiter, edgepipe::manual_clock>;
using sync_service = edgepipe::kit::contract_service<messages, sync_parts, fixture::counting_handler>;
static_assert(!sync_service::execute_type::is_async && !sync_service::subscribe_type::is_async);
// Taking its address instantiates the handler's body over the synchronous chain (the
// stream's handler needs protobuf events to write, which these test messages are not).
[[maybe_unused]] auto const sync_execute = &sync_service::execute_command;

}  // namespace

TEST_CASE("the subscribe chain grants the session's user, and only for the subscription's message type") {
  fixture::gateway<> g;
  edgepipe::kit::contract_parts const parts{&g.sessions, &g.replay, &g.limiter, &g.clock};
  auto const subscribe = edgepipe::kit::make_subscribe_chain<request>(parts);
  edgepipe::null_observer none;

  request ok = g.valid("req-subscribe-000000001", "");
  ok.message_type_ = "gateway.subscribe_events";
  fixture::sign(ok, g.device_key);
  auto granted = run(subscribe, none, ok);
  REQUIRE(granted);
  CHECK(granted->user_id == "user-1");

  auto const other = run(subscribe, none, g.valid("req-subscribe-000000002"));  // user.echo
  REQUIRE(!other);
  CHECK(other.error().code() == code::invalid_argument);
  CHECK(other.error().reason() == "malformed_envelope");
  CHECK(other.error().detail() == "message_type not accepted by this procedure");

  auto const again = run(subscribe, none, ok);  // a subscription is a request like any other: once
  REQUIRE(!again);
  CHECK(again.error().reason() == "replayed_request");
}

TEST_CASE("stage metrics: a duration per stage type, rejections by stage and reason, reservations by result") {
  fixture::gateway<> g;
  auto const chain = g.chain();
  edgepipe::kit::metrics_registry registry;
  edgepipe::kit::describe_gateway_metrics(registry);  // text() shows described families only
  edgepipe::kit::stage_metrics<std::remove_const_t<decltype(chain)>> metrics{registry};

  request const r = g.valid();
  REQUIRE(run(chain, metrics, r));
  REQUIRE(!run(chain, metrics, r));  // the replay
  request tampered = g.valid("req-0123456789abcdeg");
  tampered.signature_[0] ^= 1;
  REQUIRE(!run(chain, metrics, tampered));

  std::string const text = registry.text();
  CHECK_THAT(text, Catch::Contains("edgepipe_stage_duration_seconds_count{stage=\"envelope\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("edgepipe_stage_duration_seconds_count{stage=\"replay\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("edgepipe_stage_duration_seconds_count{stage=\"routing\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("edgepipe_rejections_total{stage=\"replay\",reason=\"replayed_request\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("edgepipe_rejections_total{stage=\"signature\",reason=\"signature_invalid\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("edgepipe_replay_reservations_total{result=\"reserved\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("edgepipe_replay_reservations_total{result=\"replayed\"} 1\n"));
}

TEST_CASE("a chain's signed response becomes a message whose signature verifies") {
  fixture::gateway<> g;
  edgepipe::null_observer none;
  request const r = g.valid();
  auto out = run(g.chain(), none, r);
  REQUIRE(out);
  auto const m = edgepipe::kit::to_signed_response<response_message>(r.request_id(), std::move(*out));
  CHECK(m.request_id == r.request_id());
  CHECK(m.result_code == "ok");
  CHECK(m.payload == "echo:" + r.payload());
  CHECK(m.payload_sha256 == fixture::sha256_of(m.payload));
  CHECK(m.key_id == "k1");
  std::string input;
  edgepipe::crypto::append_signing_input(input, edgepipe::crypto::response_signing_fields{
      r.device_session_id(), m.request_id, m.result_code, m.timestamp_ms, m.payload_sha256});
  CHECK(verifies(g.gateway_key, m.signature, input));
  CHECK_FALSE(verifies(g.gateway_key, m.signature, input + "x"));
}

TEST_CASE("an event is signed for one subscriber: its session and subscription are in what is signed") {
  fixture::gateway<> g;
  edgepipe::stages::event_to_sign const e{"dev-1", "req-subscribe-1", "evt_1", "chat.message", "hello"};
  auto const m = edgepipe::kit::to_signed_event<event_message>(edgepipe::stages::sign_event(g.gateway_key, 1234, e));
  CHECK(m.subscription_id == "req-subscribe-1");
  CHECK(m.event_id == "evt_1");
  CHECK(m.event_type == "chat.message");
  CHECK(m.payload == "hello");
  CHECK(m.payload_sha256 == fixture::sha256_of("hello"));
  CHECK(m.timestamp_ms == 1234);
  CHECK(m.key_id == "k1");
  auto input_for = [&](std::string_view session, std::string_view subscription) {
    std::string input;
    edgepipe::crypto::append_signing_input(input, edgepipe::crypto::event_signing_fields{
        session, subscription, m.event_id, m.event_type, m.timestamp_ms, m.payload_sha256});
    return input;
  };
  CHECK(verifies(g.gateway_key, m.signature, input_for("dev-1", "req-subscribe-1")));
  CHECK_FALSE(verifies(g.gateway_key, m.signature, input_for("dev-2", "req-subscribe-1")));
  CHECK_FALSE(verifies(g.gateway_key, m.signature, input_for("dev-1", "req-subscribe-2")));
}
