// Counts heap allocations in the benchmark binary (operator new is replaced in
// allocation_counter.cpp), so each benchmark can report allocations per operation.
#pragma once

#include <atomic>
#include <cstdint>

namespace bench {

inline std::atomic<std::uint64_t> allocations{0};

}  // namespace bench
