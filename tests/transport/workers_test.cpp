// The library's runtime on several workers, with real threads: the worker pool, one port
// served by every worker, the push dispatcher, one backend connection bound across
// workers' pools, and the shared stores under concurrent use. (scripts/test runs these
// under ThreadSanitizer too.)
#include <edgepipe/clock.hpp>
#include <edgepipe/push/dispatcher.hpp>
#include <edgepipe/push/hub.hpp>
#include <edgepipe/stores/memory_replay_store.hpp>
#include <edgepipe/stores/session_and_user_limiter.hpp>
#include <edgepipe/transport/connection_budget.hpp>
#include <edgepipe/transport/http_client.hpp>
#include <edgepipe/transport/router.hpp>
#include <edgepipe/transport/server.hpp>
#include <edgepipe/transport/server_group.hpp>
#include <edgepipe/transport/worker_pool.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string thread_name() {
  std::ostringstream s;
  s << std::this_thread::get_id();
  return s.str();
}

// Runs `workers.run()` on a thread of its own for the test's length.
struct running {
  edgepipe::transport::worker_pool& workers;
  std::thread thread{[this] { workers.run(); }};
  ~running() {
    workers.stop();
    thread.join();
  }
};

// Runs f on worker i and waits for its result.
template <class F>
auto on_worker(edgepipe::transport::worker_pool& workers, std::size_t i, F f) {
  return asio::co_spawn(workers.executor(i), std::move(f), asio::use_future).get();
}

// A blocking HTTP/1.1 GET on a new connection; the body.
std::string get(unsigned short port, std::string const& path) {
  asio::io_context io;
  asio::ip::tcp::socket s{io};
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string const req = "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  asio::write(s, asio::buffer(req));
  std::string answer;
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(answer), ec);
  auto const body = answer.find("\r\n\r\n");
  return body == std::string::npos ? std::string{} : answer.substr(body + 4);
}

// A keep-alive HTTP/1.1 backend (the library's server on `routes`) on a thread of its own.
struct threaded_backend {
  explicit threaded_backend(edgepipe::transport::router const& routes) : server{io.get_executor(), routes} {
    server.listen({asio::ip::make_address("127.0.0.1"), 0});
    server.start();
    thread = std::thread{[this] { io.run(); }};
  }
  ~threaded_backend() {
    io.stop();
    thread.join();
  }
  edgepipe::transport::http_endpoint endpoint() const { return {"127.0.0.1", server.local_endpoint().port()}; }

  asio::io_context io{1};
  edgepipe::transport::server server;
  std::thread thread;
};

// A backend's answer `body`, after `delay`.
asio::awaitable<edgepipe::transport::http_response> answer_after(std::chrono::milliseconds delay, std::string body) {
  asio::steady_timer t{co_await asio::this_coro::executor, delay};
  co_await t.async_wait(asio::use_awaitable);
  co_return edgepipe::transport::make_http_response(200, std::move(body), "text/plain");
}

// One client per worker, all drawing on `budget`.
std::vector<std::unique_ptr<edgepipe::transport::http_client>> clients_sharing(
    edgepipe::transport::worker_pool& workers, edgepipe::transport::http_endpoint const& at,
    std::shared_ptr<edgepipe::transport::connection_budget> const& budget) {
  std::vector<std::unique_ptr<edgepipe::transport::http_client>> clients;
  for (std::size_t i = 0; i < workers.size(); ++i)
    clients.push_back(std::make_unique<edgepipe::transport::http_client>(workers.executor(i), at,
                                                                         edgepipe::transport::http_client_options{}, budget));
  return clients;
}

}  // namespace

TEST_CASE("on_each runs on every worker's thread and resumes the caller after all", "[workers]") {
  edgepipe::transport::worker_pool workers{4};
  running run{workers};
  std::vector<std::string> seen(4);
  std::string const home = on_worker(workers, 0, [&]() -> asio::awaitable<std::string> {
    co_await workers.on_each([&](std::size_t i) -> asio::awaitable<void> {
      asio::steady_timer t{co_await asio::this_coro::executor, std::chrono::milliseconds{10 * (4 - i)}};
      co_await t.async_wait(asio::use_awaitable);  // the last to finish is worker 0
      seen[i] = thread_name();
    });
    co_return thread_name();
  });
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 4);
  CHECK(home == seen[0]);  // the caller ran on worker 0 before and after
  for (auto const& s : seen) CHECK_FALSE(s.empty());
}

TEST_CASE("one port served by every worker: connections spread, each answered on one worker", "[workers]") {
  edgepipe::transport::worker_pool workers{4};
  edgepipe::transport::router routes;
  routes.route("GET", "/who", [](edgepipe::transport::http_request) -> asio::awaitable<edgepipe::transport::http_response> {
    co_return edgepipe::transport::make_http_response(200, thread_name(), "text/plain");
  });
  edgepipe::transport::server_group group{workers, [&](std::size_t) -> auto const& { return routes; }};
  group.listen({asio::ip::make_address("127.0.0.1"), 0});
  group.start();
  std::set<std::string> threads;
  {
    running run{workers};
    for (int i = 0; i < 64; ++i) threads.insert(get(group.local_endpoint().port(), "/who"));
    on_worker(workers, 0, [&]() -> asio::awaitable<void> { co_await group.shutdown(); });
  }
  CHECK(threads.count("") == 0);
  // 64 connections from 64 source ports over 4 listeners: all on one would be a 4^-63 chance.
  CHECK(threads.size() >= 2);
}

TEST_CASE("a port another listener holds is refused, as without SO_REUSEPORT", "[workers]") {
  edgepipe::transport::worker_pool workers{2};
  edgepipe::transport::router routes;
  edgepipe::transport::server_group first{workers, [&](std::size_t) -> auto const& { return routes; }};
  first.listen({asio::ip::make_address("127.0.0.1"), 0});
  edgepipe::transport::server_group second{workers, [&](std::size_t) -> auto const& { return routes; }};
  CHECK_THROWS(second.listen(first.local_endpoint()));
}

TEST_CASE("the dispatcher reaches every worker's hub, counts once, keeps order", "[workers][push]") {
  edgepipe::transport::worker_pool workers{3};
  std::vector<std::unique_ptr<edgepipe::push::hub>> hubs;
  edgepipe::push::dispatcher dispatcher;
  for (std::size_t i = 0; i < 3; ++i) {
    hubs.push_back(std::make_unique<edgepipe::push::hub>());
    dispatcher.add(workers.executor(i), *hubs.back());
  }
  running run{workers};
  // Two subscriptions of "u" on every worker, one of "v" on worker 0; each reads what comes.
  std::mutex m;
  std::vector<std::string> received;  // "worker:session:event", and the end status
  std::atomic<int> ready{0};
  for (std::size_t i = 0; i < 3; ++i)
    for (std::string const& session : {std::string{"s1"}, std::string{"s2"}})
      asio::co_spawn(workers.executor(i), [&, i, session]() -> asio::awaitable<void> {
        edgepipe::push::subscription sub{co_await asio::this_coro::executor, "u", session};
        hubs[i]->add(sub);
        ++ready;
        while (auto e = co_await sub.next()) {
          std::lock_guard l{m};
          received.push_back(std::to_string(i) + ":" + session + ":" + e->event_id);
        }
        hubs[i]->remove(sub);
        std::lock_guard l{m};
        received.push_back(std::to_string(i) + ":" + session + ":end " + std::string{sub.end_status().reason()});
      }, asio::detached);
  while (ready < 6) std::this_thread::sleep_for(1ms);

  auto const dispatched = [&](auto start) {
    return on_worker(workers, 1, [&]() -> asio::awaitable<std::size_t> {
      auto const ex = co_await asio::this_coro::executor;
      asio::steady_timer done{ex, asio::steady_timer::time_point::max()};
      std::size_t reached = 0;
      bool home = false;
      start(ex, [&](std::size_t n) {
        reached = n;
        home = ex == asio::any_io_executor{workers.executor(1)};
        done.cancel();
      });
      (void)co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
      CHECK(home);
      co_return reached;
    });
  };
  auto const event = [](std::string id) { return std::make_shared<edgepipe::push::event const>(edgepipe::push::event{id, "t", "p"}); };
  CHECK(dispatched([&](auto ex, auto done) { dispatcher.deliver(ex, "u", "", event("e1"), done); }) == 6);
  CHECK(dispatched([&](auto ex, auto done) { dispatcher.deliver(ex, "u", "s2", event("e2"), done); }) == 3);
  CHECK(dispatched([&](auto ex, auto done) { dispatcher.deliver(ex, "nobody", "", event("e3"), done); }) == 0);
  CHECK(dispatched([&](auto ex, auto done) { dispatcher.invalidate(ex, "u", "s1", done); }) == 3);
  dispatcher.drain();
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard l{m};
      if (received.size() == 3 * 2 + 3 + 6) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  std::lock_guard l{m};
  std::multiset<std::string> const got(received.begin(), received.end());
  std::multiset<std::string> expected;
  for (std::string w : {"0", "1", "2"}) {
    expected.insert(w + ":s1:e1");
    expected.insert(w + ":s2:e1");
    expected.insert(w + ":s2:e2");
    expected.insert(w + ":s1:end session_revoked");
    expected.insert(w + ":s2:end draining");
  }
  CHECK(got == expected);
  // Per subscription, in the order dispatched.
  for (std::string w : {"0", "1", "2"}) {
    std::vector<std::string> s2;
    for (auto const& r : received)
      if (r.starts_with(w + ":s2:")) s2.push_back(r.substr(w.size() + 4));
    CHECK(s2 == std::vector<std::string>{"e1", "e2", "end draining"});
  }
}

TEST_CASE("one connection budget bounds every worker's pool; a waiting pool gets a slot another frees", "[workers][http]") {
  // /slow takes 200 ms.
  edgepipe::transport::router routes;
  routes.route("GET", "/fast", [&](edgepipe::transport::http_request) -> asio::awaitable<edgepipe::transport::http_response> {
    co_return edgepipe::transport::make_http_response(200, "fast", "text/plain");
  });
  routes.route("GET", "/slow", [](edgepipe::transport::http_request) { return answer_after(200ms, "slow"); });
  threaded_backend backend{routes};
  edgepipe::transport::worker_pool workers{2};
  auto const budget = std::make_shared<edgepipe::transport::connection_budget>(1);
  auto clients = clients_sharing(workers, backend.endpoint(), budget);
  {
    running run{workers};
    auto const call = [&](std::size_t worker, std::string target) {
      return asio::co_spawn(workers.executor(worker), [&, worker, target]() -> asio::awaitable<std::string> {
        edgepipe::transport::http_client::request req{boost::beast::http::verb::get, target, 11};
        auto r = co_await clients[worker]->send(std::move(req), 2s);
        co_return r.error == edgepipe::transport::http_client::failure::none ? r.res.body() : std::string{"failed"};
      }, asio::use_future);
    };
    // Worker 0's call leaves its connection idle in worker 0's pool: worker 1's call can only
    // be served by worker 0 closing it.
    CHECK(call(0, "/fast").get() == "fast");
    CHECK(on_worker(workers, 0, [&]() -> asio::awaitable<std::size_t> { co_return clients[0]->idle_connections(); }) == 1);
    CHECK(call(1, "/fast").get() == "fast");
    CHECK(on_worker(workers, 0, [&]() -> asio::awaitable<std::size_t> { co_return clients[0]->open_connections(); }) == 0);
    CHECK(budget->open() == 1);
    // Busy on worker 1 while worker 0 asks: worker 0 waits, then gets the slot once it frees.
    auto slow = call(1, "/slow");
    std::this_thread::sleep_for(50ms);
    auto fast = call(0, "/fast");
    CHECK(fast.wait_for(100ms) == std::future_status::timeout);  // at most one connection at once
    CHECK(slow.get() == "slow");
    CHECK(fast.get() == "fast");
    CHECK(budget->open() == 1);
    on_worker(workers, 0, [&]() -> asio::awaitable<void> { co_return; });
  }
  clients.clear();
  CHECK(budget->open() == 0);
}

TEST_CASE("a session burst of 40 is 40 however many threads take from it", "[workers][stores]") {
  edgepipe::stores::session_and_user_limiter limiter{{0, 40}, {0, 1000}};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i)
        if (limiter.acquire("device-1", "user-1", 1000).allowed) ++allowed;
    });
  for (auto& t : threads) t.join();
  CHECK(allowed == 40);
  // The user's bucket took exactly the 40 that passed: 960 more pass for other sessions.
  int more = 0;
  for (int i = 0; i < 1000; ++i)
    if (limiter.acquire("device-" + std::to_string(i + 2), "user-1", 1000).allowed) ++more;
  CHECK(more == 960);
}

TEST_CASE("the memory store reserves each key once across threads and keeps one capacity", "[workers][stores]") {
  edgepipe::manual_clock clock;
  edgepipe::stores::memory_replay_store store{clock, 1000};
  std::atomic<int> reserved{0}, unavailable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int k = 0; k < 2000; ++k) {
        auto const r = store.reserve("key-" + std::to_string(k), 60'000);
        if (r == edgepipe::stages::reservation::reserved) ++reserved;
        if (r == edgepipe::stages::reservation::unavailable) ++unavailable;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(reserved == 1000);  // 2000 keys, room for 1000, each reserved once
  CHECK(store.size() == 1000);
  clock.advance(60'000);
  CHECK(store.reserve("key-0", 60'000) == edgepipe::stages::reservation::reserved);  // all expired: room again
  CHECK(store.size() == 1);
}

TEST_CASE("under a steady load two workers' pools settle on the shared bound instead of trading connections", "[workers][http]") {
  edgepipe::transport::router routes;
  std::mutex peers_mutex;
  std::set<std::string> peers;  // one per backend connection the clients opened
  routes.route("GET", "/work", [&](edgepipe::transport::http_request req) -> asio::awaitable<edgepipe::transport::http_response> {
    {
      std::lock_guard l{peers_mutex};
      peers.insert(req.peer);
    }
    co_return co_await answer_after(2ms, "done");
  });
  threaded_backend backend{routes};
  edgepipe::transport::worker_pool workers{2};
  auto const budget = std::make_shared<edgepipe::transport::connection_budget>(4);
  auto clients = clients_sharing(workers, backend.endpoint(), budget);
  std::atomic<int> ok{0};
  {
    running run{workers};
    // 8 callers per worker, 25 calls each, over 4 connections in all: twice the demand.
    std::vector<std::future<void>> callers;
    for (std::size_t w = 0; w < 2; ++w)
      for (int c = 0; c < 8; ++c)
        callers.push_back(asio::co_spawn(workers.executor(w), [&, w]() -> asio::awaitable<void> {
          for (int i = 0; i < 25; ++i) {
            edgepipe::transport::http_client::request req{boost::beast::http::verb::get, "/work", 11};
            auto r = co_await clients[w]->send(std::move(req), 5s);
            if (r.error == edgepipe::transport::http_client::failure::none) ++ok;
          }
        }, asio::use_future));
    for (auto& f : callers) f.get();
    CHECK(budget->open() <= 4);
    // Every slot the budget counts has a connection behind it: none was lost in a hand-over.
    std::size_t held = 0;
    for (std::size_t w = 0; w < 2; ++w)
      held += on_worker(workers, w, [&, w]() -> asio::awaitable<std::size_t> { co_return clients[w]->open_connections(); });
    CHECK(budget->open() == held);
  }
  clients.clear();
  CHECK(ok == 400);
  // 4 to begin with; a slot may move between the workers while they ramp up, not per call.
  std::lock_guard l{peers_mutex};
  CHECK(peers.size() <= 12);
}
