// Procedures by path, with handlers for the four kinds of RPC.
//
//   router r;
//   r.unary<EchoRequest, EchoResponse>("/test.v1.TestService/Echo",
//       [](EchoRequest const& req, call_context& ctx) -> awaitable<result<EchoResponse>> {...});
//
// A handler returns (or finishes with) an edgepipe::status; exceptions it lets escape
// become `internal`, and are never shown to the client.
//
// Plain HTTP routes (`route`, see http_route.hpp) share the router with procedures.
#pragma once

#include <edgepipe/protocol/protobuf_codec.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/status.hpp>
#include <edgepipe/transport/call_context.hpp>
#include <edgepipe/transport/detail/call.hpp>
#include <edgepipe/transport/http_route.hpp>

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

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

// The routes of one plain path pattern, by method.
struct plain_route {
  std::vector<std::pair<std::string, procedure>> methods;  // "*": every method

  // The route for `method`, else the one for every method.
  [[nodiscard]] procedure const* find(std::string_view method) const noexcept {
    procedure const* any = nullptr;
    for (auto const& [m, p] : methods) {
      if (m == method) return &p;
      if (m == "*") any = &p;
    }
    return any;
  }
  // The value of `Allow` when no route takes the method.
  [[nodiscard]] std::string allow() const {
    std::string out;
    for (auto const& [m, p] : methods) out += (out.empty() ? "" : ", ") + m;
    return out;
  }
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

  // A plain HTTP route: `method` (or "*" for every method) on `path`, exact or, ending in
  // `*`, a prefix. Throws on a malformed pattern or a method registered twice on one.
  router& route(std::string method, std::string path, http_handler handler) {
    bool const valid_method = method == "*" || (!method.empty() && std::all_of(method.begin(), method.end(), [](char ch) {
      return ch >= 'A' && ch <= 'Z';
    }));
    if (!valid_method) throw std::invalid_argument("a route's method is upper-case letters, or *");
    if (path.empty() || path.front() != '/' || path.find('*') < path.size() - 1)
      throw std::invalid_argument("a route's path starts with / and has * only at its end");
    bool const prefix = path.back() == '*';
    if (prefix) path.pop_back();
    plain_route* r = nullptr;
    if (!prefix) {
      r = &exact_routes_[path];
    } else {
      auto it = std::find_if(prefix_routes_.begin(), prefix_routes_.end(), [&](auto const& p) { return p.first == path; });
      if (it == prefix_routes_.end()) {
        // Longest first, so the first prefix that matches is the best.
        it = std::find_if(prefix_routes_.begin(), prefix_routes_.end(),
                          [&](auto const& p) { return p.first.size() < path.size(); });
        it = prefix_routes_.emplace(it, path, plain_route{});
      }
      r = &it->second;
    }
    for (auto const& [m, p] : r->methods)
      if (m == method) throw std::invalid_argument("route registered twice");
    r->methods.emplace_back(std::move(method), procedure{rpc_kind::plain, false, plain_invoke(std::move(handler))});
    return *this;
  }

  [[nodiscard]] procedure const* find(std::string_view path) const {
    auto it = procedures_.find(path);
    return it == procedures_.end() ? nullptr : &it->second;
  }

  // The plain routes whose pattern best matches `path` (null when none does).
  [[nodiscard]] plain_route const* find_route(std::string_view path) const {
    if (exact_routes_.empty() && prefix_routes_.empty()) return nullptr;  // an RPC-only router
    if (auto it = exact_routes_.find(path); it != exact_routes_.end()) return &it->second;
    for (auto const& [prefix, r] : prefix_routes_)
      if (path.starts_with(prefix)) return &r;
    return nullptr;
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

  // A plain call's request is its whole body, one message; the handler's answer goes out as it is.
  static std::function<boost::asio::awaitable<void>(std::shared_ptr<detail::call>)> plain_invoke(http_handler handler) {
    return [handler = std::move(handler)](std::shared_ptr<detail::call> c) -> boost::asio::awaitable<void> {
      auto body = co_await c->next_message();
      if (!body) co_return c->finish(body.error());
      detail::request_info const& info = c->info();
      std::string whole = body->has_value() ? std::move(**body) : std::string{};
      http_request req{info.method, info.path, info.query, info.headers, std::move(whole), info.peer};
      http_response r = co_await handler(std::move(req));
      c->answer(r.status, std::move(r.headers), std::move(r.body));
    };
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
  std::unordered_map<std::string, plain_route, transparent_hash, std::equal_to<>> exact_routes_;
  std::vector<std::pair<std::string, plain_route>> prefix_routes_;  // longest first
};

}  // namespace edgepipe::transport
