// The context a stage sees: read access to exactly the facts it declared.
#pragma once

#include <edgepipe/pipeline/facts.hpp>

#include <optional>
#include <tuple>

namespace edgepipe {

// A view of the chain's fact storage that lets a stage read the facts listed in its
// `requires_facts`, and nothing else, so a stage's declaration cannot lie about what
// it reads. Cheap to copy (one pointer); valid while the chain runs.
template <class Storage, class Visible>
class context;

template <class Storage, class... Visible>
class context<Storage, facts<Visible...>> {
 public:
  using visible_facts = facts<Visible...>;

  constexpr explicit context(Storage& storage) noexcept : storage_{&storage} {}

  template <class F>
  [[nodiscard]] constexpr F const& get() const noexcept {
    static_assert(visible_facts::template contains<F>,
                  "edgepipe: this stage reads a fact it did not declare. "
                  "Fix: add the fact to the stage's `requires_facts`.");
    return *std::get<std::optional<F>>(*storage_);
  }

 private:
  Storage* storage_;
};

// `edgepipe::get<session>(ctx)`: the same as `ctx.template get<session>()`, without the
// `template` keyword that generic stage code would otherwise need.
template <class F, class Storage, class Visible>
[[nodiscard]] constexpr F const& get(context<Storage, Visible> const& ctx) noexcept {
  return ctx.template get<F>();
}

}  // namespace edgepipe
