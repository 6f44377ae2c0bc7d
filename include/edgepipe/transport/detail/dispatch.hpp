// From request headers to a running handler, the same for HTTP/2 and HTTP/1.1: which
// procedure, whether method, content type and HTTP version fit it, CORS, compression,
// the deadline. Protocol-level refusals are answered as connect-go answers them.
#pragma once

#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/grpc.hpp>
#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/protocol/wire_format.hpp>
#include <edgepipe/transport/detail/call.hpp>
#include <edgepipe/transport/router.hpp>
#include <edgepipe/transport/server_options.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace edgepipe::transport::detail {

// What the server shares with its connections.
struct server_state {
  router const* routes;
  server_options options;
  bool draining = false;
};

struct request_head {
  std::string method;
  std::string target;  // path and query
  protocol::metadata headers;  // lower-case names, pseudo-headers excluded
  std::string peer;
  bool http1 = false;
};

// An answer given without running a handler.
struct immediate_response {
  int status = 200;
  protocol::metadata headers;
  std::string body;
  bool close_connection = false;
};

inline constexpr std::string_view cors_allowed_headers =
    "Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, Connect-Content-Encoding, "
    "Connect-Accept-Encoding, Grpc-Timeout, X-Grpc-Web, X-User-Agent, Grpc-Encoding, Grpc-Accept-Encoding, "
    "Traceparent, Tracestate";
inline constexpr std::string_view cors_exposed_headers =
    "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, Grpc-Encoding, Grpc-Accept-Encoding, "
    "Connect-Content-Encoding, Connect-Accept-Encoding, Content-Encoding, Retry-After-Ms, Grpc-Retry-Pushback-Ms, "
    "Trailer-Retry-After-Ms";

inline bool origin_allowed(server_options const& o, std::string_view origin) {
  return !origin.empty() && std::find(o.cors_origins.begin(), o.cors_origins.end(), origin) != o.cors_origins.end();
}

inline void add_cors_headers(server_options const& o, request_head const& head, protocol::metadata& out) {
  std::string_view const origin = protocol::find_metadata(head.headers, "origin");
  if (!origin_allowed(o, origin)) return;
  out.emplace_back("access-control-allow-origin", std::string{origin});
  out.emplace_back("access-control-expose-headers", std::string{cors_exposed_headers});
  out.emplace_back("vary", "Origin");
}

inline immediate_response json_error(int http, status const& s, protocol::metadata extra = {}) {
  immediate_response r{http, std::move(extra), {}, false};
  r.headers.emplace_back("content-type", "application/json");
  protocol::append_connect_error_json(r.body, s);
  return r;
}

// Either an answer now, or a call ready to run `proc`.
using dispatch_result = std::variant<immediate_response, std::pair<std::shared_ptr<call>, procedure const*>>;

// A plain HTTP route: no content type, protocol or deadline applies, only the method.
// `path` and `query` view `head.target`.
inline dispatch_result dispatch_plain(server_state const& server, plain_route const& route, request_head& head,
                                      std::string_view path, std::string_view query, boost::asio::any_io_executor ex) {
  protocol::metadata cors;
  add_cors_headers(server.options, head, cors);
  procedure const* proc = route.find(head.method);
  if (proc == nullptr) {
    immediate_response r{405, std::move(cors), {}, false};
    r.headers.emplace_back("allow", route.allow());
    return r;
  }
  request_info info;
  info.method = std::move(head.method);
  info.path = std::string{path};
  info.query = std::string{query};
  info.headers = std::move(head.headers);
  info.peer = std::move(head.peer);
  info.http1 = head.http1;
  auto c = std::make_shared<call>(ex, std::move(info), rpc_kind::plain, server.options);
  c->response_metadata() = std::move(cors);
  return std::pair{c, proc};
}

inline dispatch_result dispatch(server_state const& server, request_head head, boost::asio::any_io_executor ex) {
  server_options const& o = server.options;
  std::string_view const target = head.target;
  std::string_view const path = target.substr(0, target.find('?'));
  std::string_view const query =
      path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view{};

  if (plain_route const* route = server.routes->find_route(path); route != nullptr && server.routes->find(path) == nullptr)
    return dispatch_plain(server, *route, head, path, query, std::move(ex));

  // CORS preflight.
  if (head.method == "OPTIONS") {
    std::string_view const origin = protocol::find_metadata(head.headers, "origin");
    if (!origin_allowed(o, origin)) return immediate_response{403, {}, {}, false};
    immediate_response r{204, {}, {}, false};
    r.headers.emplace_back("access-control-allow-origin", std::string{origin});
    r.headers.emplace_back("access-control-allow-methods", "POST, GET");
    r.headers.emplace_back("access-control-allow-headers", std::string{cors_allowed_headers});
    r.headers.emplace_back("access-control-max-age", "7200");
    r.headers.emplace_back("vary", "Origin");
    return r;
  }

  protocol::metadata cors;
  add_cors_headers(o, head, cors);

  std::string_view const content_type = protocol::find_metadata(head.headers, "content-type");
  auto type = protocol::classify_content_type(content_type);
  bool const grpc_family = type && type->protocol != protocol::rpc_protocol::connect;

  procedure const* proc = server.routes->find(path);
  if (proc == nullptr) {
    if (!grpc_family) return json_error(404, status{code::unimplemented, "unknown_procedure"}, cors);
  }

  // Method.
  bool const get = head.method == "GET";
  if (head.method != "POST" && !(get && proc != nullptr && proc->idempotent && proc->kind == rpc_kind::unary)) {
    immediate_response r{405, cors, {}, false};
    r.headers.emplace_back("allow", proc != nullptr && proc->idempotent ? "GET, POST" : "POST");
    return r;
  }

  request_info info;
  info.method = head.method;
  info.path = std::string{path};
  info.query = std::string{query};
  info.peer = head.peer;
  info.http1 = head.http1;

  result<protocol::connect_get_request> get_request = status{code::internal, "unset"};
  if (get) {
    get_request = protocol::parse_connect_get_query(query);
    if (!get_request) return json_error(400, get_request.error(), cors);
    info.type = protocol::content_type_info{protocol::rpc_protocol::connect, get_request->codec, false, false};
    info.request_encoding = get_request->compression;
  } else {
    if (!type) {
      immediate_response r{415, cors, {}, false};
      r.headers.emplace_back("accept-post", std::string{protocol::accepted_post_types});
      return r;
    }
    info.type = *type;
  }

  bool const connect_unary_type = info.type.protocol == protocol::rpc_protocol::connect && !info.type.connect_streaming;
  if (proc != nullptr && info.type.protocol == protocol::rpc_protocol::connect &&
      connect_unary_type != (proc->kind == rpc_kind::unary)) {
    immediate_response r{415, cors, {}, false};
    r.headers.emplace_back("accept-post", std::string{protocol::accepted_post_types});
    return r;
  }

  // HTTP/1.1 carries Connect and gRPC-Web, half duplex; gRPC and bidi need HTTP/2.
  if (head.http1 && (info.type.protocol == protocol::rpc_protocol::grpc ||
                     (proc != nullptr && proc->kind == rpc_kind::bidi_streaming))) {
    immediate_response r{505, cors, {}, true};
    r.headers.emplace_back("connection", "close");
    return r;
  }

  // What the protocol's own headers say: compression both ways, timeout, version.
  protocol::wire_format const format = protocol::wire_format_of(info.type);
  auto const wire = protocol::read_request_headers(
      format, [&](std::string_view name) { return protocol::find_metadata(head.headers, name); });
  if (!get) info.request_encoding = std::string{wire.encoding};
  if (info.request_encoding == protocol::encoding_identity) info.request_encoding.clear();
  info.response_encoding = protocol::pick_response_encoding(wire.accept_encoding);
  if (wire.timeout)
    info.deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(*wire.timeout);

  // Errors found from here on are answered in the call's own protocol, so they are
  // collected first and the call is built either way.
  status refusal{};
  if (proc == nullptr) refusal = status{code::unimplemented, "unknown_procedure"};
  else if (server.draining) refusal = call_errors::draining;
  else if (!protocol::known_encoding(info.request_encoding)) refusal = call_errors::unsupported_encoding;
  else refusal = wire.problem;

  info.headers = std::move(head.headers);
  auto c = std::make_shared<call>(ex, std::move(info), proc != nullptr ? proc->kind : rpc_kind::unary, o);
  c->response_metadata() = std::move(cors);
  if (!refusal.ok()) {
    c->finish(refusal);
    return std::pair{c, static_cast<procedure const*>(nullptr)};
  }
  if (get) c->set_single_message(get_request->message);
  return std::pair{c, proc};
}

// Runs the handler of a dispatched call on `ex`, with its deadline. Starts from a posted
// handler, so a transport never re-enters its protocol library from inside a callback.
inline void spawn_handler(boost::asio::any_io_executor ex, std::shared_ptr<call> c, procedure const& proc) {
  std::shared_ptr<boost::asio::steady_timer> timer;
  if (c->info().deadline) {
    timer = std::make_shared<boost::asio::steady_timer>(ex, *c->info().deadline);
    timer->async_wait([c](boost::system::error_code ec) {
      if (ec || c->finished()) return;
      c->finish(call_errors::deadline);
      c->cancellation().emit(boost::asio::cancellation_type::terminal);
    });
  }
  boost::asio::post(ex, [ex, c, &proc, timer] {
    boost::asio::co_spawn(ex, proc.invoke(c),
                          boost::asio::bind_cancellation_slot(c->cancellation().slot(), [c, timer](std::exception_ptr e) {
                            if (timer) timer->cancel();
                            // An exception (or a handler that forgot to finish) is internal;
                            // what it says stays in the server.
                            if (!c->finished()) c->finish(e ? status{code::internal, "handler_failed"} : status{code::internal, "handler_did_not_finish"});
                          }));
  });
}

}  // namespace edgepipe::transport::detail
