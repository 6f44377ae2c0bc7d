// Calling an adapter that may answer directly or through an awaitable, with one code path
// in the stage for both:
//
//   if (bad) return adapter_failure<call_type, result<F>>(some_status);
//   return call_adapter([...] { return adapter->ask(...); }, [...](answer a) { return decide(a); });
//
// A synchronous adapter makes this a direct call (no coroutine frame); an asynchronous one
// makes the stage return an awaitable on the adapter's executor, which the chain awaits.
#pragma once

#include <edgepipe/status.hpp>

#include <boost/asio/awaitable.hpp>

#include <type_traits>
#include <utility>

namespace edgepipe::stages {

template <class T>
inline constexpr bool is_asio_awaitable = false;
template <class T, class Executor>
inline constexpr bool is_asio_awaitable<boost::asio::awaitable<T, Executor>> = true;

// The answer an adapter call yields, whether it returns it or an awaitable of it.
template <class Call>
struct adapter_answer {
  using type = Call;
};
template <class T, class Executor>
struct adapter_answer<boost::asio::awaitable<T, Executor>> {
  using type = T;
};
template <class Call>
using adapter_answer_t = typename adapter_answer<Call>::type;

// What a stage returns when it turns an adapter call of type Call into a Result: Result
// itself, or an awaitable of it on the adapter's executor.
template <class Call, class Result>
struct adapter_result {
  using type = Result;
};
template <class T, class Executor, class Result>
struct adapter_result<boost::asio::awaitable<T, Executor>, Result> {
  using type = boost::asio::awaitable<Result, Executor>;
};
template <class Call, class Result>
using adapter_result_t = typename adapter_result<Call, Result>::type;

// The decision of a stage that hands the adapter's answer on as it is.
struct pass_answer {
  template <class Answer>
  Answer operator()(Answer answer) const noexcept(std::is_nothrow_move_constructible_v<Answer>) {
    return answer;
  }
};

namespace detail {
// g++ 12 reports Asio's coroutine frame operator new/delete as mismatched (a false
// positive; they are a matching pair).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// The frame owns make_call and decide, so what they captured by value (a key built on the
// stage's stack) outlives the stage's return and stays valid while the adapter runs.
// Named variables throughout: g++ 12 mishandles temporaries in co_await and co_return.
template <class Result, class Executor, class MakeCall, class Decide>
boost::asio::awaitable<Result, Executor> await_adapter(MakeCall make_call, Decide decide) {
  auto call = make_call();
  auto answer = co_await std::move(call);
  Result decided = decide(std::move(answer));
  co_return decided;
}

template <class Result, class Executor>
boost::asio::awaitable<Result, Executor> ready_failure(status failure) {
  Result decided = failure;
  co_return decided;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}  // namespace detail

// `decide(make_call())` when make_call() returns the answer, calling both in place;
// otherwise an awaitable that makes the call, awaits it and decides, its frame owning both
// callables. make_call must own (by value) what lives on the stage's stack, and refer only
// to what outlives the run (the context's facts). Not noexcept itself: the calling
// stage's own noexcept says what a throwing adapter means.
template <class MakeCall, class Decide = pass_answer>
auto call_adapter(MakeCall&& make_call, Decide&& decide = {}) {
  using call = decltype(make_call());
  if constexpr (is_asio_awaitable<call>) {
    using answer = adapter_answer_t<call>;
    using result_type = std::remove_cvref_t<decltype(decide(std::declval<answer>()))>;
    return detail::await_adapter<result_type, typename call::executor_type, std::decay_t<MakeCall>,
                                 std::decay_t<Decide>>(std::forward<MakeCall>(make_call), std::forward<Decide>(decide));
  } else if constexpr (std::is_same_v<std::remove_cvref_t<Decide>, pass_answer>) {
    return make_call();  // no copy of the answer on the direct path
  } else {
    return decide(make_call());
  }
}

// A stage's failure before any adapter call, of the type call_adapter would return for a
// call of type Call decided into Result: so the early exit and the call share one path.
template <class Call, class Result>
adapter_result_t<Call, Result> adapter_failure(status failure) noexcept {
  if constexpr (is_asio_awaitable<Call>) return detail::ready_failure<Result, typename Call::executor_type>(failure);
  else return failure;
}

}  // namespace edgepipe::stages
