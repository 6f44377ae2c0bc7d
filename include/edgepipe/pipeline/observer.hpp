// Observers: hooks the chain calls around every stage, for tracing and metrics.
#pragma once

#include <edgepipe/status.hpp>

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

}  // namespace edgepipe
