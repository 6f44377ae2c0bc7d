// edgepipe::result<T>: a value or the status that explains why there is none.
#pragma once

#include <edgepipe/status.hpp>

#include <cassert>
#include <memory>
#include <type_traits>
#include <utility>

namespace edgepipe {

// What a stage returns: the fact it established, or a failed status. A small
// std::expected (C++23) for C++20; it never throws and never allocates.
template <class T>
class [[nodiscard]] result {
  static_assert(std::is_object_v<T> && !std::is_array_v<T>,
                "edgepipe::result<T>: T must be a complete object type");

 public:
  using value_type = T;

  // No value yet: a failure, `unknown` · `empty_result`. Exists because Asio's
  // co_spawn default-constructs a coroutine's value type.
  constexpr result() noexcept : error_{edgepipe::code::unknown, "empty_result"} {}

  // A success. Implicit, so a stage can `return fact{...};`.
  template <class U = T>
    requires std::is_constructible_v<T, U&&> &&
             (!std::is_same_v<std::remove_cvref_t<U>, result>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, status>)
  constexpr result(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>)
      : has_value_{true} {
    std::construct_at(std::addressof(value_), std::forward<U>(value));
  }

  // A failure. Implicit, so a stage can `return status{code::..., "reason"};`.
  constexpr result(status failure) noexcept : error_{failure} {
    assert(!failure.ok() && "a failed result needs a non-ok status");
  }

  constexpr result(result const& other) requires std::is_copy_constructible_v<T>
      : error_{other.error_}, has_value_{other.has_value_} {
    if (has_value_) std::construct_at(std::addressof(value_), other.value_);
  }
  constexpr result(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : error_{other.error_}, has_value_{other.has_value_} {
    if (has_value_) std::construct_at(std::addressof(value_), std::move(other.value_));
  }
  constexpr result& operator=(result const& other) requires std::is_copy_constructible_v<T> {
    if (this != &other) reset_to(other);
    return *this;
  }
  constexpr result& operator=(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) reset_to(std::move(other));
    return *this;
  }

  constexpr ~result() {
    if (has_value_) std::destroy_at(std::addressof(value_));
  }

  [[nodiscard]] constexpr bool has_value() const noexcept { return has_value_; }
  constexpr explicit operator bool() const noexcept { return has_value_; }

  [[nodiscard]] constexpr T& operator*() & noexcept { return checked(); }
  [[nodiscard]] constexpr T const& operator*() const& noexcept { return checked(); }
  [[nodiscard]] constexpr T&& operator*() && noexcept { return std::move(checked()); }
  constexpr T* operator->() noexcept { return std::addressof(checked()); }
  constexpr T const* operator->() const noexcept { return std::addressof(checked()); }

  // The failure; `status{}` (ok) when there is a value.
  [[nodiscard]] constexpr status const& error() const noexcept { return error_; }

 private:
  template <class Other>
  constexpr void reset_to(Other&& other) {
    if (has_value_) std::destroy_at(std::addressof(value_));
    has_value_ = false;
    error_ = other.error_;
    if (other.has_value_) {
      std::construct_at(std::addressof(value_), std::forward<Other>(other).value_);
      has_value_ = true;
    }
  }

  constexpr T& checked() noexcept {
    assert(has_value_ && "edgepipe::result: no value; check has_value() first");
    return value_;
  }
  constexpr T const& checked() const noexcept {
    assert(has_value_ && "edgepipe::result: no value; check has_value() first");
    return value_;
  }

  union {
    T value_;
  };
  status error_{};
  bool has_value_{false};
};

}  // namespace edgepipe
