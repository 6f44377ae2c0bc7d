// Where the kit's long-lived parts (the push client, the exporters) report a change of
// state: a function the program routes to its own logger. Never called per request.
#pragma once

#include <functional>
#include <string_view>

namespace edgepipe::kit {

enum class log_level { debug, info, warning, error };

using log_function = std::function<void(log_level, std::string_view message)>;

}  // namespace edgepipe::kit
