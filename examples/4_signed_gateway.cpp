// Rung 4: a complete signed gateway from the kit. The contract's two chains (sessions from
// the backend, the memory replay store, local rate limits, signed responses and events), the
// backend's push stream feeding subscriptions, per-call metrics on GET /metrics and a log
// line per rejected call, on one port that speaks Connect, gRPC and gRPC-Web.
//
//   4-signed-gateway LISTEN BACKEND_URL PUSH_ADDR KEY_PEM
//   4-signed-gateway 127.0.0.1:8081 http://127.0.0.1:9090 127.0.0.1:9091 gateway.pem
//
// Against the demo backend (edgepipe-demo-backend --rest-addr 127.0.0.1:9090 --push-addr
// 127.0.0.1:9091). SIGTERM or SIGINT drains it: streams end with `draining`, calls finish.
#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/kit/backend_api.hpp>
#include <edgepipe/kit/backend_push_client.hpp>
#include <edgepipe/kit/contract_service.hpp>
#include <edgepipe/kit/edge_gateway_messages.hpp>
#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/kit/push_event_decoder.hpp>
#include <edgepipe/push/hub.hpp>
#include <edgepipe/stages/envelope.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>
#include <edgepipe/trace/span_recorder.hpp>
#include <edgepipe/transport/http_client.hpp>
#include <edgepipe/transport/http_route.hpp>
#include <edgepipe/transport/router.hpp>
#include <edgepipe/transport/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace kit = edgepipe::kit;
namespace transport = edgepipe::transport;

namespace {

// The call log: one line per rejected call, with the ids that lead to it.
struct console_log {
  void call_finished(std::string_view procedure, edgepipe::status const& outcome, std::string_view request_id,
                     std::string_view) const {
    if (outcome.ok() || outcome.code() == edgepipe::code::canceled) return;
    // A client chose the request id: print it only when the envelope accepted it.
    if (!edgepipe::stages::envelope_rules::valid_request_id(request_id)) request_id = "(invalid)";
    std::printf("rejected %.*s request_id=%.*s: %.*s\n", static_cast<int>(procedure.size()), procedure.data(),
                static_cast<int>(request_id.size()), request_id.data(), static_cast<int>(outcome.reason().size()),
                outcome.reason().data());
    std::fflush(stdout);
  }
};

using replay_store = edgepipe::stores::memory_replay_store<edgepipe::system_clock>;
using parts = kit::contract_parts<kit::backend_sessions, replay_store, edgepipe::stores::session_and_user_limiter,
                                  edgepipe::system_clock>;
using service = kit::contract_service<kit::edge_gateway_messages, parts, kit::backend_commands, console_log>;

// "host:port" to listen on; port 0 asks the system for a free one.
std::optional<asio::ip::tcp::endpoint> listen_address(std::string_view s) {
  auto const colon = s.rfind(':');
  unsigned port = 0;
  if (colon == std::string_view::npos) return std::nullopt;
  auto const [end, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), port);
  boost::system::error_code bad;
  auto const host = asio::ip::make_address(std::string{s.substr(0, colon)}, bad);
  if (ec != std::errc{} || end != s.data() + s.size() || port > 65535 || bad) return std::nullopt;
  return asio::ip::tcp::endpoint{host, static_cast<unsigned short>(port)};
}

int run(std::string_view listen, std::string_view backend_url, std::string_view push_addr, char const* key_file) {
  auto const listen_at = listen_address(listen);
  auto const backend_at = transport::parse_http_url(backend_url);
  auto const push_at = transport::parse_http_url("http://" + std::string{push_addr});
  if (!listen_at || !backend_at || !push_at) {
    std::fprintf(stderr, "addresses look like 127.0.0.1:8081 and http://127.0.0.1:9090\n");
    return 2;
  }
  auto const signer = edgepipe::crypto::ed25519_signer::from_pem_file(key_file, "k1");
  asio::io_context io{1};

  // The adapters: the backend's REST API for sessions and commands, a memory replay store,
  // the local buckets.
  edgepipe::system_clock clock;
  replay_store replay{clock};
  edgepipe::stores::session_and_user_limiter limiter;
  kit::metrics_registry metrics;
  kit::describe_gateway_metrics(metrics);
  transport::http_client backend{io.get_executor(), *backend_at};
  kit::backend_sessions sessions{backend, std::chrono::seconds{5}, &metrics};
  kit::backend_commands commands{backend, std::chrono::seconds{5}, &metrics};
  edgepipe::stages::route_table<kit::backend_commands> routes;
  routes.add("user", commands).add("lobby", commands);

  // The service, and the push stream that feeds its hub.
  edgepipe::trace::span_recorder const no_tracing;
  console_log const log;
  edgepipe::push::hub hub;
  service edge{io.get_executor(), parts{&sessions, &replay, &limiter, &clock}, signer, routes, hub,
               {&metrics, &no_tracing, &log}};
  auto push = std::make_shared<kit::backend_push_client>(
      io.get_executor(), *push_at, "ladder-gateway",
      [&](edgepipe::push::v1::PushEvent const& e) { kit::dispatch_push_event(e, hub, &metrics); });

  transport::router router;
  edge.add_to(router);
  router.route("GET", "/metrics", [&](transport::http_request) -> asio::awaitable<transport::http_response> {
    metrics.set(kit::metric_names::subscriptions_active, {}, static_cast<double>(hub.size()));
    co_return transport::make_http_response(200, metrics.text(), "text/plain; version=0.0.4");
  });
  transport::server server{io.get_executor(), router};

  asio::signal_set signals{io, SIGTERM, SIGINT};
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    hub.drain();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await server.shutdown();
          push->stop();
          io.stop();
        },
        asio::detached);
  });
  server.listen(*listen_at);
  server.start();
  push->start();
  std::printf("signed gateway listening on %s:%u\n", listen_at->address().to_string().c_str(),
              server.local_endpoint().port());
  std::fflush(stdout);
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s LISTEN BACKEND_URL PUSH_ADDR KEY_PEM\n", argv[0]);
    return 2;
  }
  try {
    return run(argv[1], argv[2], argv[3], argv[4]);
  } catch (std::exception const& e) {  // start-up only: a key that does not load, a port in use
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 2;
  }
}
