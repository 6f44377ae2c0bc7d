// edgepipe-demo-backend: a small backend with every endpoint the gateway asks of one.
//   POST /api/v1/public/auth/register   {"user_id","public_key"} -> {"device_session_id"}
//   GET  /api/v1/internal/sessions/{id} the session, or 404
//   POST /api/v1/internal/commands/{t}  user.echo, user.whoami, lobby.join, user.slow (500 ms)
//   POST /api/v1/demo/revoke            {"device_session_id"} or {"user_id"} (all the user's sessions):
//                                       revoked, and a SessionInvalidation pushed
//   POST /api/v1/demo/push              {"user_id","device_session_id"?,"event_type","payload"}
//   POST /api/v1/demo/drop-push         ends every push stream (gateways reconnect)
//   POST /api/v1/demo/fail-next         {"status": 503} the next command answers that status
//   edgepipe.push.v1.Push/SubscribePush on --push-addr (gRPC, h2c)
// Options: --rest-addr host:port (default 127.0.0.1:9090), --push-addr host:port (default
// 127.0.0.1:9091), --max-body-bytes n (REST request bodies, default 1048576; larger pushes
// need more). Prints "listening on host:port push host:port".
#include "../common/http_client.hpp"

#include <edgepipe/transport/server.hpp>

#include "push.pb.h"

#include <boost/asio/steady_timer.hpp>
#include <list>

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/stages/session.hpp>

#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <deque>
#include <map>
#include <random>
#include <string>

namespace asio = boost::asio;
using namespace edgepipe::reference;
using nlohmann::json;

namespace {

struct device_session {
  std::string user_id;
  std::string public_key;  // base64
  bool revoked = false;
};

// The gateways' push streams, each with what is waiting to be sent.
class push_streams {
 public:
  struct stream {
    explicit stream(asio::any_io_executor ex) : wake{std::move(ex)} {}
    std::deque<edgepipe::push::v1::PushEvent> queue;
    asio::steady_timer wake;
    bool dropped = false;
  };

  void broadcast(edgepipe::push::v1::PushEvent const& e) {
    for (auto* s : streams_) {
      s->queue.push_back(e);
      s->wake.cancel();
    }
  }
  void drop_all() {
    for (auto* s : streams_) {
      s->dropped = true;
      s->wake.cancel();
    }
  }

  void register_service(edgepipe::transport::router& r, asio::any_io_executor ex) {
    r.server_streaming<edgepipe::push::v1::SubscribePushRequest, edgepipe::push::v1::PushEvent>(
        "/edgepipe.push.v1.Push/SubscribePush",
        [this, ex](edgepipe::push::v1::SubscribePushRequest const&,
                   edgepipe::transport::message_writer<edgepipe::push::v1::PushEvent>& out,
                   edgepipe::transport::call_context&) -> asio::awaitable<edgepipe::status> {
          out.send_headers();  // accepted: the gateway counts its push stream as open now
          stream s{ex};
          streams_.push_back(&s);
          struct leave {
            std::list<stream*>& l;
            stream* s;
            ~leave() { l.remove(s); }
          } guard{streams_, &s};
          for (;;) {
            while (!s.queue.empty()) {
              auto e = std::move(s.queue.front());
              s.queue.pop_front();
              if (auto st = co_await out.write(e); !st.ok()) co_return st;
            }
            if (s.dropped) co_return edgepipe::status{edgepipe::code::unavailable, "dropped_for_demo"};
            s.wake.expires_at(asio::steady_timer::time_point::max());
            (void)co_await s.wake.async_wait(asio::as_tuple(asio::use_awaitable));
            auto state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none) co_return edgepipe::status{edgepipe::code::canceled, "canceled"};
          }
        });
  }

 private:
  std::list<stream*> streams_;
};

class demo_backend {
 public:
  explicit demo_backend(push_streams& push) : push_{&push} {}

  void add_routes(edgepipe::transport::router& r) {
    r.route("POST", "/api/v1/public/auth/register", sync([this](request const& req) { return register_device(req); }));
    r.route("GET", "/api/v1/internal/sessions/*", sync([this](request const& req) {
      return session(percent_decode(std::string_view{req.path}.substr(std::string_view{sessions_prefix}.size())));
    }));
    // Answers after 500 ms: a call in flight for drain tests.
    r.route("POST", "/api/v1/internal/commands/user.slow", [](request req) -> asio::awaitable<response> {
      asio::steady_timer t{co_await asio::this_coro::executor, std::chrono::milliseconds{500}};
      co_await t.async_wait(asio::use_awaitable);
      co_return edgepipe::transport::make_http_response(200, std::move(req.body), "application/octet-stream");
    });
    r.route("POST", "/api/v1/internal/commands/*", sync([this](request const& req) {
      return command(std::string_view{req.path}.substr(std::string_view{commands_prefix}.size()), req);
    }));
    r.route("POST", "/api/v1/demo/revoke", sync([this](request const& req) { return revoke(req); }));
    r.route("POST", "/api/v1/demo/push", sync([this](request const& req) { return push_event(req); }));
    r.route("POST", "/api/v1/demo/drop-push", sync([this](request const&) {
      push_->drop_all();
      return edgepipe::transport::make_http_response(200, "{}");
    }));
    r.route("POST", "/api/v1/demo/fail-next", sync([this](request const& req) {
      auto body = json::parse(req.body, nullptr, false);
      fail_next_ = body.is_object() ? body.value("status", 0) : 0;
      return edgepipe::transport::make_http_response(200, "{}");
    }));
    // Shows what a passthrough forwarded.
    r.route("*", "/api/v1/public/auth/echo-headers", sync([](request const& req) {
      json h = json::object();
      for (auto const& [name, value] : req.headers) h[name] = value;
      return edgepipe::transport::make_http_response(
          200, json{{"method", req.method}, {"target", req.target()}, {"headers", h}, {"body", req.body}}.dump());
    }));
    r.route("*", "/*", sync([](request const&) {
      return edgepipe::transport::make_http_response(404, R"({"error":"not_found"})");
    }));
  }

 private:
  using request = edgepipe::transport::http_request;
  using response = edgepipe::transport::http_response;
  static constexpr char const* sessions_prefix = "/api/v1/internal/sessions/";
  static constexpr char const* commands_prefix = "/api/v1/internal/commands/";

  // A route whose answer is ready at once.
  template <class F>
  static edgepipe::transport::http_handler sync(F f) {
    return [f = std::move(f)](request req) -> asio::awaitable<response> { co_return f(req); };
  }

  static std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out.push_back(static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  response register_device(request const& req) {
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body["user_id"].is_string() || !body["public_key"].is_string())
      return edgepipe::transport::make_http_response(400, R"({"error":"want user_id and public_key"})");
    // A user id travels in a header of every command: the same rule the gateway holds
    // session records to.
    if (!edgepipe::stages::valid_user_id(body["user_id"].get<std::string>()))
      return edgepipe::transport::make_http_response(400, R"({"error":"user_id: 1..128 printable ASCII bytes, no spaces"})");
    edgepipe::crypto::ed25519_public_key key{};
    if (!edgepipe::crypto::from_base64(body["public_key"].get<std::string>(), key))
      return edgepipe::transport::make_http_response(400, R"({"error":"public_key must be base64 of 32 bytes"})");
    std::string id = "ds_" + std::to_string(rng_());
    sessions_[id] = {body["user_id"].get<std::string>(), body["public_key"].get<std::string>(), false};
    return edgepipe::transport::make_http_response(201, json{{"device_session_id", id}}.dump());
  }

  response session(std::string const& id) {
    if (id == "malformed-session")  // a backend bug, on request: for the gateway's tests
      return edgepipe::transport::make_http_response(200, R"({"device_session_id":"malformed-session","user_id":7})");
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return edgepipe::transport::make_http_response(404, R"({"error":"unknown session"})");
    return edgepipe::transport::make_http_response(200, json{{"device_session_id", id},
                                                             {"user_id", it->second.user_id},
                                                             {"status", it->second.revoked ? "revoked" : "active"},
                                                             {"public_key", it->second.public_key}}.dump());
  }

  response command(std::string_view type, request const& req) {
    if (fail_next_ != 0)
      return edgepipe::transport::make_http_response(static_cast<int>(std::exchange(fail_next_, 0)),
                                                     R"({"error":"as requested"})");
    std::string const user{req.header("x-user-id")};
    response r;
    if (type == "user.echo") {
      r = edgepipe::transport::make_http_response(200, req.body, "application/octet-stream");
      if (auto t = req.header("traceparent"); !t.empty()) r.headers.emplace_back("x-result-code", "traced." + std::string{t});
    } else if (type == "user.whoami") {
      r = edgepipe::transport::make_http_response(
          200,
          json{{"user_id", user}, {"device_session_id", std::string{req.header("x-device-session-id")}},
               {"request_id", std::string{req.header("x-request-id")}}}.dump(),
          "application/octet-stream");
    } else if (type == "lobby.join") {
      r = edgepipe::transport::make_http_response(200, json{{"joined", true}, {"user_id", user}}.dump(),
                                                  "application/octet-stream");
      r.headers.emplace_back("x-result-code", "joined");
      send_event(user, "", "lobby.joined", json{{"user_id", user}, {"lobby", "main"}}.dump());
    } else {
      return edgepipe::transport::make_http_response(404, R"({"error":"unknown command"})");
    }
    return r;
  }

  // {"device_session_id"}: that session; {"user_id"} alone: every session of the user, with
  // one user-wide invalidation (empty device_session_id).
  response revoke(request const& req) {
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return edgepipe::transport::make_http_response(400, R"({"error":"want an object"})");
    edgepipe::push::v1::PushEvent e;
    auto& invalidation = *e.mutable_session_invalidation();
    invalidation.set_reason("revoked");
    if (body["device_session_id"].is_string()) {
      auto it = sessions_.find(body["device_session_id"].get<std::string>());
      if (it == sessions_.end()) return edgepipe::transport::make_http_response(404, R"({"error":"unknown session"})");
      it->second.revoked = true;
      invalidation.set_user_id(it->second.user_id);
      invalidation.set_device_session_id(it->first);
    } else if (body["user_id"].is_string()) {
      std::string const user = body["user_id"].get<std::string>();
      for (auto& [id, s] : sessions_)
        if (s.user_id == user) s.revoked = true;
      invalidation.set_user_id(user);
    } else {
      return edgepipe::transport::make_http_response(400, R"({"error":"want device_session_id or user_id"})");
    }
    push_->broadcast(e);
    return edgepipe::transport::make_http_response(200, "{}");
  }

  response push_event(request const& req) {
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body["user_id"].is_string() || !body["event_type"].is_string())
      return edgepipe::transport::make_http_response(400, R"({"error":"want user_id and event_type"})");
    send_event(body["user_id"].get<std::string>(), body.value("device_session_id", ""),
               body["event_type"].get<std::string>(), body.value("payload", ""));
    return edgepipe::transport::make_http_response(200, "{}");
  }

  void send_event(std::string const& user, std::string const& device_session, std::string const& type,
                  std::string const& payload) {
    edgepipe::push::v1::PushEvent e;
    auto* c = e.mutable_client_event();
    c->set_user_id(user);
    c->set_device_session_id(device_session);
    c->set_event_id("evt_" + std::to_string(rng_()));
    c->set_event_type(type);
    c->set_payload(payload);
    push_->broadcast(e);
  }

  push_streams* push_;
  std::map<std::string, device_session, std::less<>> sessions_;
  std::mt19937_64 rng_{std::random_device{}()};
  unsigned fail_next_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string rest = "127.0.0.1:9090", push_addr = "127.0.0.1:9091";
  edgepipe::transport::server_options rest_options;
  rest_options.http1_max_body_bytes = 1024 * 1024;
  // As Node's HTTP server does: idle keep-alive connections close after 5 s.
  rest_options.keep_alive_timeout = std::chrono::seconds{5};
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view{argv[i]} == "--rest-addr") rest = argv[++i];
    else if (std::string_view{argv[i]} == "--push-addr") push_addr = argv[++i];
    else if (std::string_view{argv[i]} == "--max-body-bytes") rest_options.http1_max_body_bytes = std::stoul(argv[++i]);
  }
  auto endpoint = parse_listen_address(rest);
  auto push_endpoint = parse_listen_address(push_addr);
  if (!endpoint || !push_endpoint) {
    std::fprintf(stderr, "edgepipe-demo-backend: --rest-addr and --push-addr take host:port\n");
    return 2;
  }
  google::protobuf::SetLogHandler(nullptr);
  asio::io_context io{1};
  push_streams push;
  edgepipe::transport::router push_routes;
  push.register_service(push_routes, io.get_executor());
  edgepipe::transport::server push_server{io.get_executor(), push_routes};
  push_server.listen({asio::ip::make_address(push_endpoint->host), push_endpoint->port});
  push_server.start();
  demo_backend backend{push};
  edgepipe::transport::router rest_routes;
  backend.add_routes(rest_routes);
  edgepipe::transport::server server{io.get_executor(), rest_routes, rest_options};
  server.listen({asio::ip::make_address(endpoint->host), endpoint->port});
  server.start();
  std::printf("listening on %s:%u push %s:%u\n", endpoint->host.c_str(), server.local_endpoint().port(),
              push_endpoint->host.c_str(), push_server.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals{io, SIGTERM, SIGINT};
  signals.async_wait([&](auto, int) { io.stop(); });
  io.run();
}
