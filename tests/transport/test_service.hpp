// The test service's handlers, for the test server and the in-process transport tests.
#pragma once

#include <edgepipe/transport/router.hpp>

#include "test_service.pb.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <string>
#include <string_view>

namespace test_service {

namespace asio = boost::asio;
namespace tv1 = edgepipe::test::v1;
using edgepipe::result;
using edgepipe::status;
using edgepipe::transport::call_context;
using edgepipe::transport::message_reader;
using edgepipe::transport::message_writer;

inline asio::awaitable<void> sleep_ms(int ms) {
  if (ms <= 0) {  // just yield to the event loop
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return;
  }
  asio::steady_timer t{co_await asio::this_coro::executor, std::chrono::milliseconds{ms}};
  co_await t.async_wait(asio::use_awaitable);
}

// How many times Echo ran, for the load test's accounting.
inline long echo_calls = 0;

inline void register_test_service(edgepipe::transport::router& r) {
  std::string const svc = "/edgepipe.test.v1.TestService/";
  r.unary<tv1::EchoRequest, tv1::EchoResponse>(
      svc + "Echo", [](tv1::EchoRequest const& req, call_context& ctx) -> asio::awaitable<result<tv1::EchoResponse>> {
        ++echo_calls;
        tv1::EchoResponse resp;
        resp.set_text(req.text());
        resp.set_blob(req.blob());
        ctx.add_trailer("x-echo-trailer", "yes");
        // A handler that copies what a client sent into its headers, as a careless one would.
        if (std::string_view t = req.text(); t.starts_with("header:")) {
          ctx.set_response_header("x-echo", std::string{t.substr(7)});
          ctx.add_trailer("x-echo-trailer-text", std::string{t.substr(7)});
        }
        co_return resp;
      });
  r.unary<tv1::FailRequest, tv1::EchoResponse>(
      svc + "Fail", [](tv1::FailRequest const& req, call_context& ctx) -> asio::awaitable<result<tv1::EchoResponse>> {
        auto c = edgepipe::code_from_string(req.code());
        if (!c || *c == edgepipe::code::ok) c = edgepipe::code::unknown;
        tv1::ErrorInfo info;
        info.set_reason(req.detail());
        ctx.add_error_detail(info);
        co_return status{*c, "requested_failure", "as requested"};
      });
  r.server_streaming<tv1::StreamRequest, tv1::EchoResponse>(
      svc + "ServerStream",
      [](tv1::StreamRequest const& req, message_writer<tv1::EchoResponse>& out, call_context&) -> asio::awaitable<status> {
        for (int i = 0; i < req.count(); ++i) {
          if (req.delay_ms() > 0) co_await sleep_ms(req.delay_ms());
          tv1::EchoResponse m;
          m.set_text(req.text());
          m.set_index(i);
          if (status s = co_await out.write(m); !s.ok()) co_return s;
        }
        co_return status{};
      });
  r.server_streaming<tv1::StreamRequest, tv1::EchoResponse>(
      svc + "Endless",
      [](tv1::StreamRequest const& req, message_writer<tv1::EchoResponse>& out, call_context&) -> asio::awaitable<status> {
        for (int i = 0;; ++i) {
          co_await sleep_ms(req.delay_ms());
          tv1::EchoResponse m;
          m.set_text(req.text());
          m.set_index(i);
          if (status s = co_await out.write(m); !s.ok()) co_return s;
        }
      });
  r.client_streaming<tv1::EchoRequest, tv1::EchoResponse>(
      svc + "ClientStream",
      [](message_reader<tv1::EchoRequest>& in, call_context&) -> asio::awaitable<result<tv1::EchoResponse>> {
        tv1::EchoResponse resp;
        int n = 0;
        for (;;) {
          auto next = co_await in.read();
          if (!next) co_return next.error();
          if (!*next) break;
          if (n++) resp.mutable_text()->append(",");
          resp.mutable_text()->append((*next)->text());
        }
        resp.set_index(n);
        co_return resp;
      });
  r.bidi_streaming<tv1::EchoRequest, tv1::EchoResponse>(
      svc + "Bidi",
      [](message_reader<tv1::EchoRequest>& in, message_writer<tv1::EchoResponse>& out, call_context&) -> asio::awaitable<status> {
        for (int i = 0;; ++i) {
          auto next = co_await in.read();
          if (!next) co_return next.error();
          if (!*next) co_return status{};
          tv1::EchoResponse m;
          m.set_text((*next)->text());
          m.set_index(i);
          if (status s = co_await out.write(m); !s.ok()) co_return s;
        }
      });
  r.unary<tv1::EchoRequest, tv1::EchoResponse>(
      svc + "Idempotent",
      [](tv1::EchoRequest const& req, call_context& ctx) -> asio::awaitable<result<tv1::EchoResponse>> {
        tv1::EchoResponse resp;
        resp.set_text(req.text());
        resp.set_blob(std::string{ctx.http_method()} + (ctx.http1() ? " http/1.1" : " h2"));
        co_return resp;
      },
      {.idempotent = true});
  r.unary<tv1::EchoRequest, tv1::EchoResponse>(
      svc + "Stats", [](tv1::EchoRequest const&, call_context&) -> asio::awaitable<result<tv1::EchoResponse>> {
        tv1::EchoResponse resp;
        resp.set_index(static_cast<std::int32_t>(echo_calls));
        co_return resp;
      });
  r.unary<tv1::StreamRequest, tv1::EchoResponse>(
      svc + "Sleep", [](tv1::StreamRequest const& req, call_context&) -> asio::awaitable<result<tv1::EchoResponse>> {
        co_await sleep_ms(req.delay_ms());
        tv1::EchoResponse resp;
        resp.set_text(req.text());
        co_return resp;
      });
}

}  // namespace test_service
