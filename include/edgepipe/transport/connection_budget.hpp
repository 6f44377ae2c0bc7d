// One bound on open connections to a backend, shared by the connection pools of every
// worker: the process holds at most `max` at once, however many workers keep pools.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace edgepipe::transport {

// A pool that draws on a budget. The budget calls these on the pool's executor.
class budget_member {
 public:
  virtual ~budget_member() = default;
  [[nodiscard]] virtual boost::asio::any_io_executor member_executor() const = 0;
  // Room was made for the waiting call `ticket` (wait()): wake it. `granted`: the slot is
  // the call's already (handed over, not to be taken again). A call that no longer waits
  // passes the room on (pass_on(), or hand_over() for a slot).
  virtual void room(std::uint64_t ticket, bool granted) = 0;
  // Another pool waits and none is free: close an idle connection, if there is one.
  virtual void shed_idle() = 0;

  // Idle and open connections held now (kept by the pool), and its calls registered as
  // waiting (kept by the budget); read by other threads.
  std::atomic<std::size_t> idle_count{0};
  std::atomic<std::size_t> open_count{0};
  std::atomic<std::size_t> waiting_count{0};
};

// Taking a slot costs one compare-and-swap and happens only when a pool opens a new
// connection; a kept-alive connection reused touches nothing shared. The lock is taken only
// when a pool has to wait, or a connection closes while one waits.
class connection_budget : public std::enable_shared_from_this<connection_budget> {
 public:
  explicit connection_budget(std::size_t max) noexcept : max_{max} {}
  connection_budget(connection_budget const&) = delete;
  connection_budget& operator=(connection_budget const&) = delete;

  [[nodiscard]] std::size_t max() const noexcept { return max_; }
  [[nodiscard]] std::size_t open() const noexcept { return open_.load(); }

  // A slot for a new connection, if one is left.
  [[nodiscard]] bool try_take() noexcept {
    std::size_t n = open_.load();
    while (n < max_)
      if (open_.compare_exchange_weak(n, n + 1)) return true;
    return false;
  }

  // A connection taken with try_take() has closed: its slot goes to a waiting pool.
  void give_back() {
    open_.fetch_sub(1);
    std::lock_guard lock{mutex_};
    hand_on(false);
  }

  // A connection closed for a waiting pool (should_yield): its slot passes to that pool
  // directly, so that no call of the closing pool takes it back first; with no pool
  // waiting any more, it is given back.
  void hand_over() {
    {
      std::lock_guard lock{mutex_};
      if (hand_on(true)) return;
    }
    give_back();
  }

  // A call of `m`, named `ticket` by its pool, found no slot: it is told room() once one
  // frees (at once, if one freed since its try_take failed), and the pool holding the most
  // connections among those with an idle one is asked to close one.
  void wait(std::shared_ptr<budget_member> const& m, std::uint64_t ticket) {
    std::lock_guard lock{mutex_};
    waiting_.push_back({m, ticket});
    m->waiting_count.fetch_add(1, std::memory_order_relaxed);
    counted();
    if (open_.load() < max_) {
      hand_on(false);
      return;
    }
    members_.erase(std::remove_if(members_.begin(), members_.end(), [](auto const& w) { return w.expired(); }),
                   members_.end());
    std::shared_ptr<budget_member> richest;
    for (auto const& w : members_)
      if (auto other = w.lock(); other && other != m && other->idle_count.load(std::memory_order_relaxed) > 0 &&
                                 (!richest || other->open_count.load(std::memory_order_relaxed) >
                                                  richest->open_count.load(std::memory_order_relaxed)))
        richest = std::move(other);
    if (richest)
      boost::asio::post(richest->member_executor(), [w = std::weak_ptr<budget_member>{richest}] {
        if (auto p = w.lock()) p->shed_idle();
      });
  }

  // The registration `ticket` of `m` is no longer wanted (its call was served otherwise, or
  // gave up); nothing when the budget already handed it room.
  void stop_waiting(budget_member& m, std::uint64_t ticket) {
    std::lock_guard lock{mutex_};
    auto const it = std::find_if(waiting_.begin(), waiting_.end(),
                                 [&](registration const& r) { return r.ticket == ticket && r.member.lock().get() == &m; });
    if (it == waiting_.end()) return;
    waiting_.erase(it);
    m.waiting_count.fetch_sub(1, std::memory_order_relaxed);
    counted();
  }

  // Whether some pool waits for a slot.
  [[nodiscard]] bool someone_waits() const noexcept { return waiting_count_.load(std::memory_order_relaxed) > 0; }

  // Whether a pool holding `open` connections should close one that came free with no call
  // of its own waiting, because another pool waits: when it holds more than its even share
  // (max / pools, rounded up), or a pool that holds none waits (fewer slots than pools).
  // Under a steady load the slots then settle instead of moving back and forth, each move a
  // close and a connect.
  [[nodiscard]] bool should_yield(std::size_t open) {
    if (!someone_waits()) return false;
    if (open > share_.load(std::memory_order_relaxed)) return true;
    std::lock_guard lock{mutex_};
    for (auto const& w : members_)
      if (auto p = w.lock(); p && p->waiting_count.load(std::memory_order_relaxed) > 0 &&
                             p->open_count.load(std::memory_order_relaxed) == 0)
        return true;
    return false;
  }

  // A room(false) arrived when no call waited any more: pass it to the next waiting pool.
  void pass_on() {
    std::lock_guard lock{mutex_};
    if (open_.load() < max_) hand_on(false);
  }

  // Pools that may be asked to shed idle connections.
  void join(std::shared_ptr<budget_member> const& m) {
    std::lock_guard lock{mutex_};
    members_.push_back(m);
    share_.store((max_ + members_.size() - 1) / members_.size(), std::memory_order_relaxed);
  }

 private:
  struct registration {
    std::weak_ptr<budget_member> member;
    std::uint64_t ticket;
  };

  // Under the lock, after the waiting list changed.
  void counted() noexcept { waiting_count_.store(waiting_.size(), std::memory_order_relaxed); }

  // Under the lock: room() to the first waiting call whose pool is still alive; false when
  // none waits. Room that arrives after its pool has gone is passed on.
  bool hand_on(bool granted) {
    while (!waiting_.empty()) {
      registration r = std::move(waiting_.front());
      waiting_.pop_front();
      counted();
      if (auto p = r.member.lock()) {
        p->waiting_count.fetch_sub(1, std::memory_order_relaxed);
        boost::asio::post(p->member_executor(), [r, granted, self = shared_from_this()] {
          if (auto q = r.member.lock()) q->room(r.ticket, granted);
          else if (granted) self->hand_over();
          else self->pass_on();
        });
        return true;
      }
    }
    return false;
  }

  std::size_t const max_;
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  std::deque<registration> waiting_;
  std::vector<std::weak_ptr<budget_member>> members_;
  std::atomic<std::size_t> waiting_count_{0};
  std::atomic<std::size_t> share_{0};  // max / pools that joined, rounded up
};

}  // namespace edgepipe::transport
