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
#include <edgepipe/transport/worker_pool.hpp>

#include <boost/asio/signal_set.hpp>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

// Runs the gateway on its workers until a SIGTERM or SIGINT has drained it. Signals are
// handled (on worker 0) before anything is announced: a SIGTERM right after start drains too.
template <class ReplayStore, class ReplayOf>
int serve(edgepipe::transport::worker_pool& workers, gateway_config const& config,
          edgepipe::crypto::ed25519_signer const& signer, ReplayOf replay_of, std::function<readiness()> replay_ready) {
  edgepipe::reference::gateway<ReplayStore> gateway{workers, config, signer, replay_of, std::move(replay_ready)};
  asio::signal_set signals{workers.context(0), SIGTERM, SIGINT};
  signals.async_wait([&](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: draining", signal);
    gateway.shutdown();
  });
  if (auto why = gateway.start()) return refuse(*why);
  workers.run();
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

  std::size_t const workers_wanted =
      config.workers != 0 ? config.workers : std::min<std::size_t>(edgepipe::transport::usable_cpus(), 256);
  edgepipe::transport::worker_pool workers{workers_wanted};
  if (config.redis) {
    // A connection per worker: a reservation never leaves its worker's thread.
    using edgepipe::stores::redis_connection, edgepipe::stores::redis_replay_store, edgepipe::reference::redis_readiness;
    std::vector<std::unique_ptr<redis_connection>> connections;
    std::vector<std::unique_ptr<redis_replay_store>> stores;
    std::vector<std::unique_ptr<redis_readiness>> ready;
    for (std::size_t i = 0; i < workers.size(); ++i) {
      connections.push_back(std::make_unique<redis_connection>(workers.executor(i), *config.redis));
      stores.push_back(std::make_unique<redis_replay_store>(*connections.back()));
      connections.back()->start();
    }
    for (std::size_t i = 0; i < workers.size(); ++i)
      if (auto why = edgepipe::reference::check_redis(workers.context(i), *connections[i], *stores[i])) return refuse(*why);
    for (std::size_t i = 0; i < workers.size(); ++i) {
      ready.push_back(std::make_unique<redis_readiness>(workers.executor(i), *connections[i], *stores[i]));
      ready.back()->start();
    }
    return serve<redis_replay_store>(
        workers, config, *signer, [&](std::size_t i) -> redis_replay_store& { return *stores[i]; },
        [&] {
          readiness all;  // ready when every worker's store is
          all.replay_store = true;
          all.maxmemory_policy = true;
          for (auto const& r : ready) {
            readiness const one = r->get();
            all.replay_store = all.replay_store && one.replay_store;
            if (one.maxmemory_policy) all.maxmemory_policy = *all.maxmemory_policy && *one.maxmemory_policy;
          }
          return all;
        });
  }
  // One store for every worker: it is thread-safe, and a reservation must be seen by all.
  edgepipe::system_clock clock;
  edgepipe::stores::memory_replay_store<edgepipe::system_clock> store{clock};
  return serve<edgepipe::stores::memory_replay_store<edgepipe::system_clock>>(
      workers, config, *signer, [&](std::size_t) -> auto& { return store; }, [] {
        readiness always;  // the memory store cannot fail to answer
        always.replay_store = true;
        return always;
      });
}
