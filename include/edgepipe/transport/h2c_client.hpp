// An h2c (HTTP/2 with prior knowledge) client on one connection to one server, on the
// same nghttp2 pump as the server: gRPC unary and server-streaming calls, and raw
// exchanges for callers that frame their own bodies. Errors are values.
//
// Nothing waits on the server without a bound: `connect()` gives TCP and the server's
// SETTINGS `connect_timeout`; while exchanges are in flight the connection is PINGed
// every `ping_interval` and closed when the ACK has not come `ping_ack_timeout` after the
// PING was written, or when a write has not finished within `write_timeout`; an exchange
// past its deadline is reset and ends with deadline_exceeded. A server that stops
// answering is therefore noticed within ping_interval + ping_ack_timeout. A closed
// connection ends every exchange with `unavailable` and is not reopened: connect a new
// client.
//
// Threading: a client and its exchanges live on one executor, with no locks. Exchanges
// are owned by the caller (no allocation per call in the client beyond nghttp2's own).
#pragma once

#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/transport/detail/grpc_response.hpp>
#include <edgepipe/transport/detail/nghttp2_pump.hpp>
#include <edgepipe/transport/detail/signal.hpp>

#include <nghttp2/nghttp2.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::transport {

namespace h2c_errors {
inline constexpr status not_connected{code::unavailable, "not_connected", "the connection is not open"};
inline constexpr status cannot_resolve{code::unavailable, "cannot_resolve", "the server's name does not resolve"};
inline constexpr status cannot_connect{code::unavailable, "cannot_connect", "the server refuses connections"};
inline constexpr status connect_timeout{code::unavailable, "connect_timeout",
                                        "no connection and HTTP/2 SETTINGS within the connect timeout"};
inline constexpr status ping_timeout{code::unavailable, "ping_timeout", "the server left a PING unanswered"};
inline constexpr status write_timeout{code::unavailable, "write_timeout", "a write did not finish in time"};
inline constexpr status connection_lost{code::unavailable, "connection_lost", "the connection ended"};
inline constexpr status protocol_error{code::unavailable, "protocol_error", "the server broke HTTP/2"};
inline constexpr status closed{code::unavailable, "closed", "the client was closed"};
inline constexpr status refused{code::unavailable, "refused_stream", "the server did not take the stream"};
inline constexpr status stream_reset{code::unavailable, "stream_reset", "the server reset the stream"};
inline constexpr status cannot_submit{code::unavailable, "cannot_submit", "the session takes no more streams"};
inline constexpr status deadline{code::deadline_exceeded, "deadline_exceeded"};
inline constexpr status no_message{code::internal, "protocol_error", "unary response without a message"};
inline constexpr status two_messages{code::internal, "protocol_error", "unary response with more than one message"};
inline constexpr status bad_message{code::internal, "malformed_message", "a response message does not parse"};
}  // namespace h2c_errors

struct h2c_client_options {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds ping_interval{15000};
  std::chrono::milliseconds ping_ack_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  std::size_t max_message_bytes = protocol::default_max_message_size;
};

using h2c_header = std::pair<std::string_view, std::string_view>;

// One request: every view must stay valid until the exchange ends.
struct h2c_request {
  std::string_view path;
  std::string_view body;  // as sent: gRPC frames, or a whole Connect message
  std::string_view content_type = "application/grpc";
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::span<h2c_header const> headers{};  // more request headers
};

// One request/response exchange, owned by the caller, alive from `start` until on_close.
// on_header, on_head and on_data run inside nghttp2's callbacks: they record, and must
// not start or end exchanges. on_close runs outside them and may.
class h2c_exchange {
 public:
  // A field of the response headers or (`trailer`) of its trailers.
  virtual void on_header(std::string_view name, std::string_view value, bool trailer) = 0;
  // The response headers are complete; `ends_stream`: there is no body (Trailers-Only).
  virtual void on_head(bool ends_stream) { (void)ends_stream; }
  virtual void on_data(std::string_view bytes) = 0;
  // The exchange ended: OK when the server ended its stream, else how it did not.
  virtual void on_close(status transport) = 0;

 protected:
  h2c_exchange() = default;
  h2c_exchange(h2c_exchange const&) = delete;
  h2c_exchange& operator=(h2c_exchange const&) = delete;
  ~h2c_exchange() = default;

 private:
  friend class h2c_client;
  std::string_view body_;
  std::size_t offset_ = 0;
  std::int32_t id_ = -1;
  std::chrono::steady_clock::time_point deadline_;
  status ended_{};
  h2c_exchange* prev_ = nullptr;  // in the client's list of exchanges in flight
  h2c_exchange* next_ = nullptr;
  h2c_exchange* next_done_ = nullptr;  // ended, on_close not yet called
  char timeout_[24];                   // grpc-timeout, sent without a copy
};

class h2c_client : public std::enable_shared_from_this<h2c_client> {
  using clock = std::chrono::steady_clock;
  using pump_type = detail::nghttp2_pump<boost::asio::ip::tcp::socket, h2c_client>;
  friend pump_type;

 public:
  h2c_client(boost::asio::any_io_executor ex, std::string host, std::uint16_t port, h2c_client_options o = {})
      : pump_{boost::asio::ip::tcp::socket{ex}, *this},
        options_{o},
        host_{std::move(host)},
        port_{port},
        authority_{host_ + ":" + std::to_string(port)},
        watchdog_{ex},
        resolver_{ex},
        ready_{ex} {}

  // Opens the connection: TCP, then the server's SETTINGS, within connect_timeout.
  boost::asio::awaitable<status> connect() {
    auto self = shared_from_this();
    if (connecting_ || pump_.session() != nullptr) co_return h2c_errors::not_connected;  // one connection a client
    connecting_ = true;
    connect_deadline_ = clock::now() + options_.connect_timeout;
    boost::asio::co_spawn(resolver_.get_executor(), watch(), boost::asio::detached);
    auto [rec, endpoints] = co_await resolver_.async_resolve(host_, std::to_string(port_),
                                                             boost::asio::as_tuple(boost::asio::use_awaitable));
    if (rec) co_return fail_connect(h2c_errors::cannot_resolve);
    boost::system::error_code cec = boost::asio::error::host_not_found;
    for (auto const& entry : endpoints) {
      if (ended_ || clock::now() >= connect_deadline_) break;
      auto& socket = pump_.stream();
      boost::system::error_code ignored;
      socket.close(ignored);
      auto const ep = entry.endpoint();
      std::tie(cec) = co_await socket.async_connect(ep, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (!cec) break;
    }
    if (cec) co_return fail_connect(h2c_errors::cannot_connect);
    boost::system::error_code ignored;
    pump_.stream().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    if (!open_session()) co_return fail_connect(h2c_errors::protocol_error);
    auto const ex = resolver_.get_executor();
    boost::asio::co_spawn(ex, pump_.write_loop(), boost::asio::detached);
    boost::asio::co_spawn(ex, read(), boost::asio::detached);
    while (!settings_received_ && !ended_) (void)co_await ready_.wait();
    co_return settings_received_ ? status{} : why_ended_;
  }

  // Starts an exchange; on failure nothing was sent and on_close will not be called.
  status start(h2c_request const& r, h2c_exchange& x) {
    if (!open()) return h2c_errors::not_connected;
    x.body_ = r.body;
    x.offset_ = 0;
    x.deadline_ = r.deadline;
    x.ended_ = {};
    x.next_done_ = nullptr;
    nghttp2_nv nva[16];
    std::size_t n = 0;
    nva[n++] = nv(":method", "POST");
    nva[n++] = nv(":scheme", "http");
    nva[n++] = nv(":authority", authority_);
    nva[n++] = nv(":path", r.path);
    nva[n++] = nv("content-type", r.content_type);
    nva[n++] = nv("te", "trailers");
    if (r.deadline != clock::time_point::max()) {
      auto const ms = std::max<long long>(
          1, std::chrono::duration_cast<std::chrono::milliseconds>(r.deadline - clock::now()).count());
      auto [end, ec] = std::to_chars(x.timeout_, x.timeout_ + 8, std::min<long long>(ms, 99999999));
      *end = 'm';
      nva[n++] = nv("grpc-timeout", std::string_view{x.timeout_, static_cast<std::size_t>(end + 1 - x.timeout_)});
    }
    for (auto const& [name, value] : r.headers)
      if (n < std::size(nva)) nva[n++] = nv(name, value);
    nghttp2_data_provider provider{};
    provider.source.ptr = &x;
    provider.read_callback = &read_body;
    std::int32_t const id = nghttp2_submit_request(pump_.session(), nullptr, nva, n, &provider, &x);
    if (id < 0) return h2c_errors::cannot_submit;
    x.id_ = id;
    link(x);
    ++in_flight_;
    if (x.deadline_ < watch_wakes_at_) watchdog_.cancel();
    pump_.notify();
    return {};
  }

  // A gRPC unary call: one message each way.
  template <class Response, class Request>
  boost::asio::awaitable<result<Response>> unary(std::string_view path, Request const& request,
                                                 clock::time_point deadline = clock::time_point::max()) {
    std::string body;
    protocol::append_frame(body, 0, request.SerializeAsString());
    std::optional<Response> response;
    auto on_message = [&](std::string_view m) -> status {
      if (response) return h2c_errors::two_messages;
      response.emplace();
      if (!response->ParseFromArray(m.data(), static_cast<int>(m.size()))) return h2c_errors::bad_message;
      return {};
    };
    h2c_request const r{path, body, "application/grpc", deadline};
    status const s = co_await grpc_call(r, on_message);
    if (!s.ok()) co_return s;
    if (!response) co_return h2c_errors::no_message;
    co_return std::move(*response);
  }

  // A gRPC server-streaming call: `on_message(Response&&)` for each message; returns the
  // call's final status.
  template <class Response, class Request, class OnMessage>
  boost::asio::awaitable<status> server_stream(std::string_view path, Request const& request, OnMessage on_message,
                                               clock::time_point deadline = clock::time_point::max()) {
    std::string body;
    protocol::append_frame(body, 0, request.SerializeAsString());
    auto each = [&](std::string_view m) -> status {
      Response response;
      if (!response.ParseFromArray(m.data(), static_cast<int>(m.size()))) return h2c_errors::bad_message;
      on_message(std::move(response));
      return {};
    };
    h2c_request const r{path, body, "application/grpc", deadline};
    co_return co_await grpc_call(r, each);
  }

  // A gRPC call whose request body the caller framed: `on_message(std::string_view) ->
  // status` for each response message (a failure ends the call with it), `on_open()`
  // once the response headers show an open stream (HTTP 200, not Trailers-Only).
  // Returns the call's final status.
  template <class OnMessage, class OnOpen = void (*)()>
  boost::asio::awaitable<status> grpc_call(h2c_request const& r, OnMessage& on_message, OnOpen on_open = [] {}) {
    auto self = shared_from_this();
    awaited<OnMessage, OnOpen> x{resolver_.get_executor(), on_message, on_open, options_.max_message_bytes};
    if (status s = start(r, x); !s.ok()) co_return s;
    while (!x.closed) (void)co_await x.done.wait();
    co_return x.outcome;
  }

  // Ends the connection and every exchange (with unavailable · closed).
  void close() { end(h2c_errors::closed); }

  [[nodiscard]] bool open() const noexcept { return settings_received_ && !ended_ && !going_away_; }
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
  // Why the connection ended (OK while it has not).
  [[nodiscard]] status why_ended() const noexcept { return why_ended_; }

 private:
  // A gRPC exchange awaited by a coroutine.
  template <class OnMessage, class OnOpen>
  struct awaited final : h2c_exchange {
    awaited(boost::asio::any_io_executor ex, OnMessage& m, OnOpen& o, std::size_t max)
        : response{max}, on_message{m}, on_open{o}, done{ex} {}
    void on_header(std::string_view n, std::string_view v, bool trailer) override { response.on_header(n, v, trailer); }
    void on_head(bool ends_stream) override {
      if (response.http_status() == 200 && response.grpc_status() < 0 && !ends_stream) on_open();
    }
    void on_data(std::string_view bytes) override { response.on_data(bytes, on_message); }
    void on_close(status transport) override {
      outcome = response.finish(transport);
      closed = true;
      done.notify();
    }
    detail::grpc_response response;
    OnMessage& on_message;
    OnOpen& on_open;
    detail::signal done;
    status outcome{};
    bool closed = false;
  };

  static nghttp2_nv nv(std::string_view name, std::string_view value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  }

  bool open_session() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_stream_close);
    bool const opened = pump_.open(cb, nullptr, false);
    nghttp2_session_callbacks_del(cb);
    if (!opened) return false;
    nghttp2_settings_entry const settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(pump_.session(), NGHTTP2_FLAG_NONE, settings, std::size(settings));
    nghttp2_session_set_local_window_size(pump_.session(), NGHTTP2_FLAG_NONE, 0, 16 << 20);
    pump_.set_last_ping(clock::now());
    return true;
  }

  status fail_connect(status why) {
    end(why);  // no-op when the watch ended it first (the connect timeout)
    return why_ended_;
  }

  boost::asio::awaitable<void> read() {
    auto self = shared_from_this();
    co_await pump_.read_loop();
    end(pump_.fatal() ? h2c_errors::protocol_error : h2c_errors::connection_lost);
  }

  // The only timer: bounds the connect, PINGs while exchanges are in flight, and ends
  // what misses its deadline.
  boost::asio::awaitable<void> watch() {
    auto self = shared_from_this();
    while (!ended_) {
      auto const now = clock::now();
      if (!settings_received_) {
        if (now >= connect_deadline_) {
          end(h2c_errors::connect_timeout);
          break;
        }
      } else {
        if (pump_.ping_out() && now - pump_.ping_written_at() > options_.ping_ack_timeout) {
          end(h2c_errors::ping_timeout);
          break;
        }
        if (pump_.writing() && now - pump_.write_started() > options_.write_timeout) {
          end(h2c_errors::write_timeout);
          break;
        }
        if (in_flight_ > 0 && !pump_.ping_awaited() && now - pump_.last_ping() >= options_.ping_interval)
          pump_.send_ping(now);
        expire(now);
      }
      auto wake = now + options_.ping_interval;
      if (!settings_received_) wake = std::min(wake, connect_deadline_);
      else {
        if (pump_.ping_awaited())
          wake = std::min(wake, (pump_.ping_out() ? pump_.ping_written_at() : now) + options_.ping_ack_timeout);
        else if (in_flight_ > 0) wake = std::min(wake, pump_.last_ping() + options_.ping_interval);
        if (pump_.writing()) wake = std::min(wake, pump_.write_started() + options_.write_timeout);
        else if (in_flight_ > 0) wake = std::min(wake, now + options_.write_timeout);  // a write may start
        for (auto* x = active_; x != nullptr; x = x->next_) wake = std::min(wake, x->deadline_);
      }
      watch_wakes_at_ = std::max(wake, now + std::chrono::milliseconds{10});
      watchdog_.expires_at(watch_wakes_at_);
      (void)co_await watchdog_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    watch_wakes_at_ = clock::time_point::min();
  }

  // Resets the exchanges past their deadline and ends them.
  void expire(clock::time_point now) {
    for (auto* x = active_; x != nullptr;) {
      auto* next = x->next_;
      if (x->deadline_ <= now) {
        nghttp2_session_set_stream_user_data(pump_.session(), x->id_, nullptr);
        nghttp2_submit_rst_stream(pump_.session(), NGHTTP2_FLAG_NONE, x->id_, NGHTTP2_CANCEL);
        unlink(*x);
        x->on_close(h2c_errors::deadline);
        pump_.notify();
      }
      x = next;
    }
  }

  // Ends the connection once, with `why`: every exchange ends.
  void end(status why) {
    if (ended_) return;
    ended_ = true;
    why_ended_ = why;
    resolver_.cancel();
    watchdog_.cancel();
    ready_.notify();
    pump_.shut();
    deliver_done();
    while (active_ != nullptr) {
      auto& x = *active_;
      unlink(x);
      x.on_close(why);
    }
  }

  // --- for the pump ---------------------------------------------------------------------

  void pump_ended() { end(pump_.fatal() ? h2c_errors::protocol_error : h2c_errors::connection_lost); }
  void data_leaving(clock::time_point) noexcept {}
  // Outside nghttp2's callbacks: the exchanges that ended hear of it.
  void settle() {
    if (settings_received_) ready_.notify();
    deliver_done();
  }

  void deliver_done() {
    while (done_ != nullptr) {
      auto& x = *done_;
      done_ = x.next_done_;
      x.next_done_ = nullptr;
      x.on_close(x.ended_);
    }
  }

  void link(h2c_exchange& x) {
    x.prev_ = nullptr;
    x.next_ = active_;
    if (active_ != nullptr) active_->prev_ = &x;
    active_ = &x;
  }
  void unlink(h2c_exchange& x) {
    if (x.prev_ != nullptr) x.prev_->next_ = x.next_;
    else active_ = x.next_;
    if (x.next_ != nullptr) x.next_->prev_ = x.prev_;
    x.prev_ = x.next_ = nullptr;
    --in_flight_;
  }

  // --- nghttp2 callbacks: record and notify ----------------------------------------------

  static h2c_client& self(void* user) { return pump_type::owner(user); }
  // Reading a stream's user data changes nothing in the session.
  static h2c_exchange* exchange(nghttp2_session* session, std::int32_t id) {
    return static_cast<h2c_exchange*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto& x = *static_cast<h2c_exchange*>(source->ptr);
    std::size_t const n = std::min(length, x.body_.size() - x.offset_);
    std::memcpy(buf, x.body_.data() + x.offset_, n);
    x.offset_ += n;
    if (x.offset_ == x.body_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int on_header(nghttp2_session* session, nghttp2_frame const* frame, std::uint8_t const* name,
                       std::size_t namelen, std::uint8_t const* value, std::size_t valuelen, std::uint8_t, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto* x = exchange(session, frame->hd.stream_id);
    if (x == nullptr) return 0;
    x->on_header(std::string_view{reinterpret_cast<char const*>(name), namelen},
                 std::string_view{reinterpret_cast<char const*>(value), valuelen},
                 frame->headers.cat == NGHTTP2_HCAT_HEADERS);
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, nghttp2_frame const* frame, void* user) {
    auto& c = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) c.settings_received_ = true;
        break;
      case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) c.pump_.ping_acked();
        break;
      case NGHTTP2_GOAWAY: c.going_away_ = true; break;
      case NGHTTP2_HEADERS:
        if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE)
          if (auto* x = exchange(session, frame->hd.stream_id))
            x->on_head((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
        break;
      default: break;
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id, std::uint8_t const* data,
                           std::size_t len, void*) {
    if (auto* x = exchange(session, id)) x->on_data(std::string_view{reinterpret_cast<char const*>(data), len});
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t error_code, void* user) {
    auto& c = self(user);
    auto* x = exchange(session, id);
    if (x == nullptr) return 0;
    x->ended_ = error_code == NGHTTP2_NO_ERROR      ? status{}
                : error_code == NGHTTP2_REFUSED_STREAM ? h2c_errors::refused
                                                       : h2c_errors::stream_reset;
    c.unlink(*x);
    x->next_done_ = c.done_;
    c.done_ = x;
    c.pump_.notify();
    return 0;
  }

  pump_type pump_;
  h2c_client_options options_;
  std::string host_;
  std::uint16_t port_;
  std::string authority_;
  boost::asio::steady_timer watchdog_;
  boost::asio::ip::tcp::resolver resolver_;
  detail::signal ready_;
  h2c_exchange* active_ = nullptr;
  h2c_exchange* done_ = nullptr;
  std::size_t in_flight_ = 0;
  clock::time_point connect_deadline_;
  clock::time_point watch_wakes_at_ = clock::time_point::max();
  status why_ended_{};
  bool connecting_ = false;
  bool settings_received_ = false;
  bool going_away_ = false;
  bool ended_ = false;
};

}  // namespace edgepipe::transport
