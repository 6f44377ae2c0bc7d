// The push hub: live subscriptions indexed by user, each with a bounded queue.
//
// A delivery never blocks and never grows memory without bound: a subscription whose
// queue is full is ended (`resource_exhausted` · `slow_consumer`) instead. An
// invalidation ends the matching subscriptions (`unauthenticated` · `session_revoked`);
// a drain ends them all (`unavailable` · `draining`). Single-threaded: one hub per
// executor.
#pragma once

#include <edgepipe/status.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace edgepipe::push {

struct event {
  std::string event_id;
  std::string event_type;
  std::string payload;
};

inline constexpr status slow_consumer{code::resource_exhausted, "slow_consumer"};
inline constexpr status session_revoked{code::unauthenticated, "session_revoked"};
inline constexpr status draining{code::unavailable, "draining"};

class hub;

// One live subscription; lives in the coroutine that serves it.
class subscription {
 public:
  subscription(boost::asio::any_io_executor ex, std::string user_id, std::string device_session_id,
               std::size_t capacity = 256)
      : user_id_{std::move(user_id)},
        device_session_id_{std::move(device_session_id)},
        capacity_{capacity},
        wake_{std::move(ex)} {}
  subscription(subscription const&) = delete;
  subscription& operator=(subscription const&) = delete;

  [[nodiscard]] std::string const& user_id() const noexcept { return user_id_; }
  [[nodiscard]] std::string const& device_session_id() const noexcept { return device_session_id_; }

  // The next event, or the status that ended the subscription.
  boost::asio::awaitable<std::optional<event>> next() {
    for (;;) {
      if (!queue_.empty()) {
        event e = std::move(queue_.front());
        queue_.pop_front();
        co_return e;
      }
      if (ended_) co_return std::nullopt;
      wake_.expires_at(boost::asio::steady_timer::time_point::max());
      auto [ec] = co_await wake_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec && !ended_ && queue_.empty()) {
        // Cancelled from outside (the client left): end quietly.
        auto state = co_await boost::asio::this_coro::cancellation_state;
        if (state.cancelled() != boost::asio::cancellation_type::none) co_return std::nullopt;
      }
    }
  }

  // Why it ended (ok while it has not).
  [[nodiscard]] status end_status() const noexcept { return end_; }
  [[nodiscard]] bool ended() const noexcept { return ended_; }

 private:
  friend class hub;
  void offer(event e) {
    if (ended_) return;
    if (queue_.size() >= capacity_) return end(slow_consumer);
    queue_.push_back(std::move(e));
    wake_.cancel();
  }
  void end(status s) {
    if (ended_) return;
    ended_ = true;
    end_ = s;
    queue_.clear();  // what is queued is not delivered after the end
    wake_.cancel();
  }

  std::string user_id_;
  std::string device_session_id_;
  std::size_t capacity_;
  std::deque<event> queue_;
  boost::asio::steady_timer wake_;
  bool ended_ = false;
  status end_{};
};

class hub {
 public:
  void add(subscription& s) { by_user_[s.user_id()].push_back(&s); }

  void remove(subscription& s) {
    auto it = by_user_.find(s.user_id());
    if (it == by_user_.end()) return;
    std::erase(it->second, &s);
    if (it->second.empty()) by_user_.erase(it);
  }

  // To every live subscription of `user_id` (of that device session only, when given).
  // Returns how many received it.
  std::size_t deliver(std::string const& user_id, std::string const& device_session_id, event const& e) {
    std::size_t n = 0;
    for_matching(user_id, device_session_id, [&](subscription& s) {
      s.offer(e);
      ++n;
    });
    return n;
  }

  std::size_t invalidate(std::string const& user_id, std::string const& device_session_id) {
    std::size_t n = 0;
    for_matching(user_id, device_session_id, [&](subscription& s) {
      s.end(session_revoked);
      ++n;
    });
    return n;
  }

  void drain() {
    for (auto& [user, subs] : by_user_)
      for (subscription* s : subs) s->end(draining);
  }

  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = 0;
    for (auto const& [user, subs] : by_user_) n += subs.size();
    return n;
  }

 private:
  template <class F>
  void for_matching(std::string const& user_id, std::string const& device_session_id, F&& f) {
    auto it = by_user_.find(user_id);
    if (it == by_user_.end()) return;
    for (subscription* s : std::vector<subscription*>{it->second})  // a callback may remove
      if (device_session_id.empty() || s->device_session_id() == device_session_id) f(*s);
  }

  std::unordered_map<std::string, std::vector<subscription*>> by_user_;
};

}  // namespace edgepipe::push
