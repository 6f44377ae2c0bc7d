// Workers: N threads, each running its own io_context, so a connection, its h2 pump and
// everything it touches stay on one thread for the connection's whole life.
//
//   edgepipe::transport::worker_pool workers{4};
//   // build per-worker objects on workers.executor(i) ...
//   workers.run();   // blocks until stop()
//
// Objects live on one worker unless they say they are thread-safe; to reach another
// worker's objects, post to its executor (on_each below does it for all of them).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <sched.h>

namespace edgepipe::transport {

// The CPUs this process may run on (its affinity mask), at least 1: the default number of
// workers.
inline std::size_t usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int const n = CPU_COUNT(&set);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  unsigned const hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}

class worker_pool {
 public:
  // `workers` io_contexts, each told that one thread runs it.
  explicit worker_pool(std::size_t workers) {
    if (workers == 0) throw std::invalid_argument{"worker_pool: at least one worker"};
    contexts_.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
  }
  worker_pool(worker_pool const&) = delete;
  worker_pool& operator=(worker_pool const&) = delete;
  ~worker_pool() {
    stop();
    join();
  }

  [[nodiscard]] std::size_t size() const noexcept { return contexts_.size(); }
  [[nodiscard]] boost::asio::io_context& context(std::size_t worker) noexcept { return *contexts_[worker]; }
  [[nodiscard]] boost::asio::any_io_executor executor(std::size_t worker) noexcept {
    return contexts_[worker]->get_executor();
  }

  // Runs worker 0 on the calling thread and the others on threads of their own; returns
  // when every worker has stopped (stop(), or each ran out of work). An exception
  // escaping a handler ends the program: a worker cannot recover half-way.
  void run() {
    for (std::size_t i = 1; i < contexts_.size(); ++i)
      threads_.emplace_back([ctx = contexts_[i].get()] { run_worker(*ctx); });
    run_worker(*contexts_[0]);
    join();
  }

  // Asks every worker to stop; safe from any thread.
  void stop() noexcept {
    for (auto& c : contexts_) c->stop();
  }

  // Runs f(i) (an awaitable) on every worker i at once and resumes the caller, on its own
  // executor, when all have finished. f must not throw.
  template <class F>
  boost::asio::awaitable<void> on_each(F f) {
    auto const home = co_await boost::asio::this_coro::executor;
    struct gather {
      explicit gather(boost::asio::any_io_executor ex, std::size_t n) : done{std::move(ex)}, left{n} {}
      boost::asio::steady_timer done;
      std::size_t left;  // touched on the caller's executor only
    };
    auto g = std::make_shared<gather>(home, contexts_.size());
    g->done.expires_at(boost::asio::steady_timer::time_point::max());
    for (std::size_t i = 0; i < contexts_.size(); ++i)
      boost::asio::co_spawn(executor(i), f(i), boost::asio::bind_executor(home, [g](std::exception_ptr) {
                              if (--g->left == 0) g->done.cancel();
                            }));
    while (g->left > 0) (void)co_await g->done.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

 private:
  static void run_worker(boost::asio::io_context& ctx) {
    auto guard = boost::asio::make_work_guard(ctx);  // idle workers wait for connections
    ctx.run();
  }
  void join() {
    for (auto& t : threads_)
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    threads_.clear();
  }

  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::thread> threads_;
};

}  // namespace edgepipe::transport
