// Rung 2 of the example ladder: an asynchronous chain. The token stage looks the caller's
// token up in a token directory over TCP (a tiny line-based server on the same event
// loop, standing in for a session service); the parse and command stages around it stay
// synchronous. A stage that returns an awaitable makes the chain's run() an awaitable too,
// but only that stage suspends: the others are still direct calls, made in the same turn
// of the event loop as the stage before them. The observer shows it, counting the turns.
// Run it: build/examples/2-async-chain. Next: 3_server.cpp, the chain in front of an RPC server.
#include <edgepipe/pipeline/chain.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <cstddef>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using edgepipe::code;
using edgepipe::facts;
using edgepipe::result;
using edgepipe::status;

// Asio reports errors as values this way, as edgepipe stages do: no exceptions per request.
constexpr auto as_value = asio::as_tuple(asio::use_awaitable);

struct raw_line {
  std::string_view text;  // "token command"
};
struct parsed {
  std::string_view token, command;
};
struct authenticated {
  std::string user;  // owned: it comes off the socket
};
struct answer {
  std::string text;
};

// ---- the token directory: one line in ("token"), one line out ("user", or empty) ---------

asio::awaitable<void> answer_one(tcp::socket socket, std::map<std::string, std::string> const& users) {
  std::string line;
  auto [read_error, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(line), '\n', as_value);
  if (read_error) co_return;
  auto const it = users.find(line.substr(0, n - 1));
  std::string reply = (it == users.end() ? std::string{} : it->second) + "\n";
  co_await asio::async_write(socket, asio::buffer(reply), as_value);
}

asio::awaitable<void> serve_directory(tcp::acceptor& acceptor, std::map<std::string, std::string> const& users) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(as_value);
    if (error) co_return;  // the acceptor was closed
    asio::co_spawn(acceptor.get_executor(), answer_one(std::move(socket), users), asio::detached);
  }
}

// ---- the stages -------------------------------------------------------------------------

struct parse_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<raw_line>;
  using provides_fact = parsed;
  static constexpr std::string_view name = "parse";

  result<parsed> operator()(auto const& ctx) const noexcept {
    std::string_view const text = edgepipe::get<raw_line>(ctx).text;
    auto const space = text.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == text.size())
      return status{code::invalid_argument, "malformed_request", "want: token command"};
    return parsed{text.substr(0, space), text.substr(space + 1)};
  }
};

// The asynchronous stage: connect, send the token, read the user. I/O failures are values
// too: a directory that cannot be reached is `unavailable`, which a client may retry. (A
// production stage would also bound the wait, with a timer or the call's deadline.)
struct token_lookup_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<parsed>;
  using provides_fact = authenticated;
  static constexpr std::string_view name = "lookup";

  tcp::endpoint directory;

  template <class Context>  // by value: it must stay valid across the suspensions
  asio::awaitable<result<authenticated>> operator()(Context ctx) const {
    std::string request = std::string{edgepipe::get<parsed>(ctx).token} + "\n";
    tcp::socket socket{co_await asio::this_coro::executor};
    result<authenticated> out = status{code::unavailable, "directory_unavailable"};
    auto [connect_error] = co_await socket.async_connect(directory, as_value);
    if (connect_error) co_return out;
    auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(request), as_value);
    if (write_error) co_return out;
    std::string reply;
    auto [read_error, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(reply), '\n', as_value);
    if (read_error) co_return out;
    reply.resize(n - 1);
    if (reply.empty()) out = status{code::unauthenticated, "token_invalid"};
    else out = authenticated{std::move(reply)};
    co_return out;
  }
};

struct command_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<parsed, authenticated>;
  using provides_fact = answer;
  static constexpr std::string_view name = "command";

  result<answer> operator()(auto const& ctx) const noexcept {
    if (edgepipe::get<parsed>(ctx).command == "hello") return answer{"hello, " + edgepipe::get<authenticated>(ctx).user};
    return status{code::not_found, "route_not_found"};
  }
};

// Prints each stage as it finishes, and whether it suspended: main() runs the event loop one
// handler at a time and counts the turns, so a stage that finished in the turn it started
// in was a direct call.
struct turn_observer {
  std::size_t const* turn;

  struct token {
    std::size_t started_in;
  };
  template <class Stage>
  token stage_started(Stage const&) noexcept {
    return {*turn};
  }
  template <class Stage>
  void stage_finished(Stage const&, token t, status const& outcome) noexcept {
    std::printf("    %-8s %-22s %s\n", Stage::name.data(), outcome.ok() ? "ok" : std::string(outcome.reason()).c_str(),
                *turn == t.started_in ? "direct call" : "suspended, resumed on a later turn");
  }
};

template <class Chain>
asio::awaitable<void> run_one(Chain const& chain, turn_observer& observer, std::string_view line) {
  std::printf("request \"%.*s\"\n", static_cast<int>(line.size()), line.data());
  raw_line const input{line};  // named: g++ 12 mishandles temporaries inside co_await
  result<answer> r = co_await chain.run_observed(observer, input);
  if (r)
    std::printf("  => %s\n", r->text.c_str());
  else
    std::printf("  => rejected: %s (%s)\n", std::string(to_string(r.error().code())).c_str(),
                std::string(r.error().reason()).c_str());
}

asio::awaitable<void> run_requests(tcp::acceptor& directory, turn_observer& observer) {
  auto const chain = edgepipe::make_chain<raw_line>(parse_stage{}, token_lookup_stage{directory.local_endpoint()},
                                                    command_stage{});
  // A failure before the lookup stops the chain before any I/O: "hello" opens no socket.
  for (std::string_view line : {"s3cret hello", "guess hello", "s3cret launch", "hello"})
    co_await run_one(chain, observer, line);

  std::printf("(the directory stops)\n");
  directory.close();
  std::string_view const again = "s3cret hello";
  co_await run_one(chain, observer, again);
}

}  // namespace

int main() {
  asio::io_context io;
  std::map<std::string, std::string> const users{{"s3cret", "alice"}, {"hunter2", "bob"}};
  tcp::acceptor directory{io, {asio::ip::make_address("127.0.0.1"), 0}};
  asio::co_spawn(io, serve_directory(directory, users), asio::detached);

  std::size_t turn = 0;
  turn_observer observer{&turn};
  auto done = asio::co_spawn(io, run_requests(directory, observer), asio::use_future);
  while (io.run_one()) ++turn;  // one completion handler per turn
  done.get();  // rethrows what the requests' coroutine threw, if anything
}
