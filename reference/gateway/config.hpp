// edgepipe-gateway's configuration (docs/gateway.md lists every setting). Each setting comes from its
// environment variable, or from the flag of the same name (a flag wins).
#pragma once

#include "../common/http_client.hpp"

#include <edgepipe/stages/freshness.hpp>
#include <edgepipe/stores/redis_url.hpp>

#include <charconv>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace edgepipe::reference {

// A refusal to start: which setting, and why. main() prints it on one line, exit 2.
struct config_error : std::runtime_error {
  config_error(std::string const& setting, std::string const& why) : std::runtime_error{setting + ": " + why} {}
};

struct gateway_config {
  http_endpoint backend;
  http_endpoint backend_push;
  std::optional<stores::redis_endpoint> redis;  // nullopt: the embedded memory store
  std::string signer_key_file;
  std::string signer_key_id = "k1";
  http_endpoint public_addr{"127.0.0.1", 8080};
  http_endpoint edge_addr{"127.0.0.1", 8081};
  std::optional<http_endpoint> admin_addr;
  std::int64_t freshness_window_ms = 60'000;
  double session_rate = 20, session_burst = 40;
  double user_rate = 50, user_burst = 100;
  double public_rate = 10, public_burst = 20;
  std::size_t max_payload_bytes = 1024 * 1024;
  std::int64_t backend_timeout_ms = 5'000;
  std::size_t backend_max_connections = 256;
  std::size_t workers = 0;  // 0: one per CPU the process may run on (at most 256)
  std::vector<std::string> cors_origins;
  std::size_t push_queue_bytes = 4 * 1024 * 1024;
  std::string log_format = "text";
  std::string otlp_endpoint;
  std::int64_t drain_timeout_ms = 10'000;
};

struct setting {
  std::string_view env;
  std::string_view default_text;  // "required" when there is none
  std::string_view help;
  std::function<void(gateway_config&, std::string const&)> apply;
};

namespace detail {
inline http_endpoint endpoint_of(std::string const& name, std::string const& value, bool listener = false) {
  auto e = listener ? parse_listen_address(value) : parse_host_port(value);
  if (!e) throw config_error{name, "expected host:port, got \"" + value + "\""};
  return *e;
}
template <class T>
T number_of(std::string const& name, std::string const& value, T min, T max) {
  T v{};
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc{} || end != value.data() + value.size() || v < min || v > max)
    throw config_error{name, "expected a number from " + std::to_string(min) + " to " + std::to_string(max) +
                                 ", got \"" + value + "\""};
  return v;
}
inline double rate_of(std::string const& name, std::string const& value) {
  return number_of<double>(name, value, 0.001, 1e6);
}
}  // namespace detail

inline std::vector<setting> const& gateway_settings() {
  using c = gateway_config;
  using namespace detail;
  static std::vector<setting> const settings{
      {"EDGEPIPE_BACKEND_URL", "required", "http://host:port of the backend REST API",
       [](c& g, std::string const& v) {
         auto e = parse_http_url(v);
         if (!e) throw config_error{"EDGEPIPE_BACKEND_URL", "expected http://host:port, got \"" + v + "\""};
         g.backend = *e;
       }},
      {"EDGEPIPE_BACKEND_PUSH_ADDR", "required", "host:port of the backend's gRPC push service",
       [](c& g, std::string const& v) { g.backend_push = endpoint_of("EDGEPIPE_BACKEND_PUSH_ADDR", v); }},
      {"EDGEPIPE_REDIS_URL", "required", "replay store: redis://[:password@]host:port[/db], or memory",
       [](c& g, std::string const& v) {
         if (v == "memory") return g.redis.reset();
         g.redis = stores::parse_redis_url(v);
         if (!g.redis) throw config_error{"EDGEPIPE_REDIS_URL", "expected redis://[:password@]host:port[/db] or memory"};
       }},
      {"EDGEPIPE_SIGNER_KEY_FILE", "required", "PEM PKCS#8 Ed25519 private key that signs responses and events",
       [](c& g, std::string const& v) { g.signer_key_file = v; }},
      {"EDGEPIPE_SIGNER_KEY_ID", "k1", "key_id put on responses and events",
       [](c& g, std::string const& v) {
         if (v.empty() || v.size() > 64) throw config_error{"EDGEPIPE_SIGNER_KEY_ID", "expected 1..64 bytes"};
         g.signer_key_id = v;
       }},
      {"EDGEPIPE_PUBLIC_ADDR", "127.0.0.1:8080", "public listener (HTTP/1.1): health, keys, public auth",
       [](c& g, std::string const& v) { g.public_addr = endpoint_of("EDGEPIPE_PUBLIC_ADDR", v, true); }},
      {"EDGEPIPE_EDGE_ADDR", "127.0.0.1:8081", "edge listener (h2c and HTTP/1.1): the EdgeGateway service",
       [](c& g, std::string const& v) { g.edge_addr = endpoint_of("EDGEPIPE_EDGE_ADDR", v, true); }},
      {"EDGEPIPE_ADMIN_ADDR", "off", "admin listener (HTTP/1.1): GET /metrics",
       [](c& g, std::string const& v) {
         if (!v.empty()) g.admin_addr = endpoint_of("EDGEPIPE_ADMIN_ADDR", v, true);
       }},
      {"EDGEPIPE_FRESHNESS_WINDOW_MS", "60000", "how far a request's timestamp may be from now",
       [](c& g, std::string const& v) {
         g.freshness_window_ms =
             number_of<std::int64_t>("EDGEPIPE_FRESHNESS_WINDOW_MS", v, 1, stages::max_freshness_window_ms);
       }},
      {"EDGEPIPE_SESSION_RATE", "20", "requests per second per device session",
       [](c& g, std::string const& v) { g.session_rate = rate_of("EDGEPIPE_SESSION_RATE", v); }},
      {"EDGEPIPE_SESSION_BURST", "40", "burst per device session",
       [](c& g, std::string const& v) { g.session_burst = rate_of("EDGEPIPE_SESSION_BURST", v); }},
      {"EDGEPIPE_USER_RATE", "50", "requests per second per user",
       [](c& g, std::string const& v) { g.user_rate = rate_of("EDGEPIPE_USER_RATE", v); }},
      {"EDGEPIPE_USER_BURST", "100", "burst per user",
       [](c& g, std::string const& v) { g.user_burst = rate_of("EDGEPIPE_USER_BURST", v); }},
      {"EDGEPIPE_PUBLIC_RATE", "10", "public auth requests per second per client IP",
       [](c& g, std::string const& v) { g.public_rate = rate_of("EDGEPIPE_PUBLIC_RATE", v); }},
      {"EDGEPIPE_PUBLIC_BURST", "20", "public auth burst per client IP",
       [](c& g, std::string const& v) { g.public_burst = rate_of("EDGEPIPE_PUBLIC_BURST", v); }},
      {"EDGEPIPE_MAX_PAYLOAD_BYTES", "1048576", "payload limit (messages may be 4 MiB)",
       [](c& g, std::string const& v) {
         g.max_payload_bytes = number_of<std::size_t>("EDGEPIPE_MAX_PAYLOAD_BYTES", v, 0, 4 * 1024 * 1024 - 1024);
       }},
      {"EDGEPIPE_BACKEND_TIMEOUT_MS", "5000", "per backend call, further bounded by the client's deadline",
       [](c& g, std::string const& v) {
         g.backend_timeout_ms = number_of<std::int64_t>("EDGEPIPE_BACKEND_TIMEOUT_MS", v, 1, 600'000);
       }},
      {"EDGEPIPE_BACKEND_MAX_CONNECTIONS", "256",
       "backend REST connections open at once; a call that finds none free waits, within its timeout",
       [](c& g, std::string const& v) {
         g.backend_max_connections = number_of<std::size_t>("EDGEPIPE_BACKEND_MAX_CONNECTIONS", v, 1, 65'536);
       }},
      {"EDGEPIPE_WORKERS", "the CPUs it may run on",
       "threads that accept and serve edge connections (1..256); results do not depend on it",
       [](c& g, std::string const& v) { g.workers = number_of<std::size_t>("EDGEPIPE_WORKERS", v, 1, 256); }},
      {"EDGEPIPE_CORS_ORIGINS", "", "comma-separated origins allowed to call the edge listener from a browser",
       [](c& g, std::string const& v) {
         g.cors_origins.clear();
         std::string_view rest = v;
         while (!rest.empty()) {
           auto comma = rest.find(',');
           std::string_view o = rest.substr(0, comma);
           rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
           while (!o.empty() && o.front() == ' ') o.remove_prefix(1);
           while (!o.empty() && o.back() == ' ') o.remove_suffix(1);
           if (o.empty()) continue;
           if (!o.starts_with("http://") && !o.starts_with("https://"))
             throw config_error{"EDGEPIPE_CORS_ORIGINS", "an origin looks like https://app.example"};
           g.cors_origins.emplace_back(o);
         }
       }},
      {"EDGEPIPE_PUSH_QUEUE_BYTES", "4194304",
       "bytes waiting for one subscription (its queued events and unwritten response bytes); past it: slow_consumer",
       [](c& g, std::string const& v) {
         g.push_queue_bytes = number_of<std::size_t>("EDGEPIPE_PUSH_QUEUE_BYTES", v, 1, std::size_t{1} << 30);
       }},
      {"EDGEPIPE_LOG_FORMAT", "text", "text or json",
       [](c& g, std::string const& v) {
         if (v != "text" && v != "json") throw config_error{"EDGEPIPE_LOG_FORMAT", "expected text or json"};
         g.log_format = v;
       }},
      {"EDGEPIPE_OTLP_ENDPOINT", "", "OTLP/HTTP collector for traces (http://host:port); empty: off",
       [](c& g, std::string const& v) {
         if (!v.empty() && !parse_http_url(v)) throw config_error{"EDGEPIPE_OTLP_ENDPOINT", "expected http://host:port"};
         g.otlp_endpoint = v;
       }},
      {"EDGEPIPE_DRAIN_TIMEOUT_MS", "10000", "how long a drain waits for calls in flight",
       [](c& g, std::string const& v) {
         g.drain_timeout_ms = number_of<std::int64_t>("EDGEPIPE_DRAIN_TIMEOUT_MS", v, 0, 600'000);
       }},
  };
  return settings;
}

// EDGEPIPE_EDGE_ADDR -> --edge-addr
inline std::string flag_of(std::string_view env) {
  std::string flag = "--";
  for (char ch : env.substr(std::string_view{"EDGEPIPE_"}.size()))
    flag.push_back(ch == '_' ? '-' : static_cast<char>(ch - 'A' + 'a'));
  return flag;
}

inline std::string gateway_help() {
  std::string out =
      "edgepipe-gateway: the reference authenticated edge gateway.\n\n"
      "Every setting is an environment variable or the flag of the same name (a flag wins):\n\n";
  for (auto const& s : gateway_settings()) {
    out += "  " + flag_of(s.env) + " / " + std::string{s.env} + "\n      " + std::string{s.help} +
           " (default: " + (s.default_text.empty() ? std::string{"empty"} : std::string{s.default_text}) + ")\n";
  }
  return out;
}

// Reads the environment (`getenv`), then flags ("--name value" or "--name=value").
// Throws config_error for an unknown flag, a malformed value or a missing required one.
inline gateway_config load_gateway_config(int argc, char const* const* argv,
                                          std::function<char const*(char const*)> const& getenv) {
  gateway_config g;
  std::vector<std::optional<std::string>> values(gateway_settings().size());
  auto const& settings = gateway_settings();
  for (std::size_t i = 0; i < settings.size(); ++i)
    if (char const* v = getenv(std::string{settings[i].env}.c_str())) values[i] = v;
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    std::string value;
    bool have_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      have_value = true;
    }
    bool known = false;
    for (std::size_t i = 0; i < settings.size(); ++i) {
      if (arg != flag_of(settings[i].env)) continue;
      known = true;
      if (!have_value) {
        if (a + 1 >= argc) throw config_error{arg, "needs a value"};
        value = argv[++a];
      }
      values[i] = value;
    }
    if (!known) throw config_error{arg, "unknown flag (see --help)"};
  }
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (values[i]) settings[i].apply(g, *values[i]);
    else if (settings[i].default_text == "required")
      throw config_error{std::string{settings[i].env}, "required (or " + flag_of(settings[i].env) + ")"};
  }
  return g;
}

}  // namespace edgepipe::reference
