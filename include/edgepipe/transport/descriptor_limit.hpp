// Every connection is a descriptor: under the common soft limit of 1024 a thousand idle
// peers would leave none for the rest of the process. The hard limit is what the operator
// granted, so a server raises its soft limit to it at start-up.
#pragma once

#include <sys/resource.h>

#include <cerrno>

namespace edgepipe::transport {

struct descriptor_limit {
  rlim_t before = 0;  // the soft limit found
  rlim_t soft = 0;    // the soft limit now
  rlim_t hard = 0;
  enum class failure { none, getrlimit, setrlimit } failed = failure::none;
  int error = 0;  // errno of the failed call
};

inline descriptor_limit raise_descriptor_limit() noexcept {
  descriptor_limit out;
  ::rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.failed = descriptor_limit::failure::getrlimit;
    out.error = errno;
    return out;
  }
  out.before = out.soft = limit.rlim_cur;
  out.hard = limit.rlim_max;
  if (limit.rlim_cur != limit.rlim_max) {
    ::rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) out.soft = raised.rlim_cur;
    else {
      out.failed = descriptor_limit::failure::setrlimit;
      out.error = errno;
    }
  }
  return out;
}

}  // namespace edgepipe::transport
