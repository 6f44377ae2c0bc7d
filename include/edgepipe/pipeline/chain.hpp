// edgepipe::chain: stages composed at compile time into one typed pipeline.
//
//   auto verify = edgepipe::make_chain<raw_request>(envelope{}, session{src}, signature{});
//   edgepipe::result<verified> r = verify.run(raw_request{bytes});          // all sync
//   auto r = co_await verify.run(raw_request{bytes});                       // any async
//
// make_chain checks, at compile time, that every stage's `requires_facts` are inputs
// or provided by an earlier stage, and reports the first stage that breaks this by
// name, with the fact it lacks. Running calls each stage in order; the first failure
// ends the run with its status and no later stage runs. Around stages that were
// entered are left, innermost first, with the outcome.
//
// Cost: synchronous stages are direct calls on a context that lives on the caller's
// stack; no allocation, type erasure or virtual call. A chain with asynchronous stages
// returns their awaitable type and adds one coroutine frame per asynchronous stage;
// the synchronous stages around them still run inline.
#pragma once

#include <edgepipe/pipeline/context.hpp>
#include <edgepipe/pipeline/detail/chain_check.hpp>
#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/pipeline/observer.hpp>
#include <edgepipe/pipeline/stage.hpp>
#include <edgepipe/result.hpp>
#include <edgepipe/status.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace edgepipe {

namespace detail {
// Stateless, so one instance serves every run, including awaitable runs that outlive
// the call to run().
inline null_observer no_observer;
}  // namespace detail

template <class Inputs, class... Stages>
class chain;

template <class... Inputs, class... Stages>
class chain<facts<Inputs...>, Stages...> {
  static_assert(sizeof...(Stages) > 0, "edgepipe::make_chain: a chain needs at least one stage");
  static_assert((stage<Stages> && ...), "edgepipe::chain: every argument must be a stage");
  static_assert(std::is_same_v<detail::order_problem<facts<Inputs...>, Stages...>, detail::no_problem>,
                "edgepipe::chain: stages out of order; build chains with make_chain for "
                "a diagnostic that names the stage and the missing fact");
  static_assert(std::is_same_v<detail::call_problem<facts<Inputs...>, Stages...>, detail::no_problem>,
                "edgepipe::chain: a stage cannot be called, or returns the wrong type; build "
                "chains with make_chain for a diagnostic that names the stage and the types");

  static constexpr std::size_t last = sizeof...(Stages) - 1;

  template <std::size_t I>
  using stage_at = std::tuple_element_t<I, std::tuple<Stages...>>;

  // One slot per input and per stage's fact, on the stack of whoever runs the chain.
  using storage = typename detail::chain_storage<facts<Inputs...>, Stages...>::type;

  template <std::size_t I>
  using context_for = context<storage, typename stage_at<I>::requires_facts>;

  template <std::size_t I>
  using call_result = std::invoke_result_t<stage_at<I> const&, context_for<I> const&>;

  static constexpr std::array<bool, sizeof...(Stages)> async_at = [] {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<bool, sizeof...(Stages)>{async_traits<call_result<I>>::is_async...};
    }(std::index_sequence_for<Stages...>{});
  }();

  // The first asynchronous stage at or after `from`; size() when there is none.
  static constexpr std::size_t next_async(std::size_t from) noexcept {
    for (std::size_t i = from; i < async_at.size(); ++i)
      if (async_at[i]) return i;
    return async_at.size();
  }

 public:
  // The fact the last stage provides: what a successful run hands back.
  using outcome_type = typename stage_at<last>::provides_fact;
  static constexpr bool is_async = next_async(0) < sizeof...(Stages);

 private:
  // Named lazily: only an async chain has a first async stage to take the type from.
  template <std::size_t FirstAsync>
  struct awaitable_of_outcome {
    using type = typename async_traits<call_result<FirstAsync>>::template rebind<outcome_type>;
  };

 public:
  // result<outcome_type> for a synchronous chain; the stages' awaitable of it otherwise.
  using run_type = typename std::conditional_t<is_async, awaitable_of_outcome<next_async(0)>,
                                               std::type_identity<result<outcome_type>>>::type;

  static constexpr std::size_t size() noexcept { return sizeof...(Stages); }
  static constexpr std::array<std::string_view, sizeof...(Stages)> stage_names() noexcept {
    return {std::string_view{Stages::name}...};
  }

  constexpr explicit chain(Stages... stages) noexcept(
      (std::is_nothrow_move_constructible_v<Stages> && ...))
      : stages_{std::move(stages)...} {}

  template <std::size_t I>
  [[nodiscard]] constexpr stage_at<I> const& get() const noexcept {
    return std::get<I>(stages_);
  }

  // Runs the chain on its inputs.
  run_type run(Inputs... inputs) const {
    return run_observed(detail::no_observer, std::move(inputs)...);
  }

  // Runs the chain, telling `observer` when each stage starts and how it finished.
  // The observer must outlive the run (an awaitable run included).
  template <class Observer>
    requires(!is_async)
  result<outcome_type> run_observed(Observer& observer, Inputs... inputs) const {
    storage facts;
    put_inputs(facts, std::move(inputs)...);
    std::size_t entered = 0;
    result<outcome_type> outcome = run_sync_from<0>(facts, observer, entered);
    leave_entered(facts, entered, outcome);
    return outcome;
  }

  template <class Observer>
    requires is_async
  run_type run_observed(Observer& observer, Inputs... inputs) const {
    // Not a coroutine itself: the facts move into the first segment's frame.
    std::optional<storage> facts{std::in_place};
    put_inputs(*facts, std::move(inputs)...);
    return run_async_from<0>(std::move(facts), observer);
  }

 private:
  static void put_inputs(storage& facts, Inputs&&... inputs) {
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (std::get<K>(facts).emplace(std::move(inputs)), ...);
    }(std::index_sequence_for<Inputs...>{});
  }

  // --- one stage ---------------------------------------------------------------------

  template <std::size_t I, class Observer>
  status run_sync_stage(storage& facts, Observer& observer) const {
    auto const& s = std::get<I>(stages_);
    auto token = observer.stage_started(s);
    result<typename stage_at<I>::provides_fact> r = std::invoke(s, context_for<I>{facts});
    observer.stage_finished(s, std::move(token), r.error());
    if (!r) return r.error();
    std::get<sizeof...(Inputs) + I>(facts).emplace(*std::move(r));
    return {};
  }

  // Stages [First, Last) are synchronous; runs them in order, stops at the first failure.
  template <std::size_t First, std::size_t Last, class Observer>
  status run_sync_range(storage& facts, Observer& observer, std::size_t& entered) const {
    status failure;
    auto step = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
      failure = run_sync_stage<I>(facts, observer);
      if (!failure.ok()) return false;
      entered = I + 1;
      return true;
    };
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (void)(step(std::integral_constant<std::size_t, First + K>{}) && ...);  // stops at a failure
    }(std::make_index_sequence<Last - First>{});
    return failure;
  }

  // The rest of a chain whose remaining stages are all synchronous.
  template <std::size_t I, class Observer>
  result<outcome_type> run_sync_from(storage& facts, Observer& observer, std::size_t& entered) const {
    if (status failure = run_sync_range<I, last>(facts, observer, entered); !failure.ok())
      return failure;
    auto const& s = std::get<last>(stages_);
    auto token = observer.stage_started(s);
    result<outcome_type> outcome = std::invoke(s, context_for<last>{facts});
    observer.stage_finished(s, std::move(token), outcome.error());
    return outcome;
  }

// g++ 12 reports Asio's coroutine frame operator new/delete as mismatched (a false
// positive; they are a matching pair); keep users' -Wall builds quiet.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
  // From stage I on at least one stage is asynchronous: run the synchronous ones up to
  // it inline, await it, then continue (awaiting the next asynchronous segment, if any).
  // The outermost segment owns the storage and leaves the around stages at the end.
  template <std::size_t I, class Observer>
  run_type run_async_from(std::optional<storage> owned, Observer& observer,
                          storage* shared = nullptr, std::size_t* shared_entered = nullptr) const {
    constexpr std::size_t A = next_async(I);
    storage& facts = shared ? *shared : *owned;
    std::size_t local_entered = 0;
    std::size_t& entered = shared_entered ? *shared_entered : local_entered;

    result<outcome_type> outcome = status{code::internal, "chain_not_run"};
    if (status failure = run_sync_range<I, A>(facts, observer, entered); !failure.ok()) {
      outcome = failure;
    } else {
      auto const& s = std::get<A>(stages_);
      auto token = observer.stage_started(s);
      result<typename stage_at<A>::provides_fact> r = co_await std::invoke(s, context_for<A>{facts});
      observer.stage_finished(s, std::move(token), r.error());
      if (!r) {
        outcome = r.error();
      } else if constexpr (A == last) {
        outcome = std::move(r);
      } else {
        std::get<sizeof...(Inputs) + A>(facts).emplace(*std::move(r));
        entered = A + 1;
        if constexpr (next_async(A + 1) < sizeof...(Stages))
          outcome = co_await run_async_from<A + 1>(std::nullopt, observer, &facts, &entered);
        else
          outcome = run_sync_from<A + 1>(facts, observer, entered);
      }
    }
    if (!shared) leave_entered(facts, entered, outcome);
    co_return outcome;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  // Around stages that were entered see the outcome, innermost first.
  void leave_entered(storage& facts, std::size_t entered, result<outcome_type>& outcome) const {
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (leave_one<last - 1 - K>(facts, entered, outcome), ...);
    }(std::make_index_sequence<last>{});
  }

  template <std::size_t I>
  void leave_one(storage& facts, std::size_t entered, result<outcome_type>& outcome) const {
    if constexpr (around_stage<stage_at<I>>) {
      if (I < entered)
        std::get<I>(stages_).leave(context_for<I>{facts}, *std::get<sizeof...(Inputs) + I>(facts),
                                   outcome);
    }
  }

  std::tuple<Stages...> stages_;
};

// Composes stages into a chain whose inputs are `Inputs...`, checking the order at
// compile time. The first error names the stage and what it lacks.
template <class... Inputs, class... Stages>
constexpr auto make_chain(Stages... stages) {
  if constexpr (sizeof...(Stages) == 0) {
    return diagnostics::a_chain_needs_at_least_one_stage{};
  } else if constexpr (!(check_stage<Stages>::value && ...)) {
    return diagnostics::always_false<Stages...>;  // check_stage has said what is missing
  } else {
    using problem = detail::order_problem<facts<Inputs...>, Stages...>;
    if constexpr (!std::is_same_v<problem, detail::no_problem>) {
      return problem{};  // instantiating the diagnostic reports it
    } else if constexpr (!std::is_same_v<detail::call_problem<facts<Inputs...>, Stages...>, detail::no_problem>) {
      return detail::call_problem<facts<Inputs...>, Stages...>{};
    } else {
      return chain<facts<Inputs...>, Stages...>{std::move(stages)...};
    }
  }
}

}  // namespace edgepipe
