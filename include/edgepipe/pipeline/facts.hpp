// Facts: the types a chain establishes about a request, one stage at a time.
#pragma once

#include <concepts>
#include <cstddef>
#include <type_traits>

namespace edgepipe {

// A list of fact types, as a stage's `requires_facts` or a chain's inputs.
// A fact is any object type that names one thing known about the request:
// the decoded envelope, the session, `signature_verified` (an empty tag)...
template <class... Facts>
struct facts {
  static constexpr std::size_t size = sizeof...(Facts);

  template <class F>
  static constexpr bool contains = (std::same_as<F, Facts> || ...);
};

namespace detail {
template <class T>
inline constexpr bool is_facts = false;
template <class... Fs>
inline constexpr bool is_facts<facts<Fs...>> = true;

template <class List, class F>
struct append_fact;
template <class... Fs, class F>
struct append_fact<facts<Fs...>, F> {
  using type = facts<Fs..., F>;
};
}  // namespace detail

// A type usable as a fact: an object type, stored by value, not cv-qualified.
template <class F>
concept fact = std::is_object_v<F> && !std::is_const_v<F> && !std::is_volatile_v<F> &&
               !std::is_array_v<F> && std::move_constructible<F> && std::destructible<F>;

}  // namespace edgepipe
