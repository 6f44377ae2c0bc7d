// The push hub: live subscriptions indexed by user, each with a bounded queue.
//
// A delivery never blocks and never grows memory without bound. Each subscription is
// bounded by events and by bytes: the bytes accepted for it and not yet written to its
// socket, wherever they wait (events queued here, plus what the transport holds for its
// stream, learnt from a backlog probe). An offer past either bound ends the subscription
// (`resource_exhausted` · `slow_consumer`) and drops what it had queued. An event is built
// once and shared by every queue it reaches. An invalidation ends the matching
// subscriptions (`unauthenticated` · `session_revoked`); a drain ends them all
// (`unavailable` · `draining`). Single-threaded: one hub per executor (push::dispatcher
// reaches the hubs of several workers).
#pragma once

#include <edgepipe/status.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace edgepipe::push {

struct event {
  std::string event_id;
  std::string event_type;
  std::string payload;

  // What holding it costs a queue.
  [[nodiscard]] std::size_t bytes() const noexcept { return event_id.size() + event_type.size() + payload.size(); }
};

// An event as queues hold it: immutable, built once, shared by every subscription it reaches.
using shared_event = std::shared_ptr<event const>;

inline constexpr status slow_consumer{code::resource_exhausted, "slow_consumer"};
inline constexpr status session_revoked{code::unauthenticated, "session_revoked"};
inline constexpr status draining{code::unavailable, "draining"};

struct queue_limits {
  std::size_t events = 256;
  std::size_t bytes = 4 * 1024 * 1024;  // hub queue plus transport backlog
};

// Reads how many response bytes the transport holds for a subscription's stream and has
// not written yet, from anything with `queued_bytes()` (transport::message_writer). It does
// not own its source, which must outlive the subscription. Empty: no transport backlog.
class backlog_probe {
 public:
  backlog_probe() = default;
  template <class Source>
    requires requires(Source const& s) {
      { s.queued_bytes() } -> std::convertible_to<std::size_t>;
    }
  explicit backlog_probe(Source const& source) noexcept
      : source_{&source}, read_{[](void const* s) -> std::size_t { return static_cast<Source const*>(s)->queued_bytes(); }} {}
  template <class Source>
  explicit backlog_probe(Source const&&) = delete;  // a temporary would be gone before the first read

  [[nodiscard]] std::size_t operator()() const { return read_ == nullptr ? 0 : read_(source_); }

 private:
  void const* source_ = nullptr;
  std::size_t (*read_)(void const*) = nullptr;
};

namespace detail {
// A FIFO of shared events in a ring that grows to the queue's high-water mark and then
// allocates no more, so steady delivery costs a subscription no allocation.
class event_ring {
 public:
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  void push(shared_event e) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(e);
    ++size_;
  }
  shared_event pop() noexcept {
    shared_event e = std::move(slots_[head_]);
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
    return e;
  }
  // Drops every event and the storage.
  void release() noexcept {
    slots_ = {};
    head_ = size_ = 0;
  }

 private:
  void grow() {
    std::vector<shared_event> bigger(slots_.empty() ? 4 : slots_.size() * 2);  // a power of two
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<shared_event> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};
}  // namespace detail

class hub;

// One live subscription; lives in the coroutine that serves it.
class subscription {
 public:
  subscription(boost::asio::any_io_executor ex, std::string user_id, std::string device_session_id,
               queue_limits limits = {}, backlog_probe transport_backlog = {})
      : user_id_{std::move(user_id)},
        device_session_id_{std::move(device_session_id)},
        limits_{limits},
        transport_backlog_{transport_backlog},
        wake_{std::move(ex)} {}
  subscription(subscription const&) = delete;
  subscription& operator=(subscription const&) = delete;

  [[nodiscard]] std::string const& user_id() const noexcept { return user_id_; }
  [[nodiscard]] std::string const& device_session_id() const noexcept { return device_session_id_; }

  // The next event, or null once the subscription has ended (or the caller was cancelled).
  boost::asio::awaitable<shared_event> next() {
    for (;;) {
      if (!queue_.empty()) {
        shared_event e = queue_.pop();
        queued_bytes_ -= e->bytes();
        co_return e;
      }
      if (ended_) co_return nullptr;
      wake_.expires_at(boost::asio::steady_timer::time_point::max());
      auto [ec] = co_await wake_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec && !ended_ && queue_.empty()) {
        // Cancelled from outside (the client left): end quietly.
        auto state = co_await boost::asio::this_coro::cancellation_state;
        if (state.cancelled() != boost::asio::cancellation_type::none) co_return nullptr;
      }
    }
  }

  // Why it ended (ok while it has not).
  [[nodiscard]] status end_status() const noexcept { return end_; }
  [[nodiscard]] bool ended() const noexcept { return ended_; }
  // Events waiting in the hub, and their bytes (the transport's backlog not included).
  [[nodiscard]] std::size_t queued_events() const noexcept { return queue_.size(); }
  [[nodiscard]] std::size_t queued_bytes() const noexcept { return queued_bytes_; }

 private:
  friend class hub;
  void offer(shared_event const& e) {
    if (ended_) return;
    std::size_t const held = queued_bytes_ + transport_backlog_();
    if (queue_.size() >= limits_.events || held + e->bytes() > limits_.bytes) return end(slow_consumer);
    queued_bytes_ += e->bytes();
    queue_.push(e);
    wake_.cancel();
  }
  void end(status s) {
    if (ended_) return;
    ended_ = true;
    end_ = s;
    queue_.release();  // what is queued is not delivered after the end
    queued_bytes_ = 0;
    wake_.cancel();
  }

  std::string user_id_;
  std::string device_session_id_;
  queue_limits limits_;
  backlog_probe transport_backlog_;
  detail::event_ring queue_;
  std::size_t queued_bytes_ = 0;
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

  // To every live subscription of `user_id` (of that device session only, when given);
  // each queue holds `e` itself, not a copy. Returns how many received it.
  std::size_t deliver(std::string const& user_id, std::string const& device_session_id, shared_event const& e) {
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

  // Ends every live subscription with `draining`; the program stops adding new ones.
  void drain() {
    draining_ = true;
    for (auto& [user, subs] : by_user_)
      for (subscription* s : subs) s->end(draining);
  }
  [[nodiscard]] bool is_draining() const noexcept { return draining_; }

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
    // offer() and end() only schedule their coroutine's wake-up, never run it inline, so no
    // subscription leaves this list while it is walked.
    for (subscription* s : it->second)
      if (device_session_id.empty() || s->device_session_id() == device_session_id) f(*s);
  }

  std::unordered_map<std::string, std::vector<subscription*>> by_user_;

  bool draining_ = false;
};

}  // namespace edgepipe::push
