// The contract's chain (edgepipe/kit/contract_chain.hpp) over fake adapters, for the stage tests: a session
// source that answers from a table, a counting route handler, a recording observer.
#pragma once

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/contract_chain.hpp>
#include <edgepipe/stages/replay_store.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/stages/session.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>

#include "../support/hex.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fixture {

namespace asio = boost::asio;
namespace st = edgepipe::stages;
using edgepipe::crypto::ed25519_signer;

// Shaped like the class protoc generates for edgepipe.gateway.v1.SignedRequest.
struct request {
  std::uint32_t protocol_version_ = 1;
  std::string device_session_id_, message_type_, payload_, payload_sha256_;
  std::int64_t timestamp_ms_ = 0;
  std::string request_id_, signature_;

  std::uint32_t protocol_version() const { return protocol_version_; }
  std::string const& device_session_id() const { return device_session_id_; }
  std::string const& message_type() const { return message_type_; }
  std::string const& payload() const { return payload_; }
  std::string const& payload_sha256() const { return payload_sha256_; }
  std::int64_t timestamp_ms() const { return timestamp_ms_; }
  std::string const& request_id() const { return request_id_; }
  std::string const& signature() const { return signature_; }
};
static_assert(st::signed_request_message<request>);

inline std::string sha256_of(std::string_view data) {
  edgepipe::crypto::sha256_digest d;
  edgepipe::crypto::sha256(data, d);
  return std::string{edgepipe::crypto::as_bytes(d)};
}

// Re-signs a request after its fields were set.
inline void sign(request& r, ed25519_signer const& device_key) {
  r.signature_ = std::string{edgepipe::crypto::as_bytes(device_key.sign_fields(edgepipe::crypto::request_signing_fields{
      r.device_session_id_, r.message_type_, r.request_id_, r.timestamp_ms_, r.payload_sha256_}))};
}

// Answers from a table, after yielding to the event loop as a network call would.
struct table_session_source {
  std::map<std::string, st::session_answer, std::less<>> answers;
  int calls = 0;

  asio::awaitable<st::session_answer> find(std::string_view id) {
    ++calls;
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    auto it = answers.find(id);
    if (it == answers.end()) co_return st::session_answer{st::session_answer::outcome::not_found, {}, {}, {}, {}};
    co_return it->second;
  }
};

// Echoes the payload back; counts what it executed.
struct counting_handler {
  int calls = 0;
  std::vector<std::string> user_ids;
  edgepipe::result<st::response> execute(st::command const& c) {
    ++calls;
    user_ids.emplace_back(c.user_id);
    st::response r;
    r.result_code = "ok";
    r.payload = "echo:" + std::string(c.payload);
    return r;
  }
};

// Reports whatever it is told to: for the replay store's failure rows.
struct scripted_replay_store {
  st::reservation answer = st::reservation::unavailable;
  st::reservation reserve(std::string_view, std::int64_t) const { return answer; }
};

struct recording_observer {
  struct token {};
  std::vector<std::string> started;
  template <class Stage>
  token stage_started(Stage const&) noexcept {
    started.emplace_back(Stage::name);
    return {};
  }
  template <class Stage>
  void stage_finished(Stage const&, token, edgepipe::status const&) noexcept {}
};

inline std::string const device_seed = test_support::unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
inline std::string const gateway_seed = test_support::unhex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7");

// Everything the chain refers to, and the chain itself.
template <class ReplayStore = edgepipe::stores::memory_replay_store<edgepipe::manual_clock>>
struct gateway {
  edgepipe::manual_clock clock{};
  ed25519_signer device_key = ed25519_signer::from_seed(device_seed, "device");
  ed25519_signer gateway_key = ed25519_signer::from_seed(gateway_seed, "k1");
  table_session_source sessions;
  ReplayStore replay{[&] {  // built in place: stores hold mutexes and do not move
    if constexpr (std::is_constructible_v<ReplayStore, edgepipe::manual_clock const&>)
      return ReplayStore{clock};
    else
      return ReplayStore{};
  }()};
  edgepipe::stores::session_and_user_limiter limiter;
  counting_handler backend;
  st::route_table<counting_handler> routes;

  explicit gateway(edgepipe::stores::bucket_rate per_session = {20, 40},
                   edgepipe::stores::bucket_rate per_user = {50, 100})
      : limiter{per_session, per_user} {
    routes.add("user", backend).add("lobby", backend);
    add_session("dev-1", "user-1", device_key);
  }

  void add_session(std::string const& id, std::string const& user, ed25519_signer const& key,
                   std::string const& status = "active") {
    sessions.answers[id] = st::session_answer{st::session_answer::outcome::found, id, user, status,
                                              edgepipe::crypto::to_base64(edgepipe::crypto::as_bytes(key.public_key()))};
  }

  auto chain(std::size_t max_payload = 1024 * 1024) {
    edgepipe::kit::contract_parts const parts{&sessions, &replay, &limiter, &clock, {max_payload, 60'000}};
    return edgepipe::kit::make_execute_chain<request>(parts, gateway_key, routes);
  }

  // A valid, signed request from dev-1.
  request valid(std::string request_id = "req-0123456789abcdef", std::string payload = "{\"text\":\"hi\"}") {
    request r;
    r.device_session_id_ = "dev-1";
    r.message_type_ = "user.echo";
    r.payload_ = std::move(payload);
    r.payload_sha256_ = sha256_of(r.payload_);
    r.timestamp_ms_ = clock.now_ms();
    r.request_id_ = std::move(request_id);
    sign(r, device_key);
    return r;
  }

  template <class Chain>
  edgepipe::result<st::response> run(Chain const& c, request const& r, recording_observer& observer) {
    asio::io_context io;
    auto f = asio::co_spawn(io, c.run_observed(observer, st::received<request>{&r}), asio::use_future);
    io.run();
    return f.get();
  }
};

}  // namespace fixture
