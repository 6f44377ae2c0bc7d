// The server's limits and policies, with the defaults docs/wire-protocol.md gives.
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
  // An HTTP/1.1 request body (413 past it), and a plain route's body on either version.
  std::size_t http1_max_body_bytes = 16 * 1024 * 1024;
  // To complete request headers (slowloris); also the longest an HTTP/1.1 request body
  // may go without a byte.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{120'000};   // a connection with nothing in flight
  // HTTP/1.1: how long a kept-alive connection may wait for its next request (within
  // header_timeout), announced as `Keep-Alive: timeout=N` on each answer that keeps it.
  // 0: nothing is announced and header_timeout alone bounds the wait.
  std::chrono::seconds keep_alive_timeout{0};
  std::chrono::milliseconds write_stall_timeout{30'000};   // a peer that stops reading the socket
  // Liveness of a quiet connection, instead of any limit on how long a stream may be
  // quiet: an HTTP/2 connection with open streams gets a PING at least this often and
  // is closed when its ACK has not come `ping_ack_timeout` after the PING went out.
  // Accepted sockets use TCP keep-alive on the same schedule (HTTP/1.1 has no PING).
  std::chrono::milliseconds ping_interval{60'000};
  std::chrono::milliseconds ping_ack_timeout{20'000};
  // An HTTP/2 connection whose response bytes wait this long without any DATA going out
  // (the peer gives no stream or connection window) is closed, and its calls cancelled.
  std::chrono::milliseconds flow_control_stall_timeout{30'000};
  std::size_t stream_high_water_bytes = 256 * 1024;  // a writer suspends above this
  // A call arriving while more response bytes than this wait on its HTTP/2 connection
  // (all its streams together) is refused with resource_exhausted · connection_backlog
  // before its handler runs. Calls already admitted still queue their answers whole.
  std::size_t connection_backlog_bytes = 16 * 1024 * 1024;
  std::size_t compress_min_bytes = 1024;  // smaller responses are not worth gzip
  std::chrono::milliseconds drain_timeout{10'000};
  // Misbehaviour (invalid frames, resets, pings, settings) per connection before GOAWAY.
  std::size_t glitch_burst = 1000;
  double glitches_per_second = 100;
  std::vector<std::string> cors_origins;  // exact origins allowed to call from a browser
};

}  // namespace edgepipe::transport
