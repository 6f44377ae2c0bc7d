// edgepipe-gateway: the verification chain over the library's server, with the
// backend REST adapter, the replay store (memory or Redis) and the public listener.
#include "../common/metrics.hpp"
#include "../common/request_log.hpp"
#include "backend.hpp"
#include "config.hpp"
#include "public_api.hpp"
#include "otlp_exporter.hpp"
#include "push_client.hpp"
#include "tracing.hpp"

#include <edgepipe/push/hub.hpp>

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/stages/envelope.hpp>
#include <edgepipe/stages/freshness.hpp>
#include <edgepipe/stages/payload_hash.hpp>
#include <edgepipe/stages/rate_limit.hpp>
#include <edgepipe/stages/replay.hpp>
#include <edgepipe/stages/response_signer.hpp>
#include <edgepipe/stages/routing.hpp>
#include <edgepipe/stages/session.hpp>
#include <edgepipe/stages/signature.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/redis_replay_store.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>
#include <edgepipe/trace/call_span.hpp>
#include <edgepipe/trace/tracing_observer.hpp>
#include <edgepipe/transport/server.hpp>

#include "gateway.pb.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <optional>
#include <string>

namespace asio = boost::asio;
namespace st = edgepipe::stages;
namespace gw = edgepipe::gateway::v1;
using edgepipe::reference::gateway_config;

namespace {

int refuse(std::string const& why) {
  std::fprintf(stderr, "edgepipe-gateway: %s\n", why.c_str());
  return 2;
}

asio::ip::tcp::endpoint to_endpoint(edgepipe::reference::http_endpoint const& e) {
  asio::io_context resolver_io;
  asio::ip::tcp::resolver resolver{resolver_io};
  auto results = resolver.resolve(e.host, std::to_string(e.port));
  return *results.begin();
}

// What a subscription that passed the chain is granted.
struct subscription_ticket {
  std::string user_id;
};

// The last stage of SubscribeEvents: the stream may join the push hub.
struct grant_subscription_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<st::envelope, st::session, st::replay_reserved, st::rate_permitted>;
  using provides_fact = subscription_ticket;
  static constexpr std::string_view name = "push";

  edgepipe::result<subscription_ticket> operator()(auto const& ctx) const {
    return subscription_ticket{edgepipe::get<st::session>(ctx).user_id};
  }
};

// Records each stage's duration, its rejections, and the replay stage's outcome, as metrics.
struct metrics_observer {
  edgepipe::reference::metrics* m;
  struct token {
    std::chrono::steady_clock::time_point started;
  };
  template <class Stage>
  token stage_started(Stage const&) noexcept {
    return {std::chrono::steady_clock::now()};
  }
  template <class Stage>
  void stage_finished(Stage const&, token t, edgepipe::status const& s) noexcept {
    // The stage's histogram is found once per registry, not per request.
    static thread_local std::pair<edgepipe::reference::metrics*, edgepipe::reference::metrics::histogram*> series{};
    if (series.first != m)
      series = {m, &m->series_histogram("edgepipe_stage_duration_seconds", {{"stage", std::string{Stage::name}}})};
    series.second->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t.started).count());
    if (!s.ok())
      m->add("edgepipe_rejections_total", {{"stage", std::string{Stage::name}}, {"reason", std::string{s.reason()}}});
    if constexpr (Stage::name == std::string_view{"replay"}) {
      if (s.ok()) {
        static thread_local std::pair<edgepipe::reference::metrics*, double*> reserved{};
        if (reserved.first != m)
          reserved = {m, &m->series_value("edgepipe_replay_reservations_total", {{"result", "reserved"}})};
        *reserved.second += 1;
      } else {
        m->add("edgepipe_replay_reservations_total",
               {{"result", s.reason() == "replayed_request" ? "replayed" : "unavailable"}});
      }
    }
  }
};

std::string_view protocol_name(edgepipe::protocol::rpc_protocol p) {
  switch (p) {
    case edgepipe::protocol::rpc_protocol::connect: return "connect";
    case edgepipe::protocol::rpc_protocol::grpc: return "grpc";
    case edgepipe::protocol::rpc_protocol::grpc_web: return "grpc_web";
  }
  return "unknown";
}

void describe_metrics(edgepipe::reference::metrics& m) {
  m.describe("edgepipe_requests_total", "counter", "Edge calls by procedure, protocol and final code.");
  m.describe("edgepipe_request_duration_seconds", "histogram", "Time from request to final status, by procedure.");
  m.describe("edgepipe_rejections_total", "counter", "Calls a verification stage rejected, by stage and reason.");
  m.describe("edgepipe_subscriptions_active", "gauge", "Live SubscribeEvents streams.");
  m.describe("edgepipe_push_events_total", "counter", "Events from the backend's push stream, by kind and result.");
  m.describe("edgepipe_backend_requests_total", "counter", "Backend REST calls by endpoint and HTTP status.");
  m.describe("edgepipe_replay_reservations_total", "counter", "Replay reservations by result.");
  m.describe("edgepipe_stage_duration_seconds", "histogram", "Time each verification stage took, by stage.");
  m.describe("edgepipe_trace_spans_dropped_total", "counter",
             "Spans not exported: the queue was full, or the collector refused or did not answer.");
  m.describe("edgepipe_trace_spans_exported_total", "counter", "Spans the collector accepted.");
}

// This process among the gateways sharing a backend and a Redis: host name and pid.
std::string const& gateway_id() {
  static std::string const id = [] {
    char host[256] = "gateway";
    ::gethostname(host, sizeof host - 1);
    return std::string{host} + "-" + std::to_string(::getpid());
  }();
  return id;
}

std::string random_id(std::string_view prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::string{prefix} + std::to_string(rng());
}

// What one edge call leaves behind: its metrics, its span and one child per stage (when
// tracing), and a log line with its request and trace ids.
class call_telemetry {
 public:
  call_telemetry(std::string_view procedure, edgepipe::transport::call_context const& ctx,
                 edgepipe::reference::span_recorder& tracing, edgepipe::reference::metrics& metrics,
                 edgepipe::reference::request_log const& log)
      : procedure_{procedure}, ctx_{&ctx}, tracing_{&tracing}, metrics_{&metrics}, log_{&log} {
    std::string_view const traceparent = ctx.header("traceparent"), tracestate = ctx.header("tracestate");
    if (tracing.on()) {
      span_.emplace(edgepipe::trace::call_span::begin(traceparent, tracestate));
      forward_traceparent_ = span_->traceparent();
      forward_tracestate_ = span_->tracestate;
      trace_id_ = edgepipe::trace::to_hex(span_->trace);
    } else if (auto caller = edgepipe::trace::parse_traceparent(traceparent)) {
      forward_traceparent_ = std::string{traceparent};  // not traced here: the caller's context goes on as it came
      forward_tracestate_ = tracestate;
      trace_id_ = edgepipe::trace::to_hex(caller->trace);
    }
  }

  // The chain's input: the request with the trace context the backend should see.
  st::received<gw::SignedRequest> input(gw::SignedRequest const& req) const {
    return {&req, forward_traceparent_, forward_tracestate_};
  }

  // Stage spans, children of this call's span; off (one branch per stage) when not tracing.
  edgepipe::trace::tracing_observer<edgepipe::reference::span_recorder> stage_spans() const {
    if (!span_) return {};
    return {tracing_, span_->trace, span_->id, span_->flags};
  }

  void finish(edgepipe::status const& outcome, std::string_view request_id) {
    std::string const p{procedure_};
    std::string const code{edgepipe::to_string(outcome.code())};
    metrics_->add("edgepipe_requests_total",
                  {{"procedure", p}, {"protocol", std::string{protocol_name(ctx_->protocol())}}, {"code", code}});
    metrics_->observe("edgepipe_request_duration_seconds", {{"procedure", p}},
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    if (span_) {
      auto record = span_->finish(p, outcome);
      record.attributes.emplace_back("rpc.system", std::string{protocol_name(ctx_->protocol())});
      record.attributes.emplace_back("edgepipe.request_id", std::string{request_id});
      tracing_->record(std::move(record));
      span_.reset();
    }
    if (outcome.code() == edgepipe::code::canceled)  // the client left: normal for a stream
      log_->write(spdlog::level::debug, "call canceled",
                  {{"procedure", procedure_}, {"request_id", request_id}, {"trace_id", trace_id_}});
    else if (outcome.ok())
      log_->write(spdlog::level::debug, "call ok",
                  {{"procedure", procedure_}, {"request_id", request_id}, {"trace_id", trace_id_}});
    else
      log_->write(spdlog::level::info, "call rejected",
                  {{"procedure", procedure_}, {"code", code}, {"reason", outcome.reason()}, {"request_id", request_id},
                   {"trace_id", trace_id_}});
  }

 private:
  std::string_view procedure_;
  edgepipe::transport::call_context const* ctx_;
  edgepipe::reference::span_recorder* tracing_;
  edgepipe::reference::metrics* metrics_;
  edgepipe::reference::request_log const* log_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<edgepipe::trace::call_span> span_;
  std::string forward_traceparent_;
  std::string_view forward_tracestate_;
  std::string trace_id_;
};

// Everything the edge service needs, alive for the whole run.
template <class ReplayStore>
struct gateway_state {
  gateway_config const& config;
  edgepipe::crypto::ed25519_signer const& signer;
  edgepipe::reference::traced_replay_store<ReplayStore> replay;
  edgepipe::system_clock clock;
  edgepipe::reference::http_client backend_client;
  edgepipe::reference::backend_sessions sessions;
  edgepipe::reference::backend_commands commands;
  edgepipe::stores::session_and_user_limiter limiter;
  st::route_table<edgepipe::reference::backend_commands> routes;
  edgepipe::reference::metrics& metrics;

  gateway_state(asio::any_io_executor ex, gateway_config const& c, edgepipe::crypto::ed25519_signer const& s,
                ReplayStore& r, edgepipe::reference::metrics& m, edgepipe::reference::span_recorder const& tracing)
      : config{c},
        signer{s},
        replay{r, &tracing, "replay store: reserve"},
        backend_client{ex, c.backend, {.max_connections = c.backend_max_connections}},
        sessions{backend_client, std::chrono::milliseconds{c.backend_timeout_ms}, &m, &tracing},
        commands{backend_client, std::chrono::milliseconds{c.backend_timeout_ms}, &m, &tracing},
        limiter{{c.session_rate, c.session_burst}, {c.user_rate, c.user_burst}},
        metrics{m} {
    routes.add("user", commands).add("lobby", commands);
  }

  // The verification chain, in its order; the response signer wraps routing.
  auto execute_chain() {
    std::int64_t const window = config.freshness_window_ms;
    return edgepipe::make_chain<st::received<gw::SignedRequest>>(
        st::envelope_stage<gw::SignedRequest>{{config.max_payload_bytes, {}}},
        st::session_stage<edgepipe::reference::backend_sessions>{&sessions}, st::payload_hash_stage{},
        st::signature_stage{}, st::freshness_stage<edgepipe::system_clock>{&clock, window},
        st::replay_stage<edgepipe::reference::traced_replay_store<ReplayStore>>{&replay, 2 * window},
        st::rate_limit_stage<edgepipe::stores::session_and_user_limiter, edgepipe::system_clock>{&limiter, &clock},
        st::response_signer_stage<edgepipe::system_clock>{&signer, &clock},
        st::routing_stage<edgepipe::reference::backend_commands>{&routes});
  }

  // The same checks for SubscribeEvents, whose message type must be gateway.subscribe_events.
  auto subscribe_chain() {
    std::int64_t const window = config.freshness_window_ms;
    return edgepipe::make_chain<st::received<gw::SignedRequest>>(
        st::envelope_stage<gw::SignedRequest>{{config.max_payload_bytes, "gateway.subscribe_events"}},
        st::session_stage<edgepipe::reference::backend_sessions>{&sessions}, st::payload_hash_stage{},
        st::signature_stage{}, st::freshness_stage<edgepipe::system_clock>{&clock, window},
        st::replay_stage<edgepipe::reference::traced_replay_store<ReplayStore>>{&replay, 2 * window},
        st::rate_limit_stage<edgepipe::stores::session_and_user_limiter, edgepipe::system_clock>{&limiter, &clock},
        grant_subscription_stage{});
  }

  // An event as the contract signs it for one subscriber.
  gw::SignedEvent sign_event(gw::SignedRequest const& subscribe, edgepipe::push::event const& e) {
    gw::SignedEvent out;
    out.set_event_id(e.event_id);
    out.set_event_type(e.event_type);
    out.set_payload(e.payload);
    edgepipe::crypto::sha256_digest digest;
    edgepipe::crypto::sha256(e.payload, digest);
    out.set_payload_sha256(std::string{edgepipe::crypto::as_bytes(digest)});
    out.set_timestamp_ms(clock.now_ms());
    out.set_subscription_id(subscribe.request_id());
    out.set_key_id(signer.key_id());
    out.set_signature(std::string{edgepipe::crypto::as_bytes(signer.sign_fields(edgepipe::crypto::event_signing_fields{
        subscribe.device_session_id(), out.subscription_id(), out.event_id(), out.event_type(), out.timestamp_ms(),
        out.payload_sha256()}))});
    return out;
  }
};

// `replay_ready` fills in the replay store's checks of /readyz.
template <class ReplayStore>
int serve(asio::io_context& io, gateway_config const& config, edgepipe::crypto::ed25519_signer const& signer,
          ReplayStore& replay, std::function<edgepipe::reference::readiness()> replay_ready) {
  edgepipe::reference::metrics metrics;
  describe_metrics(metrics);
  edgepipe::reference::request_log const log{config.log_format == "json"};
  // Tracing: spans go to the OTLP exporter when EDGEPIPE_OTLP_ENDPOINT is set, nowhere otherwise.
  std::shared_ptr<edgepipe::reference::otlp_exporter> exporter;
  edgepipe::reference::span_recorder tracing;
  if (!config.otlp_endpoint.empty()) {
    exporter = std::make_shared<edgepipe::reference::otlp_exporter>(
        io.get_executor(), *edgepipe::reference::parse_http_url(config.otlp_endpoint), &metrics);
    exporter->start();
    tracing = edgepipe::reference::span_recorder{
        [e = exporter.get()](edgepipe::trace::span_record s) { e->record(std::move(s)); }};
  }
  gateway_state<ReplayStore> state{io.get_executor(), config, signer, replay, metrics, tracing};
  auto const execute = state.execute_chain();

  edgepipe::transport::router edge;
  edge.unary<gw::SignedRequest, gw::SignedResponse>(
      "/edgepipe.gateway.v1.EdgeGateway/ExecuteCommand",
      [&](gw::SignedRequest const& req, edgepipe::transport::call_context& ctx) -> asio::awaitable<edgepipe::result<gw::SignedResponse>> {
        call_telemetry telemetry{"edgepipe.gateway.v1.EdgeGateway/ExecuteCommand", ctx, tracing, metrics, log};
        metrics_observer metrics_hooks{&metrics};
        auto span_hooks = telemetry.stage_spans();
        edgepipe::observers hooks{metrics_hooks, span_hooks};
        auto r = co_await execute.run_observed(hooks, telemetry.input(req));
        telemetry.finish(r ? edgepipe::status{} : r.error(), req.request_id());
        if (!r) co_return r.error();
        gw::SignedResponse out;
        out.set_request_id(req.request_id());
        out.set_result_code(std::move(r->result_code));
        out.set_payload(std::move(r->payload));
        out.set_payload_sha256(std::string{edgepipe::crypto::as_bytes(r->payload_sha256)});
        out.set_timestamp_ms(r->timestamp_ms);
        out.set_key_id(std::string{r->key_id});
        out.set_signature(std::string{edgepipe::crypto::as_bytes(r->signature)});
        co_return out;
      });

  edgepipe::push::hub hub;
  bool draining = false;
  auto const subscribe = state.subscribe_chain();
  edge.server_streaming<gw::SignedRequest, gw::SignedEvent>(
      "/edgepipe.gateway.v1.EdgeGateway/SubscribeEvents",
      [&](gw::SignedRequest const& req, edgepipe::transport::message_writer<gw::SignedEvent>& out,
          edgepipe::transport::call_context& ctx) -> asio::awaitable<edgepipe::status> {
        call_telemetry telemetry{"edgepipe.gateway.v1.EdgeGateway/SubscribeEvents", ctx, tracing, metrics, log};
        metrics_observer metrics_hooks{&metrics};
        auto span_hooks = telemetry.stage_spans();
        edgepipe::observers hooks{metrics_hooks, span_hooks};
        auto r = co_await subscribe.run_observed(hooks, telemetry.input(req));
        if (!r) {
          telemetry.finish(r.error(), req.request_id());
          co_return r.error();
        }
        if (draining) co_return edgepipe::push::draining;
        // Bounded in bytes wherever they wait: queued here, or written to `out` but not yet sent.
        edgepipe::push::queue_limits const limits{.bytes = config.push_queue_bytes};
        edgepipe::push::subscription sub{io.get_executor(), r->user_id, req.device_session_id(), limits,
                                         edgepipe::push::backlog_probe{out}};
        hub.add(sub);
        struct leave_hub {
          edgepipe::push::hub& h;
          edgepipe::push::subscription& s;
          ~leave_hub() { h.remove(s); }
        } guard{hub, sub};
        // Named, not a braced temporary inside co_await: g++ 12 destroys those twice.
        edgepipe::push::event const subscribed{random_id("evt_"), "gateway.subscribed", ""};
        gw::SignedEvent const first = state.sign_event(req, subscribed);
        if (auto s = co_await out.write(first); !s.ok()) co_return s;
        for (;;) {
          auto e = co_await sub.next();
          if (!e) {
            auto const end = sub.ended() ? sub.end_status() : edgepipe::status{edgepipe::code::canceled, "canceled"};
            telemetry.finish(end, req.request_id());
            co_return end;
          }
          gw::SignedEvent const signed_event = state.sign_event(req, *e);
          e.reset();  // the signed copy is what waits from here; the shared event may go
          if (auto s = co_await out.write(signed_event); !s.ok()) co_return s;
        }
      });

  auto push = std::make_shared<edgepipe::reference::push_client>(
      io.get_executor(), config.backend_push, gateway_id(),
      [&](edgepipe::push::v1::PushEvent const& e) { edgepipe::reference::dispatch_push_event(e, hub, &metrics); });
  push->start();

  edgepipe::transport::server_options edge_options;
  edge_options.cors_origins = config.cors_origins;
  edge_options.drain_timeout = std::chrono::milliseconds{config.drain_timeout_ms};
  edgepipe::transport::server edge_server{io.get_executor(), edge, edge_options};

  // Public auth shares the backend's connections: the connection bound is per backend.
  edgepipe::reference::public_api api{state.backend_client, config, signer, [&] {
    edgepipe::reference::readiness r = replay_ready();
    r.push_stream = push->open();
    r.draining = draining;
    return r;
  }};
  edgepipe::transport::router public_routes;
  api.add_routes(public_routes);
  edgepipe::transport::server_options public_options;
  public_options.http1_max_body_bytes = 64 * 1024;  // public auth bodies; larger is 413
  edgepipe::transport::server public_server{io.get_executor(), public_routes, public_options};

  edgepipe::transport::router admin_routes;
  admin_routes.route("GET", "/metrics", [&](edgepipe::transport::http_request) -> asio::awaitable<edgepipe::transport::http_response> {
    metrics.set("edgepipe_subscriptions_active", {}, static_cast<double>(hub.size()));
    co_return edgepipe::transport::make_http_response(200, metrics.text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  admin_routes.route("*", "/*", [](edgepipe::transport::http_request) -> asio::awaitable<edgepipe::transport::http_response> {
    co_return edgepipe::transport::make_http_response(404, "not found\n", "text/plain");
  });
  edgepipe::transport::server_options admin_options;
  admin_options.http1_max_body_bytes = 1024 * 1024;
  edgepipe::transport::server admin_server{io.get_executor(), admin_routes, admin_options};

  // Signals are handled before anything is announced: a SIGTERM right after start drains too.
  asio::signal_set signals{io, SIGTERM, SIGINT};
  signals.async_wait([&](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: draining", signal);
    draining = true;
    hub.drain();  // live subscriptions end with unavailable · draining
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          using namespace asio::experimental::awaitable_operators;
          co_await (public_server.shutdown() && admin_server.shutdown() && edge_server.shutdown());
          push->stop();
          if (exporter) exporter->stop();
          io.stop();
        },
        asio::detached);
  });
  try {
    edge_server.listen(to_endpoint(config.edge_addr));
    public_server.listen(to_endpoint(config.public_addr));
    if (config.admin_addr) admin_server.listen(to_endpoint(*config.admin_addr));
  } catch (std::exception const& e) {
    return refuse(std::string{"cannot listen: "} + e.what());
  }
  edge_server.start();
  public_server.start();
  if (config.admin_addr) {
    admin_server.start();
    spdlog::info("admin listener on {}:{}", config.admin_addr->host, admin_server.local_endpoint().port());
  }
  spdlog::info("edgepipe-gateway listening: public {}:{}, edge {}:{}, replay store {}", config.public_addr.host,
               public_server.local_endpoint().port(), config.edge_addr.host, edge_server.local_endpoint().port(),
               config.redis ? "redis" : "memory");

  io.run();
  spdlog::info("edgepipe-gateway stopped");
  return 0;
}

// Any policy but noeviction lets Redis forget reservations under memory pressure, which
// reopens replay.
bool evicting(std::string_view maxmemory_policy) { return maxmemory_policy != "noeviction"; }

// Start-up checks: PING within 2 s, and no evicting policy.
std::optional<std::string> check_redis(asio::io_context& io, edgepipe::stores::redis_connection& connection,
                                       edgepipe::stores::redis_replay_store& store) {
  auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
  while (!connection.connected() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds{10});
    io.restart();
  }
  if (!connection.connected()) return "EDGEPIPE_REDIS_URL: Redis did not answer PING within 2 s";
  auto ping = asio::co_spawn(io, store.ping(), asio::use_future);
  auto policy = asio::co_spawn(io, store.maxmemory_policy(), asio::use_future);
  while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds{1} &&
         policy.wait_for(std::chrono::seconds{0}) != std::future_status::ready) {
    io.run_for(std::chrono::milliseconds{10});
    io.restart();
  }
  if (ping.wait_for(std::chrono::seconds{0}) != std::future_status::ready || !ping.get())
    return "EDGEPIPE_REDIS_URL: Redis did not answer PING within 2 s";
  auto p = policy.get();
  if (!p) spdlog::warn("Redis refused CONFIG GET maxmemory-policy; make sure it is noeviction");
  else if (evicting(*p))
    return "EDGEPIPE_REDIS_URL: Redis maxmemory-policy is " + *p +
           "; it must be noeviction (an evicting policy forgets reservations and reopens replay)";
  return std::nullopt;
}

// The replay store's checks of /readyz on Redis, by asking rather than by an open
// connection: a write like a reservation on a key of this gateway's own at least once a
// second (each answered within the connection's command timeout, 500 ms, or it counts as
// none), and the maxmemory-policy check of start-up again every 30 s.
class redis_readiness {
 public:
  redis_readiness(asio::any_io_executor ex, edgepipe::stores::redis_connection& connection,
                  edgepipe::stores::redis_replay_store& store)
      : connection_{&connection}, store_{&store}, probe_timer_{ex}, policy_timer_{ex},
        key_{"edgepipe:readyz:" + gateway_id()} {}

  void start() {
    asio::co_spawn(probe_timer_.get_executor(), probe_loop(), asio::detached);
    asio::co_spawn(policy_timer_.get_executor(), policy_loop(), asio::detached);
  }

  [[nodiscard]] edgepipe::reference::readiness get() const {
    edgepipe::reference::readiness r;
    // A lost connection is not ready at once, without waiting for the next probe.
    r.replay_store = answering_ && connection_->connected();
    r.maxmemory_policy = !evicting_;
    return r;
  }

 private:
  static constexpr auto probe_interval = std::chrono::seconds{1};
  static constexpr std::int64_t probe_ttl_ms = 2000;  // one key per gateway, gone soon after it stops
  static constexpr auto policy_interval = std::chrono::seconds{30};

  asio::awaitable<void> probe_loop() {
    for (;;) {
      auto const next = std::chrono::steady_clock::now() + probe_interval;
      bool const ok = co_await store_->accepts_writes(key_, probe_ttl_ms);
      if (probed_ && ok != answering_) {
        if (ok) spdlog::info("replay store takes writes again: ready");
        else spdlog::warn("replay store refused or did not answer a write: not ready");
      }
      answering_ = ok;
      probed_ = true;
      probe_timer_.expires_at(next);
      (void)co_await probe_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // A refused or unanswered CONFIG GET leaves the last verdict as it was (at start-up: a
  // warning, and ready).
  asio::awaitable<void> policy_loop() {
    for (;;) {
      policy_timer_.expires_after(policy_interval);
      (void)co_await policy_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      auto const policy = co_await store_->maxmemory_policy();
      if (!policy) continue;
      bool const now_evicting = evicting(*policy);
      if (now_evicting && !evicting_)
        spdlog::error("Redis maxmemory-policy is now {}; not ready until it is noeviction (an evicting policy "
                      "forgets reservations and reopens replay)", *policy);
      if (!now_evicting && evicting_) spdlog::info("Redis maxmemory-policy is noeviction again: ready");
      evicting_ = now_evicting;
    }
  }

  edgepipe::stores::redis_connection* connection_;
  edgepipe::stores::redis_replay_store* store_;
  asio::steady_timer probe_timer_;
  asio::steady_timer policy_timer_;
  std::string key_;
  bool answering_ = false;  // until the first probe answers
  bool probed_ = false;
  bool evicting_ = false;   // start-up refused an evicting policy
};

// Every connection is a descriptor: under the common soft limit of 1024 a thousand idle
// peers would leave none for the rest. The hard limit is what the operator granted.
void raise_descriptor_limit() {
  ::rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("RLIMIT_NOFILE: getrlimit failed: {}", std::strerror(errno));
    return;
  }
  auto const text = [](rlim_t v) { return v == RLIM_INFINITY ? std::string{"unlimited"} : std::to_string(v); };
  auto const before = limit.rlim_cur;
  if (limit.rlim_cur != limit.rlim_max) {
    ::rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    else spdlog::warn("RLIMIT_NOFILE: setrlimit failed: {}", std::strerror(errno));
  }
  spdlog::info("RLIMIT_NOFILE {} -> {} (hard {})", text(before), text(limit.rlim_cur), text(limit.rlim_max));
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view{argv[i]} == "--help" || std::string_view{argv[i]} == "-h") {
      std::fputs(edgepipe::reference::gateway_help().c_str(), stdout);
      return 0;
    }
  gateway_config config;
  try {
    config = edgepipe::reference::load_gateway_config(argc, argv, [](char const* n) { return std::getenv(n); });
  } catch (edgepipe::reference::config_error const& e) {
    return refuse(e.what());
  }
  std::optional<edgepipe::crypto::ed25519_signer> signer;
  try {
    signer.emplace(edgepipe::crypto::ed25519_signer::from_pem_file(config.signer_key_file, config.signer_key_id));
  } catch (std::exception const& e) {
    return refuse(std::string{"EDGEPIPE_SIGNER_KEY_FILE: "} + e.what());
  }
  if (config.log_format == "json")
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":"%v"})");
  // libprotobuf would log each malformed message a client sends: never let peers write our logs.
  google::protobuf::SetLogHandler(nullptr);
  raise_descriptor_limit();

  asio::io_context io{1};
  if (config.redis) {
    edgepipe::stores::redis_connection connection{io.get_executor(), *config.redis};
    edgepipe::stores::redis_replay_store store{connection};
    connection.start();
    if (auto why = check_redis(io, connection, store)) return refuse(*why);
    redis_readiness readiness{io.get_executor(), connection, store};
    readiness.start();
    return serve(io, config, *signer, store, [&] { return readiness.get(); });
  }
  edgepipe::system_clock clock;
  edgepipe::stores::memory_replay_store<edgepipe::system_clock> store{clock};
  return serve(io, config, *signer, store, [] {
    edgepipe::reference::readiness always;  // the memory store cannot fail to answer
    always.replay_store = true;
    return always;
  });
}
