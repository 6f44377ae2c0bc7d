// The stage concept: what a type must declare to take part in a chain.
//
//   struct my_stage {
//     using stage_concept  = edgepipe::stage_tag;            // opt in
//     using requires_facts = edgepipe::facts<session>;       // what it reads
//     using provides_fact  = user_is_allowed;                // what it adds
//     static constexpr std::string_view name = "my_stage";   // for logs, metrics, spans
//     edgepipe::result<user_is_allowed> operator()(auto const& ctx) const noexcept;
//   };
//
// A synchronous stage returns `result<provides_fact>`; an asynchronous one returns an
// awaitable of it (`boost::asio::awaitable<result<provides_fact>>`). An around stage
// (`around_stage_tag`) is entered like a plain stage and additionally has
//   template <class Outcome>
//   void leave(auto const& ctx, provides_fact& mine, edgepipe::result<Outcome>& outcome) const noexcept;
// which the chain calls once the rest of the chain has finished, successfully or not:
// the place to record a metric, end a span, release a permit or rewrite the outcome.
#pragma once

#include <edgepipe/pipeline/facts.hpp>
#include <edgepipe/result.hpp>

#include <concepts>
#include <string_view>
#include <type_traits>

namespace edgepipe {

// Opt-in tags, as `using stage_concept = ...;`.
struct stage_tag {};
struct around_stage_tag {};

namespace detail {
template <class S>
concept has_stage_concept =
    requires { typename S::stage_concept; } &&
    (std::same_as<typename S::stage_concept, stage_tag> ||
     std::same_as<typename S::stage_concept, around_stage_tag>);

template <class S>
concept has_requires_facts =
    requires { typename S::requires_facts; } && is_facts<typename S::requires_facts>;

template <class S>
concept has_provides_fact = requires { typename S::provides_fact; } && fact<typename S::provides_fact>;

template <class S>
concept has_stage_name = requires {
  { S::name } -> std::convertible_to<std::string_view>;
};
}  // namespace detail

// The shape of a stage. Whether it may run where it stands in a chain (are the facts
// it requires established by then?) is checked by the chain.
template <class S>
concept stage = detail::has_stage_concept<S> && detail::has_requires_facts<S> &&
                detail::has_provides_fact<S> && detail::has_stage_name<S> &&
                std::move_constructible<S>;

template <class S>
concept around_stage = stage<S> && std::same_as<typename S::stage_concept, around_stage_tag>;

// Instantiated by the chain for each stage: one readable error per missing piece,
// instead of a wall of unsatisfied-constraint notes.
template <class S>
struct check_stage {
  static_assert(detail::has_stage_concept<S>,
                "edgepipe: this type is not a stage. Fix: declare "
                "`using stage_concept = edgepipe::stage_tag;` (or edgepipe::around_stage_tag).");
  static_assert(detail::has_requires_facts<S>,
                "edgepipe: stage lacks `using requires_facts = edgepipe::facts<...>;` "
                "(write edgepipe::facts<> when it needs none).");
  static_assert(detail::has_provides_fact<S>,
                "edgepipe: stage lacks `using provides_fact = F;` where F is a "
                "non-const object type (an empty struct works as a tag).");
  static_assert(detail::has_stage_name<S>,
                "edgepipe: stage lacks `static constexpr std::string_view name = \"...\";`.");
  static_assert(std::move_constructible<S>, "edgepipe: a stage must be move constructible.");
  static constexpr bool value = stage<S>;
};

// --- what a stage returns ----------------------------------------------------------

template <class R>
inline constexpr bool is_result = false;
template <class T>
inline constexpr bool is_result<result<T>> = true;

// An awaitable of a result: any class template whose first argument is result<F>
// (boost::asio::awaitable<result<F>, Executor> in practice). Detecting the shape
// keeps the core free of Asio; the chain rebinds the same template for its own
// coroutine, so an async chain returns the awaitable type its stages use.
template <class R>
struct async_traits {
  static constexpr bool is_async = false;
};
template <template <class...> class Awaitable, class T, class... Rest>
struct async_traits<Awaitable<result<T>, Rest...>> {
  static constexpr bool is_async = true;
  using value_type = T;
  template <class U>
  using rebind = Awaitable<result<U>, Rest...>;
};

}  // namespace edgepipe
