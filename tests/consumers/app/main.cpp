// A downstream application: its own stages, composed with edgepipe's chain.
// Every consumer project (Meson, CMake, pkg-config) builds this file.
#include <edgepipe/pipeline/chain.hpp>

#include <cstdio>
#include <string_view>

namespace app {

struct api_key {
  std::string_view value;
};
struct caller {
  std::string_view name;
};
struct greeting {
  std::string_view text;
};

struct api_key_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<api_key>;
  using provides_fact = caller;
  static constexpr std::string_view name = "api_key";

  edgepipe::result<caller> operator()(auto const& ctx) const noexcept {
    if (edgepipe::get<api_key>(ctx).value == "k-123") return caller{"downstream"};
    return edgepipe::status{edgepipe::code::unauthenticated, "api_key_invalid"};
  }
};

struct greet_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = edgepipe::facts<caller>;
  using provides_fact = greeting;
  static constexpr std::string_view name = "greet";

  edgepipe::result<greeting> operator()(auto const&) const noexcept { return greeting{"hello, downstream"}; }
};

}  // namespace app

int main() {
  auto const chain = edgepipe::make_chain<app::api_key>(app::api_key_stage{}, app::greet_stage{});
  auto good = chain.run(app::api_key{"k-123"});
  auto bad = chain.run(app::api_key{"nope"});
  if (!good || good->text != "hello, downstream") return 1;
  if (bad || bad.error().reason() != "api_key_invalid") return 2;
  std::puts("consumer chain: ok");
  return 0;
}
