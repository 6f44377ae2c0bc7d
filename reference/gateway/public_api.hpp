// The public listener: health, readiness, the gateway's keys, and
// the public auth passthrough to the backend.
#pragma once

#include "../common/http_client.hpp"
#include "../common/http_server.hpp"
#include "config.hpp"

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/protocol/header_grammar.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/stores/token_buckets.hpp>

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

  boost::asio::awaitable<http_response> handle(http_request req, request_context ctx) {
    std::string_view const target{req.target().data(), req.target().size()};
    std::string_view const path = target.substr(0, target.find('?'));
    if (path == "/healthz" && req.method() == http::verb::get) co_return make_response(http::status::ok, R"({"status":"ok"})");
    if (path == "/readyz" && req.method() == http::verb::get) co_return readyz();
    if (path == "/api/v1/public/keys" && req.method() == http::verb::get) {
      auto r = make_response(http::status::ok, keys_json_);
      r.set(http::field::cache_control, "max-age=60");
      co_return r;
    }
    if (path.starts_with("/api/v1/public/auth/")) co_return co_await forward(std::move(req), ctx);
    co_return make_response(http::status::not_found, R"({"error":"not_found"})");
  }

 private:
  http_response readyz() const {
    readiness const r = ready_();
    nlohmann::json body;
    body["replay_store"] = r.replay_store ? "ok" : "unavailable";
    if (r.maxmemory_policy) body["maxmemory_policy"] = *r.maxmemory_policy ? "ok" : "evicting";
    body["push_stream"] = r.push_stream ? "ok" : "closed";
    body["draining"] = r.draining;
    bool const ok = r.replay_store && r.maxmemory_policy.value_or(true) && r.push_stream && !r.draining;
    return make_response(ok ? http::status::ok : http::status::service_unavailable, body.dump());
  }

  // Forwards without verification; the backend's status, body and Content-Type come back.
  boost::asio::awaitable<http_response> forward(http_request req, request_context const& ctx) {
    auto const now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now().time_since_epoch()).count();
    if (auto t = per_ip_.take(ctx.peer_address, now); !t.allowed) {
      auto r = make_response(http::status::too_many_requests, R"({"error":"rate_limited"})");
      r.set(http::field::retry_after, std::to_string((t.retry_after_ms + 999) / 1000));
      co_return r;
    }
    http_client::request out{req.method(), std::string{req.target()}, 11};
    for (auto name : {http::field::content_type, http::field::accept})
      if (auto v = req[name]; !v.empty()) out.set(name, v);
    std::string forwarded{req["X-Forwarded-For"]};
    out.set("X-Forwarded-For", forwarded.empty() ? ctx.peer_address : forwarded + ", " + ctx.peer_address);
    // X-User-Id, X-Device-Session-Id and hop-by-hop headers are never forwarded: only what
    // is copied above goes.
    out.body() = std::move(req.body());
    auto r = co_await backend_->send(std::move(out), std::chrono::milliseconds{config_->backend_timeout_ms});
    if (r.error != http_client::failure::none)
      co_return make_response(http::status::bad_gateway, R"({"error":"backend_unavailable"})");
    http_response back{r.res.result(), 11};
    if (auto v = r.res[http::field::content_type]; !v.empty() && protocol::is_header_value({v.data(), v.size()}))
      back.set(http::field::content_type, v);
    back.body() = std::move(r.res.body());
    co_return back;
  }

  gateway_config const* config_;
  http_client* backend_;
  stores::token_buckets per_ip_;
  std::function<readiness()> ready_;
  std::string keys_json_;
};

}  // namespace edgepipe::reference
