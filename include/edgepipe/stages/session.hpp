// Stage 2, session: who is calling, according to the session source (the backend).
#pragma once

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/stages/adapter_call.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <concepts>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::stages {

// What a session source reports. The source only says what happened; the stage decides
// what it means for the request, so every adapter maps answers the same way.
struct session_answer {
  enum class outcome {
    found,        // the backend answered 200 with a parseable body
    not_found,    // the backend answered 404
    unreachable,  // connection failure, timeout, 5xx
    malformed,    // a 200 whose body is not the expected JSON
  };
  outcome kind = outcome::unreachable;
  std::string device_session_id;  // as the backend echoed it
  std::string user_id;
  std::string status;      // "active" or "revoked"
  std::string public_key;  // base64 of 32 raw bytes
};

// Looks a device session up: `find(id)` returns a session_answer, or an
// awaitable<session_answer> when it does I/O (then the stage suspends).
template <class S>
concept session_source = requires(S& source, std::string_view device_session_id) {
  requires std::same_as<adapter_answer_t<decltype(source.find(device_session_id))>, session_answer>;
};

namespace session_failures {
inline constexpr status not_found{code::unauthenticated, "session_not_found"};
inline constexpr status revoked{code::unauthenticated, "session_revoked"};
inline constexpr status unreachable{code::unavailable, "backend_unavailable"};
inline constexpr status bad_response{code::internal, "backend_bad_response"};
}  // namespace session_failures

// A user id names the caller to the backend in a header of every command: 1..128 bytes of
// printable ASCII without spaces, so no session record can add a header or a request.
constexpr bool valid_user_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (c < 0x21 || c > 0x7E) return false;
  return true;
}

// What a session answer means for the request: the record must be for the session asked
// about, with a valid user id, status and key.
inline result<session> decide_session(std::string_view requested, session_answer const& answer) {
  using o = session_answer::outcome;
  switch (answer.kind) {
    case o::not_found: return session_failures::not_found;
    case o::unreachable: return session_failures::unreachable;
    case o::malformed: return session_failures::bad_response;
    case o::found: break;
  }
  if (answer.device_session_id != requested || !valid_user_id(answer.user_id)) return session_failures::bad_response;
  if (answer.status == "revoked") return session_failures::revoked;
  if (answer.status != "active") return session_failures::bad_response;
  session s{answer.user_id, {}};
  if (!crypto::from_base64(answer.public_key, s.public_key)) return session_failures::bad_response;
  return s;
}

// Requires envelope; adds session. Unknown: unauthenticated · session_not_found; revoked:
// unauthenticated · session_revoked; unreachable: unavailable · backend_unavailable;
// malformed: internal · backend_bad_response.
template <session_source Source>
struct session_stage {
  using stage_concept = stage_tag;
  using requires_facts = facts<envelope>;
  using provides_fact = session;
  static constexpr std::string_view name = "session";

  Source* source;

  using call_type = decltype(std::declval<Source&>().find(std::string_view{}));

  // A source may take the request's traceparent too, to trace its own I/O.
  static auto with_trace(Source& s, std::string_view traceparent, std::string_view id) {
    if constexpr (requires { s.find(id, traceparent); }) return s.find(id, traceparent);
    else return s.find(id);
  }

  // The envelope lives in the chain's storage for the whole run, so both steps may refer to it.
  adapter_result_t<call_type, result<session>> operator()(auto const& ctx) const noexcept {
    auto const& e = get<envelope>(ctx);
    return call_adapter([source = source, &e] { return with_trace(*source, e.traceparent, e.device_session_id); },
                        [&e](session_answer const& answer) { return decide_session(e.device_session_id, answer); });
  }
};

}  // namespace edgepipe::stages
