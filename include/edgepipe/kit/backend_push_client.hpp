// The backend push client: one gRPC stream, edgepipe.push.v1.Push/SubscribePush, on the
// library's h2c client (to EDGEPIPE_BACKEND_PUSH_ADDR). Each PushEvent goes to `on_event`.
//
// The stream counts as open once the backend has sent its SETTINGS and the response
// headers of our stream. A backend that has not done so within 5 s of the attempt (TCP
// connect included), or that leaves a PING (sent every 15 s) unanswered for 5 s, or
// whose connection takes a write for more than 5 s, is given up on: the client bounds
// every read and write, so a silent peer cannot keep the stream "open" longer than
// 15 s + 5 s. Whenever the stream ends it is reopened after a backoff of 100 ms doubling
// to 5 s (jitter ±20 %); the backoff starts again from 100 ms only after a stream stayed
// open for 30 s, so a backend that accepts and fails at once is not called in a loop.
#pragma once

#include <edgepipe/kit/log_function.hpp>
#include <edgepipe/kit/push_event_decoder.hpp>
#include <edgepipe/transport/h2c_client.hpp>
#include <edgepipe/transport/http_client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::kit {

// Owned by a shared_ptr: the stream's coroutine keeps it alive until stop() ends it.
class backend_push_client : public std::enable_shared_from_this<backend_push_client> {
 public:
  using event_handler = std::function<void(edgepipe::push::v1::PushEvent const&)>;

  backend_push_client(boost::asio::any_io_executor ex, transport::http_endpoint backend, std::string gateway_id,
                      event_handler on_event, log_function log = {})
      : executor_{std::move(ex)}, backend_{std::move(backend)}, gateway_id_{std::move(gateway_id)},
        on_event_{std::move(on_event)}, log_{std::move(log)}, backoff_timer_{executor_}, handshake_timer_{executor_} {}

  void start() {
    boost::asio::co_spawn(executor_, [self = shared_from_this()] { return self->run(); }, boost::asio::detached);
  }
  void stop() {
    stopped_ = true;
    backoff_timer_.cancel();
    handshake_timer_.cancel();
    if (client_) client_->close();
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
  static constexpr std::string_view path = "/edgepipe.push.v1.Push/SubscribePush";

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
      if (log_)
        log_(log_level::warning, "push stream closed (" + std::string{a.ended_by} + "); reopening in " +
                                     std::to_string(wait.count()) + " ms");
      backoff_timer_.expires_after(wait);
      (void)co_await backoff_timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      backoff = std::min(backoff * 2, backoff_max);
    }
  }

  // One connection and one stream, until either ends or the backend misses a deadline.
  boost::asio::awaitable<attempt> stream_once() {
    attempt result;
    auto const handshake_deadline = clock::now() + handshake_timeout;
    transport::h2c_client_options o;
    o.connect_timeout = handshake_timeout;
    o.ping_interval = ping_interval;
    o.ping_ack_timeout = ping_timeout;
    o.write_timeout = write_timeout;
    client_ = std::make_shared<transport::h2c_client>(executor_, backend_.host, backend_.port, o);
    status const connected = co_await client_->connect();
    if (!connected.ok()) co_return finish(result, connect_failure(connected));

    edgepipe::push::v1::SubscribePushRequest request;
    request.set_gateway_id(gateway_id_);
    std::string body;
    protocol::append_frame(body, 0, request.SerializeAsString());
    transport::h2c_request const r{path, body};
    push_event_decoder decoder;
    auto on_message = [&](std::string_view m) {
      std::size_t const skipped = decoder.skipped();
      decoder.message(m, on_event_);
      if (decoder.skipped() != skipped && log_) log_(log_level::warning, "push stream: a message is not a PushEvent; ignored");
      return status{};
    };
    std::optional<clock::time_point> opened_at;
    auto on_open = [&] {
      if (log_) log_(log_level::info, "push stream open");
      open_ = true;
      opened_at = clock::now();
      handshake_timer_.cancel();
    };
    // The response headers, within what is left of the handshake's 5 s.
    handshake_timer_.expires_at(handshake_deadline);
    handshake_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->open_ && self->client_) self->client_->close();
    });
    status const ended = co_await client_->grpc_call(r, on_message, on_open);
    handshake_timer_.cancel();
    open_ = false;
    if (!opened_at) co_return finish(result, ended.reason() == "closed" ? "no answer to the stream within 5 s"
                                                                        : stream_failure(ended, client_->why_ended()));
    result.open_for = clock::now() - *opened_at;
    co_return finish(result, stream_failure(ended, client_->why_ended()));
  }

  attempt finish(attempt a, std::string_view why) {
    a.ended_by = why;
    if (client_) client_->close();
    return a;
  }

  static std::string_view connect_failure(status s) {
    if (s.reason() == "cannot_resolve") return "cannot resolve the push address";
    if (s.reason() == "cannot_connect") return "cannot connect";
    return "no HTTP/2 handshake within 5 s";
  }

  // Why an open stream ended, from its outcome and the connection's.
  static std::string_view stream_failure(status stream, status connection) {
    std::string_view const why = connection.ok() ? stream.reason() : connection.reason();
    if (why == "ping_timeout") return "PING unanswered for 5 s";
    if (why == "write_timeout") return "a write failed or stalled for 5 s";
    if (why == "connection_lost") return "the backend closed the connection";
    if (why == "protocol_error") return "HTTP/2 protocol error";
    if (why == "malformed_frame" || why == "message_too_large") return "a broken gRPC frame";
    return "the backend ended the stream";
  }

  boost::asio::any_io_executor executor_;
  transport::http_endpoint backend_;
  std::string gateway_id_;
  event_handler on_event_;
  log_function log_;
  boost::asio::steady_timer backoff_timer_;
  boost::asio::steady_timer handshake_timer_;
  std::shared_ptr<transport::h2c_client> client_;
  bool open_ = false;
  bool stopped_ = false;
};

}  // namespace edgepipe::kit
