// The server's limits and policies, with the defaults the contract requires.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace edgepipe::transport {

struct server_options {
  std::size_t max_concurrent_streams = 100;   // per HTTP/2 connection, in the first SETTINGS
  std::size_t max_header_list_bytes = 16 * 1024;
  std::size_t max_header_fields = 100;
  std::size_t max_message_bytes = 4 * 1024 * 1024;  // also after decompression
  std::size_t http1_max_body_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds header_timeout{10'000};  // to complete request headers (slowloris)
  std::chrono::milliseconds idle_timeout{120'000};   // a connection with nothing in flight
  std::chrono::milliseconds stream_idle_timeout{300'000};  // a call with no bytes either way
  std::chrono::milliseconds write_stall_timeout{30'000};   // a peer that stops reading
  std::size_t stream_high_water_bytes = 256 * 1024;  // a writer suspends above this
  std::size_t connection_max_queued_bytes = 32 * 1024 * 1024;
  std::size_t compress_min_bytes = 1024;  // smaller responses are not worth gzip
  std::chrono::milliseconds drain_timeout{10'000};
  // Misbehaviour (invalid frames, resets, pings, settings) per connection before GOAWAY.
  std::size_t glitch_burst = 1000;
  double glitches_per_second = 100;
  std::vector<std::string> cors_origins;  // exact origins allowed to call from a browser
};

}  // namespace edgepipe::transport
