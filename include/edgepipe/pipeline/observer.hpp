// Observers: hooks the chain calls around every stage, for tracing and metrics.
#pragma once

#include <edgepipe/status.hpp>

#include <cstddef>
#include <tuple>
#include <utility>

namespace edgepipe {

// An observer is any type with
//   Token stage_started(Stage const&) noexcept;
//   void  stage_finished(Stage const&, Token, status const& outcome) noexcept;
// for every stage type of the chain. The chain creates no spans or timers itself:
// the observer decides what a stage costs to watch, so users' own stages get the
// same spans and metrics as ours without writing anything.
//
// null_observer watches nothing: with it every hook inlines to nothing, so a chain
// run without an observer reads no clock and allocates nothing.
struct null_observer {
  struct token {};
  template <class Stage>
  constexpr token stage_started(Stage const&) noexcept {
    return {};
  }
  template <class Stage>
  constexpr void stage_finished(Stage const&, token, status const&) noexcept {}
};

// Several observers as one (metrics and tracing, say): each sees every hook, in order.
template <class... Observers>
struct observers {
  std::tuple<Observers&...> each;

  explicit observers(Observers&... o) noexcept : each{o...} {}

  template <class Stage>
  auto stage_started(Stage const& s) noexcept {
    return std::apply([&](auto&... o) { return std::tuple{o.stage_started(s)...}; }, each);
  }

  template <class Stage, class Token>
  void stage_finished(Stage const& s, Token t, status const& outcome) noexcept {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(each).stage_finished(s, std::move(std::get<I>(t)), outcome), ...);
    }(std::index_sequence_for<Observers...>{});
  }
};

}  // namespace edgepipe
