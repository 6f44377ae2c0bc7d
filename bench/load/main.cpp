// edgepipe-load: drives a gateway (or any server of the contract) over h2c.
//
//   edgepipe-load calls     --edge HOST:PORT --public URL [--protocol grpc|connect]
//                           [--connections 16] [--streams 32] [--duration 10 | --requests N]
//                           [--sessions 4] [--type user.echo] [--payload-bytes 64] [--rate R]
//   edgepipe-load fanout    --edge HOST:PORT --public URL --push URL [--subscribers 1000]
//                           [--hold SECONDS] [--events 3] [--rss-pid PID] [--open-batch 250]
//
// `calls` registers --sessions device sessions, signs every request before the clock
// starts (each with a fresh request id, so the replay stage does its real work), then keeps
// connections x streams calls in flight and reports requests/s, latency percentiles and
// outcomes by code; with --rate it sends R calls/s (open loop, at most connections x
// streams in flight) instead of as many as it can. `fanout` opens --subscribers SubscribeEvents streams, waits until each
// has its first event, holds them --hold seconds (for a memory reading), then asks the
// backend (--push, the demo backend) to push events to the user and reports how long each
// took to reach every subscriber; with --rss-pid it reports that process's resident memory
// before and with the subscriptions open. The result is one JSON object on stdout.
#include "../../reference/common/http_client.hpp"
#include "../../reference/common/signed_requests.hpp"

#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/transport/h2c_client.hpp>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;
namespace ref = edgepipe::reference;

namespace {

[[noreturn]] void die(std::string const& why) {
  std::fprintf(stderr, "edgepipe-load: %s\n", why.c_str());
  std::exit(2);
}

struct options {
  std::string mode, edge = "127.0.0.1:8081", public_url = "http://127.0.0.1:8080", push_url, protocol = "grpc";
  std::string type = "user.echo", user_prefix = "load-user";
  int connections = 16, streams = 32, sessions = 4, subscribers = 1000, events = 3, open_batch = 250;
  double duration = 10, hold = 0, rate = 0;
  int rss_pid = 0;
  std::size_t requests = 0, payload_bytes = 64;
};

options parse(int argc, char** argv) {
  if (argc < 2) die("usage: edgepipe-load calls|fanout [--option value]...  (see the top of bench/load/main.cpp)");
  options o;
  o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string const k = argv[i], v = argv[i + 1];
    if (k == "--edge") o.edge = v;
    else if (k == "--public") o.public_url = v;
    else if (k == "--push") o.push_url = v;
    else if (k == "--protocol") o.protocol = v;
    else if (k == "--type") o.type = v;
    else if (k == "--user-prefix") o.user_prefix = v;
    else if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--streams") o.streams = std::stoi(v);
    else if (k == "--sessions") o.sessions = std::stoi(v);
    else if (k == "--subscribers") o.subscribers = std::stoi(v);
    else if (k == "--events") o.events = std::stoi(v);
    else if (k == "--open-batch") o.open_batch = std::max(1, std::stoi(v));
    else if (k == "--duration") o.duration = std::stod(v);
    else if (k == "--hold") o.hold = std::stod(v);
    else if (k == "--rate") o.rate = std::stod(v);
    else if (k == "--rss-pid") o.rss_pid = std::stoi(v);
    else if (k == "--requests") o.requests = std::stoul(v);
    else if (k == "--payload-bytes") o.payload_bytes = std::stoul(v);
    else die("unknown option " + k);
  }
  if (o.protocol != "grpc" && o.protocol != "connect") die("--protocol is grpc or connect");
  return o;
}

// --- set-up over HTTP/1.1 (not measured) -------------------------------------------------

ref::http_client::outcome post_json(std::string const& base, std::string const& path, json const& body) {
  auto endpoint = ref::parse_http_url(base);
  if (!endpoint) die("not an http://host:port URL: " + base);
  asio::io_context io;
  ref::http_client client{io.get_executor(), *endpoint};
  ref::http_client::request req{http::verb::post, path, 11};
  req.set(http::field::content_type, "application/json");
  req.body() = body.dump();
  auto f = asio::co_spawn(io, client.send(std::move(req), std::chrono::seconds{10}), asio::use_future);
  // Until the answer: a kept-alive connection leaves a wait pending, so run() would not return.
  while (f.wait_for(std::chrono::seconds{0}) != std::future_status::ready) io.run_one();
  return f.get();
}

struct device {
  edgepipe::crypto::ed25519_signer key;
  std::string user, session;
};

std::vector<device> register_devices(options const& o, int count) {
  std::vector<device> out;
  for (int i = 0; i < count; ++i) {
    std::string seed(32, '\0');
    randombytes_buf(seed.data(), seed.size());
    auto key = edgepipe::crypto::ed25519_signer::from_seed(seed, "device");
    std::string user = o.user_prefix + "-" + std::to_string(i);
    auto r = post_json(o.public_url, "/api/v1/public/auth/register",
                       {{"user_id", user}, {"public_key", edgepipe::crypto::to_base64(edgepipe::crypto::as_bytes(key.public_key()))}});
    auto body = json::parse(r.res.body(), nullptr, false);
    if (r.error != ref::http_client::failure::none || r.res.result_int() / 100 != 2 || !body.contains("device_session_id"))
      die("registration refused: " + std::to_string(r.res.result_int()) + " " + r.res.body());
    out.push_back({std::move(key), std::move(user), body["device_session_id"].get<std::string>()});
  }
  return out;
}

// Request ids unique across runs: a random prefix, then a counter.
std::string run_prefix() {
  std::string id = edgepipe::reference::fresh_request_id().substr(4, 12);
  return "load-" + id + "-";
}

// --- calls on the library's h2c client -------------------------------------------------------

using edgepipe::transport::h2c_client;

struct driver;

// One call in flight: a slot of a connection, reused call after call (no allocation per call).
struct stream_state final : edgepipe::transport::h2c_exchange {
  driver* owner = nullptr;
  std::size_t connection = 0;
  std::size_t subscriber = 0;
  clock_type::time_point started;
  int http_status = 0;
  int grpc_status = -1;
  std::string error_body;  // Connect errors: {"code": ...}
  edgepipe::protocol::frame_decoder frames;
  std::size_t messages = 0;

  void reset() {
    http_status = 0;
    grpc_status = -1;
    error_body.clear();
    frames = edgepipe::protocol::frame_decoder{{edgepipe::protocol::flag_compressed | edgepipe::protocol::flag_end_stream,
                                                edgepipe::protocol::default_max_message_size, false}};
    messages = 0;
    started = clock_type::now();
  }
  void on_header(std::string_view n, std::string_view v, bool) override;
  void on_data(std::string_view bytes) override;
  void on_close(edgepipe::status transport) override;
};

// What the calls need from their driver.
struct driver {
  virtual ~driver() = default;
  virtual void finished(stream_state& s, edgepipe::status transport) = 0;
  virtual void message(stream_state&) {}
};

int number(std::string_view v) {
  int n = 0;
  for (char c : v) n = c >= '0' && c <= '9' ? n * 10 + (c - '0') : n;
  return n;
}

void stream_state::on_header(std::string_view n, std::string_view v, bool) {
  if (n == ":status") http_status = number(v);
  else if (n == "grpc-status") grpc_status = number(v);
}

void stream_state::on_data(std::string_view bytes) {
  if (http_status != 200) {
    if (error_body.size() < 4096) error_body.append(bytes);
    return;
  }
  (void)frames.feed(bytes, [&](edgepipe::protocol::frame_view) {
    ++messages;
    owner->message(*this);
    return edgepipe::status{};
  });
}

void stream_state::on_close(edgepipe::status transport) { owner->finished(*this, transport); }

// Opens `count` connections to `ep` and waits until each has the server's SETTINGS.
std::vector<std::shared_ptr<h2c_client>> connect_all(asio::io_context& io, ref::http_endpoint const& ep, std::size_t count) {
  std::vector<std::shared_ptr<h2c_client>> out;
  for (std::size_t i = 0; i < count; ++i) out.push_back(std::make_shared<h2c_client>(io.get_executor(), ep.host, ep.port));
  std::size_t done = 0;
  for (auto& c : out)
    asio::co_spawn(io, c->connect(), [&](std::exception_ptr, edgepipe::status s) {
      if (!s.ok()) die("cannot connect to --edge: " + std::string{s.reason()});
      ++done;
    });
  while (done < out.size()) io.run_one();
  return out;
}

ref::http_endpoint edge_endpoint(std::string const& host_port) {
  auto ep = ref::parse_host_port(host_port);
  if (!ep) die("--edge: expected host:port");
  return *ep;
}

// The outcome of a call that did not end with the server's trailers.
std::string transport_outcome(edgepipe::status s) {
  if (s.reason() == "stream_reset" || s.reason() == "refused_stream") return "stream_reset";
  return std::string{s.reason()};
}

std::string connect_code(std::string const& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("code") && j["code"].is_string()) return j["code"].get<std::string>();
  return "unknown";
}

std::string grpc_code_name(int code) {
  static constexpr char const* names[] = {"ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded",
                                           "not_found", "already_exists", "permission_denied", "resource_exhausted",
                                           "failed_precondition", "aborted", "out_of_range", "unimplemented",
                                           "internal", "unavailable", "data_loss", "unauthenticated"};
  return code >= 0 && code <= 16 ? names[code] : "no_status";
}

double percentile(std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto const i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)] / 1000.0;  // µs -> ms
}

// VmRSS of a process, in KiB (0 when there is none to read).
long resident_kib(int pid) {
  if (pid <= 0) return 0;
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

// --- calls ---------------------------------------------------------------------------------

class calls_driver final : public driver {
 public:
  calls_driver(options const& o, asio::io_context& io) : o_{o}, io_{io} {
    path_ = "/edgepipe.gateway.v1.EdgeGateway/ExecuteCommand";
    if (o.protocol == "grpc") {
      content_type_ = "application/grpc";
    } else {
      content_type_ = "application/proto";
    }
  }

  int run() {
    auto devices = register_devices(o_, o_.sessions);
    std::size_t const count =
        o_.requests > 0 ? o_.requests : static_cast<std::size_t>(o_.duration * 12000) + 1000;  // more than we can send
    std::string const payload(o_.payload_bytes, 'x');
    std::string const prefix = run_prefix();
    auto const t0 = clock_type::now();
    bodies_.reserve(count);
    auto const now_ms = edgepipe::system_clock{}.now_ms();
    for (std::size_t i = 0; i < count; ++i) {
      auto const& d = devices[i % devices.size()];
      auto r = ref::sign_request(d.key, d.session, o_.type, payload, prefix + std::to_string(i), now_ms);
      std::string body;
      if (o_.protocol == "grpc") edgepipe::protocol::append_frame(body, 0, r.SerializeAsString());
      else body = r.SerializeAsString();
      bodies_.push_back(std::move(body));
    }
    double const signing_s = std::chrono::duration<double>(clock_type::now() - t0).count();
    latencies_us_.reserve(count);

    conns_ = connect_all(io_, edge_endpoint(o_.edge), static_cast<std::size_t>(o_.connections));
    busy_.assign(conns_.size(), 0);
    std::size_t const slots = conns_.size() * static_cast<std::size_t>(o_.streams);
    slots_ = std::make_unique<stream_state[]>(slots);
    for (std::size_t i = 0; i < slots; ++i) {
      slots_[i].owner = this;
      free_.push_back(&slots_[i]);
    }
    started_ = clock_type::now();
    deadline_ = o_.requests > 0 ? clock_type::time_point::max()
                                : started_ + std::chrono::microseconds{static_cast<long>(o_.duration * 1e6)};
    if (o_.rate > 0) {
      asio::co_spawn(io_, pace(), asio::detached);
    } else {
      for (std::size_t c = 0; c < conns_.size(); ++c)
        for (int s = 0; s < o_.streams; ++s) submit(c);
    }
    io_.run();
    double const elapsed = std::chrono::duration<double>(ended_ - started_).count();

    std::sort(latencies_us_.begin(), latencies_us_.end());
    json out{{"mode", "calls"},
             {"protocol", o_.protocol},
             {"connections", o_.connections},
             {"streams", o_.streams},
             {"requests", completed_},
             {"target_rate", o_.rate},
             {"ok", outcomes_["ok"]},
             {"seconds", elapsed},
             {"requests_per_second", completed_ / elapsed},
             {"latency_ms",
              {{"p50", percentile(latencies_us_, 0.50)},
               {"p90", percentile(latencies_us_, 0.90)},
               {"p99", percentile(latencies_us_, 0.99)},
               {"p999", percentile(latencies_us_, 0.999)},
               {"max", latencies_us_.empty() ? 0.0 : latencies_us_.back() / 1000.0}}},
             {"outcomes", outcomes_},
             {"presigned", bodies_.size()},
             {"signing_seconds", signing_s}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }

  void finished(stream_state& s, edgepipe::status transport) override {
    auto const now = clock_type::now();
    latencies_us_.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - s.started).count() / 1000));
    ++completed_;
    busy_[s.connection] -= 1;
    free_.push_back(&s);
    std::string outcome;
    if (!transport.ok()) outcome = transport_outcome(transport);
    else if (o_.protocol == "grpc") outcome = grpc_code_name(s.grpc_status);
    else outcome = s.http_status == 200 ? "ok" : connect_code(s.error_body);
    ++outcomes_[outcome];
    if (stopping_) return;
    if (o_.rate > 0) {
      if (pacing_done_ && in_flight() == 0) stop(now);
    } else if (now < deadline_ && next_ < bodies_.size()) {
      submit(s.connection);
    } else if (in_flight() == 0) {
      stop(now);
    }
  }

 private:
  void stop(clock_type::time_point now) {
    ended_ = now;
    stopping_ = true;
    for (auto& c : conns_) c->close();
  }

  // Open loop: every millisecond, the calls due by now. When connections x streams are
  // already in flight, what is due is dropped rather than sent in a burst later.
  asio::awaitable<void> pace() {
    asio::steady_timer tick{io_};
    double due = 0;
    std::size_t const cap = static_cast<std::size_t>(o_.connections * o_.streams);
    std::size_t turn = 0;
    while (clock_type::now() < deadline_ && next_ < bodies_.size()) {
      due += o_.rate / 1000.0;
      while (due >= 1 && in_flight() < cap && next_ < bodies_.size()) {
        submit(turn++ % conns_.size());
        due -= 1;
      }
      if (due > 1) due = 1;  // over the cap: shed, do not burst later
      tick.expires_after(std::chrono::milliseconds{1});
      (void)co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    pacing_done_ = true;
    if (in_flight() == 0) stop(clock_type::now());
  }

  std::size_t in_flight() const {
    std::size_t n = 0;
    for (auto b : busy_) n += b;
    return n;
  }

  void submit(std::size_t connection) {
    if (next_ >= bodies_.size() || free_.empty()) return;
    stream_state& s = *free_.back();
    free_.pop_back();
    s.connection = connection;
    s.reset();
    edgepipe::transport::h2c_request const r{path_, bodies_[next_++], content_type_, clock_type::time_point::max(), extra_};
    if (edgepipe::status st = conns_[connection]->start(r, s); !st.ok()) {
      free_.push_back(&s);
      ++completed_;
      ++outcomes_[transport_outcome(st)];
      return;
    }
    busy_[connection] += 1;
  }

  options const& o_;
  asio::io_context& io_;
  std::string path_, content_type_;
  std::vector<std::string> bodies_;
  std::vector<std::shared_ptr<h2c_client>> conns_;
  std::unique_ptr<stream_state[]> slots_;
  std::vector<stream_state*> free_;
  std::vector<std::size_t> busy_;  // calls in flight, by connection
  edgepipe::transport::h2c_header const extra_[1] = {{"connect-protocol-version", "1"}};
  std::size_t next_ = 0, completed_ = 0;
  std::vector<std::uint32_t> latencies_us_;
  std::map<std::string, std::size_t> outcomes_;
  clock_type::time_point started_, ended_, deadline_;
  bool pacing_done_ = false;
  bool stopping_ = false;
};

// --- fan-out -------------------------------------------------------------------------------

class fanout_driver final : public driver {
 public:
  fanout_driver(options const& o, asio::io_context& io) : o_{o}, io_{io} {}

  int run() {
    if (o_.push_url.empty()) die("fanout needs --push URL (the demo backend)");
    auto devices = register_devices(o_, 1);
    auto const& d = devices.front();
    std::string const prefix = run_prefix();
    std::size_t const n = static_cast<std::size_t>(o_.subscribers);
    for (std::size_t i = 0; i < n; ++i) {
      auto r = ref::sign_request(d.key, d.session, "gateway.subscribe_events", "", prefix + std::to_string(i));
      std::string body;
      edgepipe::protocol::append_frame(body, 0, r.SerializeAsString());
      bodies_.push_back(std::move(body));
    }
    seen_.assign(n, 0);
    arrival_us_.assign(n, 0);
    long const rss_before = resident_kib(o_.rss_pid);
    std::size_t const per_connection = 90;  // under the server's 100 concurrent streams
    std::size_t const connections = (n + per_connection - 1) / per_connection;
    conns_ = connect_all(io_, edge_endpoint(o_.edge), connections);
    subs_ = std::make_unique<stream_state[]>(n);
    auto const t0 = clock_type::now();
    // In waves of --open-batch, as clients arrive, not all in one instant: a burst of
    // thousands of simultaneous subscriptions measures the burst, not what they hold.
    for (std::size_t i = 0; i < n; ++i) {
      auto& s = subs_[i];
      s.owner = this;
      s.subscriber = i;
      s.reset();
      edgepipe::transport::h2c_request const r{"/edgepipe.gateway.v1.EdgeGateway/SubscribeEvents", bodies_[i]};
      if (edgepipe::status st = conns_[i / per_connection]->start(r, s); !st.ok()) {
        ++ended_;
        ++ended_by_[transport_outcome(st)];
      }
      if ((i + 1) % static_cast<std::size_t>(o_.open_batch) == 0 || i + 1 == n) {
        std::size_t const target = i + 1;
        wait_until([&] { return ready_ + ended_ >= target; }, std::chrono::seconds{60});
      }
    }
    double const open_s = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::fprintf(stderr, "edgepipe-load: %zu subscriptions open in %.2f s (%zu ended early)\n", ready_, open_s, ended_);
    std::printf("{\"phase\":\"open\",\"subscriptions\":%zu}\n", ready_);
    std::fflush(stdout);
    if (o_.hold > 0) wait_for(std::chrono::milliseconds{static_cast<long>(o_.hold * 1000)});
    long const rss_open = resident_kib(o_.rss_pid);

    json rounds = json::array();
    for (int e = 1; e <= o_.events; ++e) {
      std::fill(arrival_us_.begin(), arrival_us_.end(), 0);
      round_ = e;
      reached_ = 0;
      push_started_ = clock_type::now();
      auto r = post_json(o_.push_url, "/api/v1/demo/push",
                         {{"user_id", d.user}, {"event_type", "bench.tick"}, {"payload", "tick " + std::to_string(e)}});
      if (r.error != ref::http_client::failure::none || r.res.result_int() / 100 != 2) die("the push was refused");
      wait_until([&] { return reached_ >= ready_; }, std::chrono::seconds{30});
      std::vector<std::uint32_t> sorted;
      for (auto us : arrival_us_)
        if (us > 0) sorted.push_back(us);
      std::sort(sorted.begin(), sorted.end());
      rounds.push_back({{"reached", reached_},
                        {"p50_ms", percentile(sorted, 0.5)},
                        {"p99_ms", percentile(sorted, 0.99)},
                        {"last_ms", sorted.empty() ? 0.0 : sorted.back() / 1000.0}});
    }
    closing_ = true;  // what closing ends did not end early
    for (auto& c : conns_) c->close();
    io_.run_for(std::chrono::milliseconds{200});
    json out{{"mode", "fanout"}, {"subscriptions", ready_}, {"open_seconds", open_s}, {"events", rounds},
             {"ended_early", ended_by_}};
    if (o_.rss_pid > 0) {
      out["rss_kib_before"] = rss_before;
      out["rss_kib_open"] = rss_open;
      out["bytes_per_subscription"] = ready_ ? (rss_open - rss_before) * 1024.0 / static_cast<double>(ready_) : 0.0;
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }

  void message(stream_state& s) override {
    if (s.messages == 1) {
      ++ready_;
      return;
    }
    if (round_ > 0 && seen_[s.subscriber] < round_) {
      seen_[s.subscriber] = round_;
      arrival_us_[s.subscriber] = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - push_started_).count() + 1);
      ++reached_;
    }
  }
  void finished(stream_state& s, edgepipe::status transport) override {
    if (closing_) return;
    ++ended_;
    ++ended_by_[!transport.ok() ? transport_outcome(transport) : grpc_code_name(s.grpc_status)];
  }

 private:
  template <class Done>
  void wait_until(Done done, std::chrono::seconds limit) {
    auto const until = clock_type::now() + limit;
    while (!done() && clock_type::now() < until) io_.run_for(std::chrono::milliseconds{5});
  }
  void wait_for(std::chrono::milliseconds d) {
    auto const until = clock_type::now() + d;
    while (clock_type::now() < until) io_.run_for(std::chrono::milliseconds{50});
  }

  options const& o_;
  asio::io_context& io_;
  std::vector<std::string> bodies_;
  std::vector<std::shared_ptr<h2c_client>> conns_;
  std::unique_ptr<stream_state[]> subs_;
  std::vector<int> seen_;
  std::vector<std::uint32_t> arrival_us_;
  std::size_t ready_ = 0, ended_ = 0, reached_ = 0;
  std::map<std::string, std::size_t> ended_by_;
  int round_ = 0;
  bool closing_ = false;
  clock_type::time_point push_started_;
};

}  // namespace

int main(int argc, char** argv) {
  auto const o = parse(argc, argv);
  if (sodium_init() < 0) die("libsodium failed to initialise");
  asio::io_context io;
  if (o.mode == "calls") return calls_driver{o, io}.run();
  if (o.mode == "fanout") return fanout_driver{o, io}.run();
  die("the mode is calls or fanout");
}
