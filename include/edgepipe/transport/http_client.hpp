// An HTTP/1.1 client for one backend: a bounded pool of keep-alive connections, a
// deadline per call, bounded answers. Errors are values.
//
// What a backend sends is data, so a connection carries another request only when
// nothing of an earlier answer can be left on it:
//   - interim 1xx answers are read and skipped; the final answer is the one returned;
//   - a connection goes back to the pool only when its answer was framed by length or
//     chunking, the backend keeps it alive, and no byte followed the answer;
//   - while idle, each pooled connection waits for readability: a backend that closes
//     it, or sends anything unasked, gets it closed and dropped; and before a pooled
//     connection is used, a non-blocking peek confirms that nothing arrived since;
//   - no connection is kept past the idle time the backend announced (`Keep-Alive:
//     timeout=N`), nor past `idle_timeout` when it announced none.
// Retries follow one rule (`may_retry`): only a request marked repeatable, only on a
// reused connection, and only when no byte of the answer arrived. A request with a
// header value outside the HTTP grammar is never written.
//
// Threading: a client and its connections live on one executor. Each idle connection
// keeps a wait pending on it, so `io_context::run()` does not return while the client
// holds one: run until the answer (`run_one`), or destroy the client first.
#pragma once

#include <edgepipe/protocol/header_grammar.hpp>
#include <edgepipe/transport/connection_budget.hpp>
#include <edgepipe/transport/detail/http_answer.hpp>  // first Beast include: see there

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgepipe::transport {

struct http_endpoint {
  std::string host;
  std::uint16_t port = 80;
};

// "http://host:port" (no path); nullopt otherwise.
inline std::optional<http_endpoint> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return std::nullopt;
  url.remove_prefix(scheme.size());
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  if (url.find('/') != std::string_view::npos) return std::nullopt;
  auto colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  unsigned port = 0;
  for (char c : url.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
    if (port > 65535) return std::nullopt;
  }
  if (port == 0) return std::nullopt;
  return http_endpoint{std::string{url.substr(0, colon)}, static_cast<std::uint16_t>(port)};
}

// Percent-encodes one path segment (RFC 3986 unreserved characters pass).
inline std::string encode_path_segment(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

struct http_client_options {
  std::size_t max_connections = 256;  // open at once, busy or idle; past it a call waits (a
                                      // shared connection_budget, when given, bounds instead)
  std::size_t max_response_bytes = 4 * 1024 * 1024;
  std::size_t max_response_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{30'000};  // when the backend announces none
};

// Whether a request may be sent again on a new connection when its first attempt failed.
enum class http_retry {
  never,               // it may have had an effect (a command)
  once_if_unanswered,  // it has none (a lookup): once, when no byte of an answer came
};

// The only rule for sending a request a second time: a repeatable request whose reused
// connection failed before any byte of the answer arrived, which is how a connection the
// backend closed while it sat idle fails.
constexpr bool may_retry(http_retry policy, bool reused_connection, bool answer_started) noexcept {
  return policy == http_retry::once_if_unanswered && reused_connection && !answer_started;
}

// The idle time a `Keep-Alive: timeout=N` value announces, or nullopt.
inline std::optional<std::chrono::milliseconds> announced_keep_alive(std::string_view value) noexcept {
  for (;;) {
    while (!value.empty() && (value.front() == ' ' || value.front() == ',')) value.remove_prefix(1);
    if (value.empty()) return std::nullopt;
    std::size_t const end = value.find(',');
    std::string_view item = value.substr(0, end);
    value.remove_prefix(end == std::string_view::npos ? value.size() : end);
    if (!item.starts_with("timeout=")) continue;
    item.remove_prefix(8);
    unsigned seconds = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), seconds);
    if (ec != std::errc{} || seconds > 86'400) return std::nullopt;
    return std::chrono::milliseconds{std::chrono::seconds{seconds}};
  }
}

class http_client {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  enum class failure {
    none,
    connect,          // no connection could be made
    timeout,          // the deadline passed (waiting for a connection counts)
    io,               // the connection failed or closed before the answer was complete
    too_large,        // the answer was over a limit
    malformed,        // not an HTTP/1.1 answer
    invalid_request,  // a header value outside the grammar: nothing was sent
  };
  struct outcome {
    failure error = failure::none;
    response res;
  };

  // `budget`, when given, bounds the open connections of every client that shares it (one
  // per worker); otherwise this client has a bound of its own, `o.max_connections`.
  http_client(boost::asio::any_io_executor ex, http_endpoint endpoint, http_client_options o = {},
              std::shared_ptr<connection_budget> budget = {})
      : pool_{std::make_shared<pool>(std::move(ex), std::move(endpoint), o,
                                     budget ? std::move(budget) : std::make_shared<connection_budget>(o.max_connections))} {
    pool_->budget->join(pool_);
  }
  http_client(http_client const&) = delete;
  http_client& operator=(http_client const&) = delete;
  ~http_client() { pool_->close_idle(); }

  // Sends `req` (Host and keep-alive set here) and reads its final answer within `timeout`.
  // (g++ 12 misreports Asio's coroutine frame new/delete pair as mismatched.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
  boost::asio::awaitable<outcome> send(request req, std::chrono::milliseconds timeout,
                                       http_retry retry = http_retry::never) {
    if (!writable(req)) co_return outcome{failure::invalid_request, {}};
    req.set(boost::beast::http::field::host, pool_->host_header);
    req.keep_alive(true);
    req.prepare_payload();
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    for (int attempt = 0;; ++attempt) {
      lease conn = co_await pool_->acquire(deadline);
      if (!conn) co_return outcome{conn.why, {}};
      exchange_result r = co_await exchange(*conn.conn, req, deadline);
      if (r.error == failure::none) {
        if (r.reusable) conn.give_back();
        co_return outcome{failure::none, std::move(r.res)};
      }
      if (attempt == 0 && r.error != failure::timeout && may_retry(retry, conn.reused, r.answer_started)) continue;
      co_return outcome{r.error, {}};
    }
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  // Connections open now (busy or idle), and idle in the pool.
  [[nodiscard]] std::size_t open_connections() const noexcept { return pool_->open; }
  [[nodiscard]] std::size_t idle_connections() const noexcept { return pool_->idle.size(); }

 private:
  struct connection {
    explicit connection(boost::asio::any_io_executor ex) : stream{std::move(ex)} {}
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;  // empty whenever the connection is idle
    std::chrono::steady_clock::time_point reuse_until;
    bool idle = false;
  };

  struct waiter {
    explicit waiter(boost::asio::any_io_executor ex) : timer{std::move(ex)} {}
    boost::asio::steady_timer timer;
    std::uint64_t ticket = 0;  // its registration with the budget
    bool woken = false;
    bool granted = false;  // woken with a slot handed over to it
  };
  // How a waiting call was woken: not at all (its deadline passed), to look again, or
  // holding a slot.
  enum class room_made { none, look_again, slot };

  struct pool;

  // A connection taken from the pool for one exchange; closed unless given back.
  struct lease {
    std::shared_ptr<pool> owner;
    std::shared_ptr<connection> conn;
    bool reused = false;
    failure why = failure::none;

    lease() = default;
    lease(lease&&) noexcept = default;
    lease& operator=(lease&&) = delete;
    ~lease() {
      if (owner && conn) owner->discard(*conn);
    }
    explicit operator bool() const noexcept { return conn != nullptr; }
    void give_back() {
      owner->put_idle(std::move(conn));
      conn.reset();
    }
  };

  struct pool : budget_member, std::enable_shared_from_this<pool> {
    pool(boost::asio::any_io_executor ex, http_endpoint e, http_client_options o,
         std::shared_ptr<connection_budget> b)
        : executor{std::move(ex)},
          endpoint{std::move(e)},
          options{o},
          host_header{endpoint.host + ":" + std::to_string(endpoint.port)},
          budget{std::move(b)} {}

    boost::asio::any_io_executor member_executor() const override { return executor; }
    void room(std::uint64_t ticket, bool slot_granted) override {
      auto const it = std::find_if(waiters.begin(), waiters.end(), [&](waiter* w) { return w->ticket == ticket; });
      if (it == waiters.end()) {  // that call was served otherwise, or gave up: the room goes on
        if (slot_granted) budget->hand_over();
        else budget->pass_on();
        return;
      }
      waiter* w = *it;
      waiters.erase(it);
      w->woken = true;
      w->granted = slot_granted;
      w->timer.cancel();
    }
    void shed_idle() override {
      // An idle connection here may be promised to a call just woken: give one up only
      // when this pool holds more than its share (or a pool with none waits).
      if (idle.empty() || !budget->should_yield(open)) return;
      std::shared_ptr<connection> oldest = std::move(idle.front());
      idle.erase(idle.begin());
      idle_changed();
      oldest->idle = false;
      discard(*oldest, /*for_another_pool=*/true);
    }
    void idle_changed() noexcept { idle_count.store(idle.size(), std::memory_order_relaxed); }

    boost::asio::any_io_executor executor;
    http_endpoint endpoint;
    http_client_options options;
    std::string host_header;
    std::shared_ptr<connection_budget> budget;
    std::uint64_t next_ticket = 0;  // names each waiting call to the budget
    boost::asio::ip::tcp::resolver::results_type resolved;
    std::vector<std::shared_ptr<connection>> idle;  // most recently used last
    std::deque<waiter*> waiters;
    std::size_t open = 0;

    boost::asio::awaitable<lease> acquire(std::chrono::steady_clock::time_point deadline) {
      lease out;
      out.owner = this->shared_from_this();
      bool holds_slot = false;  // one the budget handed this call (another pool gave it up)
      for (;;) {
        while (!idle.empty()) {
          std::shared_ptr<connection> c = std::move(idle.back());
          idle.pop_back();
          idle_changed();
          c->idle = false;
          boost::system::error_code ignored;
          c->stream.socket().cancel(ignored);  // ends the idle watch
          if (std::chrono::steady_clock::now() < c->reuse_until && nothing_arrived(*c)) {
            if (holds_slot) budget->give_back();  // served by a kept connection: the slot goes on
            out.conn = std::move(c);
            out.reused = true;
            co_return std::move(out);
          }
          discard(*c);
        }
        if (holds_slot || budget->try_take()) break;
        room_made const r = co_await wait_for_room(deadline);
        if (r == room_made::none) {
          out.why = failure::timeout;
          co_return std::move(out);
        }
        holds_slot = r == room_made::slot;
      }
      ++open;
      open_count.store(open, std::memory_order_relaxed);
      auto c = std::make_shared<connection>(executor);
      c->stream.expires_at(deadline);
      // Resolved once and kept (a resolve is a thread hop); resolved again after a failed connect.
      if (resolved.empty()) {
        boost::asio::ip::tcp::resolver resolver{executor};
        auto [rec, results] = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                              boost::asio::as_tuple(boost::asio::use_awaitable));
        if (rec) {
          discard(*c);
          out.why = failure::connect;
          co_return std::move(out);
        }
        resolved = std::move(results);
      }
      auto [cec, ep] = co_await c->stream.async_connect(resolved, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (cec) {
        resolved = {};
        discard(*c);
        out.why = cec == boost::beast::error::timeout ? failure::timeout : failure::connect;
        co_return std::move(out);
      }
      boost::system::error_code ignored;
      c->stream.socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
      out.conn = std::move(c);
      co_return std::move(out);
    }

    // True when the socket has nothing to read and is not closed: a byte that arrived
    // after the last answer is one nobody asked for, and a closed idle connection would
    // swallow the request.
    static bool nothing_arrived(connection& c) noexcept {
      char probe;
      ssize_t const n = ::recv(c.stream.socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    void put_idle(std::shared_ptr<connection> c) {
      if (waiters.empty() && budget->should_yield(open)) return discard(*c, /*for_another_pool=*/true);
      c->stream.expires_never();
      c->idle = true;
      // Anything that makes an idle connection readable (the backend closing it, or bytes
      // nobody asked for) ends it here, before a request could be written on it. The
      // handler holds the connection: it may run after the connection left the pool.
      c->stream.socket().async_wait(
          boost::asio::ip::tcp::socket::wait_read,
          [self = std::weak_ptr<pool>{this->shared_from_this()}, c](boost::system::error_code ec) {
            auto p = self.lock();
            if (!p || ec == boost::asio::error::operation_aborted || !c->idle) return;
            p->drop_idle(*c);
          });
      idle.push_back(std::move(c));
      idle_changed();
      wake_one();
    }

    void drop_idle(connection& c) {
      for (auto it = idle.begin(); it != idle.end(); ++it)
        if (it->get() == &c) {
          std::shared_ptr<connection> keep = std::move(*it);
          idle.erase(it);
          idle_changed();
          keep->idle = false;
          discard(*keep);
          return;
        }
    }

    // Closes `c`; its slot goes back to the budget, or straight to a waiting pool.
    void discard(connection& c, bool for_another_pool = false) {
      boost::system::error_code ignored;
      c.stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      c.stream.socket().close(ignored);
      --open;
      open_count.store(open, std::memory_order_relaxed);
      if (for_another_pool) budget->hand_over();
      else budget->give_back();
      wake_one();
    }

    void close_idle() {
      while (!idle.empty()) {
        std::shared_ptr<connection> c = std::move(idle.back());
        idle.pop_back();
        idle_changed();
        c->idle = false;
        discard(*c);
      }
    }

    // Wakes the first waiting call. Woken from here, its registration with the budget is
    // withdrawn at once: left until the call resumes, it would make a connection given back
    // meanwhile look wanted elsewhere and be closed (put_idle).
    void wake_one() {
      if (waiters.empty()) return;
      waiter* w = waiters.front();
      waiters.pop_front();
      w->woken = true;
      budget->stop_waiting(*this, w->ticket);
      w->timer.cancel();
    }

    // Waits, registered with the budget, until a connection is given back or closed here
    // or a slot frees anywhere.
    boost::asio::awaitable<room_made> wait_for_room(std::chrono::steady_clock::time_point deadline) {
      waiter w{executor};
      w.ticket = ++next_ticket;
      w.timer.expires_at(deadline);
      waiters.push_back(&w);
      budget->wait(this->shared_from_this(), w.ticket);
      (void)co_await w.timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (w.woken) co_return w.granted ? room_made::slot : room_made::look_again;
      std::erase(waiters, &w);
      budget->stop_waiting(*this, w.ticket);  // gave up: its registration goes too
      co_return room_made::none;
    }
  };

  // Whether every header value and the target can be written as they are: a CR or LF in
  // one would let whoever chose the value add headers, or a second request.
  static bool writable(request const& req) noexcept {
    for (unsigned char c : std::string_view{req.target().data(), req.target().size()})
      if (c <= 0x20 || c == 0x7F) return false;
    for (auto const& field : req)
      if (!protocol::is_header_value({field.value().data(), field.value().size()})) return false;
    return true;
  }

  struct exchange_result {
    failure error = failure::none;
    response res;
    bool reusable = false;
    bool answer_started = false;
  };

  // Writes the request and reads its final answer on `c`.
  boost::asio::awaitable<exchange_result> exchange(connection& c, request const& req,
                                                   std::chrono::steady_clock::time_point deadline) {
    namespace http = boost::beast::http;
    exchange_result out;
    c.stream.expires_at(deadline);
    auto [wec, wn] = co_await http::async_write(c.stream, req, boost::asio::as_tuple(boost::asio::use_awaitable));
    if (wec) {
      out.error = wec == boost::beast::error::timeout ? failure::timeout : failure::io;
      co_return std::move(out);
    }
    detail::http_answer_reader reader{{pool_->options.max_response_header_bytes, pool_->options.max_response_bytes},
                                      req.method() == http::verb::head};
    for (;;) {
      auto const data = c.buffer.data();
      c.buffer.consume(reader.put({static_cast<char const*>(data.data()), data.size()}));
      if (reader.current() != detail::http_answer_reader::state::reading) break;
      auto [rec, n] = co_await c.stream.async_read_some(c.buffer.prepare(16 * 1024),
                                                        boost::asio::as_tuple(boost::asio::use_awaitable));
      c.buffer.commit(n);
      if (rec == boost::asio::error::eof || rec == boost::asio::error::connection_reset) {
        if (n > 0) continue;
        reader.put_eof();
        break;
      }
      if (rec) {
        out.answer_started = reader.answer_started() || c.buffer.size() > 0;
        out.error = rec == boost::beast::error::timeout ? failure::timeout : failure::io;
        co_return std::move(out);
      }
    }
    out.answer_started = reader.answer_started();
    switch (reader.current()) {
      case detail::http_answer_reader::state::done: break;
      case detail::http_answer_reader::state::too_large: out.error = failure::too_large; co_return std::move(out);
      case detail::http_answer_reader::state::malformed:
        // Closed before any byte of an answer: the request may never have been read.
        out.error = reader.answer_started() ? failure::malformed : failure::io;
        co_return std::move(out);
      case detail::http_answer_reader::state::reading: out.error = failure::io; co_return std::move(out);
    }
    out.res = reader.release();
    // Bytes after the final answer were never asked for: the connection goes.
    out.reusable = reader.reusable() && c.buffer.size() == 0;
    if (out.reusable) {
      auto idle_for = pool_->options.idle_timeout;
      if (auto announced = announced_keep_alive(out.res[http::field::keep_alive])) {
        // Leave before the backend does: a request written as it closes would be lost.
        auto const margin = std::min<std::chrono::milliseconds>(std::chrono::seconds{1}, *announced / 2);
        idle_for = std::min(idle_for, *announced - margin);
      }
      c.reuse_until = std::chrono::steady_clock::now() + idle_for;
    }
    co_return std::move(out);
  }

  std::shared_ptr<pool> pool_;
};

}  // namespace edgepipe::transport
