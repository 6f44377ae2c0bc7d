// A router with one procedure of each RPC kind (google.protobuf.StringValue messages,
// so no generated code), and a driver that serves one fuzz input through a connection
// over a memory_stream and checks that it ends cleanly.
#pragma once

#include "fuzz_check.hpp"
#include "memory_stream.hpp"

#include <edgepipe/transport/detail/dispatch.hpp>
#include <edgepipe/transport/router.hpp>
#include <edgepipe/transport/server_options.hpp>

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/wrappers.pb.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace fuzz_transport {

using text = google::protobuf::StringValue;
using boost::asio::awaitable;
namespace et = edgepipe::transport;

// Handlers that have started and not yet returned: zero once a connection has ended.
inline int live_handlers = 0;
inline int started_handlers = 0;

struct handler_scope {
  handler_scope() {
    ++live_handlers;
    ++started_handlers;
  }
  ~handler_scope() { --live_handlers; }
  handler_scope(handler_scope const&) = delete;
  handler_scope& operator=(handler_scope const&) = delete;
};

inline et::router const& routes() {
  static et::router const r = [] {
    google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in a string field is logged per call
    et::router r;
    r.unary<text, text>(
        "/fuzz.v1.Fuzz/Echo",
        [](text const& in, et::call_context& ctx) -> awaitable<edgepipe::result<text>> {
          handler_scope live;
          if (in.value() == "fail") {
            ctx.add_trailer("x-fuzz", "failed");
            co_return edgepipe::status{edgepipe::code::failed_precondition, "fuzz_failure", "asked to fail"};
          }
          co_return in;
        },
        et::procedure_options{.idempotent = true});
    r.server_streaming<text, text>(
        "/fuzz.v1.Fuzz/Repeat",
        [](text const& in, et::message_writer<text>& out, et::call_context&) -> awaitable<edgepipe::status> {
          handler_scope live;
          out.send_headers();
          for (int i = 0; i < 3; ++i)
            if (auto s = co_await out.write(in); !s.ok()) co_return s;
          co_return edgepipe::status{};
        });
    r.client_streaming<text, text>(
        "/fuzz.v1.Fuzz/Collect",
        [](et::message_reader<text>& in, et::call_context&) -> awaitable<edgepipe::result<text>> {
          handler_scope live;
          text all;
          for (;;) {
            auto next = co_await in.read();
            if (!next) co_return next.error();
            if (!*next) co_return all;
            all.mutable_value()->append((*next)->value());
          }
        });
    r.bidi_streaming<text, text>(
        "/fuzz.v1.Fuzz/Chat",
        [](et::message_reader<text>& in, et::message_writer<text>& out, et::call_context&)
            -> awaitable<edgepipe::status> {
          handler_scope live;
          for (;;) {
            auto next = co_await in.read();
            if (!next) co_return next.error();
            if (!*next) co_return edgepipe::status{};
            if (auto s = co_await out.write(**next); !s.ok()) co_return s;
          }
        });
    return r;
  }();
  return r;
}

inline std::shared_ptr<et::detail::server_state const> server_state() {
  static auto const state = [] {
    et::server_options o;
    o.cors_origins = {"https://app.example"};
    o.max_message_bytes = 64 * 1024;  // small limits, so the fuzzer reaches them
    o.http1_max_body_bytes = 256 * 1024;
    o.stream_high_water_bytes = 16 * 1024;
    return std::make_shared<et::detail::server_state const>(et::detail::server_state{&routes(), o, false});
  }();
  return state;
}

// Owns the connection while it runs, as the listener's serve() does.
template <class Connection>
awaitable<void> run_connection(std::shared_ptr<Connection> conn, std::string already_read) {
  co_await conn->run(std::move(already_read));
}

// The first input byte picks the read size (0: everything at once), the rest is the wire.
// Serves it, lets every handler run to a standstill, then ends the input and checks that
// the connection and every handler are gone.
template <template <class> class Connection>
int serve_one(std::uint8_t const* data, std::size_t size, std::string_view already_read) {
  if (size < 1) return 0;
  auto wire = std::make_shared<memory_stream::state>();
  wire->input = std::string_view{reinterpret_cast<char const*>(data) + 1, size - 1};
  wire->chunk = data[0] == 0 ? wire->input.size() + 1 : data[0] * 7u;
  bool const verbose = std::getenv("EDGEPIPE_FUZZ_VERBOSE") != nullptr;  // to see what a seed reaches
  std::string output;
  if (verbose) wire->output = &output;
  boost::asio::io_context io;
  std::weak_ptr<Connection<memory_stream>> alive;
  {
    auto conn = std::make_shared<Connection<memory_stream>>(memory_stream{io.get_executor(), wire}, server_state());
    alive = conn;
    boost::asio::co_spawn(io, run_connection(std::move(conn), std::string{already_read}), boost::asio::detached);
  }
  while (io.poll() > 0) {
  }
  wire->end_of_input();
  io.restart();
  io.run();
  FUZZ_CHECK(alive.expired());
  FUZZ_CHECK(live_handlers == 0);
  if (verbose) {
    std::fprintf(stderr, "read %zu of %zu bytes, wrote %zu, handlers started so far: %d\n", wire->offset,
                 wire->input.size(), wire->written, started_handlers);
    std::fwrite(output.data(), 1, output.size(), stderr);
    std::fputc('\n', stderr);
  }
  return 0;
}

}  // namespace fuzz_transport
