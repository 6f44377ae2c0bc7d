// edgepipe-demo-backend: a small backend with every endpoint the gateway asks of one.
//   POST /api/v1/public/auth/register   {"user_id","public_key"} -> {"device_session_id"}
//   GET  /api/v1/internal/sessions/{id} the session, or 404
//   POST /api/v1/internal/commands/{t}  user.echo, user.whoami, lobby.join, user.slow (500 ms)
//   POST /api/v1/demo/revoke            {"device_session_id"}: revoked, and a SessionInvalidation pushed
//   POST /api/v1/demo/push              {"user_id","device_session_id"?,"event_type","payload"}
//   POST /api/v1/demo/drop-push         ends every push stream (gateways reconnect)
//   POST /api/v1/demo/fail-next         {"status": 503} the next command answers that status
//   edgepipe.push.v1.Push/SubscribePush on --push-addr (gRPC, h2c)
// Options: --rest-addr host:port (default 127.0.0.1:9090), --push-addr host:port (default
// 127.0.0.1:9091), --max-body-bytes n (REST request bodies, default 1048576; larger pushes
// need more). Prints "listening on host:port push host:port".
#include "../common/http_client.hpp"
#include "../common/http_server.hpp"

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

  asio::awaitable<http_response> handle(http_request req, request_context) {
    std::string const target{req.target()};
    std::string_view const path = std::string_view{target}.substr(0, target.find('?'));
    if (path == "/api/v1/public/auth/register" && req.method() == http::verb::post) co_return register_device(req);
    if (path.starts_with("/api/v1/internal/sessions/") && req.method() == http::verb::get)
      co_return session(percent_decode(path.substr(std::string_view{"/api/v1/internal/sessions/"}.size())));
    if (path == "/api/v1/internal/commands/user.slow" && req.method() == http::verb::post) {
      // Answers after 500 ms: a call in flight for drain tests.
      asio::steady_timer t{co_await asio::this_coro::executor, std::chrono::milliseconds{500}};
      co_await t.async_wait(asio::use_awaitable);
      co_return make_response(http::status::ok, req.body(), "application/octet-stream");
    }
    if (path.starts_with("/api/v1/internal/commands/") && req.method() == http::verb::post)
      co_return command(path.substr(std::string_view{"/api/v1/internal/commands/"}.size()), req);
    if (path == "/api/v1/demo/revoke" && req.method() == http::verb::post) co_return revoke(req);
    if (path == "/api/v1/demo/push" && req.method() == http::verb::post) co_return push_event(req);
    if (path == "/api/v1/demo/drop-push" && req.method() == http::verb::post) {
      push_->drop_all();
      co_return make_response(http::status::ok, "{}");
    }
    if (path == "/api/v1/demo/fail-next" && req.method() == http::verb::post) {
      auto body = json::parse(req.body(), nullptr, false);
      fail_next_ = body.is_object() ? body.value("status", 0) : 0;
      co_return make_response(http::status::ok, "{}");
    }
    if (path == "/api/v1/public/auth/echo-headers") {  // shows what a passthrough forwarded
      json h = json::object();
      for (auto const& f : req) h[std::string{f.name_string()}] = std::string{f.value()};
      co_return make_response(http::status::ok, json{{"method", std::string{req.method_string()}}, {"target", target},
                                                     {"headers", h}, {"body", req.body()}}.dump());
    }
    co_return make_response(http::status::not_found, R"({"error":"not_found"})");
  }

 private:
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

  http_response register_device(http_request const& req) {
    auto body = json::parse(req.body(), nullptr, false);
    if (!body.is_object() || !body["user_id"].is_string() || !body["public_key"].is_string())
      return make_response(http::status::bad_request, R"({"error":"want user_id and public_key"})");
    // A user id travels in a header of every command: the same rule the gateway holds
    // session records to.
    if (!edgepipe::stages::valid_user_id(body["user_id"].get<std::string>()))
      return make_response(http::status::bad_request, R"({"error":"user_id: 1..128 printable ASCII bytes, no spaces"})");
    edgepipe::crypto::ed25519_public_key key{};
    if (!edgepipe::crypto::from_base64(body["public_key"].get<std::string>(), key))
      return make_response(http::status::bad_request, R"({"error":"public_key must be base64 of 32 bytes"})");
    std::string id = "ds_" + std::to_string(rng_());
    sessions_[id] = {body["user_id"].get<std::string>(), body["public_key"].get<std::string>(), false};
    return make_response(http::status::created, json{{"device_session_id", id}}.dump());
  }

  http_response session(std::string const& id) {
    if (id == "malformed-session")  // a backend bug, on request: for the gateway's tests
      return make_response(http::status::ok, R"({"device_session_id":"malformed-session","user_id":7})");
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return make_response(http::status::not_found, R"({"error":"unknown session"})");
    return make_response(http::status::ok, json{{"device_session_id", id},
                                               {"user_id", it->second.user_id},
                                               {"status", it->second.revoked ? "revoked" : "active"},
                                               {"public_key", it->second.public_key}}.dump());
  }

  http_response command(std::string_view type, http_request const& req) {
    if (fail_next_ != 0) {
      auto s = static_cast<http::status>(std::exchange(fail_next_, 0));
      return make_response(s, R"({"error":"as requested"})");
    }
    std::string const user{req["X-User-Id"]};
    http_response r;
    if (type == "user.echo") {
      r = make_response(http::status::ok, req.body(), "application/octet-stream");
      if (auto t = req["traceparent"]; !t.empty()) r.set("X-Result-Code", "traced." + std::string{t});
    } else if (type == "user.whoami") {
      r = make_response(http::status::ok,
                        json{{"user_id", user}, {"device_session_id", std::string{req["X-Device-Session-Id"]}},
                             {"request_id", std::string{req["X-Request-Id"]}}}.dump(),
                        "application/octet-stream");
    } else if (type == "lobby.join") {
      r = make_response(http::status::ok, json{{"joined", true}, {"user_id", user}}.dump(), "application/octet-stream");
      r.set("X-Result-Code", "joined");
      send_event(user, "", "lobby.joined", json{{"user_id", user}, {"lobby", "main"}}.dump());
    } else {
      return make_response(http::status::not_found, R"({"error":"unknown command"})");
    }
    return r;
  }

  http_response revoke(http_request const& req) {
    auto body = json::parse(req.body(), nullptr, false);
    if (!body.is_object() || !body["device_session_id"].is_string())
      return make_response(http::status::bad_request, R"({"error":"want device_session_id"})");
    auto it = sessions_.find(body["device_session_id"].get<std::string>());
    if (it == sessions_.end()) return make_response(http::status::not_found, R"({"error":"unknown session"})");
    it->second.revoked = true;
    edgepipe::push::v1::PushEvent e;
    e.mutable_session_invalidation()->set_user_id(it->second.user_id);
    e.mutable_session_invalidation()->set_device_session_id(it->first);
    e.mutable_session_invalidation()->set_reason("revoked");
    push_->broadcast(e);
    return make_response(http::status::ok, "{}");
  }

  http_response push_event(http_request const& req) {
    auto body = json::parse(req.body(), nullptr, false);
    if (!body.is_object() || !body["user_id"].is_string() || !body["event_type"].is_string())
      return make_response(http::status::bad_request, R"({"error":"want user_id and event_type"})");
    send_event(body["user_id"].get<std::string>(), body.value("device_session_id", ""),
               body["event_type"].get<std::string>(), body.value("payload", ""));
    return make_response(http::status::ok, "{}");
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
  // As Node's HTTP server does: idle keep-alive connections close after 5 s.
  http_server::options rest_options{.keep_alive_timeout = std::chrono::seconds{5}};
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view{argv[i]} == "--rest-addr") rest = argv[++i];
    else if (std::string_view{argv[i]} == "--push-addr") push_addr = argv[++i];
    else if (std::string_view{argv[i]} == "--max-body-bytes") rest_options.max_body_bytes = std::stoul(argv[++i]);
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
  http_server server{io.get_executor(),
                     [&](http_request req, request_context ctx) { return backend.handle(std::move(req), ctx); },
                     rest_options};
  server.listen({asio::ip::make_address(endpoint->host), endpoint->port});
  server.start();
  std::printf("listening on %s:%u push %s:%u\n", endpoint->host.c_str(), server.local_endpoint().port(),
              push_endpoint->host.c_str(), push_server.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals{io, SIGTERM, SIGINT};
  signals.async_wait([&](auto, int) { io.stop(); });
  io.run();
}
