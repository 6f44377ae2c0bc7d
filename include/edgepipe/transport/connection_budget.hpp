// One bound on open connections to a backend, shared by the connection pools of every
// worker: the process holds at most `max` at once, however many workers keep pools.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
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
  // Room was made elsewhere: wake one call waiting for a connection, if any still waits.
  virtual void room() = 0;
  // Another pool waits and none is free: close an idle connection, if there is one.
  virtual void shed_idle() = 0;

  // Idle and open connections held now; read by other threads.
  std::atomic<std::size_t> idle_count{0};
  std::atomic<std::size_t> open_count{0};
};

// Taking a slot costs one compare-and-swap and happens only when a pool opens a new
// connection; a kept-alive connection reused touches nothing shared. The lock is taken only
// when a pool has to wait, or a connection closes while one waits.
class connection_budget {
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
    hand_on();
  }

  // `m` has a call that found no slot: it is told room() once one frees (at once, if one
  // freed since its try_take failed), and a pool holding an idle connection is asked to
  // close one.
  void wait(std::shared_ptr<budget_member> const& m) {
    std::lock_guard lock{mutex_};
    waiting_.push_back(m);
    waiting_count_.store(waiting_.size(), std::memory_order_relaxed);
    if (m->open_count.load(std::memory_order_relaxed) < share_.load(std::memory_order_relaxed))
      starved_.store(true, std::memory_order_relaxed);
    if (open_.load() < max_) return hand_on();
    members_.erase(std::remove_if(members_.begin(), members_.end(), [](auto const& w) { return w.expired(); }),
                   members_.end());
    for (auto const& w : members_)
      if (auto other = w.lock(); other && other != m && other->idle_count.load(std::memory_order_relaxed) > 0) {
        boost::asio::post(other->member_executor(), [w] {
          if (auto p = w.lock()) p->shed_idle();
        });
        return;
      }
  }

  // One registration of `m` made by wait() is no longer wanted (its call was served
  // otherwise, or gave up).
  void stop_waiting(budget_member const& m) {
    std::lock_guard lock{mutex_};
    auto const it = std::find_if(waiting_.begin(), waiting_.end(), [&](auto const& w) { return w.lock().get() == &m; });
    if (it != waiting_.end()) waiting_.erase(it);
    counted();
  }

  // Whether some pool waits for a slot.
  [[nodiscard]] bool someone_waits() const noexcept { return waiting_count_.load(std::memory_order_relaxed) > 0; }

  // Whether a pool holding `open` connections should close one that came free with no call
  // of its own waiting, because another pool waits: when it holds more than its even share,
  // or a waiting pool holds less than its own. Under a steady load the slots then settle
  // instead of moving back and forth (each move is a close and a connect).
  [[nodiscard]] bool should_yield(std::size_t open) const noexcept {
    return someone_waits() && (open > share_.load(std::memory_order_relaxed) || starved_.load(std::memory_order_relaxed));
  }

  // A room() arrived when no call waited any more: pass it to the next waiting pool.
  void pass_on() {
    std::lock_guard lock{mutex_};
    if (open_.load() < max_) hand_on();
  }

  // Pools that may be asked to shed idle connections.
  void join(std::shared_ptr<budget_member> const& m) {
    std::lock_guard lock{mutex_};
    members_.push_back(m);
    share_.store(std::max<std::size_t>(max_ / members_.size(), 1), std::memory_order_relaxed);
  }

 private:
  // Under the lock, after the waiting list changed.
  void counted() noexcept {
    waiting_count_.store(waiting_.size(), std::memory_order_relaxed);
    if (waiting_.empty()) starved_.store(false, std::memory_order_relaxed);
  }

  // Under the lock: room() to the first waiting pool still alive.
  void hand_on() {
    while (!waiting_.empty()) {
      std::weak_ptr<budget_member> w = std::move(waiting_.front());
      waiting_.pop_front();
      counted();
      if (auto p = w.lock()) {
        boost::asio::post(p->member_executor(), [w] {
          if (auto q = w.lock()) q->room();
        });
        return;
      }
    }
  }

  std::size_t const max_;
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  std::deque<std::weak_ptr<budget_member>> waiting_;
  std::atomic<std::size_t> waiting_count_{0};
  std::atomic<std::size_t> share_{0};  // max / pools that joined
  std::atomic<bool> starved_{false};   // a pool below its share waits
  std::vector<std::weak_ptr<budget_member>> members_;
};

}  // namespace edgepipe::transport
