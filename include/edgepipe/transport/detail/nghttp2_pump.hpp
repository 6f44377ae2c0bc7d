// One nghttp2 session over one byte stream, pumped on Asio: the server's HTTP/2
// connections and the h2c client both run on it.
//
// The reader feeds socket bytes to nghttp2_session_mem_recv; the one writer drains
// nghttp2_session_mem_send and writes, one write at a time. nghttp2's callbacks only
// record and notify. Session calls that callbacks would need (submitting headers,
// resuming a deferred body, returning flow-control window) are queued and made in one
// place, `settle()`: after mem_recv has returned, and before each drain of mem_send. The
// owner's own coroutines (timers, shutdown, a client starting a call) run outside the
// session and submit directly. Only nghttp2_submit_trailer is called inside a callback
// (a body's read callback), where nghttp2 documents it as allowed; reading stream user
// data from a callback changes nothing in the session.
//
// The owner (the server connection, the client) derives from enable_shared_from_this,
// gives the pump to nghttp2 as user data (`open`, then `owner(user)` in callbacks), and
// provides:
//   void settle();                                  // its queued session calls
//   void pump_ended();                              // the socket failed or the session is over
//   void data_leaving(clock::time_point started);   // a write that carries DATA starts
#pragma once

#include <edgepipe/transport/detail/signal.hpp>
#include <edgepipe/transport/detail/stream_ops.hpp>

#include <nghttp2/nghttp2.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgepipe::transport::detail {

template <class Stream, class Owner>
class nghttp2_pump {
 public:
  using clock = std::chrono::steady_clock;

  nghttp2_pump(Stream stream, Owner& owner)
      : stream_{std::move(stream)}, owner_{&owner}, write_signal_{stream_.get_executor()} {}
  nghttp2_pump(nghttp2_pump const&) = delete;
  nghttp2_pump& operator=(nghttp2_pump const&) = delete;
  ~nghttp2_pump() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }

  // Creates the session with the owner's callbacks (the pump adds on_frame_send).
  bool open(nghttp2_session_callbacks* cb, nghttp2_option const* opt, bool server) {
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &on_frame_send);
    int const rv = server ? nghttp2_session_server_new2(&session_, cb, this, opt)
                          : nghttp2_session_client_new2(&session_, cb, this, opt);
    if (rv != 0) session_ = nullptr;
    return rv == 0;
  }

  // The owner, from a callback's user data.
  static Owner& owner(void* user) noexcept { return *static_cast<nghttp2_pump*>(user)->owner_; }

  [[nodiscard]] Stream& stream() noexcept { return stream_; }
  [[nodiscard]] nghttp2_session* session() const noexcept { return session_; }
  [[nodiscard]] bool closed() const noexcept { return closed_; }
  [[nodiscard]] bool fatal() const noexcept { return fatal_; }
  [[nodiscard]] bool writing() const noexcept { return writing_; }
  [[nodiscard]] clock::time_point write_started() const noexcept { return write_started_; }
  [[nodiscard]] clock::time_point last_activity() const noexcept { return last_activity_; }
  void set_last_activity(clock::time_point t) noexcept { last_activity_ = t; }

  void notify() noexcept { write_signal_.notify(); }

  // The application took `bytes` of stream `id`: the peer may send that much more. The
  // window is returned at the next settle.
  void consume(std::int32_t id, std::size_t bytes) {
    if (bytes == 0) return;
    if (!consumed_.empty() && consumed_.back().first == id) consumed_.back().second += bytes;
    else consumed_.emplace_back(id, bytes);
    notify();
  }

  // Ends the session with GOAWAY(`error_code`); the writer sends what it can and closes.
  void terminate(std::uint32_t error_code) {
    if (!fatal_ && session_ != nullptr) nghttp2_session_terminate_session(session_, error_code);
    fatal_ = true;
    notify();
  }

  // Feeds bytes to nghttp2, then settles; false when the connection must end.
  bool receive(std::string_view bytes) {
    if (bytes.empty()) return true;
    auto const rv =
        nghttp2_session_mem_recv(session_, reinterpret_cast<std::uint8_t const*>(bytes.data()), bytes.size());
    // nghttp2 1.52 does not always queue a GOAWAY on fatal errors: ask for one.
    if (rv < 0) terminate(rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
    settle();
    notify();
    return !fatal_;
  }

  // Reads and receives until the connection ends; the owner's timers bound every read
  // by closing the stream.
  boost::asio::awaitable<void> read_loop() {
    std::array<char, 16384> buffer;
    while (!closed_) {
      auto [ec, n] = co_await stream_.async_read_some(boost::asio::buffer(buffer),
                                                      boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) break;
      last_activity_ = clock::now();
      if (!receive(std::string_view{buffer.data(), n})) break;
    }
  }

  // The one writer.
  boost::asio::awaitable<void> write_loop() {
    auto keep = owner_->shared_from_this();
    std::string out;
    while (!closed_) {
      settle();
      while (out.size() < 65536) {
        std::uint8_t const* data = nullptr;
        auto const n = nghttp2_session_mem_send(session_, &data);
        if (n < 0) {
          owner_->pump_ended();
          co_return;
        }
        if (n == 0) break;
        out.append(reinterpret_cast<char const*>(data), static_cast<std::size_t>(n));
      }
      if (closed_) break;  // a callback of mem_send may have ended the connection
      if (out.empty()) {
        if (fatal_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) {
          owner_->pump_ended();
          co_return;
        }
        co_await write_signal_.wait();
        continue;
      }
      write_started_ = clock::now();
      if (std::exchange(data_serialized_, false)) owner_->data_leaving(write_started_);
      bool const ping_in_write = std::exchange(ping_serialized_, false);
      writing_ = true;
      auto [ec, n] = co_await boost::asio::async_write(stream_, boost::asio::buffer(out),
                                                      boost::asio::as_tuple(boost::asio::use_awaitable));
      writing_ = false;
      if (ec) {
        owner_->pump_ended();
        co_return;
      }
      last_activity_ = clock::now();
      if (ping_in_write) ping_written_at_ = last_activity_;  // the ACK clock starts once it is out
      out.clear();
    }
  }

  // Marks the pump closed and closes the stream; the owner calls this when it ends.
  void shut() {
    if (closed_) return;
    closed_ = true;
    close_stream(stream_);
    notify();
  }

  // --- PING: the peer's liveness -------------------------------------------------------

  void send_ping(clock::time_point now) {
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    ping_awaited_ = true;
    last_ping_ = now;
    notify();
  }
  // From on_frame_recv: a PING with the ACK flag.
  void ping_acked() noexcept { ping_awaited_ = false; }
  void set_last_ping(clock::time_point t) noexcept { last_ping_ = t; }
  [[nodiscard]] bool ping_awaited() const noexcept { return ping_awaited_; }
  // The PING we wait for has been written (the ACK deadline runs from then).
  [[nodiscard]] bool ping_out() const noexcept { return ping_awaited_ && ping_written_at_ >= last_ping_; }
  [[nodiscard]] clock::time_point last_ping() const noexcept { return last_ping_; }
  [[nodiscard]] clock::time_point ping_written_at() const noexcept { return ping_written_at_; }

 private:
  void settle() {
    if (session_ == nullptr || closed_) return;
    for (auto const& [id, bytes] : consumed_) nghttp2_session_consume(session_, id, bytes);
    consumed_.clear();
    owner_->settle();
  }

  // Marks what went out, for the writer to date once it is on the socket.
  static int on_frame_send(nghttp2_session*, nghttp2_frame const* frame, void* user) {
    auto& p = *static_cast<nghttp2_pump*>(user);
    if (frame->hd.type == NGHTTP2_DATA) p.data_serialized_ = true;
    else if (frame->hd.type == NGHTTP2_PING && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) p.ping_serialized_ = true;
    return 0;
  }

  Stream stream_;
  Owner* owner_;
  nghttp2_session* session_ = nullptr;
  signal write_signal_;
  std::vector<std::pair<std::int32_t, std::size_t>> consumed_;  // window to return at settle
  clock::time_point write_started_, last_activity_;
  clock::time_point last_ping_, ping_written_at_;
  bool ping_awaited_ = false;
  bool ping_serialized_ = false;
  bool data_serialized_ = false;
  bool writing_ = false;
  bool fatal_ = false;
  bool closed_ = false;
};

}  // namespace edgepipe::transport::detail
