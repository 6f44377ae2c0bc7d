// Compile-time checks of a chain's order, and the diagnostics they report.
#pragma once

#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/stage.hpp>

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

}  // namespace detail
}  // namespace edgepipe
