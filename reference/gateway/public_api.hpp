// The public listener's routes: health, readiness, the gateway's keys, and the public
// auth passthrough to the backend.
#pragma once

#include "../common/http_client.hpp"
#include "config.hpp"

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/stores/token_buckets.hpp>
#include <edgepipe/transport/http_route.hpp>
#include <edgepipe/transport/router.hpp>

#include <boost/asio/awaitable.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace edgepipe::reference {

// Each check /readyz names. `replay_store`: the store answered its last write probe.
// `maxmemory_policy`: Redis's policy was noeviction when last asked (nullopt: the store
// has no such setting, the memory store).
struct readiness {
  bool replay_store = false;
  std::optional<bool> maxmemory_policy;
  bool push_stream = false;
  bool draining = false;
};

class public_api {
 public:
  public_api(http_client& backend, gateway_config const& config, crypto::ed25519_signer const& signer,
             std::function<readiness()> ready)
      : config_{&config},
        backend_{&backend},
        per_ip_{{config.public_rate, config.public_burst}},
        ready_{std::move(ready)} {
    nlohmann::json keys;
    keys["keys"] = nlohmann::json::array({{{"key_id", signer.key_id()},
                                           {"algorithm", "Ed25519"},
                                           {"public_key", crypto::to_base64(crypto::as_bytes(signer.public_key()))}}});
    keys_json_ = keys.dump();
  }

  // The public listener's routes; `this` must outlive the router's server.
  void add_routes(transport::router& r) {
    r.route("GET", "/healthz", [](transport::http_request) -> boost::asio::awaitable<transport::http_response> {
      co_return transport::make_http_response(200, R"({"status":"ok"})");
    });
    r.route("GET", "/readyz", [this](transport::http_request) -> boost::asio::awaitable<transport::http_response> {
      co_return readyz();
    });
    r.route("GET", "/api/v1/public/keys", [this](transport::http_request) -> boost::asio::awaitable<transport::http_response> {
      auto res = transport::make_http_response(200, keys_json_);
      res.headers.emplace_back("cache-control", "max-age=60");
      co_return res;
    });
    r.route("*", "/api/v1/public/auth/*", [this](transport::http_request req) { return forward(std::move(req)); });
    r.route("*", "/*", [](transport::http_request) -> boost::asio::awaitable<transport::http_response> {
      co_return transport::make_http_response(404, R"({"error":"not_found"})");
    });
  }

 private:
  transport::http_response readyz() const {
    readiness const r = ready_();
    nlohmann::json body;
    body["replay_store"] = r.replay_store ? "ok" : "unavailable";
    if (r.maxmemory_policy) body["maxmemory_policy"] = *r.maxmemory_policy ? "ok" : "evicting";
    body["push_stream"] = r.push_stream ? "ok" : "closed";
    body["draining"] = r.draining;
    bool const ok = r.replay_store && r.maxmemory_policy.value_or(true) && r.push_stream && !r.draining;
    return transport::make_http_response(ok ? 200 : 503, body.dump());
  }

  // Forwards without verification; the backend's status, body and Content-Type come back.
  boost::asio::awaitable<transport::http_response> forward(transport::http_request req) {
    auto const now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now().time_since_epoch()).count();
    std::string const peer{req.peer_address()};
    if (auto t = per_ip_.take(peer, now); !t.allowed) {
      auto r = transport::make_http_response(429, R"({"error":"rate_limited"})");
      r.headers.emplace_back("retry-after", std::to_string((t.retry_after_ms + 999) / 1000));
      co_return r;
    }
    http_client::request out;
    out.method_string(req.method);
    out.target(req.target());
    out.version(11);
    for (char const* name : {"content-type", "accept"})
      if (auto v = req.header(name); !v.empty()) out.set(name, v);
    std::string_view const forwarded = req.header("x-forwarded-for");
    out.set("X-Forwarded-For", forwarded.empty() ? peer : std::string{forwarded} + ", " + peer);
    // X-User-Id, X-Device-Session-Id and hop-by-hop headers are never forwarded: only what
    // is copied above goes.
    out.body() = std::move(req.body);
    auto r = co_await backend_->send(std::move(out), std::chrono::milliseconds{config_->backend_timeout_ms});
    if (r.error != http_client::failure::none)
      co_return transport::make_http_response(502, R"({"error":"backend_unavailable"})");
    transport::http_response back{static_cast<int>(r.res.result_int()), {}, std::move(r.res.body())};
    if (auto v = r.res["Content-Type"]; !v.empty()) back.headers.emplace_back("content-type", std::string{v});
    co_return back;
  }

  gateway_config const* config_;
  http_client* backend_;
  stores::token_buckets per_ip_;
  std::function<readiness()> ready_;
  std::string keys_json_;
};

}  // namespace edgepipe::reference
