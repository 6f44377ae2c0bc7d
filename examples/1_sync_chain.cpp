// Rung 1 of the example ladder: a synchronous chain. Three stages check a toy request,
// each adding one fact the next one requires, and an observer prints what each stage
// decided. Every stage returns a result at once, so the chain is plain function calls
// and needs only the core (the standard library). Run it: build/examples/1-sync-chain.
// Next: 2_async_chain.cpp, where one stage waits on a socket.
#include <edgepipe/pipeline/chain.hpp>

#include <cstdio>
#include <string>
#include <string_view>

namespace {

using edgepipe::code;
using edgepipe::facts;
using edgepipe::result;
using edgepipe::status;

// The facts this chain establishes, one type each.
struct raw_line {
  std::string_view text;  // "user token command"
};
struct parsed {
  std::string_view user, token, command;
};
struct authenticated {
  std::string_view user;
};
struct answer {
  std::string_view text;
};

struct parse_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<raw_line>;
  using provides_fact = parsed;
  static constexpr std::string_view name = "parse";

  result<parsed> operator()(auto const& ctx) const noexcept {
    std::string_view rest = edgepipe::get<raw_line>(ctx).text;
    std::string_view words[3];
    for (auto& word : words) {
      auto space = rest.find(' ');
      word = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      if (word.empty()) return status{code::invalid_argument, "malformed_request", "want: user token command"};
    }
    return parsed{words[0], words[1], words[2]};
  }
};

struct token_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<parsed>;
  using provides_fact = authenticated;
  static constexpr std::string_view name = "token";

  result<authenticated> operator()(auto const& ctx) const noexcept {
    auto const& request = edgepipe::get<parsed>(ctx);
    if (request.user == "alice" && request.token == "s3cret") return authenticated{request.user};
    return status{code::unauthenticated, "token_invalid"};
  }
};

struct command_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<parsed, authenticated>;
  using provides_fact = answer;
  static constexpr std::string_view name = "command";

  result<answer> operator()(auto const& ctx) const noexcept {
    if (edgepipe::get<parsed>(ctx).command == "hello") return answer{"hello, alice"};
    return status{code::not_found, "route_not_found"};
  }
};

// Prints each stage as it finishes: the hook users get for tracing and metrics.
struct printing_observer {
  struct token {};
  template <class Stage>
  token stage_started(Stage const&) noexcept {
    return {};
  }
  template <class Stage>
  void stage_finished(Stage const&, token, status const& outcome) noexcept {
    std::printf("    %-8s %s\n", Stage::name.data(),
                outcome.ok() ? "ok" : std::string(outcome.reason()).c_str());
  }
};

}  // namespace

int main() {
  auto const verify = edgepipe::make_chain<raw_line>(parse_stage{}, token_stage{}, command_stage{});
  printing_observer observer;

  for (std::string_view line : {"alice s3cret hello", "alice guess hello", "alice s3cret launch", "alice"}) {
    std::printf("request \"%.*s\"\n", static_cast<int>(line.size()), line.data());
    result<answer> r = verify.run_observed(observer, raw_line{line});
    if (r)
      std::printf("  => %.*s\n", static_cast<int>(r->text.size()), r->text.data());
    else
      std::printf("  => rejected: %s (%s)\n", std::string(to_string(r.error().code())).c_str(),
                  std::string(r.error().reason()).c_str());
  }
}
