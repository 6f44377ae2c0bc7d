// An h2c (prior knowledge) server connection: nghttp2 does the framing, Asio the I/O.
//
// The pump: the reader feeds socket bytes to nghttp2_session_mem_recv; the one writer
// drains nghttp2_session_mem_send into a buffer and writes it, one write at a time.
// nghttp2 callbacks only record and notify; handlers run as their own coroutines and
// talk to a stream through its sink, which queues bytes and wakes the writer, so the
// session is never re-entered from inside its own callbacks.
//
// Gaps in Debian 12's nghttp2 1.52 that this closes: the advertised header list size is
// enforced here (bytes and field count); the stream-reset rate limit and CONTINUATION
// limit are set; invalid frames, resets, PINGs and SETTINGS are counted in a token bucket
// and past it the connection ends with GOAWAY(ENHANCE_YOUR_CALM); any fatal session error
// closes the socket.
//
// Memory and liveness: the response bytes queued on all streams are one running count;
// past `connection_backlog_bytes` new calls are refused, and bytes that cannot leave for
// `flow_control_stall_timeout` (no window) close the connection. A stream is never ended
// for being quiet: a connection with open streams is PINGed, and closed when the ACK
// does not come.
#pragma once

#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/transport/detail/call.hpp>
#include <edgepipe/transport/detail/dispatch.hpp>
#include <edgepipe/transport/detail/signal.hpp>
#include <edgepipe/transport/detail/stream_ops.hpp>

#include <nghttp2/nghttp2.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace edgepipe::transport::detail {

// `Stream` is a TCP socket in the server, an in-memory stream in the fuzzers.
template <class Stream>
class basic_http2_connection : public std::enable_shared_from_this<basic_http2_connection<Stream>> {
 public:
  basic_http2_connection(Stream socket, std::shared_ptr<server_state const> server)
      : socket_{std::move(socket)},
        server_{std::move(server)},
        write_signal_{socket_.get_executor()},
        watchdog_{socket_.get_executor()},
        peer_{peer_address(socket_)} {}

  basic_http2_connection(basic_http2_connection const&) = delete;
  basic_http2_connection& operator=(basic_http2_connection const&) = delete;

  ~basic_http2_connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }

  // Serves the connection; `already_read` holds the bytes read while telling HTTP/2 apart.
  boost::asio::awaitable<void> run(std::string already_read) {
    auto self = this->shared_from_this();
    if (!create_session()) co_return;
    last_activity_ = started_ = std::chrono::steady_clock::now();
    boost::asio::co_spawn(socket_.get_executor(), write_loop(), boost::asio::detached);
    boost::asio::co_spawn(socket_.get_executor(), watch(), boost::asio::detached);
    if (!receive(already_read)) co_return close();
    std::array<char, 16384> buffer;
    while (!closed_) {
      auto [ec, n] = co_await socket_.async_read_some(boost::asio::buffer(buffer),
                                                      boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) break;
      last_activity_ = std::chrono::steady_clock::now();
      if (!receive(std::string_view{buffer.data(), n})) break;
    }
    close();
  }

  // Graceful shutdown: GOAWAY; calls in flight may finish; nothing new is accepted.
  void shutdown() {
    if (closed_ || session_ == nullptr) return;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    going_away_ = true;
    write_signal_.notify();
  }

  // Ends what is still running with `s` (a drain that timed out) and closes.
  void abort_calls(status s) {
    for (auto& [id, st] : streams_)
      if (st->rpc) st->rpc->finish(s);
    write_signal_.notify();
  }

  [[nodiscard]] bool idle() const noexcept { return streams_.empty(); }

 private:
  struct stream final : sink {
    basic_http2_connection* conn;
    std::int32_t id;
    std::string method, path, authority;
    protocol::metadata headers;
    std::size_t header_bytes = 0;
    bool request_ended = false;
    std::shared_ptr<call> rpc;
    procedure const* proc = nullptr;
    // response
    std::string out;
    std::size_t out_offset = 0;
    bool out_end = false;
    bool deferred = false;
    bool has_trailers = false;
    protocol::metadata trailers;

    void start_response(int http_status, protocol::metadata h, bool end_stream) override {
      conn->submit_response(*this, http_status, std::move(h), end_stream);
    }
    void append_body(std::string_view bytes) override {
      out.append(bytes);
      conn->add_queued(bytes.size());
      conn->resume(*this);
    }
    void end_response(protocol::metadata const* t) override {
      out_end = true;
      if (t != nullptr) {
        has_trailers = true;
        trailers = *t;
      }
      conn->resume(*this);
    }
    [[nodiscard]] std::size_t queued() const override { return out.size() - out_offset; }
    void consumed(std::size_t bytes) override {
      if (conn->session_ != nullptr) nghttp2_session_consume(conn->session_, id, bytes);
      conn->write_signal_.notify();
    }
  };

  bool create_session() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &on_frame_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, &on_invalid_frame);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);  // we acknowledge what handlers take
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    nghttp2_option_set_max_continuations(opt, 8);
    int const rv = nghttp2_session_server_new2(&session_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return false;
    auto const& o = server_->options;
    glitch_tokens_ = static_cast<double>(o.glitch_burst);
    nghttp2_settings_entry const settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, static_cast<std::uint32_t>(o.max_concurrent_streams)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(o.max_header_list_bytes)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    // A larger connection window, so one slow stream does not stall the others.
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 16 << 20);
    return true;
  }

  // Feeds bytes to nghttp2; false when the connection must end.
  bool receive(std::string_view bytes) {
    if (bytes.empty()) return true;
    auto const rv = nghttp2_session_mem_recv(session_, reinterpret_cast<std::uint8_t const*>(bytes.data()), bytes.size());
    if (rv < 0) {
      // nghttp2 1.52 does not always queue a GOAWAY on fatal errors: ask for one, send what
      // can be sent, and close.
      nghttp2_session_terminate_session(session_, rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM
                                                                             : NGHTTP2_PROTOCOL_ERROR);
      fatal_ = true;
      write_signal_.notify();
      return false;
    }
    write_signal_.notify();
    return !fatal_;
  }

  // --- glitches ------------------------------------------------------------------------

  void glitch() {
    auto const now = std::chrono::steady_clock::now();
    double const elapsed = std::chrono::duration<double>(now - glitch_updated_).count();
    glitch_updated_ = now;
    auto const& o = server_->options;
    glitch_tokens_ = std::min<double>(static_cast<double>(o.glitch_burst), glitch_tokens_ + elapsed * o.glitches_per_second);
    glitch_tokens_ -= 1;
    if (glitch_tokens_ < 0 && !fatal_) {
      nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
      fatal_ = true;
    }
  }

  // --- nghttp2 callbacks: record and notify, never block or re-enter ---------------------

  static basic_http2_connection& self(void* user) { return *static_cast<basic_http2_connection*>(user); }

  static int on_begin_headers(nghttp2_session*, nghttp2_frame const* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (c.going_away_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    auto s = std::make_unique<stream>();
    s->conn = &c;
    s->id = frame->hd.stream_id;
    c.streams_[s->id] = std::move(s);
    return 0;
  }

  static int on_header(nghttp2_session*, nghttp2_frame const* frame, std::uint8_t const* name, std::size_t namelen,
                       std::uint8_t const* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& c = self(user);
    auto it = c.streams_.find(frame->hd.stream_id);
    if (it == c.streams_.end()) return 0;  // trailers of a request we already answered
    stream& s = *it->second;
    if (s.rpc) return 0;  // request trailers: ignored
    auto const& o = c.server_->options;
    s.header_bytes += namelen + valuelen + 32;  // RFC 9113's accounting
    if (s.header_bytes > o.max_header_list_bytes || s.headers.size() >= o.max_header_fields)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
    std::string_view const n{reinterpret_cast<char const*>(name), namelen};
    std::string_view const v{reinterpret_cast<char const*>(value), valuelen};
    if (n == ":method") s.method = v;
    else if (n == ":path") s.path = v;
    else if (n == ":authority") s.authority = v;
    else if (!n.starts_with(':')) s.headers.emplace_back(std::string{n}, std::string{v});
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, nghttp2_frame const* frame, void* user) {
    auto& c = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) c.ping_awaited_ = false;  // the answer to ours
        else c.glitch();
        return 0;
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) c.glitch();
        return 0;
      case NGHTTP2_RST_STREAM:
        c.glitch();
        return 0;
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA: break;
      default: return 0;
    }
    auto it = c.streams_.find(frame->hd.stream_id);
    if (it == c.streams_.end()) return 0;
    stream& s = *it->second;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      c.saw_request_ = true;
      c.start_call(s);
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s.request_ended) {
      s.request_ended = true;
      if (s.rpc) s.rpc->end_body();
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, std::uint8_t const* data,
                           std::size_t len, void* user) {
    auto& c = self(user);
    auto it = c.streams_.find(stream_id);
    if (it == c.streams_.end() || !it->second->rpc || it->second->rpc->finished()) {
      nghttp2_session_consume(session, stream_id, len);  // discarded: keep the window open
      return 0;
    }
    status s = it->second->rpc->feed_body(std::string_view{reinterpret_cast<char const*>(data), len});
    if (!s.ok()) it->second->rpc->finish(s);
    return 0;
  }

  // Marks what went out, for the writer to date once it is on the socket.
  static int on_frame_send(nghttp2_session*, nghttp2_frame const* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type == NGHTTP2_DATA) c.data_serialized_ = true;
    else if (frame->hd.type == NGHTTP2_PING && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) c.ping_serialized_ = true;
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
    auto& c = self(user);
    auto it = c.streams_.find(stream_id);
    if (it == c.streams_.end()) return 0;
    c.queued_bytes_ -= it->second->queued();  // what a reset stream never sent
    if (auto& rpc = it->second->rpc) {
      rpc->detach();
      if (!rpc->finished() || error_code != NGHTTP2_NO_ERROR) rpc->peer_gone();
    }
    if (error_code != NGHTTP2_NO_ERROR && !it->second->request_ended) c.glitch();
    c.streams_.erase(it);
    return 0;
  }

  static int on_invalid_frame(nghttp2_session*, nghttp2_frame const*, int, void* user) {
    self(user).glitch();
    return 0;
  }

  static ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto& s = *static_cast<stream*>(source->ptr);
    std::size_t const n = std::min(length, s.out.size() - s.out_offset);
    std::memcpy(buf, s.out.data() + s.out_offset, n);
    s.out_offset += n;
    s.conn->queued_bytes_ -= n;
    if (s.out_offset == s.out.size()) {
      s.out.clear();
      s.out_offset = 0;
    }
    if (s.out.empty() && s.out_end) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (s.has_trailers) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva;
        append_nv(nva, s.trailers);
        nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size());
      }
    } else if (n == 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    if (n > 0 && s.rpc) s.rpc->on_drained();
    return static_cast<ssize_t>(n);
  }

  static nghttp2_nv nv(std::string_view name, std::string_view value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
            NGHTTP2_NV_FLAG_NONE};
  }

  // Views of `m`'s writable pairs (nghttp2 copies them when the frame is submitted).
  static void append_nv(std::vector<nghttp2_nv>& nva, protocol::metadata const& m) {
    nva.reserve(nva.size() + m.size());
    for_each_wire_header(m, [&](std::string_view name, std::string_view value) { nva.push_back(nv(name, value)); });
  }

  // --- requests and responses ---------------------------------------------------------

  void start_call(stream& s) {
    request_head head{std::move(s.method), std::move(s.path), std::move(s.headers), peer_, false};
    auto d = dispatch(*server_, std::move(head), socket_.get_executor());
    if (auto* now = std::get_if<immediate_response>(&d)) {
      protocol::metadata h = std::move(now->headers);
      s.out = std::move(now->body);
      s.out_end = true;
      add_queued(s.out.size());
      if (!s.out.empty()) h.emplace_back("content-length", std::to_string(s.out.size()));
      submit_response(s, now->status, std::move(h), s.out.empty());
      return;
    }
    auto& [rpc, proc] = std::get<1>(d);
    // Answers of admitted calls are never dropped, so the backlog is bounded by refusing
    // new calls, in their own protocol, before their handler runs.
    if (proc != nullptr && queued_bytes_ > server_->options.connection_backlog_bytes) {
      rpc->finish(call_errors::connection_backlog);
      proc = nullptr;
    }
    s.rpc = rpc;
    s.proc = proc;
    rpc->attach(&s);
    if (proc != nullptr) spawn_handler(socket_.get_executor(), rpc, *proc);
  }

  void submit_response(stream& s, int http_status, protocol::metadata headers, bool end_stream) {
    if (session_ == nullptr || closed_) return;
    std::string const status_text = std::to_string(http_status);
    std::vector<nghttp2_nv> nva;
    nva.reserve(headers.size() + 1);
    nva.push_back(nv(":status", status_text));
    append_nv(nva, headers);
    nghttp2_data_provider provider{};
    provider.source.ptr = &s;
    provider.read_callback = &read_body;
    nghttp2_submit_response(session_, s.id, nva.data(), nva.size(), end_stream ? nullptr : &provider);
    write_signal_.notify();
  }

  // Response bytes were queued on some stream.
  void add_queued(std::size_t bytes) {
    if (bytes == 0) return;
    if (queued_bytes_ == 0) {
      stall_since_ = std::chrono::steady_clock::now();
      // Wake the watch only when it sleeps past the new deadline (with the default
      // limits it never does: no timer work per response).
      if (stall_since_ + server_->options.flow_control_stall_timeout < watch_wakes_at_) watchdog_.cancel();
    }
    queued_bytes_ += bytes;
  }

  void resume(stream& s) {
    if (s.deferred && session_ != nullptr) {
      s.deferred = false;
      nghttp2_session_resume_data(session_, s.id);
    }
    write_signal_.notify();
  }

  // --- the one writer ------------------------------------------------------------------

  boost::asio::awaitable<void> write_loop() {
    auto self = this->shared_from_this();
    std::string out;
    while (!closed_) {
      while (out.size() < 65536) {
        std::uint8_t const* data = nullptr;
        auto const n = nghttp2_session_mem_send(session_, &data);
        if (n < 0) {
          close();
          co_return;
        }
        if (n == 0) break;
        out.append(reinterpret_cast<char const*>(data), static_cast<std::size_t>(n));
      }
      if (out.empty()) {
        if (fatal_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) {
          close();
          co_return;
        }
        co_await write_signal_.wait();
        continue;
      }
      write_started_ = std::chrono::steady_clock::now();
      if (std::exchange(data_serialized_, false)) stall_since_ = write_started_;  // DATA could leave
      bool const ping_in_write = std::exchange(ping_serialized_, false);
      writing_ = true;
      auto [ec, n] = co_await boost::asio::async_write(socket_, boost::asio::buffer(out),
                                                      boost::asio::as_tuple(boost::asio::use_awaitable));
      writing_ = false;
      if (ec) {
        close();
        co_return;
      }
      last_activity_ = std::chrono::steady_clock::now();
      if (ping_in_write) ping_written_at_ = last_activity_;  // the ACK clock starts once it is out
      out.clear();
    }
  }

  // Closes connections that never finish their headers, sit idle, stop reading, give no
  // window for what waits, or stop answering PINGs; PINGs connections with open streams.
  boost::asio::awaitable<void> watch() {
    auto self = this->shared_from_this();
    auto const& o = server_->options;
    using clock = std::chrono::steady_clock;
    last_ping_ = started_;
    while (!closed_) {
      auto const now = clock::now();
      bool const ping_out = ping_awaited_ && ping_written_at_ >= last_ping_;
      if (!saw_request_ && now - started_ > o.header_timeout) break;
      if (writing_ && now - write_started_ > o.write_stall_timeout) break;
      if (queued_bytes_ > 0 && now - stall_since_ > o.flow_control_stall_timeout) break;
      if (ping_out && now - ping_written_at_ > o.ping_ack_timeout) break;
      if (streams_.empty() && now - last_activity_ > o.idle_timeout) {
        shutdown();
        break;
      }
      if (!streams_.empty() && !ping_awaited_ && !fatal_ && now - last_ping_ >= o.ping_interval) {
        nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
        ping_awaited_ = true;
        last_ping_ = now;
        write_signal_.notify();
      }
      // Sleep until the nearest deadline that could apply: no timer work per request. A
      // stream that begins while we sleep gets its first PING within one interval.
      auto wake = now + std::min<clock::duration>(o.idle_timeout, o.ping_interval);
      if (!saw_request_) wake = std::min(wake, started_ + o.header_timeout);
      if (writing_) wake = std::min(wake, write_started_ + o.write_stall_timeout);
      else if (!streams_.empty()) wake = std::min(wake, now + o.write_stall_timeout);  // a write may start
      if (queued_bytes_ > 0) wake = std::min(wake, stall_since_ + o.flow_control_stall_timeout);
      if (ping_awaited_)
        wake = std::min(wake, (ping_written_at_ >= last_ping_ ? ping_written_at_ : now) + o.ping_ack_timeout);
      else if (!streams_.empty()) wake = std::min(wake, last_ping_ + o.ping_interval);
      if (streams_.empty()) wake = std::min(wake, last_activity_ + o.idle_timeout);
      watch_wakes_at_ = std::max(wake, now + std::chrono::milliseconds{100});
      watchdog_.expires_at(watch_wakes_at_);
      (void)co_await watchdog_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    watch_wakes_at_ = clock::time_point::min();  // nothing to reschedule any more
    if (closed_) co_return;
    // Give a GOAWAY a moment to leave, then close regardless.
    watchdog_.expires_after(std::chrono::milliseconds{200});
    (void)co_await watchdog_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    for (auto& [id, s] : streams_)
      if (s->rpc) {
        s->rpc->detach();
        s->rpc->peer_gone();
      }
    streams_.clear();
    queued_bytes_ = 0;
    close_stream(socket_);
    watchdog_.cancel();
    write_signal_.notify();
  }

  Stream socket_;
  std::shared_ptr<server_state const> server_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<stream>> streams_;
  signal write_signal_;
  boost::asio::steady_timer watchdog_;
  std::string peer_;
  std::chrono::steady_clock::time_point started_, last_activity_, write_started_;
  std::size_t queued_bytes_ = 0;  // response bytes on all streams, not yet handed to nghttp2
  std::chrono::steady_clock::time_point stall_since_;  // since when they wait without DATA leaving
  std::chrono::steady_clock::time_point last_ping_, ping_written_at_;
  std::chrono::steady_clock::time_point watch_wakes_at_ = std::chrono::steady_clock::time_point::max();
  bool ping_awaited_ = false;
  bool ping_serialized_ = false;
  bool data_serialized_ = false;
  std::chrono::steady_clock::time_point glitch_updated_ = std::chrono::steady_clock::now();
  double glitch_tokens_ = 1000;
  bool saw_request_ = false;
  bool writing_ = false;
  bool going_away_ = false;
  bool fatal_ = false;
  bool closed_ = false;
};

using http2_connection = basic_http2_connection<boost::asio::ip::tcp::socket>;

}  // namespace edgepipe::transport::detail
