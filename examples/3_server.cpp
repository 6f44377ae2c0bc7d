// Rung 3 of the example ladder: a server. edgepipe's transport serves Connect, gRPC and
// gRPC-Web on one port; a chain in front of each method decides who may call it. Both
// methods share the chain: it reads only the Authorization header.
//   build/examples/3-server [PORT]   (else $PORT; 0, the default, takes any free port;
//                                     $WORKERS threads, default one per CPU it may run on)
//   curl http://127.0.0.1:PORT/edgepipe.examples.ladder.v1.Greeter/Greet -H 'Content-Type: application/json'
//        -H 'Authorization: Bearer s3cret' -d '{"name":"Ada"}'
#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/transport/server_group.hpp>
#include <edgepipe/transport/worker_pool.hpp>

#include "ladder.pb.h"  // protoc's output for examples/proto/ladder.proto

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace v1 = edgepipe::examples::ladder::v1;
using edgepipe::code;
using edgepipe::facts;
using edgepipe::result;
using edgepipe::status;
using edgepipe::transport::call_context;
using edgepipe::transport::message_writer;

struct credentials { std::string_view authorization; };  // the chain's input: the header as sent
struct bearer_token { std::string_view token; };
struct caller { std::string_view user; };

std::map<std::string_view, std::string_view> const users{{"s3cret", "alice"}, {"hunter2", "bob"}};

struct bearer_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<credentials>;
  using provides_fact = bearer_token;
  static constexpr std::string_view name = "bearer";
  result<bearer_token> operator()(auto const& ctx) const noexcept {
    std::string_view const header = edgepipe::get<credentials>(ctx).authorization;
    if (!header.starts_with("Bearer ")) return status{code::unauthenticated, "token_missing"};
    return bearer_token{header.substr(7)};
  }
};

struct user_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<bearer_token>;
  using provides_fact = caller;
  static constexpr std::string_view name = "user";
  result<caller> operator()(auto const& ctx) const noexcept {
    auto const it = users.find(edgepipe::get<bearer_token>(ctx).token);
    if (it == users.end()) return status{code::unauthenticated, "token_invalid"};
    return caller{it->second};
  }
};

int main(int argc, char** argv) {
  char const* port = argc > 1 ? argv[1] : std::getenv("PORT");
  auto const verify = edgepipe::make_chain<credentials>(bearer_stage{}, user_stage{});

  edgepipe::transport::router routes;
  routes.unary<v1::GreetRequest, v1::GreetResponse>("/edgepipe.examples.ladder.v1.Greeter/Greet",
      [&](v1::GreetRequest const& req, call_context& ctx) -> asio::awaitable<result<v1::GreetResponse>> {
        result<caller> const who = verify.run(credentials{ctx.header("authorization")});
        if (!who) co_return who.error();  // the chain's code and reason go to the client
        v1::GreetResponse out;
        out.set_text("hello, " + req.name() + " (signed in as " + std::string{who->user} + ")");
        co_return out;
      });
  routes.server_streaming<v1::CountdownRequest, v1::CountdownResponse>("/edgepipe.examples.ladder.v1.Greeter/Countdown",
      [&](v1::CountdownRequest const& req, message_writer<v1::CountdownResponse>& out,
          call_context& ctx) -> asio::awaitable<status> {
        result<caller> const who = verify.run(credentials{ctx.header("authorization")});
        if (!who) co_return who.error();
        if (req.from() > 100) co_return status{code::invalid_argument, "from_too_large", "at most 100"};
        asio::steady_timer timer{co_await asio::this_coro::executor};
        for (int i = req.from(); i > 0; --i) {
          timer.expires_after(std::chrono::milliseconds{req.interval_ms()});
          co_await timer.async_wait(asio::use_awaitable);
          v1::CountdownResponse m;
          m.set_value(i);
          m.set_user(std::string{who->user});
          if (status s = co_await out.write(m); !s.ok()) co_return s;  // the client left
        }
        co_return status{};
      });

  // Every core: a worker per CPU (or $WORKERS), each accepting on the same port. The router
  // holds only const state (the chain, the user table), so all workers share it; a handler
  // touching mutable state would need a router per worker, or state that is thread-safe.
  char const* workers_env = std::getenv("WORKERS");
  std::size_t const n = workers_env ? std::strtoul(workers_env, nullptr, 10) : edgepipe::transport::usable_cpus();
  edgepipe::transport::worker_pool workers{n > 0 ? n : 1};
  edgepipe::transport::server_group server{workers, [&](std::size_t) -> auto const& { return routes; }};
  server.listen({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port ? std::atoi(port) : 0)});
  server.start();
  std::printf("listening on 127.0.0.1:%u (%zu workers)\n", server.local_endpoint().port(), workers.size());
  std::fflush(stdout);  // a script reading the port waits for this line

  // A signal drains every worker's calls, then the workers stop.
  asio::signal_set signals{workers.context(0), SIGTERM, SIGINT};
  signals.async_wait([&](boost::system::error_code, int) {
    asio::co_spawn(workers.context(0), [&]() -> asio::awaitable<void> { co_await server.shutdown(); workers.stop(); },
                   asio::detached);
  });
  workers.run();
}
