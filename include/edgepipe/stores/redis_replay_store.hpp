// The shared replay store: one atomic `SET key 1 NX PX ttl` per request on Redis.
#pragma once

#include <edgepipe/stages/replay_store.hpp>
#include <edgepipe/stores/redis_connection.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::stores {

// Several gateways sharing one Redis reject a request replayed to any of them. Anything
// but a definite answer (no connection, a timeout, an error reply) is `unavailable`, and
// the replay stage then fails the request closed.
class redis_replay_store {
 public:
  explicit redis_replay_store(redis_connection& connection) noexcept : connection_{&connection} {}

  boost::asio::awaitable<stages::reservation> reserve(std::string_view key, std::int64_t ttl_ms) const {
    char ttl[24];
    auto const end = std::to_chars(ttl, ttl + sizeof ttl, ttl_ms).ptr;
    redis_reply const r = co_await connection_->async_command(boost::asio::use_awaitable, "SET", key, "1", "NX",
                                                              "PX", std::string_view{ttl, static_cast<std::size_t>(end - ttl)});
    if (r.type == redis_reply::kind::status && r.text == "OK") co_return stages::reservation::reserved;
    if (r.type == redis_reply::kind::nil) co_return stages::reservation::already_reserved;
    co_return stages::reservation::unavailable;
  }

  // Readiness: whether Redis takes a write like a reservation (`SET key 1 NX PX ttl` on a
  // key of the caller's own) within the command timeout. Both OK and nil are answers of a
  // server that accepted the write (the key left by an earlier probe gives nil): Redis
  // refuses writes it cannot take (-OOM, -READONLY, -NOAUTH, -MISCONF) before it looks at
  // the key. An error reply or none is not ready.
  boost::asio::awaitable<bool> accepts_writes(std::string_view key, std::int64_t ttl_ms) const {
    co_return co_await reserve(key, ttl_ms) != stages::reservation::unavailable;
  }

  // PING answered PONG.
  boost::asio::awaitable<bool> ping() const {
    redis_reply const r = co_await connection_->async_command(boost::asio::use_awaitable, "PING");
    co_return r.type == redis_reply::kind::status && r.text == "PONG";
  }

  // The server's maxmemory-policy; nullopt when CONFIG GET is refused or unanswered.
  boost::asio::awaitable<std::optional<std::string>> maxmemory_policy() const {
    redis_reply r = co_await connection_->async_command(boost::asio::use_awaitable, "CONFIG", "GET", "maxmemory-policy");
    if (r.type != redis_reply::kind::array || r.elements.size() != 2) co_return std::nullopt;
    co_return std::move(r.elements[1]);
  }

  [[nodiscard]] bool connected() const noexcept { return connection_->connected(); }

 private:
  redis_connection* connection_;
};

}  // namespace edgepipe::stores
