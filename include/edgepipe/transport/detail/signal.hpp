// A wake-up for one waiting coroutine on a single-threaded executor: notify() before or
// during wait() both count, so no wake-up is lost.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <utility>

namespace edgepipe::transport::detail {

class signal {
 public:
  explicit signal(boost::asio::any_io_executor ex) : timer_{std::move(ex)} {}

  void notify() noexcept {
    pending_ = true;
    timer_.cancel();
  }

  // Returns false when the waiting coroutine itself was cancelled (deadline, reset).
  boost::asio::awaitable<bool> wait() {
    if (!pending_) {
      timer_.expires_at(boost::asio::steady_timer::time_point::max());
      (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    pending_ = false;
    auto state = co_await boost::asio::this_coro::cancellation_state;
    co_return state.cancelled() == boost::asio::cancellation_type::none;
  }

 private:
  boost::asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace edgepipe::transport::detail
