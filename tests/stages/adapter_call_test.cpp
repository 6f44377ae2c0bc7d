// The stages that call an adapter (session, replay, routing) behave the same whether the
// adapter answers directly or through an awaitable, and an asynchronous adapter that reads
// its arguments only after suspending still sees the right ones.
#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/pipeline/context.hpp>
#include <edgepipe/stages/replay.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/stages/session.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace st = edgepipe::stages;
using edgepipe::code;

// Yields to the event loop, as a network call would, before the adapter reads anything.
asio::awaitable<void> suspend() {
  auto executor = co_await asio::this_coro::executor;
  co_await asio::post(executor, asio::use_awaitable);
}

// --- adapters, each a synchronous one and an asynchronous one over the same table ------

struct sync_sessions {
  std::map<std::string, st::session_answer, std::less<>> answers;
  st::session_answer find(std::string_view id) const {
    if (auto it = answers.find(id); it != answers.end()) return it->second;
    st::session_answer unknown;
    unknown.kind = st::session_answer::outcome::not_found;
    return unknown;
  }
};

struct async_sessions {
  sync_sessions table;
  std::vector<std::string> asked;
  asio::awaitable<st::session_answer> find(std::string_view id) {
    co_await suspend();
    asked.emplace_back(id);
    st::session_answer answer = table.find(id);
    co_return answer;
  }
};

// Reserves each key once; `down` makes it answer unavailable. Records the keys it was given.
struct sync_store {
  std::set<std::string, std::less<>> reserved;
  std::vector<std::string> keys;
  bool down = false;
  st::reservation reserve(std::string_view key, std::int64_t) {
    keys.emplace_back(key);
    if (down) return st::reservation::unavailable;
    return reserved.emplace(key).second ? st::reservation::reserved : st::reservation::already_reserved;
  }
};

struct async_store {
  sync_store inner;
  asio::awaitable<st::reservation> reserve(std::string_view key, std::int64_t ttl_ms) {
    co_await suspend();  // the key is read only after this, when the stage has long returned
    st::reservation r = inner.reserve(key, ttl_ms);
    co_return r;
  }
};

// Echoes the payload for the user; "user.fail" fails with the handler's own status.
struct sync_handler {
  std::vector<std::string> seen;
  edgepipe::result<st::response> execute(st::command const& c) {
    seen.push_back(std::string{c.message_type} + " " + std::string{c.payload} + " " + std::string{c.user_id} + " " +
                   std::string{c.request_id});
    if (c.message_type == "user.fail") return edgepipe::status{code::failed_precondition, "backend_refused"};
    st::response r;
    r.result_code = "ok";
    r.payload = "echo:" + std::string{c.payload};
    return r;
  }
};

struct async_handler {
  sync_handler inner;
  asio::awaitable<edgepipe::result<st::response>> execute(st::command const& c) {
    co_await suspend();  // the command is read only after this
    edgepipe::result<st::response> r = inner.execute(c);
    co_return r;
  }
};

// --- calling a stage as the chain does: on a context over storage that outlives the call --

using storage = std::tuple<std::optional<st::envelope>, std::optional<st::fresh>, std::optional<st::session>>;

// Overwrites the stack the stage's call used, so that anything the awaitable still
// referred to there would read garbage.
[[gnu::noinline]] void scribble_over_stack() {
  volatile char junk[8192];
  for (auto& c : junk) c = '#';
}

// The stage's outcome: returned, or awaited on an event loop once the stage has returned.
template <class Stage, class Facts>
auto outcome_of(Stage const& stage, storage& facts_storage) {
  edgepipe::context<storage, Facts> const ctx{facts_storage};
  auto call = stage(ctx);
  scribble_over_stack();
  if constexpr (edgepipe::async_traits<decltype(call)>::is_async) {
    asio::io_context io;
    auto done = asio::co_spawn(io, std::move(call), asio::use_future);
    io.run();
    return done.get();
  } else {
    return call;
  }
}

template <class T>
std::string failure_of(edgepipe::result<T> const& r) {
  if (r) return "ok";
  return std::string{edgepipe::to_string(r.error().code())} + " " + std::string{r.error().reason()};
}

st::envelope envelope_for(std::string_view session_id, std::string_view message_type = "user.echo",
                          std::string_view request_id = "req-0123456789abcdef") {
  st::envelope e;
  e.device_session_id = session_id;
  e.message_type = message_type;
  e.payload = "{\"n\":1}";
  e.request_id = request_id;
  return e;
}

std::string const key_b64 = edgepipe::crypto::to_base64(std::string(32, 'k'));

sync_sessions session_table() {
  using o = st::session_answer::outcome;
  sync_sessions s;
  s.answers["dev-1"] = {o::found, "dev-1", "user-1", "active", key_b64};
  s.answers["dev-revoked"] = {o::found, "dev-revoked", "user-1", "revoked", key_b64};
  s.answers["dev-down"] = {o::unreachable, {}, {}, {}, {}};
  s.answers["dev-garbled"] = {o::malformed, {}, {}, {}, {}};
  s.answers["dev-other"] = {o::found, "dev-1", "user-1", "active", key_b64};  // a record for another session
  return s;
}

}  // namespace

TEST_CASE("a synchronous adapter keeps its stage a direct call; an asynchronous one makes it awaitable",
          "[stages][adapter_call]") {
  using sync_session = st::session_stage<sync_sessions>;
  using async_session = st::session_stage<async_sessions>;
  using ctx = edgepipe::context<storage, edgepipe::facts<st::envelope>>;
  STATIC_REQUIRE(std::is_same_v<std::invoke_result_t<sync_session const&, ctx const&>, edgepipe::result<st::session>>);
  STATIC_REQUIRE(std::is_same_v<std::invoke_result_t<async_session const&, ctx const&>,
                                asio::awaitable<edgepipe::result<st::session>>>);
  using replay_ctx = edgepipe::context<storage, edgepipe::facts<st::envelope, st::fresh>>;
  STATIC_REQUIRE(std::is_same_v<std::invoke_result_t<st::replay_stage<sync_store> const&, replay_ctx const&>,
                                edgepipe::result<st::replay_reserved>>);
  STATIC_REQUIRE(std::is_same_v<std::invoke_result_t<st::replay_stage<async_store> const&, replay_ctx const&>,
                                asio::awaitable<edgepipe::result<st::replay_reserved>>>);

  sync_sessions sessions;
  async_sessions remote;
  sync_handler handler;
  st::route_table<sync_handler> routes;
  routes.add("user", handler);
  auto const sync_chain = edgepipe::make_chain<st::envelope>(
      sync_session{&sessions}, st::routing_stage<sync_handler, edgepipe::facts<>>{&routes});
  auto const async_chain = edgepipe::make_chain<st::envelope>(
      async_session{&remote}, st::routing_stage<sync_handler, edgepipe::facts<>>{&routes});
  STATIC_REQUIRE_FALSE(decltype(sync_chain)::is_async);
  STATIC_REQUIRE(std::is_same_v<decltype(sync_chain)::run_type, edgepipe::result<st::response>>);
  STATIC_REQUIRE(decltype(async_chain)::is_async);
  STATIC_REQUIRE(std::is_same_v<decltype(async_chain)::run_type, asio::awaitable<edgepipe::result<st::response>>>);

  sessions = session_table();
  remote.table = session_table();
  st::envelope const e = envelope_for("dev-1");
  auto const direct_outcome = sync_chain.run(e);
  asio::io_context io;
  auto done = asio::co_spawn(io, async_chain.run(e), asio::use_future);
  io.run();
  auto const awaited_outcome = done.get();
  REQUIRE(direct_outcome.has_value());
  REQUIRE(awaited_outcome.has_value());
  CHECK(direct_outcome->payload == awaited_outcome->payload);
  CHECK(handler.seen.size() == 2);
  CHECK(remote.asked == std::vector<std::string>{"dev-1"});
}

TEST_CASE("the session stage decides the same over a synchronous and an asynchronous source",
          "[stages][adapter_call]") {
  sync_sessions direct = session_table();
  async_sessions remote{session_table(), {}};
  st::session_stage<sync_sessions> const sync_stage{&direct};
  st::session_stage<async_sessions> const async_stage{&remote};

  struct expectation {
    std::string id;
    std::string failure;
  };
  for (auto const& [id, failure] : std::vector<expectation>{
           {"dev-1", "ok"},
           {"dev-unknown", "unauthenticated session_not_found"},
           {"dev-revoked", "unauthenticated session_revoked"},
           {"dev-down", "unavailable backend_unavailable"},
           {"dev-garbled", "internal backend_bad_response"},
           {"dev-other", "internal backend_bad_response"},
       }) {
    DYNAMIC_SECTION(id) {
      storage facts{envelope_for(id), std::nullopt, std::nullopt};
      auto const from_sync = outcome_of<decltype(sync_stage), edgepipe::facts<st::envelope>>(sync_stage, facts);
      auto const from_async = outcome_of<decltype(async_stage), edgepipe::facts<st::envelope>>(async_stage, facts);
      CHECK(failure_of(from_sync) == failure);
      CHECK(failure_of(from_async) == failure);
      CHECK(remote.asked == std::vector<std::string>{id});
      if (from_sync && from_async) {
        CHECK(from_sync->user_id == "user-1");
        CHECK(from_async->user_id == "user-1");
        CHECK(from_sync->public_key == from_async->public_key);
      }
    }
  }
}

TEST_CASE("the replay stage reserves the same key over a synchronous store and one that suspends first",
          "[stages][adapter_call]") {
  sync_store direct;
  async_store remote;
  st::replay_stage<sync_store> const sync_stage{&direct, 120'000};
  st::replay_stage<async_store> const async_stage{&remote, 120'000};
  using needs = edgepipe::facts<st::envelope, st::fresh>;
  auto both = [&](st::envelope const& e) {
    storage facts{e, st::fresh{}, std::nullopt};
    auto const from_sync = outcome_of<decltype(sync_stage), needs>(sync_stage, facts);
    auto const from_async = outcome_of<decltype(async_stage), needs>(async_stage, facts);
    CHECK(failure_of(from_sync) == failure_of(from_async));
    return failure_of(from_async);
  };

  SECTION("first time, then a replay") {
    CHECK(both(envelope_for("dev-1")) == "ok");
    CHECK(remote.inner.keys == std::vector<std::string>{"edgepipe:replay:dev-1:req-0123456789abcdef"});
    CHECK(remote.inner.keys == direct.keys);
    CHECK(both(envelope_for("dev-1")) == "already_exists replayed_request");
    CHECK(both(envelope_for("dev-2")) == "ok");
    CHECK(remote.inner.keys.back() == "edgepipe:replay:dev-2:req-0123456789abcdef");
    CHECK(remote.inner.keys == direct.keys);
  }
  SECTION("the longest key the envelope allows reaches the store whole") {
    std::string const id(128, 's');
    std::string const request_id(64, 'r');
    CHECK(both(envelope_for(id, "user.echo", request_id)) == "ok");
    REQUIRE(remote.inner.keys.size() == 1);
    CHECK(remote.inner.keys[0] == "edgepipe:replay:" + id + ":" + request_id);
    CHECK(remote.inner.keys[0].size() == st::max_replay_key);
  }
  SECTION("a store that cannot answer fails closed") {
    direct.down = remote.inner.down = true;
    CHECK(both(envelope_for("dev-1")) == "unavailable replay_store_unavailable");
  }
  SECTION("a key too long for the buffer fails closed without asking the store") {
    std::string const id(129, 's');
    CHECK(both(envelope_for(id, "user.echo", std::string(64, 'r'))) == "unavailable replay_store_unavailable");
    CHECK(direct.keys.empty());
    CHECK(remote.inner.keys.empty());
  }
}

TEST_CASE("the routing stage answers the same over a synchronous and an asynchronous handler",
          "[stages][adapter_call]") {
  sync_handler direct;
  async_handler remote;
  st::route_table<sync_handler> sync_routes;
  sync_routes.add("user", direct);
  st::route_table<async_handler> async_routes;
  async_routes.add("user", remote);
  st::routing_stage<sync_handler, edgepipe::facts<>> const sync_stage{&sync_routes};
  st::routing_stage<async_handler, edgepipe::facts<>> const async_stage{&async_routes};
  using needs = edgepipe::facts<st::envelope, st::session>;
  auto both = [&](std::string_view message_type) {
    storage facts{envelope_for("dev-1", message_type), std::nullopt, st::session{"user-1", {}}};
    auto const from_sync = outcome_of<decltype(sync_stage), needs>(sync_stage, facts);
    auto const from_async = outcome_of<decltype(async_stage), needs>(async_stage, facts);
    CHECK(failure_of(from_sync) == failure_of(from_async));
    if (from_sync && from_async) {
      CHECK(from_sync->result_code == from_async->result_code);
      CHECK(from_sync->payload == from_async->payload);
      CHECK(from_async->payload == "echo:{\"n\":1}");
    }
    return failure_of(from_async);
  };

  CHECK(both("user.echo") == "ok");
  CHECK(remote.inner.seen == std::vector<std::string>{"user.echo {\"n\":1} user-1 req-0123456789abcdef"});
  CHECK(both("user.fail") == "failed_precondition backend_refused");
  CHECK(both("billing.charge") == "not_found route_not_found");
  CHECK(both("gateway.subscribe_events") == "not_found route_not_found");
  CHECK(remote.inner.seen.size() == 2);  // no route, no call
  CHECK(remote.inner.seen == direct.seen);
}
