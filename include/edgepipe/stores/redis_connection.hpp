// One Redis connection on hiredis's asynchronous API, driven by an Asio event loop.
//
// hiredis does the protocol; Asio tells it when the socket is readable or writable (the
// adapter hooks below), so no call blocks the loop and no thread is spent per request.
// Commands are pipelined: each is written as soon as the socket takes it, and replies come
// back in order. Every command has a deadline; a command that misses it completes with
// no reply (the caller fails closed) while its late reply is discarded. A lost connection
// completes everything in flight with no reply and is re-established with exponential
// backoff and jitter (100 ms doubling to 5 s).
//
// Threading: a connection belongs to one executor (an io_context run by one thread, or a
// strand); start, close and async_command are called on it. Completions are delivered to
// the caller's associated executor.
#pragma once

#include <edgepipe/stores/redis_url.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgepipe::stores {

struct redis_reply {
  enum class kind {
    none,  // no reply: not connected, timed out, connection lost, or too many in flight
    status,
    string,
    integer,
    nil,
    error,
    array,
  };
  kind type = kind::none;
  std::string text;                   // status, string, error
  long long integer = 0;              // integer
  std::vector<std::string> elements;  // array of strings (nested values flattened to text)
};

struct redis_options {
  std::chrono::milliseconds command_timeout{500};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::size_t max_in_flight = 16384;  // beyond this a command fails at once: memory stays bounded
};

class redis_connection {
  class impl;

 public:
  redis_connection(boost::asio::any_io_executor executor, redis_endpoint endpoint, redis_options options = {})
      : impl_{std::make_shared<impl>(std::move(executor), std::move(endpoint), options)} {}
  redis_connection(redis_connection const&) = delete;
  redis_connection& operator=(redis_connection const&) = delete;
  ~redis_connection() { impl_->close(); }

  // Starts connecting (and reconnecting whenever the connection is lost).
  void start() { impl_->connect(); }
  // Drops the connection and stops reconnecting; commands in flight complete with no reply.
  void close() { impl_->close(); }

  // True while connected (the replay store's readiness); safe to ask from any thread.
  [[nodiscard]] bool connected() const noexcept { return impl_->connected(); }
  [[nodiscard]] std::size_t in_flight() const noexcept { return impl_->in_flight(); }

  // Sends one command; completes with void(redis_reply). The arguments are copied into
  // the outgoing buffer before this returns or, for lazy tokens such as use_awaitable,
  // when the operation starts: they must stay valid until then.
  template <class CompletionToken, class... Args>
  auto async_command(CompletionToken&& token, Args const&... args) {
    static_assert(sizeof...(Args) > 0);
    std::array<std::string_view, sizeof...(Args)> argv{std::string_view{args}...};
    return boost::asio::async_initiate<CompletionToken, void(redis_reply)>(
        [self = impl_, argv](auto handler) { self->submit(argv.data(), argv.size(), std::move(handler)); },
        token);
  }

 private:
  using handler_type = boost::asio::any_completion_handler<void(redis_reply)>;

  class impl : public std::enable_shared_from_this<impl> {
   public:
    impl(boost::asio::any_io_executor executor, redis_endpoint endpoint, redis_options options)
        : executor_{std::move(executor)},
          endpoint_{std::move(endpoint)},
          options_{options},
          resolver_{executor_},
          deadline_timer_{executor_},
          reconnect_timer_{executor_},
          connect_timer_{executor_},
          backoff_{options.backoff_min},
          jitter_{std::random_device{}()} {}

    ~impl() { free_context(); }

    bool connected() const noexcept { return connected_.load(std::memory_order_relaxed); }
    std::size_t in_flight() const noexcept { return in_flight_.size(); }

    void connect() {
      if (closed_ || context_ != nullptr) return;
      resolver_.async_resolve(
          endpoint_.host, std::to_string(endpoint_.port),
          [self = shared_from_this()](boost::system::error_code ec, boost::asio::ip::tcp::resolver::results_type r) {
            if (self->closed_) return;
            if (ec || r.empty()) return self->schedule_reconnect();
            self->open(r.begin()->endpoint());
          });
    }

    void close() {
      closed_ = true;
      resolver_.cancel();
      reconnect_timer_.cancel();
      connect_timer_.cancel();
      deadline_timer_.cancel();
      free_context();
    }

    void submit(std::string_view const* argv, std::size_t argc, handler_type handler) {
      if (!connected() || in_flight_.size() >= options_.max_in_flight) return complete(std::move(handler), {});
      std::array<char const*, 16> args{};
      std::array<std::size_t, 16> lengths{};
      if (argc > args.size()) return complete(std::move(handler), {});
      for (std::size_t i = 0; i < argc; ++i) {
        args[i] = argv[i].data();
        lengths[i] = argv[i].size();
      }
      auto* cmd = new command{std::move(handler), std::chrono::steady_clock::now() + options_.command_timeout};
      if (redisAsyncCommandArgv(context_, &impl::on_reply, cmd, static_cast<int>(argc), args.data(),
                                lengths.data()) != REDIS_OK) {
        complete(std::move(cmd->handler), {});
        delete cmd;
        return;
      }
      in_flight_.push_back(cmd);
      if (in_flight_.size() == 1) arm_deadline();
    }

   private:
    struct command {
      handler_type handler;  // empty once completed (timed out)
      std::chrono::steady_clock::time_point deadline;
    };

    // Never inline: a completion may start another command, and hiredis may be mid-call.
    // post() then hands the handler to its own associated executor.
    void complete(handler_type handler, redis_reply reply) {
      boost::asio::post(executor_, boost::asio::append(std::move(handler), std::move(reply)));
    }

    void open(boost::asio::ip::tcp::endpoint const& where) {
      std::string const ip = where.address().to_string();
      redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), where.port());
      if (ac == nullptr || ac->err != 0) {
        if (ac != nullptr) redisAsyncFree(ac);
        return schedule_reconnect();
      }
      ++generation_;
      context_ = ac;
      connected_ = false;
      want_read_ = want_write_ = read_waiting_ = write_waiting_ = false;
      ac->ev.data = this;
      ac->ev.addRead = [](void* p) { static_cast<impl*>(p)->want(true, true); };
      ac->ev.delRead = [](void* p) { static_cast<impl*>(p)->want(true, false); };
      ac->ev.addWrite = [](void* p) { static_cast<impl*>(p)->want(false, true); };
      ac->ev.delWrite = [](void* p) { static_cast<impl*>(p)->want(false, false); };
      ac->ev.cleanup = [](void* p) { static_cast<impl*>(p)->on_cleanup(); };
      ac->data = this;
      redisAsyncSetConnectCallback(ac, &impl::on_connect);
      redisAsyncSetDisconnectCallback(ac, &impl::on_disconnect);
      socket_.emplace(executor_, ac->c.fd);
      want(false, true);  // the connect completes when the socket turns writable

      connect_timer_.expires_after(options_.connect_timeout);
      connect_timer_.async_wait([self = shared_from_this(), gen = generation_](boost::system::error_code ec) {
        if (ec || gen != self->generation_ || self->connected_ || self->context_ == nullptr) return;
        self->free_context();  // the connect hangs: give up on it
        self->schedule_reconnect();
      });
    }

    // hiredis asks to watch (or stop watching) the socket for reads or writes.
    void want(bool read, bool on) {
      (read ? want_read_ : want_write_) = on;
      if (on) wait(read);
    }

    void wait(bool read) {
      bool& waiting = read ? read_waiting_ : write_waiting_;
      if (waiting || !socket_) return;
      waiting = true;
      socket_->async_wait(
          read ? boost::asio::posix::stream_descriptor::wait_read : boost::asio::posix::stream_descriptor::wait_write,
          [self = shared_from_this(), read, gen = generation_](boost::system::error_code ec) {
            if (gen != self->generation_) return;  // a wait of an earlier connection
            (read ? self->read_waiting_ : self->write_waiting_) = false;
            if (ec || self->context_ == nullptr) return;
            if (read)
              redisAsyncHandleRead(self->context_);
            else
              redisAsyncHandleWrite(self->context_);
            // The context may be gone now (a disconnect inside the handler).
            if (gen == self->generation_ && self->context_ != nullptr && (read ? self->want_read_ : self->want_write_))
              self->wait(read);
          });
    }

    void on_cleanup() {
      want_read_ = want_write_ = false;
      if (socket_) {
        socket_->release();  // hiredis closes the descriptor itself
        socket_.reset();
      }
    }

    static void on_connect(redisAsyncContext const* ac, int status) {
      auto* self = static_cast<impl*>(ac->data);
      if (status != REDIS_OK) {
        self->context_ = nullptr;  // hiredis frees the context after this callback
        self->connected_ = false;
        self->schedule_reconnect();
        return;
      }
      self->connected_ = true;
      self->connect_timer_.cancel();
      self->backoff_ = self->options_.backoff_min;
      // AUTH and SELECT go first; what the caller sends is pipelined behind them, so a
      // failure there fails those commands too (with an error reply: fail closed).
      if (!self->endpoint_.password.empty())
        redisAsyncCommand(self->context_, &impl::on_setup_reply, nullptr, "AUTH %b", self->endpoint_.password.data(),
                          self->endpoint_.password.size());
      if (self->endpoint_.db != 0) redisAsyncCommand(self->context_, &impl::on_setup_reply, nullptr, "SELECT %d", self->endpoint_.db);
    }

    static void on_setup_reply(redisAsyncContext* ac, void* reply, void*) {
      auto* r = static_cast<redisReply*>(reply);
      if (r != nullptr && r->type == REDIS_REPLY_ERROR) redisAsyncDisconnect(ac);  // wrong password or db
    }

    static void on_disconnect(redisAsyncContext const* ac, int) {
      auto* self = static_cast<impl*>(ac->data);
      self->context_ = nullptr;  // hiredis frees the context after this callback
      self->connected_ = false;
      self->schedule_reconnect();
    }

    static void on_reply(redisAsyncContext* ac, void* raw, void* privdata) {
      auto* self = static_cast<impl*>(ac->data);
      auto* cmd = static_cast<command*>(privdata);
      auto& q = self->in_flight_;
      if (auto it = std::find(q.begin(), q.end(), cmd); it != q.end()) q.erase(it);
      if (cmd->handler) self->complete(std::move(cmd->handler), convert(static_cast<redisReply*>(raw)));
      delete cmd;
    }

    static redis_reply convert(redisReply const* r) {
      redis_reply out;
      if (r == nullptr) return out;
      switch (r->type) {
        case REDIS_REPLY_STATUS: out.type = redis_reply::kind::status; break;
        case REDIS_REPLY_STRING: out.type = redis_reply::kind::string; break;
        case REDIS_REPLY_ERROR: out.type = redis_reply::kind::error; break;
        case REDIS_REPLY_INTEGER: out.type = redis_reply::kind::integer; break;
        case REDIS_REPLY_NIL: out.type = redis_reply::kind::nil; break;
        case REDIS_REPLY_ARRAY: out.type = redis_reply::kind::array; break;
        default: return out;
      }
      if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
      if (r->str != nullptr) out.text.assign(r->str, r->len);
      if (r->type == REDIS_REPLY_ARRAY)
        for (std::size_t i = 0; i < r->elements; ++i)
          out.elements.push_back(r->element[i] != nullptr && r->element[i]->str != nullptr
                                     ? std::string{r->element[i]->str, r->element[i]->len}
                                     : std::string{});
      return out;
    }

    // One timer for all commands: they were sent in order with the same timeout, so
    // the oldest still waiting has the earliest deadline.
    void arm_deadline() {
      auto first = std::find_if(in_flight_.begin(), in_flight_.end(), [](command* c) { return bool(c->handler); });
      if (first == in_flight_.end()) return;
      deadline_timer_.expires_at((*first)->deadline);
      deadline_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return;
        self->expire_overdue();
      });
    }

    void expire_overdue() {
      auto const now = std::chrono::steady_clock::now();
      for (command* c : in_flight_)
        if (c->handler && c->deadline <= now) complete(std::move(c->handler), {});
      // A reply overdue by far more than the timeout: the server or the path is stuck.
      // Start over on a fresh connection rather than queue behind it.
      // (redisAsyncDisconnect would wait for the replies that are not coming.)
      if (!in_flight_.empty() && context_ != nullptr &&
          now - in_flight_.front()->deadline > std::max(options_.command_timeout * 4, std::chrono::milliseconds{2000}))
        free_context();
      arm_deadline();
    }

    void schedule_reconnect() {
      if (closed_) return;
      auto const delay = std::uniform_int_distribution<long long>{backoff_.count() / 2, backoff_.count()}(jitter_);
      backoff_ = std::min(backoff_ * 2, options_.backoff_max);
      reconnect_timer_.expires_after(std::chrono::milliseconds{delay});
      reconnect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->connect();
      });
    }

    void free_context() {
      if (context_ == nullptr) return;
      redisAsyncContext* ac = context_;
      context_ = nullptr;
      connected_ = false;
      // Completes every command with no reply; when the context was connected, hiredis
      // then calls on_disconnect, which reconnects unless we are closing.
      redisAsyncFree(ac);
    }

    boost::asio::any_io_executor executor_;
    redis_endpoint endpoint_;
    redis_options options_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer deadline_timer_;
    boost::asio::steady_timer reconnect_timer_;
    boost::asio::steady_timer connect_timer_;
    std::chrono::milliseconds backoff_;
    std::mt19937_64 jitter_;

    redisAsyncContext* context_ = nullptr;
    std::optional<boost::asio::posix::stream_descriptor> socket_;
    std::uint64_t generation_ = 0;
    std::atomic<bool> connected_{false};  // false whenever context_ is null; read by any thread
    bool closed_ = false;
    bool want_read_ = false, want_write_ = false;
    bool read_waiting_ = false, write_waiting_ = false;
    std::deque<command*> in_flight_;
  };

  std::shared_ptr<impl> impl_;
};

}  // namespace edgepipe::stores
