// Compile-time checks of a chain's order, and the diagnostics they report.
#pragma once

#include <edgepipe/pipeline/context.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>

#include <optional>
#include <tuple>
#include <type_traits>

namespace edgepipe {

// The errors a mis-composed chain produces. Each is a type whose name reads as a
// sentence and whose template arguments name the culprit, so the compiler's
// "in instantiation of ..." line says what is wrong and where.
namespace diagnostics {
template <class...>
inline constexpr bool always_false = false;

template <class Stage, class MissingFact>
struct stage_requires_a_fact_that_no_earlier_stage_provides {
  static_assert(always_false<Stage, MissingFact>,
                "edgepipe::make_chain: a stage requires a fact that no earlier stage "
                "provides; the stage and the missing fact are the template arguments "
                "above. Fix: move the stage that provides the fact before this one, or "
                "pass the fact as an input: make_chain<Fact>(...).");
};

template <class Stage, class Fact>
struct two_stages_provide_the_same_fact {
  static_assert(always_false<Stage, Fact>,
                "edgepipe::make_chain: this stage provides a fact that an input or an "
                "earlier stage already provides. Fix: give each fact its own type.");
};

template <class Stage>
struct a_chain_must_end_in_a_plain_stage {
  static_assert(always_false<Stage>,
                "edgepipe::make_chain: the last stage is an around stage, which has no "
                "rest of the chain to wrap. Fix: end the chain with a plain stage that "
                "produces the outcome.");
};

// Returned: what the stage's operator() returns; Expected: result<provides_fact> (an
// asynchronous stage returns an awaitable of that).
template <class Stage, class Returned, class Expected>
struct stage_returns_the_wrong_type {
  static_assert(always_false<Stage, Returned, Expected>,
                "edgepipe::make_chain: a stage returns the wrong type; the template "
                "arguments above are the stage, what it returns and what it must return. "
                "Fix: return edgepipe::result<provides_fact>, or an awaitable of it "
                "(boost::asio::awaitable<edgepipe::result<provides_fact>>).");
};

template <class Stage>
struct stage_call_operator_must_be_const {
  static_assert(always_false<Stage>,
                "edgepipe::make_chain: the stage's operator() is not const; the chain "
                "calls its stages through a const reference. Fix: declare it "
                "`operator()(auto const& ctx) const noexcept`; keep mutable state behind "
                "a pointer or reference member.");
};

template <class Stage, class Context>
struct stage_cannot_be_called_with_its_context {
  static_assert(always_false<Stage, Context>,
                "edgepipe::make_chain: a stage cannot be called with its context (the "
                "second template argument above). Fix: give it "
                "`operator()(auto const& ctx) const noexcept`, taking the context as a "
                "template (auto) parameter.");
};

struct a_chain_needs_at_least_one_stage {};
}  // namespace diagnostics

namespace detail {

struct no_problem {};

template <class Known, class Required>
struct first_missing {
  using type = void;
};
template <class Known, class F, class... Fs>
struct first_missing<Known, facts<F, Fs...>> {
  using type = std::conditional_t<Known::template contains<F>,
                                  typename first_missing<Known, facts<Fs...>>::type, F>;
};

// Walks the stages in order with the facts known so far; the first problem wins.
template <class Known, class... Stages>
struct find_order_problem {
  using type = no_problem;
};
template <class Known, class S>
struct find_order_problem<Known, S> {
  using missing = typename first_missing<Known, typename S::requires_facts>::type;
  using type = std::conditional_t<
      !std::is_void_v<missing>,
      diagnostics::stage_requires_a_fact_that_no_earlier_stage_provides<S, missing>,
      std::conditional_t<Known::template contains<typename S::provides_fact>,
                         diagnostics::two_stages_provide_the_same_fact<S, typename S::provides_fact>,
                         std::conditional_t<around_stage<S>,
                                            diagnostics::a_chain_must_end_in_a_plain_stage<S>,
                                            no_problem>>>;
};
template <class Known, class S, class Next, class... Rest>
struct find_order_problem<Known, S, Next, Rest...> {
  using missing = typename first_missing<Known, typename S::requires_facts>::type;
  using provided = typename S::provides_fact;
  using type = typename std::conditional_t<
      !std::is_void_v<missing>,
      std::type_identity<
          diagnostics::stage_requires_a_fact_that_no_earlier_stage_provides<S, missing>>,
      std::conditional_t<
          Known::template contains<provided>,
          std::type_identity<diagnostics::two_stages_provide_the_same_fact<S, provided>>,
          find_order_problem<typename append_fact<Known, provided>::type, Next, Rest...>>>::
      type;
};

template <class Inputs, class... Stages>
using order_problem = typename find_order_problem<Inputs, Stages...>::type;

// Where a chain keeps its facts: one slot per input and per stage's fact.
template <class Inputs, class... Stages>
struct chain_storage;
template <class... Inputs, class... Stages>
struct chain_storage<facts<Inputs...>, Stages...> {
  using type = std::tuple<std::optional<Inputs>..., std::optional<typename Stages::provides_fact>...>;
};

template <class R, class F>
constexpr bool returns_fact() {
  if constexpr (std::is_same_v<R, result<F>>) return true;
  else if constexpr (async_traits<R>::is_async) return std::is_same_v<typename async_traits<R>::value_type, F>;
  else return false;
}

// What is wrong with calling stage S on its context, if anything.
template <class Storage, class S, class Context = context<Storage, typename S::requires_facts>>
struct find_call_problem_of {
  static auto pick() {
    if constexpr (std::is_invocable_v<S const&, Context const&>) {
      using R = std::invoke_result_t<S const&, Context const&>;
      if constexpr (returns_fact<R, typename S::provides_fact>()) return no_problem{};
      else return std::type_identity<diagnostics::stage_returns_the_wrong_type<S, R, result<typename S::provides_fact>>>{};
    } else if constexpr (std::is_invocable_v<S&, Context const&>) {
      return std::type_identity<diagnostics::stage_call_operator_must_be_const<S>>{};
    } else {
      return std::type_identity<diagnostics::stage_cannot_be_called_with_its_context<S, Context>>{};
    }
  }
  using picked = decltype(pick());
  using type = typename std::conditional_t<std::is_same_v<picked, no_problem>, std::type_identity<no_problem>, picked>::type;
};

// The first stage, in order, that cannot be called or returns the wrong type.
template <class Storage, class... Stages>
struct find_call_problem {
  using type = no_problem;
};
template <class Storage, class S, class... Rest>
struct find_call_problem<Storage, S, Rest...> {
  using mine = typename find_call_problem_of<Storage, S>::type;
  using type = typename std::conditional_t<std::is_same_v<mine, no_problem>, find_call_problem<Storage, Rest...>,
                                           std::type_identity<mine>>::type;
};

template <class Inputs, class... Stages>
using call_problem = typename find_call_problem<typename chain_storage<Inputs, Stages...>::type, Stages...>::type;

}  // namespace detail
}  // namespace edgepipe
