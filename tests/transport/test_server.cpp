// The transport tests' server: the test service on a real port, for stock clients.
//   edgepipe-test-server [--port N] [--cors ORIGIN]... [--drain-ms N]
//                        [--ping-interval-ms N] [--ping-ack-timeout-ms N] [--flow-stall-ms N]
// Prints "listening on 127.0.0.1:PORT" once it accepts connections; exits on SIGTERM
// after draining.
#include <edgepipe/transport/server.hpp>

#include "test_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace asio = boost::asio;

int main(int argc, char** argv) {
  google::protobuf::SetLogHandler(nullptr);
  unsigned short port = 0;
  edgepipe::transport::server_options options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::atoi(argv[++i]));
    else if (a == "--cors" && i + 1 < argc) options.cors_origins.emplace_back(argv[++i]);
    else if (a == "--drain-ms" && i + 1 < argc) options.drain_timeout = std::chrono::milliseconds{std::atoi(argv[++i])};
    else if (a == "--ping-interval-ms" && i + 1 < argc)
      options.ping_interval = std::chrono::milliseconds{std::atoi(argv[++i])};
    else if (a == "--ping-ack-timeout-ms" && i + 1 < argc)
      options.ping_ack_timeout = std::chrono::milliseconds{std::atoi(argv[++i])};
    else if (a == "--flow-stall-ms" && i + 1 < argc)
      options.flow_control_stall_timeout = std::chrono::milliseconds{std::atoi(argv[++i])};
  }
  asio::io_context io;
  edgepipe::transport::router routes;
  test_service::register_test_service(routes);
  edgepipe::transport::server srv{io.get_executor(), routes, options};
  srv.listen({asio::ip::make_address("127.0.0.1"), port});
  srv.start();
  std::printf("listening on 127.0.0.1:%u\n", srv.local_endpoint().port());
  std::fflush(stdout);

  asio::signal_set signals{io, SIGTERM, SIGINT};
  signals.async_wait([&](boost::system::error_code, int) {
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await srv.shutdown();
      io.stop();
    }, asio::detached);
  });
  io.run();
  return 0;
}
