// edgepipe-gateway: the contract's edge service on the library's server, with the backend
// REST adapters, the replay store (memory or Redis) and the public and admin listeners.
#include "config.hpp"
#include "gateway.hpp"
#include "redis_readiness.hpp"

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/redis_connection.hpp>
#include <edgepipe/stores/redis_replay_store.hpp>
#include <edgepipe/transport/descriptor_limit.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

namespace asio = boost::asio;
using edgepipe::reference::gateway_config;
using edgepipe::reference::readiness;

namespace {

int refuse(std::string const& why) {
  std::fprintf(stderr, "edgepipe-gateway: %s\n", why.c_str());
  return 2;
}

void log_descriptor_limit() {
  using failure = edgepipe::transport::descriptor_limit::failure;
  auto const l = edgepipe::transport::raise_descriptor_limit();
  if (l.failed == failure::getrlimit) {
    spdlog::warn("RLIMIT_NOFILE: getrlimit failed: {}", std::strerror(l.error));
    return;
  }
  if (l.failed == failure::setrlimit) spdlog::warn("RLIMIT_NOFILE: setrlimit failed: {}", std::strerror(l.error));
  auto const text = [](rlim_t v) { return v == RLIM_INFINITY ? std::string{"unlimited"} : std::to_string(v); };
  spdlog::info("RLIMIT_NOFILE {} -> {} (hard {})", text(l.before), text(l.soft), text(l.hard));
}

// Runs the gateway until a SIGTERM or SIGINT has drained it. Signals are handled before
// anything is announced: a SIGTERM right after start drains too.
template <class ReplayStore>
int serve(asio::io_context& io, gateway_config const& config, edgepipe::crypto::ed25519_signer const& signer,
          ReplayStore& replay, std::function<readiness()> replay_ready) {
  edgepipe::reference::gateway<ReplayStore> gateway{io, config, signer, replay, std::move(replay_ready)};
  asio::signal_set signals{io, SIGTERM, SIGINT};
  signals.async_wait([&](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: draining", signal);
    gateway.shutdown();
  });
  if (auto why = gateway.start()) return refuse(*why);
  io.run();
  spdlog::info("edgepipe-gateway stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view{argv[i]} == "--help" || std::string_view{argv[i]} == "-h") {
      std::fputs(edgepipe::reference::gateway_help().c_str(), stdout);
      return 0;
    }
  gateway_config config;
  try {
    config = edgepipe::reference::load_gateway_config(argc, argv, [](char const* n) { return std::getenv(n); });
  } catch (edgepipe::reference::config_error const& e) {
    return refuse(e.what());
  }
  std::optional<edgepipe::crypto::ed25519_signer> signer;
  try {
    signer.emplace(edgepipe::crypto::ed25519_signer::from_pem_file(config.signer_key_file, config.signer_key_id));
  } catch (std::exception const& e) {
    return refuse(std::string{"EDGEPIPE_SIGNER_KEY_FILE: "} + e.what());
  }
  if (config.log_format == "json")
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":"%v"})");
  // libprotobuf would log each malformed message a client sends: never let peers write our logs.
  google::protobuf::SetLogHandler(nullptr);
  log_descriptor_limit();

  asio::io_context io{1};
  if (config.redis) {
    edgepipe::stores::redis_connection connection{io.get_executor(), *config.redis};
    edgepipe::stores::redis_replay_store store{connection};
    connection.start();
    if (auto why = edgepipe::reference::check_redis(io, connection, store)) return refuse(*why);
    edgepipe::reference::redis_readiness ready{io.get_executor(), connection, store};
    ready.start();
    return serve(io, config, *signer, store, [&] { return ready.get(); });
  }
  edgepipe::system_clock clock;
  edgepipe::stores::memory_replay_store<edgepipe::system_clock> store{clock};
  return serve(io, config, *signer, store, [] {
    readiness always;  // the memory store cannot fail to answer
    always.replay_store = true;
    return always;
  });
}
