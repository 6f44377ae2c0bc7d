// Small stages shared by the pipeline tests: a miniature of the gateway's chain,
// with counters so a test can see which stages ran.
#pragma once

#include <edgepipe/pipeline/chain.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace sample {

using edgepipe::code;
using edgepipe::facts;
using edgepipe::result;
using edgepipe::status;

struct raw_request {
  std::string_view bytes;
};
struct envelope {
  std::string_view session_id;
  std::uint64_t signature;
};
struct session {
  std::string_view user;
  std::uint64_t key;
};
struct signature_verified {};
struct fresh {};
struct permit {
  int* in_flight;
};
struct reply {
  std::string_view user;
};

// How many times each stage ran; shared by reference so stages stay cheap values.
struct counters {
  int envelope = 0, session = 0, signature = 0, freshness = 0, route = 0, left = 0;
};

// "sid:sig" -> envelope
struct envelope_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<raw_request>;
  using provides_fact = envelope;
  static constexpr std::string_view name = "envelope";
  counters* seen;

  result<envelope> operator()(auto const& ctx) const noexcept {
    ++seen->envelope;
    std::string_view bytes = edgepipe::get<raw_request>(ctx).bytes;
    auto colon = bytes.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return status{code::invalid_argument, "malformed_envelope"};
    std::uint64_t sig = 0;
    for (char c : bytes.substr(colon + 1)) {
      if (c < '0' || c > '9') return status{code::invalid_argument, "malformed_envelope", "signature"};
      sig = sig * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return envelope{bytes.substr(0, colon), sig};
  }
};

struct session_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<envelope>;
  using provides_fact = session;
  static constexpr std::string_view name = "session";
  counters* seen;

  result<session> operator()(auto const& ctx) const noexcept {
    ++seen->session;
    auto const& env = edgepipe::get<envelope>(ctx);
    if (env.session_id == "alice-phone") return session{"alice", 42};
    return status{code::unauthenticated, "session_not_found"};
  }
};

struct signature_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<envelope, session>;
  using provides_fact = signature_verified;
  static constexpr std::string_view name = "signature";
  counters* seen;

  result<signature_verified> operator()(auto const& ctx) const noexcept {
    ++seen->signature;
    if (edgepipe::get<envelope>(ctx).signature == edgepipe::get<session>(ctx).key)
      return signature_verified{};
    return status{code::unauthenticated, "signature_invalid"};
  }
};

struct freshness_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<signature_verified>;
  using provides_fact = fresh;
  static constexpr std::string_view name = "freshness";
  counters* seen;

  result<fresh> operator()(auto const&) const noexcept {
    ++seen->freshness;
    return fresh{};
  }
};

// An around stage: takes a permit on entry, gives it back with the outcome.
struct concurrency_stage {
  using stage_concept = edgepipe::around_stage_tag;
  using requires_facts = facts<session>;
  using provides_fact = permit;
  static constexpr std::string_view name = "concurrency";
  int* in_flight;
  counters* seen;

  result<permit> operator()(auto const&) const noexcept {
    if (*in_flight >= 1) return status{code::resource_exhausted, "rate_limited"};
    ++*in_flight;
    return permit{in_flight};
  }
  template <class Outcome>
  void leave(auto const&, permit& p, result<Outcome>&) const noexcept {
    --*p.in_flight;
    ++seen->left;
  }
};

struct route_stage {
  using stage_concept = edgepipe::stage_tag;
  using requires_facts = facts<session, signature_verified, fresh>;
  using provides_fact = reply;
  static constexpr std::string_view name = "route";
  counters* seen;
  bool fail = false;

  result<reply> operator()(auto const& ctx) const noexcept {
    ++seen->route;
    if (fail) return status{code::unavailable, "backend_unavailable"};
    return reply{edgepipe::get<session>(ctx).user};
  }
};

}  // namespace sample
