// The last stage of a subscription chain: the request passed every check, so the stream
// may join the push hub for its user.
#pragma once

#include <edgepipe/pipeline/context.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/facts.hpp>

#include <string>
#include <string_view>

namespace edgepipe::stages {

// What a subscription that passed the chain is granted: the user whose events it gets.
struct subscription_grant {
  std::string user_id;
};

// Reads the session; adds subscription_grant. `Gate`, as for routing: what must hold before
// a stream is granted (by default every fact that makes a request safe to act on).
template <class Gate = verified_request>
struct subscription_grant_stage;

template <class... Gate>
struct subscription_grant_stage<facts<Gate...>> {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope, session, Gate...>;
  using provides_fact = subscription_grant;
  static constexpr std::string_view name = "push";

  result<subscription_grant> operator()(auto const& ctx) const noexcept {
    return subscription_grant{get<session>(ctx).user_id};
  }
};

}  // namespace edgepipe::stages
