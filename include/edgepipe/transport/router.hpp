// Procedures by path, with handlers for the four kinds of RPC.
//
//   router r;
//   r.unary<EchoRequest, EchoResponse>("/test.v1.TestService/Echo",
//       [](EchoRequest const& req, call_context& ctx) -> awaitable<result<EchoResponse>> {...});
//
// A handler returns (or finishes with) an edgepipe::status; exceptions it lets escape
// become `internal`, and are never shown to the client.
#pragma once

#include <edgepipe/protocol/protobuf_codec.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/transport/call_context.hpp>
#include <edgepipe/transport/detail/call.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace edgepipe::transport {

using detail::rpc_kind;

struct procedure {
  rpc_kind kind = rpc_kind::unary;
  bool idempotent = false;  // NO_SIDE_EFFECTS: Connect GET allowed
  std::function<boost::asio::awaitable<void>(std::shared_ptr<detail::call>)> invoke;
};

struct procedure_options {
  bool idempotent = false;
};

class router {
 public:
  // F: (Req const&, call_context&) -> awaitable<result<Resp>>
  template <class Req, class Resp, class F>
  router& unary(std::string path, F handler, procedure_options options = {}) {
    return add(std::move(path), rpc_kind::unary, options,
               [handler = std::move(handler)](std::shared_ptr<detail::call> c) -> boost::asio::awaitable<void> {
                 call_context ctx{*c};
                 result<Req> req = co_await single_request<Req>(*c);
                 if (!req) co_return c->finish(req.error());
                 result<Resp> r = co_await handler(static_cast<Req const&>(*req), ctx);
                 co_return co_await respond(*c, ctx, r);
               });
  }

  // F: (Req const&, message_writer<Resp>&, call_context&) -> awaitable<status>
  template <class Req, class Resp, class F>
  router& server_streaming(std::string path, F handler, procedure_options options = {}) {
    return add(std::move(path), rpc_kind::server_streaming, options,
               [handler = std::move(handler)](std::shared_ptr<detail::call> c) -> boost::asio::awaitable<void> {
                 call_context ctx{*c};
                 result<Req> req = co_await single_request<Req>(*c);
                 if (!req) co_return c->finish(req.error());
                 message_writer<Resp> writer{*c};
                 status s = co_await handler(static_cast<Req const&>(*req), writer, ctx);
                 c->finish(s, ctx.error_details(), ctx.trailers());
               });
  }

  // F: (message_reader<Req>&, call_context&) -> awaitable<result<Resp>>
  template <class Req, class Resp, class F>
  router& client_streaming(std::string path, F handler, procedure_options options = {}) {
    return add(std::move(path), rpc_kind::client_streaming, options,
               [handler = std::move(handler)](std::shared_ptr<detail::call> c) -> boost::asio::awaitable<void> {
                 call_context ctx{*c};
                 message_reader<Req> reader{*c};
                 result<Resp> r = co_await handler(reader, ctx);
                 co_return co_await respond(*c, ctx, r);
               });
  }

  // F: (message_reader<Req>&, message_writer<Resp>&, call_context&) -> awaitable<status>
  template <class Req, class Resp, class F>
  router& bidi_streaming(std::string path, F handler, procedure_options options = {}) {
    return add(std::move(path), rpc_kind::bidi_streaming, options,
               [handler = std::move(handler)](std::shared_ptr<detail::call> c) -> boost::asio::awaitable<void> {
                 call_context ctx{*c};
                 message_reader<Req> reader{*c};
                 message_writer<Resp> writer{*c};
                 status s = co_await handler(reader, writer, ctx);
                 c->finish(s, ctx.error_details(), ctx.trailers());
               });
  }

  [[nodiscard]] procedure const* find(std::string_view path) const {
    auto it = procedures_.find(path);
    return it == procedures_.end() ? nullptr : &it->second;
  }

 private:
  // The one request message of a unary or server-streaming call: zero or two are
  // `unimplemented`, as connect-go answers.
  template <class Req>
  static boost::asio::awaitable<result<Req>> single_request(detail::call& c) {
    auto first = co_await c.next_message();
    if (!first) co_return first.error();
    if (!*first) co_return detail::call_errors::no_message;
    auto second = co_await c.next_message();
    if (!second) co_return second.error();
    if (*second) co_return detail::call_errors::two_messages;
    Req req;
    if (status s = protocol::decode_message(c.info().type.codec, **first, req); !s.ok()) co_return s;
    co_return req;
  }

  template <class Resp>
  static boost::asio::awaitable<void> respond(detail::call& c, call_context& ctx, result<Resp> const& r) {
    if (!r) co_return c.finish(r.error(), ctx.error_details(), ctx.trailers());
    std::string bytes;
    if (status s = protocol::encode_message(c.info().type.codec, *r, bytes); !s.ok()) co_return c.finish(s);
    if (status s = co_await c.write_message(bytes); !s.ok()) co_return c.finish(s);
    c.finish(status{}, {}, ctx.trailers());
  }

  router& add(std::string path, rpc_kind kind, procedure_options options,
              std::function<boost::asio::awaitable<void>(std::shared_ptr<detail::call>)> invoke) {
    if (path.empty() || path.front() != '/' || path.find('/', 1) == std::string::npos)
      throw std::invalid_argument("a procedure path looks like /package.Service/Method");
    if (!procedures_.emplace(std::move(path), procedure{kind, options.idempotent, std::move(invoke)}).second)
      throw std::invalid_argument("procedure registered twice");
    return *this;
  }

  struct transparent_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, procedure, transparent_hash, std::equal_to<>> procedures_;
};

}  // namespace edgepipe::transport
