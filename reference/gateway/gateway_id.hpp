// The name this process goes by among the gateways that share a backend and a Redis.
#pragma once

#include <unistd.h>

#include <string>

namespace edgepipe::reference {

// Host name and pid.
inline std::string const& gateway_id() {
  static std::string const id = [] {
    char host[256] = "gateway";
    ::gethostname(host, sizeof host - 1);
    return std::string{host} + "-" + std::to_string(::getpid());
  }();
  return id;
}

}  // namespace edgepipe::reference
