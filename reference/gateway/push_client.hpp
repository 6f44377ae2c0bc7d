// The push adapter: one gRPC stream, edgepipe.push.v1.Push/SubscribePush, over an nghttp2
// client session on Asio (h2c to EDGEPIPE_BACKEND_PUSH_ADDR). It counts as open once
// the backend's response headers arrive; whenever it ends it is reopened with exponential
// backoff and jitter (100 ms doubling to 5 s). Each PushEvent goes to `on_event`.
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
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>

namespace edgepipe::reference {

class push_client : public std::enable_shared_from_this<push_client> {
 public:
  using event_handler = std::function<void(edgepipe::push::v1::PushEvent const&)>;

  push_client(boost::asio::any_io_executor ex, http_endpoint backend, std::string gateway_id, event_handler on_event)
      : executor_{std::move(ex)}, backend_{std::move(backend)}, gateway_id_{std::move(gateway_id)},
        on_event_{std::move(on_event)}, timer_{executor_} {}

  void start() {
    boost::asio::co_spawn(executor_, [self = shared_from_this()] { return self->run(); }, boost::asio::detached);
  }
  void stop() {
    stopped_ = true;
    timer_.cancel();
    if (socket_) {
      boost::system::error_code ignored;
      socket_->close(ignored);
    }
  }
  [[nodiscard]] bool open() const noexcept { return open_; }

 private:
  boost::asio::awaitable<void> run() {
    auto backoff = std::chrono::milliseconds{100};
    std::mt19937 jitter{std::random_device{}()};
    while (!stopped_) {
      bool const was_open = co_await stream_once();
      open_ = false;
      if (stopped_) break;
      if (was_open) backoff = std::chrono::milliseconds{100};
      auto const wait = std::uniform_int_distribution<long long>{backoff.count() / 2, backoff.count()}(jitter);
      spdlog::warn("push stream closed; reopening in {} ms", wait);
      timer_.expires_after(std::chrono::milliseconds{wait});
      (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      backoff = std::min(backoff * 2, std::chrono::milliseconds{5000});
    }
  }

  // One connection and one stream; returns whether the stream was ever open.
  boost::asio::awaitable<bool> stream_once() {
    socket_.emplace(executor_);
    boost::asio::ip::tcp::resolver resolver{executor_};
    auto [rec, results] = co_await resolver.async_resolve(backend_.host, std::to_string(backend_.port),
                                                          boost::asio::as_tuple(boost::asio::use_awaitable));
    if (rec) co_return false;
    auto [cec, ep] = co_await boost::asio::async_connect(*socket_, results, boost::asio::as_tuple(boost::asio::use_awaitable));
    if (cec) co_return false;

    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
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
    stream_closed_ = false;
    bool ever_open = false;

    std::array<char, 16384> buffer;
    while (!stopped_ && !stream_closed_) {
      std::string out;
      for (;;) {
        std::uint8_t const* data = nullptr;
        auto n = nghttp2_session_mem_send(session, &data);
        if (n <= 0) break;
        out.append(reinterpret_cast<char const*>(data), static_cast<std::size_t>(n));
      }
      if (!out.empty()) {
        auto [wec, wn] = co_await boost::asio::async_write(*socket_, boost::asio::buffer(out),
                                                          boost::asio::as_tuple(boost::asio::use_awaitable));
        if (wec) break;
      }
      auto [ec, n] = co_await socket_->async_read_some(boost::asio::buffer(buffer), boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) break;
      if (nghttp2_session_mem_recv(session, reinterpret_cast<std::uint8_t const*>(buffer.data()), n) < 0) break;
      ever_open = ever_open || open_;
    }
    boost::system::error_code ignored;
    socket_->close(ignored);
    co_return ever_open || open_;
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
    if (frame->hd.stream_id != self.stream_id_) return 0;
    std::string_view const n{reinterpret_cast<char const*>(name), namelen};
    std::string_view const v{reinterpret_cast<char const*>(value), valuelen};
    if (n == ":status" && frame->headers.cat == NGHTTP2_HCAT_RESPONSE && v == "200") {
      if (!self.open_) spdlog::info("push stream open");
      self.open_ = true;
    }
    if (n == "grpc-status" && v != "0") self.open_ = false;  // Trailers-Only refusal
    return 0;
  }

  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id, std::uint8_t const* data, std::size_t len,
                     void* user) {
    auto& self = *static_cast<push_client*>(user);
    if (stream_id != self.stream_id_) return 0;
    std::size_t const skipped = self.decoder_.skipped();
    status s = self.decoder_.feed(std::string_view{reinterpret_cast<char const*>(data), len}, self.on_event_);
    if (self.decoder_.skipped() != skipped) spdlog::warn("push stream: a message is not a PushEvent; ignored");
    if (!s.ok()) self.stream_closed_ = true;  // a broken stream: reopen it
    return 0;
  }

  static int on_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
    auto& self = *static_cast<push_client*>(user);
    if (stream_id == self.stream_id_) self.stream_closed_ = true;
    return 0;
  }

  boost::asio::any_io_executor executor_;
  http_endpoint backend_;
  std::string gateway_id_;
  event_handler on_event_;
  boost::asio::steady_timer timer_;
  std::optional<boost::asio::ip::tcp::socket> socket_;
  push_event_decoder decoder_;
  std::string request_body_;
  std::size_t request_offset_ = 0;
  std::int32_t stream_id_ = -1;
  bool open_ = false;
  bool stream_closed_ = false;
  bool stopped_ = false;
};

}  // namespace edgepipe::reference
