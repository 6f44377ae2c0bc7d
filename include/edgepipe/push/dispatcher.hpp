// The push dispatcher: one hub per worker, one entry point for events and revocations.
//
// A subscription lives in the hub of its connection's worker, which alone touches it, so
// subscribing and leaving need no lock. An event or an invalidation is posted to every
// worker's hub (the event built once and shared, never copied), each worker delivers to
// its own matches, and the caller learns the total on its own executor. Posts to one
// worker run in the order made, so each subscription sees events in the order dispatched.
// Cost: one post per worker per event; a worker holding no match does one hash lookup.
#pragma once

#include <edgepipe/push/hub.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace edgepipe::push {

class dispatcher {
 public:
  // At start-up, before any dispatch: `h` lives on `ex` and outlives the dispatcher's use.
  void add(boost::asio::any_io_executor ex, hub& h) { hubs_.push_back({std::move(ex), &h}); }

  [[nodiscard]] std::size_t workers() const noexcept { return hubs_.size(); }
  [[nodiscard]] hub& hub_of(std::size_t worker) noexcept { return *hubs_[worker].h; }

  // To every worker's matching subscriptions (hub::deliver); then done(reached) on `home`.
  template <class Done>
  void deliver(boost::asio::any_io_executor home, std::string user_id, std::string device_session_id,
               shared_event e, Done done) {
    broadcast(std::move(home), std::move(user_id), std::move(device_session_id), std::move(done),
              [e = std::move(e)](hub& h, std::string const& user, std::string const& session) {
                return h.deliver(user, session, e);
              });
  }

  // Ends every worker's matching subscriptions (hub::invalidate); then done(ended) on `home`.
  template <class Done>
  void invalidate(boost::asio::any_io_executor home, std::string user_id, std::string device_session_id, Done done) {
    broadcast(std::move(home), std::move(user_id), std::move(device_session_id), std::move(done),
              [](hub& h, std::string const& user, std::string const& session) { return h.invalidate(user, session); });
  }

  // Every worker's hub drains (hub::drain).
  void drain() {
    for (auto& w : hubs_) boost::asio::post(w.ex, [h = w.h] { h->drain(); });
  }

 private:
  struct worker_hub {
    boost::asio::any_io_executor ex;
    hub* h;
  };

  // One job shared by every worker it is posted to; the last one to finish reports.
  template <class Done, class Apply>
  struct job {
    std::string user_id, device_session_id;
    Apply apply;
    Done done;
    boost::asio::any_io_executor home;
    std::atomic<std::size_t> left;
    std::atomic<std::size_t> reached{0};
  };

  template <class Done, class Apply>
  void broadcast(boost::asio::any_io_executor home, std::string user_id, std::string device_session_id, Done done,
                 Apply apply) {
    using job_type = job<Done, Apply>;
    // Built in place: a job holds atomics, which do not move.
    std::shared_ptr<job_type> j{new job_type{std::move(user_id), std::move(device_session_id), std::move(apply),
                                             std::move(done), std::move(home), hubs_.size()}};
    if (hubs_.empty()) return boost::asio::post(j->home, [j] { j->done(std::size_t{0}); });
    for (auto& w : hubs_)
      boost::asio::post(w.ex, [j, h = w.h] {
        j->reached.fetch_add(j->apply(*h, j->user_id, j->device_session_id), std::memory_order_relaxed);
        if (j->left.fetch_sub(1, std::memory_order_acq_rel) == 1)
          boost::asio::post(j->home, [j] { j->done(j->reached.load(std::memory_order_relaxed)); });
      });
  }

  std::vector<worker_hub> hubs_;
};

}  // namespace edgepipe::push
