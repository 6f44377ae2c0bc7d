// What a connection needs of its byte stream beyond Asio's AsyncReadStream and
// AsyncWriteStream: the peer's address (for logs and handlers) and a hard close.
// These overloads serve TCP; another stream type (the fuzzers' in-memory stream)
// brings its own, found by argument-dependent lookup.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <string>

namespace edgepipe::transport::detail {

inline std::string peer_address(boost::asio::ip::tcp::socket const& socket) {
  boost::system::error_code ec;
  auto const ep = socket.remote_endpoint(ec);
  if (ec) return {};
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

inline void close_stream(boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

inline std::string peer_address(boost::beast::tcp_stream const& stream) { return peer_address(stream.socket()); }
inline void close_stream(boost::beast::tcp_stream& stream) { close_stream(stream.socket()); }

}  // namespace edgepipe::transport::detail
