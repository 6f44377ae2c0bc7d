// An h2c (prior knowledge) server connection: nghttp2 does the framing, Asio the I/O.
//
// It runs on the nghttp2 pump (nghttp2_pump.hpp): callbacks only record and notify.
// A request's headers start its call from a callback (dispatch makes no session call,
// and the request's DATA in the same read must find the call), but whatever the call or
// its handler then does to the stream (response headers, body, window for consumed request
// bytes) goes through the stream's sink, which only queues and marks the stream; the
// pump's settle step makes the session calls, outside the callbacks. Handlers run as
// their own coroutines.
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
#include <edgepipe/transport/detail/nghttp2_pump.hpp>
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
      : pump_{std::move(socket), *this},
        server_{std::move(server)},
        watchdog_{pump_.stream().get_executor()},
        peer_{peer_address(pump_.stream())} {}

  basic_http2_connection(basic_http2_connection const&) = delete;
  basic_http2_connection& operator=(basic_http2_connection const&) = delete;

  // Serves the connection; `already_read` holds the bytes read while telling HTTP/2 apart.
  boost::asio::awaitable<void> run(std::string already_read) {
    auto self = this->shared_from_this();
    if (!create_session()) co_return;
    started_ = std::chrono::steady_clock::now();
    pump_.set_last_activity(started_);
    auto ex = pump_.stream().get_executor();
    boost::asio::co_spawn(ex, pump_.write_loop(), boost::asio::detached);
    boost::asio::co_spawn(ex, watch(), boost::asio::detached);
    if (!pump_.receive(already_read)) co_return close();
    co_await pump_.read_loop();
    close();
  }

  // Graceful shutdown: GOAWAY; calls in flight may finish; nothing new is accepted.
  void shutdown() {
    auto* session = pump_.session();
    if (pump_.closed() || session == nullptr) return;
    nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    going_away_ = true;
    pump_.notify();
  }

  // Ends what is still running with `s` (a drain that timed out) and closes.
  void abort_calls(status s) {
    for (auto& [id, st] : streams_)
      if (st->rpc) st->rpc->finish(s);
    pump_.notify();
  }

  [[nodiscard]] bool idle() const noexcept { return streams_.empty(); }

 private:
  using pump_type = nghttp2_pump<Stream, basic_http2_connection>;
  friend pump_type;

  // The sink only queues and marks the stream; settle() makes the session calls.
  struct stream final : sink {
    basic_http2_connection* conn;
    std::int32_t id;
    std::string method, path;
    protocol::metadata headers;
    std::size_t header_bytes = 0;
    bool request_ended = false;
    std::shared_ptr<call> rpc;
    // response
    std::string out;
    std::size_t out_offset = 0;
    bool out_end = false;
    bool deferred = false;
    bool has_trailers = false;
    protocol::metadata trailers;
    // queued for settle()
    bool marked = false;
    bool head_pending = false;
    bool head_ends_stream = false;
    int head_status = 0;
    protocol::metadata head;

    void start_response(int http_status, protocol::metadata h, bool end_stream) override {
      head_pending = true;
      head_status = http_status;
      head = std::move(h);
      head_ends_stream = end_stream;
      conn->mark(*this);
    }
    void append_body(std::string_view bytes) override {
      out.append(bytes);
      conn->add_queued(bytes.size());
      conn->mark(*this);
    }
    void end_response(protocol::metadata const* t) override {
      out_end = true;
      if (t != nullptr) {
        has_trailers = true;
        trailers = *t;
      }
      conn->mark(*this);
    }
    [[nodiscard]] std::size_t queued() const override { return out.size() - out_offset; }
    void consumed(std::size_t bytes) override { conn->pump_.consume(id, bytes); }
  };

  bool create_session() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame_recv);
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
    bool const opened = pump_.open(cb, opt, true);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (!opened) return false;
    auto* session = pump_.session();
    auto const& o = server_->options;
    glitch_tokens_ = static_cast<double>(o.glitch_burst);
    nghttp2_settings_entry const settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, static_cast<std::uint32_t>(o.max_concurrent_streams)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(o.max_header_list_bytes)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    // A larger connection window, so one slow stream does not stall the others.
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, 16 << 20);
    return true;
  }

  // --- settle: the session calls callbacks and handlers queued --------------------------

  void mark(stream& s) {
    if (!s.marked) {
      s.marked = true;
      marked_.push_back(s.id);
    }
    pump_.notify();
  }

  // Called by the pump outside nghttp2's callbacks.
  void settle() {
    if (glitches_exceeded_) pump_.terminate(NGHTTP2_ENHANCE_YOUR_CALM);
    for (std::size_t i = 0; i < marked_.size(); ++i) {  // a submission may mark no other stream
      auto it = streams_.find(marked_[i]);
      if (it == streams_.end()) continue;  // reset meanwhile
      stream& s = *it->second;
      s.marked = false;
      if (s.head_pending) {
        s.head_pending = false;
        submit_response(s, s.head_status, std::move(s.head), s.head_ends_stream);
      } else if (s.deferred) {
        s.deferred = false;
        nghttp2_session_resume_data(pump_.session(), s.id);
      }
    }
    marked_.clear();
  }

  // --- glitches ------------------------------------------------------------------------

  void glitch() {
    auto const now = std::chrono::steady_clock::now();
    double const elapsed = std::chrono::duration<double>(now - glitch_updated_).count();
    glitch_updated_ = now;
    auto const& o = server_->options;
    glitch_tokens_ = std::min<double>(static_cast<double>(o.glitch_burst), glitch_tokens_ + elapsed * o.glitches_per_second);
    glitch_tokens_ -= 1;
    if (glitch_tokens_ < 0) glitches_exceeded_ = true;  // GOAWAY(ENHANCE_YOUR_CALM) at settle
  }

  // --- nghttp2 callbacks: record and notify, never block or re-enter ---------------------

  static basic_http2_connection& self(void* user) { return pump_type::owner(user); }

  static int on_begin_headers(nghttp2_session*, nghttp2_frame const* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (c.going_away_ || c.glitches_exceeded_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
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
    else if (!n.starts_with(':')) s.headers.emplace_back(std::string{n}, std::string{v});
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, nghttp2_frame const* frame, void* user) {
    auto& c = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) c.pump_.ping_acked();  // the answer to ours
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

  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id, std::uint8_t const* data,
                           std::size_t len, void* user) {
    auto& c = self(user);
    auto it = c.streams_.find(stream_id);
    if (it == c.streams_.end() || !it->second->rpc || it->second->rpc->finished()) {
      c.pump_.consume(stream_id, len);  // discarded: keep the window open
      return 0;
    }
    status s = it->second->rpc->feed_body(std::string_view{reinterpret_cast<char const*>(data), len});
    if (!s.ok()) it->second->rpc->finish(s);
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
        // nghttp2 documents nghttp2_submit_trailer as callable inside this callback.
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
    auto d = dispatch(*server_, std::move(head), pump_.stream().get_executor());
    if (auto* now = std::get_if<immediate_response>(&d)) {
      protocol::metadata h = std::move(now->headers);
      s.out = std::move(now->body);
      s.out_end = true;
      add_queued(s.out.size());
      if (!s.out.empty()) h.emplace_back("content-length", std::to_string(s.out.size()));
      s.start_response(now->status, std::move(h), s.out.empty());
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
    rpc->attach(&s);
    if (proc != nullptr) spawn_handler(pump_.stream().get_executor(), rpc, *proc);
  }

  void submit_response(stream& s, int http_status, protocol::metadata headers, bool end_stream) {
    if (pump_.session() == nullptr || pump_.closed()) return;
    std::string const status_text = std::to_string(http_status);
    std::vector<nghttp2_nv> nva;
    nva.reserve(headers.size() + 1);
    nva.push_back(nv(":status", status_text));
    append_nv(nva, headers);
    nghttp2_data_provider provider{};
    provider.source.ptr = &s;
    provider.read_callback = &read_body;
    nghttp2_submit_response(pump_.session(), s.id, nva.data(), nva.size(), end_stream ? nullptr : &provider);
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

  void pump_ended() { close(); }

  // The pump's writer dates DATA leaving: bytes that wait on a window stall from here.
  void data_leaving(std::chrono::steady_clock::time_point started) { stall_since_ = started; }

  // Closes connections that never finish their headers, sit idle, stop reading, give no
  // window for what waits, or stop answering PINGs; PINGs connections with open streams.
  boost::asio::awaitable<void> watch() {
    auto self = this->shared_from_this();
    auto const& o = server_->options;
    using clock = std::chrono::steady_clock;
    auto& p = pump_;
    p.set_last_ping(started_);
    while (!p.closed()) {
      auto const now = clock::now();
      if (!saw_request_ && now - started_ > o.header_timeout) break;
      if (p.writing() && now - p.write_started() > o.write_stall_timeout) break;
      if (queued_bytes_ > 0 && now - stall_since_ > o.flow_control_stall_timeout) break;
      if (p.ping_out() && now - p.ping_written_at() > o.ping_ack_timeout) break;
      if (streams_.empty() && now - p.last_activity() > o.idle_timeout) {
        shutdown();
        break;
      }
      if (!streams_.empty() && !p.ping_awaited() && !p.fatal() && now - p.last_ping() >= o.ping_interval)
        p.send_ping(now);
      // Sleep until the nearest deadline that could apply: no timer work per request. A
      // stream that begins while we sleep gets its first PING within one interval.
      auto wake = now + std::min<clock::duration>(o.idle_timeout, o.ping_interval);
      if (!saw_request_) wake = std::min(wake, started_ + o.header_timeout);
      if (p.writing()) wake = std::min(wake, p.write_started() + o.write_stall_timeout);
      else if (!streams_.empty()) wake = std::min(wake, now + o.write_stall_timeout);  // a write may start
      if (queued_bytes_ > 0) wake = std::min(wake, stall_since_ + o.flow_control_stall_timeout);
      if (p.ping_awaited())
        wake = std::min(wake, (p.ping_out() ? p.ping_written_at() : now) + o.ping_ack_timeout);
      else if (!streams_.empty()) wake = std::min(wake, p.last_ping() + o.ping_interval);
      if (streams_.empty()) wake = std::min(wake, p.last_activity() + o.idle_timeout);
      watch_wakes_at_ = std::max(wake, now + std::chrono::milliseconds{100});
      watchdog_.expires_at(watch_wakes_at_);
      (void)co_await watchdog_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    watch_wakes_at_ = clock::time_point::min();  // nothing to reschedule any more
    if (p.closed()) co_return;
    // Give a GOAWAY a moment to leave, then close regardless.
    watchdog_.expires_after(std::chrono::milliseconds{200});
    (void)co_await watchdog_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    close();
  }

  void close() {
    if (pump_.closed()) return;
    pump_.shut();
    for (auto& [id, s] : streams_)
      if (s->rpc) {
        s->rpc->detach();
        s->rpc->peer_gone();
      }
    streams_.clear();
    queued_bytes_ = 0;
    marked_.clear();
    watchdog_.cancel();
  }

  pump_type pump_;
  std::shared_ptr<server_state const> server_;
  std::map<std::int32_t, std::unique_ptr<stream>> streams_;
  std::vector<std::int32_t> marked_;  // streams with session calls for settle()
  boost::asio::steady_timer watchdog_;
  std::string peer_;
  std::chrono::steady_clock::time_point started_;
  std::size_t queued_bytes_ = 0;  // response bytes on all streams, not yet handed to nghttp2
  std::chrono::steady_clock::time_point stall_since_;  // since when they wait without DATA leaving
  std::chrono::steady_clock::time_point watch_wakes_at_ = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point glitch_updated_ = std::chrono::steady_clock::now();
  double glitch_tokens_;  // set from the options when the session starts
  bool glitches_exceeded_ = false;
  bool saw_request_ = false;
  bool going_away_ = false;
};

using http2_connection = basic_http2_connection<boost::asio::ip::tcp::socket>;

}  // namespace edgepipe::transport::detail
