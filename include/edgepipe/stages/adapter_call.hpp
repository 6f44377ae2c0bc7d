// Calling an adapter that may answer directly or through an awaitable.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <type_traits>

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

}  // namespace edgepipe::stages
