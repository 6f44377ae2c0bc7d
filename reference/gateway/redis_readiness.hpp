// The Redis replay store's start-up checks and its part of /readyz.
#pragma once

#include "gateway_id.hpp"
#include "public_api.hpp"

#include <edgepipe/stores/redis_connection.hpp>
#include <edgepipe/stores/redis_replay_store.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <string_view>

namespace edgepipe::reference {

// Any policy but noeviction lets Redis forget reservations under memory pressure, which
// reopens replay.
inline bool evicting(std::string_view maxmemory_policy) { return maxmemory_policy != "noeviction"; }

// Start-up checks: PING within 2 s, and no evicting policy.
inline std::optional<std::string> check_redis(boost::asio::io_context& io, edgepipe::stores::redis_connection& connection,
                                       edgepipe::stores::redis_replay_store& store) {
  auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
  while (!connection.connected() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds{10});
    io.restart();
  }
  if (!connection.connected()) return "EDGEPIPE_REDIS_URL: Redis did not answer PING within 2 s";
  auto ping = boost::asio::co_spawn(io, store.ping(), boost::asio::use_future);
  auto policy = boost::asio::co_spawn(io, store.maxmemory_policy(), boost::asio::use_future);
  while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds{1} &&
         policy.wait_for(std::chrono::seconds{0}) != std::future_status::ready) {
    io.run_for(std::chrono::milliseconds{10});
    io.restart();
  }
  if (ping.wait_for(std::chrono::seconds{0}) != std::future_status::ready || !ping.get())
    return "EDGEPIPE_REDIS_URL: Redis did not answer PING within 2 s";
  auto p = policy.get();
  if (!p) spdlog::warn("Redis refused CONFIG GET maxmemory-policy; make sure it is noeviction");
  else if (evicting(*p))
    return "EDGEPIPE_REDIS_URL: Redis maxmemory-policy is " + *p +
           "; it must be noeviction (an evicting policy forgets reservations and reopens replay)";
  return std::nullopt;
}

// The replay store's checks of /readyz on Redis, by asking rather than by an open
// connection: a write like a reservation on a key of this gateway's own at least once a
// second (each answered within the connection's command timeout, 500 ms, or it counts as
// none), and the maxmemory-policy check of start-up again every 30 s.
class redis_readiness {
 public:
  redis_readiness(boost::asio::any_io_executor ex, edgepipe::stores::redis_connection& connection,
                  edgepipe::stores::redis_replay_store& store)
      : connection_{&connection}, store_{&store}, probe_timer_{ex}, policy_timer_{ex},
        key_{"edgepipe:readyz:" + gateway_id()} {}

  void start() {
    boost::asio::co_spawn(probe_timer_.get_executor(), probe_loop(), boost::asio::detached);
    boost::asio::co_spawn(policy_timer_.get_executor(), policy_loop(), boost::asio::detached);
  }

  // Safe from any thread: a worker's readiness is read by worker 0's /readyz.
  [[nodiscard]] readiness get() const {
    readiness r;
    // A lost connection is not ready at once, without waiting for the next probe.
    r.replay_store = answering_ && connection_->connected();
    r.maxmemory_policy = !evicting_;
    return r;
  }

 private:
  static constexpr auto probe_interval = std::chrono::seconds{1};
  static constexpr std::int64_t probe_ttl_ms = 2000;  // one key per gateway, gone soon after it stops
  static constexpr auto policy_interval = std::chrono::seconds{30};

  boost::asio::awaitable<void> probe_loop() {
    for (;;) {
      auto const next = std::chrono::steady_clock::now() + probe_interval;
      bool const ok = co_await store_->accepts_writes(key_, probe_ttl_ms);
      if (probed_ && ok != answering_) {
        if (ok) spdlog::info("replay store takes writes again: ready");
        else spdlog::warn("replay store refused or did not answer a write: not ready");
      }
      answering_ = ok;
      probed_ = true;
      probe_timer_.expires_at(next);
      (void)co_await probe_timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

  // A refused or unanswered CONFIG GET leaves the last verdict as it was (at start-up: a
  // warning, and ready).
  boost::asio::awaitable<void> policy_loop() {
    for (;;) {
      policy_timer_.expires_after(policy_interval);
      (void)co_await policy_timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      auto const policy = co_await store_->maxmemory_policy();
      if (!policy) continue;
      bool const now_evicting = evicting(*policy);
      if (now_evicting && !evicting_)
        spdlog::error("Redis maxmemory-policy is now {}; not ready until it is noeviction (an evicting policy "
                      "forgets reservations and reopens replay)", *policy);
      if (!now_evicting && evicting_) spdlog::info("Redis maxmemory-policy is noeviction again: ready");
      evicting_ = now_evicting;
    }
  }

  edgepipe::stores::redis_connection* connection_;
  edgepipe::stores::redis_replay_store* store_;
  boost::asio::steady_timer probe_timer_;
  boost::asio::steady_timer policy_timer_;
  std::string key_;
  std::atomic<bool> answering_{false};  // until the first probe answers
  bool probed_ = false;
  std::atomic<bool> evicting_{false};  // start-up refused an evicting policy
};

}  // namespace edgepipe::reference
