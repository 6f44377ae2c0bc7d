// The push adapter: one gRPC stream, edgepipe.push.v1.Push/SubscribePush, over an nghttp2
// client session on Asio (h2c to EDGEPIPE_BACKEND_PUSH_ADDR). Each PushEvent goes to `on_event`.
//
// The stream counts as open once the backend has sent its SETTINGS and the response
// headers of our stream. A backend that has not done so within 5 s of the attempt (TCP
// connect included), or that leaves a PING (sent every 15 s) unanswered for 5 s, is given
// up on: every read and write waits under a deadline, so a silent peer cannot keep the
// stream "open". Whenever the stream ends it is reopened after a backoff of 100 ms doubling
// to 5 s (jitter ±20 %); the backoff starts again from 100 ms only after a stream stayed
// open for 30 s, so a backend that accepts and fails at once is not called in a loop.
#pragma once

#include "../common/http_client.hpp"
#include "push_events.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace edgepipe::reference {

class push_client : public std::enable_shared_from_this<push_client> {
 public:
  using event_handler = std::function<void(edgepipe::push::v1::PushEvent const&)>;

  push_client(boost::asio::any_io_executor ex, http_endpoint backend, std::string gateway_id, event_handler on_event)
      : executor_{std::move(ex)}, backend_{std::move(backend)}, gateway_id_{std::move(gateway_id)},
        on_event_{std::move(on_event)}, backoff_timer_{executor_}, deadline_{executor_}, resolver_{executor_} {}

  void start() {
    boost::asio::co_spawn(executor_, [self = shared_from_this()] { return self->run(); }, boost::asio::detached);
  }
  void stop() {
    stopped_ = true;
    backoff_timer_.cancel();
    deadline_.cancel();
    resolver_.cancel();
    if (socket_) {
      boost::system::error_code ignored;
      socket_->close(ignored);
    }
  }
  [[nodiscard]] bool open() const noexcept { return open_; }

 private:
  using clock = std::chrono::steady_clock;
  static constexpr auto handshake_timeout = std::chrono::seconds{5};
  static constexpr auto ping_interval = std::chrono::seconds{15};
  static constexpr auto ping_timeout = std::chrono::seconds{5};
  static constexpr auto write_timeout = std::chrono::seconds{5};
  static constexpr auto backoff_min = std::chrono::milliseconds{100};
  static constexpr auto backoff_max = std::chrono::milliseconds{5000};
  static constexpr auto stable_after = std::chrono::seconds{30};

  // How one connection ended: how long its stream was open (zero: never), and why.
  struct attempt {
    clock::duration open_for{};
    std::string_view ended_by;
  };

  boost::asio::awaitable<void> run() {
    auto backoff = backoff_min;
    std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter{0.8, 1.2};
    while (!stopped_) {
      attempt const a = co_await stream_once();
      open_ = false;
      if (stopped_) break;
      if (a.open_for >= stable_after) backoff = backoff_min;
      auto const wait = std::chrono::milliseconds{std::llround(static_cast<double>(backoff.count()) * jitter(rng))};
      spdlog::warn("push stream closed ({}); reopening in {} ms", a.ended_by, wait.count());
      backoff_timer_.expires_after(wait);
      (void)co_await backoff_timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      backoff = std::min(backoff * 2, backoff_max);
    }
  }

  // One connection and one stream, until either ends or the backend misses a deadline.
  boost::asio::awaitable<attempt> stream_once() {
    attempt result;
    handshake_deadline_ = clock::now() + handshake_timeout;
    settings_received_ = headers_ok_ = status_ok_ = refused_ = open_ = false;
    ping_deadline_.reset();
    socket_.emplace(executor_);
    arm(handshake_deadline_);
    auto [rec, results] = co_await resolver_.async_resolve(backend_.host, std::to_string(backend_.port),
                                                           boost::asio::as_tuple(boost::asio::use_awaitable));
    if (rec) co_return finish(result, "cannot resolve the push address");
    // Endpoint by endpoint, so that the handshake deadline bounds every attempt.
    boost::system::error_code cec = boost::asio::error::host_not_found;
    for (auto const& entry : results) {
      if (stopped_ || clock::now() >= handshake_deadline_) break;
      boost::system::error_code ignored;
      socket_->close(ignored);
      auto const ep = entry.endpoint();
      std::tie(cec) = co_await socket_->async_connect(ep, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (!cec) break;
    }
    if (cec) co_return finish(result, clock::now() >= handshake_deadline_ ? "no connection within 5 s" : "cannot connect");

    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_close);
    nghttp2_session* session = nullptr;
    nghttp2_session_client_new(&session, cb, this);
    nghttp2_session_callbacks_del(cb);
    std::unique_ptr<nghttp2_session, decltype(&nghttp2_session_del)> guard{session, &nghttp2_session_del};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);

    edgepipe::push::v1::SubscribePushRequest request;
    request.set_gateway_id(gateway_id_);
    request_body_.clear();
    protocol::append_frame(request_body_, 0, request.SerializeAsString());
    request_offset_ = 0;
    std::string const authority = backend_.host + ":" + std::to_string(backend_.port);
    auto nv = [](char const* n, std::string const& v) {
      return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n)),
                        reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), std::strlen(n), v.size(),
                        NGHTTP2_NV_FLAG_NONE};
    };
    std::string const method = "POST", scheme = "http", path = "/edgepipe.push.v1.Push/SubscribePush",
                      type = "application/grpc", te = "trailers";
    nghttp2_nv headers[] = {nv(":method", method), nv(":scheme", scheme), nv(":authority", authority),
                            nv(":path", path), nv("content-type", type), nv("te", te)};
    nghttp2_data_provider provider{};
    provider.read_callback = &read_request;
    stream_id_ = nghttp2_submit_request(session, nullptr, headers, std::size(headers), &provider, nullptr);
    decoder_ = push_event_decoder{};
    stream_ended_by_ = {};
    std::optional<clock::time_point> opened_at;

    std::array<char, 16384> buffer;
    std::string out;
    while (!stopped_ && stream_ended_by_.empty()) {
      out.clear();
      for (;;) {
        std::uint8_t const* data = nullptr;
        auto n = nghttp2_session_mem_send(session, &data);
        if (n <= 0) break;
        out.append(reinterpret_cast<char const*>(data), static_cast<std::size_t>(n));
      }
      if (!out.empty()) {
        auto const write_deadline = clock::now() + write_timeout;
        arm(open_ ? write_deadline : std::min(write_deadline, handshake_deadline_));
        auto [wec, wn] = co_await boost::asio::async_write(*socket_, boost::asio::buffer(out),
                                                          boost::asio::as_tuple(boost::asio::use_awaitable));
        if (wec) {
          result.ended_by = open_ ? "a write failed or stalled for 5 s" : "no HTTP/2 handshake within 5 s";
          break;
        }
      }
      arm(next_deadline());
      auto [ec, n] = co_await socket_->async_read_some(boost::asio::buffer(buffer), boost::asio::as_tuple(boost::asio::use_awaitable));
      if (stopped_) break;
      if (ec == boost::asio::error::operation_aborted) {  // a deadline woke us
        result.ended_by = on_deadline(session);
        if (!result.ended_by.empty()) break;
        continue;
      }
      if (ec) {
        result.ended_by = "the backend closed the connection";
        break;
      }
      if (nghttp2_session_mem_recv(session, reinterpret_cast<std::uint8_t const*>(buffer.data()), n) < 0) {
        result.ended_by = "HTTP/2 protocol error";
        break;
      }
      if (open_ && !opened_at) {
        opened_at = clock::now();
        next_ping_ = *opened_at + ping_interval;
      }
    }
    if (result.ended_by.empty()) result.ended_by = stream_ended_by_;
    if (opened_at) result.open_for = clock::now() - *opened_at;
    co_return finish(result, result.ended_by);
  }

  attempt finish(attempt a, std::string_view why) {
    a.ended_by = why;
    deadline_.cancel();
    boost::system::error_code ignored;
    socket_->close(ignored);
    return a;
  }

  // Interrupts the pending read or write when `at` passes; re-arming moves the deadline.
  void arm(clock::time_point at) {
    deadline_.expires_at(at);
    deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      // A wake-up that raced the operation it was meant for finds a later expiry here, and
      // leaves the next operation alone.
      if (ec || self->deadline_.expiry() > clock::now()) return;
      self->resolver_.cancel();
      boost::system::error_code ignored;
      if (self->socket_) self->socket_->cancel(ignored);
    });
  }

  // The next moment something must happen without the backend: the handshake deadline, a
  // PING's answer deadline, or the next PING.
  [[nodiscard]] clock::time_point next_deadline() const {
    if (!open_) return handshake_deadline_;
    return ping_deadline_ ? *ping_deadline_ : next_ping_;
  }

  // After a deadline interrupted a read: why the attempt ends, or empty (a PING is now due).
  std::string_view on_deadline(nghttp2_session* session) {
    auto const now = clock::now();
    if (!open_) return now >= handshake_deadline_ ? "no HTTP/2 handshake within 5 s" : "";
    if (ping_deadline_) return now >= *ping_deadline_ ? "PING unanswered for 5 s" : "";
    if (now >= next_ping_) {
      nghttp2_submit_ping(session, NGHTTP2_FLAG_NONE, nullptr);
      ping_deadline_ = now + ping_timeout;
    }
    return "";
  }

  static ssize_t read_request(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                              nghttp2_data_source*, void* user) {
    auto& self = *static_cast<push_client*>(user);
    std::size_t const n = std::min(length, self.request_body_.size() - self.request_offset_);
    std::memcpy(buf, self.request_body_.data() + self.request_offset_, n);
    self.request_offset_ += n;
    if (self.request_offset_ == self.request_body_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int on_header(nghttp2_session*, nghttp2_frame const* frame, std::uint8_t const* name, std::size_t namelen,
                       std::uint8_t const* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& self = *static_cast<push_client*>(user);
    if (frame->hd.stream_id != self.stream_id_ || frame->headers.cat != NGHTTP2_HCAT_RESPONSE) return 0;
    std::string_view const n{reinterpret_cast<char const*>(name), namelen};
    std::string_view const v{reinterpret_cast<char const*>(value), valuelen};
    if (n == ":status") self.status_ok_ = v == "200";
    if (n == "grpc-status") self.refused_ = true;  // Trailers-Only: the stream ends here
    return 0;
  }

  static int on_frame(nghttp2_session*, nghttp2_frame const* frame, void* user) {
    auto& self = *static_cast<push_client*>(user);
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) self.settings_received_ = true;
        break;
      case NGHTTP2_HEADERS:
        if (frame->hd.stream_id == self.stream_id_ && frame->headers.cat == NGHTTP2_HCAT_RESPONSE)
          self.headers_ok_ = self.status_ok_ && !self.refused_ && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0;
        break;
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && self.ping_deadline_) {
          self.ping_deadline_.reset();
          self.next_ping_ = clock::now() + ping_interval;
        }
        break;
      default: break;
    }
    if (!self.open_ && self.settings_received_ && self.headers_ok_) {
      spdlog::info("push stream open");
      self.open_ = true;
    }
    return 0;
  }

  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id, std::uint8_t const* data, std::size_t len,
                     void* user) {
    auto& self = *static_cast<push_client*>(user);
    if (stream_id != self.stream_id_) return 0;
    std::size_t const skipped = self.decoder_.skipped();
    status s = self.decoder_.feed(std::string_view{reinterpret_cast<char const*>(data), len}, self.on_event_);
    if (self.decoder_.skipped() != skipped) spdlog::warn("push stream: a message is not a PushEvent; ignored");
    if (!s.ok()) self.stream_ended_by_ = "a broken gRPC frame";
    return 0;
  }

  static int on_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
    auto& self = *static_cast<push_client*>(user);
    if (stream_id == self.stream_id_ && self.stream_ended_by_.empty()) self.stream_ended_by_ = "the backend ended the stream";
    return 0;
  }

  boost::asio::any_io_executor executor_;
  http_endpoint backend_;
  std::string gateway_id_;
  event_handler on_event_;
  boost::asio::steady_timer backoff_timer_;
  boost::asio::steady_timer deadline_;  // before every read and write of the connection
  boost::asio::ip::tcp::resolver resolver_;
  std::optional<boost::asio::ip::tcp::socket> socket_;
  push_event_decoder decoder_;
  std::string request_body_;
  std::size_t request_offset_ = 0;
  std::int32_t stream_id_ = -1;
  clock::time_point handshake_deadline_{};
  clock::time_point next_ping_{};
  std::optional<clock::time_point> ping_deadline_;  // set while a PING waits for its ACK
  std::string_view stream_ended_by_;
  bool settings_received_ = false;
  bool status_ok_ = false;
  bool refused_ = false;
  bool headers_ok_ = false;
  bool open_ = false;
  bool stopped_ = false;
};

}  // namespace edgepipe::reference
