// An in-memory byte stream for driving a server connection without a socket: reads
// return the fuzz input in chunks of a chosen size; writes are accepted whole and counted.
// When the input runs out, a read waits (the peer is quiet) until end_of_input() turns
// it into end-of-file, so the driver can first let every handler run to a standstill.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace fuzz_transport {

class memory_stream {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Shared with the driver, which keeps a handle after the stream moves into a connection.
  struct state {
    std::string_view input;
    std::size_t chunk = 1;
    std::size_t offset = 0;
    std::size_t written = 0;
    std::string* output = nullptr;  // when set, collects what the server writes
    bool closed = false;
    bool ended = false;
    std::function<void()> parked;  // a read waiting for more input

    void end_of_input() {
      ended = true;
      if (auto resume = std::move(parked)) {
        parked = nullptr;
        resume();
      }
    }
  };

  memory_stream(executor_type ex, std::shared_ptr<state> s) : executor_{std::move(ex)}, state_{std::move(s)} {}

  [[nodiscard]] executor_type get_executor() const { return executor_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(MutableBuffers const& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, MutableBuffers const& b) {
          auto& s = *state_;
          if (s.closed) return complete(std::move(handler), boost::asio::error::bad_descriptor, 0);
          if (s.offset < s.input.size()) {
            std::size_t const n = std::min(s.chunk, s.input.size() - s.offset);
            std::size_t const copied = boost::asio::buffer_copy(b, boost::asio::buffer(s.input.substr(s.offset, n)));
            s.offset += copied;
            return complete(std::move(handler), {}, copied);
          }
          if (s.ended) return complete(std::move(handler), boost::asio::error::eof, 0);
          // std::function needs a copyable callable: hold the move-only handler by pointer.
          auto held = std::make_shared<decltype(handler)>(std::move(handler));
          s.parked = [this, held] { complete(std::move(*held), boost::asio::error::eof, 0); };
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(ConstBuffers const& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, ConstBuffers const& b) {
          if (state_->closed) return complete(std::move(handler), boost::asio::error::bad_descriptor, 0);
          std::size_t const n = boost::asio::buffer_size(b);
          state_->written += n;
          if (state_->output != nullptr)
            for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it)
              state_->output->append(static_cast<char const*>(boost::asio::const_buffer{*it}.data()),
                                     boost::asio::const_buffer{*it}.size());
          complete(std::move(handler), {}, n);
        },
        token, buffers);
  }

  // What Beast's tcp_stream offers and the HTTP/1.1 connection uses: no clock here.
  void expires_after(std::chrono::steady_clock::duration) noexcept {}
  void expires_never() noexcept {}

  friend std::string peer_address(memory_stream const&) { return "fuzz:0"; }
  friend void close_stream(memory_stream& s) {
    s.state_->closed = true;
    s.state_->end_of_input();
  }

 private:
  template <class Handler>
  void complete(Handler&& handler, boost::system::error_code ec, std::size_t n) {
    boost::asio::post(executor_, boost::asio::append(std::forward<Handler>(handler), ec, n));
  }

  executor_type executor_;
  std::shared_ptr<state> state_;
};

}  // namespace fuzz_transport
