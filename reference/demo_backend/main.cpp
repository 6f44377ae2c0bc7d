// edgepipe-demo-backend: a small backend for contract section 5.
//   POST /api/v1/public/auth/register   {"user_id","public_key"} -> {"device_session_id"}
//   GET  /api/v1/internal/sessions/{id} the session, or 404
//   POST /api/v1/internal/commands/{t}  user.echo, user.whoami, lobby.join
//   POST /api/v1/demo/revoke            {"device_session_id"} (tests and the demo)
//   POST /api/v1/demo/fail-next         {"status": 503} the next command answers that status
// Options: --rest-addr host:port (default 127.0.0.1:9090). Prints "listening on host:port".
#include "../common/http_client.hpp"
#include "../common/http_server.hpp"

#include <edgepipe/crypto/ed25519.hpp>

#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
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

class demo_backend {
 public:
  asio::awaitable<http_response> handle(http_request req, request_context) {
    std::string const target{req.target()};
    std::string_view const path = std::string_view{target}.substr(0, target.find('?'));
    if (path == "/api/v1/public/auth/register" && req.method() == http::verb::post) co_return register_device(req);
    if (path.starts_with("/api/v1/internal/sessions/") && req.method() == http::verb::get)
      co_return session(percent_decode(path.substr(std::string_view{"/api/v1/internal/sessions/"}.size())));
    if (path.starts_with("/api/v1/internal/commands/") && req.method() == http::verb::post)
      co_return command(path.substr(std::string_view{"/api/v1/internal/commands/"}.size()), req);
    if (path == "/api/v1/demo/revoke" && req.method() == http::verb::post) co_return revoke(req);
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
    } else if (type == "user.whoami") {
      r = make_response(http::status::ok,
                        json{{"user_id", user}, {"device_session_id", std::string{req["X-Device-Session-Id"]}},
                             {"request_id", std::string{req["X-Request-Id"]}}}.dump(),
                        "application/octet-stream");
    } else if (type == "lobby.join") {
      r = make_response(http::status::ok, json{{"joined", true}, {"user_id", user}}.dump(), "application/octet-stream");
      r.set("X-Result-Code", "joined");
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
    return make_response(http::status::ok, "{}");
  }

  std::map<std::string, device_session, std::less<>> sessions_;
  std::mt19937_64 rng_{std::random_device{}()};
  unsigned fail_next_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string rest = "127.0.0.1:9090";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view{argv[i]} == "--rest-addr") rest = argv[++i];
  auto endpoint = parse_listen_address(rest);
  if (!endpoint) {
    std::fprintf(stderr, "edgepipe-demo-backend: --rest-addr: expected host:port\n");
    return 2;
  }
  asio::io_context io{1};
  demo_backend backend;
  http_server server{io.get_executor(),
                     [&](http_request req, request_context ctx) { return backend.handle(std::move(req), ctx); },
                     http_server::options{}};
  server.listen({asio::ip::make_address(endpoint->host), endpoint->port});
  server.start();
  std::printf("listening on %s:%u\n", endpoint->host.c_str(), server.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals{io, SIGTERM, SIGINT};
  signals.async_wait([&](auto, int) { io.stop(); });
  io.run();
}
