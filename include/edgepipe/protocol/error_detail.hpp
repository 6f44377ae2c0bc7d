// Error details: google.protobuf.Any values attached to a failed call.
#pragma once

#include <string>
#include <vector>

namespace edgepipe::protocol {

struct error_detail {
  std::string type_url;  // "type.googleapis.com/pkg.Message"
  std::string value;     // the serialized message
};

using error_details = std::vector<error_detail>;

}  // namespace edgepipe::protocol
