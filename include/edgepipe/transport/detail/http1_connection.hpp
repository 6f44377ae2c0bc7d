// An HTTP/1.1 server connection: Connect (unary and streaming), gRPC-Web and plain routes, half duplex.
//
// Beast parses each request, with the header limits of the wire protocol (16 KiB; more than
// 100 fields is 431). The body is read whole (bounded), then the handler runs while this
// connection writes its response: with Content-Length when it is complete before the
// first byte goes out (unary), chunked and flushed per message otherwise. Keep-alive,
// with its idle limit announced when `keep_alive_timeout` sets one.
//
// A streaming response may stay quiet for hours: while one is written the connection
// also reads, so a client that leaves (end of file, or a reset once TCP keep-alive finds
// the peer gone) ends the call at once instead of at its next write.
#pragma once

#include <edgepipe/transport/detail/beast_http_parser.hpp>  // first: see there
#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/transport/detail/call.hpp>
#include <edgepipe/transport/detail/dispatch.hpp>
#include <edgepipe/transport/detail/signal.hpp>
#include <edgepipe/transport/detail/stream_ops.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace edgepipe::transport::detail {

// `Stream` is a Beast tcp_stream in the server (its expiry bounds each read and write),
// an in-memory stream in the fuzzers.
template <class Stream>
class basic_http1_connection : public std::enable_shared_from_this<basic_http1_connection<Stream>> {
 public:
  basic_http1_connection(Stream stream, std::shared_ptr<server_state const> server)
      : stream_{std::move(stream)},
        server_{std::move(server)},
        peer_{peer_address(stream_)},
        watch_done_{stream_.get_executor()},
        next_request_timer_{stream_.get_executor()} {}

  boost::asio::awaitable<void> run(std::string already_read) {
    auto self = this->shared_from_this();
    namespace http = boost::beast::http;
    auto const& o = server_->options;
    auto initial = buffer_.prepare(already_read.size());
    boost::asio::buffer_copy(initial, boost::asio::buffer(already_read));
    buffer_.commit(already_read.size());

    while (!closing_) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(o.max_header_list_bytes));
      parser.body_limit(o.http1_max_body_bytes);
      stream_.expires_after(next_request_timeout());
      between_requests_ = true;
      auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser,
                                                     boost::asio::as_tuple(boost::asio::use_awaitable));
      between_requests_ = false;
      if (ec == http::error::header_limit) {
        co_await refuse(431);
        co_return;
      }
      if (ec == http::error::body_limit) {  // its Content-Length says so already
        co_await refuse(413);
        co_return;
      }
      if (ec) co_return;
      std::size_t fields = 0;
      for (auto const& f : parser.get()) {
        (void)f;
        ++fields;
      }
      if (fields > o.max_header_fields) {
        co_await refuse(431);
        co_return;
      }

      // The body may take as long as it keeps coming (it is bounded in bytes), but no
      // byte of it for header_timeout closes the connection: the limit is about the
      // request, like the one on its headers, and nothing about the response.
      while (!parser.is_done()) {
        stream_.expires_after(o.header_timeout);
        auto [body_ec, m] = co_await http::async_read_some(stream_, buffer_, parser,
                                                          boost::asio::as_tuple(boost::asio::use_awaitable));
        if (body_ec == http::error::body_limit) {
          co_await refuse(413);
          co_return;
        }
        if (body_ec) co_return;
      }
      stream_.expires_never();
      auto& req = parser.get();
      bool const keep_alive = req.keep_alive();

      request_head head;
      head.method = std::string{req.method_string()};
      head.target = std::string{req.target()};
      head.peer = peer_;
      head.http1 = true;
      for (auto const& f : req) {
        std::string name{f.name_string()};
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        head.headers.emplace_back(std::move(name), std::string{f.value()});
      }

      auto d = dispatch(*server_, std::move(head), stream_.get_executor());
      served_any_ = true;
      if (auto* now = std::get_if<immediate_response>(&d)) {
        closing_ = closing_ || now->close_connection || !keep_alive;
        if (!co_await write_immediate(std::move(*now))) co_return;
        continue;
      }
      auto [rpc, proc] = std::get<1>(d);
      exchange ex{stream_.get_executor()};
      rpc->attach(&ex);
      if (status s = rpc->feed_body(req.body()); s.ok()) rpc->end_body();
      else rpc->finish(s);
      if (proc != nullptr) spawn_handler(stream_.get_executor(), rpc, *proc);
      if (rpc->kind() == rpc_kind::server_streaming && buffer_.size() == 0) watch_peer(ex);
      closing_ = closing_ || !keep_alive;
      bool const ok = co_await write_response(ex, *rpc);
      rpc->detach();
      current_ = nullptr;
      if (!ok) {
        rpc->peer_gone();
        if (watching_) close_stream(stream_);  // ends the watch's read, and with it this connection
        co_return;
      }
      if (watching_ && !co_await finish_peer_watch()) co_return;
    }
  }

  // Graceful shutdown: finish the response in progress, then close; a connection
  // waiting for its next request closes now.
  void shutdown() {
    closing_ = true;
    if (between_requests_) close_stream(stream_);
  }

 private:
  struct exchange;

  // Reads while a streaming response is written (the request is whole by then): end of
  // file or an error means the client is gone; bytes are the start of its next request,
  // kept for the parser, and the watch ends there.
  void watch_peer(exchange& ex) {
    watching_ = true;
    peer_gone_ = false;
    current_ = &ex;
    boost::asio::co_spawn(stream_.get_executor(), read_while_streaming(), boost::asio::detached);
  }

  boost::asio::awaitable<void> read_while_streaming() {
    auto self = this->shared_from_this();
    auto space = buffer_.prepare(4096);
    auto [ec, n] = co_await stream_.async_read_some(space, boost::asio::as_tuple(boost::asio::use_awaitable));
    buffer_.commit(n);
    watching_ = false;
    if (ec) peer_gone_ = true;
    if (current_ != nullptr) current_->wake.notify();
    watch_done_.notify();
  }

  // The response is complete and the watch's read still waits: it becomes the wait for
  // the next request, bounded as that wait is. False when the connection ends.
  boost::asio::awaitable<bool> finish_peer_watch() {
    if (closing_) close_stream(stream_);
    between_requests_ = true;
    next_request_timer_.expires_after(next_request_timeout());
    next_request_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) close_stream(stream_);
    });
    while (watching_) co_await watch_done_.wait();
    next_request_timer_.cancel();
    between_requests_ = false;
    co_return !peer_gone_ && !closing_;
  }

  // The response side of one request, filled by the call.
  struct exchange final : sink {
    explicit exchange(boost::asio::any_io_executor ex) : wake{std::move(ex)} {}
    int status = 0;
    protocol::metadata headers;
    bool started = false, no_body = false, ended = false;
    std::string body;
    signal wake;

    void start_response(int s, protocol::metadata h, bool end_stream) override {
      status = s;
      headers = std::move(h);
      started = true;
      no_body = end_stream;
      if (end_stream) ended = true;
      wake.notify();
    }
    void append_body(std::string_view bytes) override {
      body.append(bytes);
      wake.notify();
    }
    void end_response(protocol::metadata const*) override {  // no HTTP/1.1 trailers in our protocols
      ended = true;
      wake.notify();
    }
    [[nodiscard]] std::size_t queued() const override { return body.size(); }
    void consumed(std::size_t) override {}
  };

  // The wait for a request's headers: after a first request, the kept-alive idle limit
  // bounds it too.
  [[nodiscard]] std::chrono::milliseconds next_request_timeout() const {
    auto const& o = server_->options;
    if (!served_any_ || o.keep_alive_timeout.count() == 0) return o.header_timeout;
    return std::min<std::chrono::milliseconds>(o.header_timeout, o.keep_alive_timeout);
  }

  // Whether the connection goes on after this answer: `Connection: close`, or the idle
  // limit it keeps to, when there is one to announce.
  void add_connection_headers(protocol::metadata& headers) const {
    if (closing_) {
      if (protocol::find_metadata(headers, "connection").empty()) headers.emplace_back("connection", "close");
    } else if (auto const t = server_->options.keep_alive_timeout; t.count() > 0) {
      headers.emplace_back("keep-alive", "timeout=" + std::to_string(t.count()));
    }
  }

  static void append_head(std::string& out, int status, protocol::metadata const& headers) {
    auto const reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
    out += "HTTP/1.1 " + std::to_string(status) + " ";
    out.append(reason.data(), reason.size());
    out += "\r\n";
    for_each_wire_header(headers, [&](std::string_view name, std::string_view value) {
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    });
  }

  boost::asio::awaitable<bool> write_all(std::string const& bytes) {
    stream_.expires_after(server_->options.write_stall_timeout);
    auto [ec, n] = co_await boost::asio::async_write(stream_, boost::asio::buffer(bytes),
                                                    boost::asio::as_tuple(boost::asio::use_awaitable));
    stream_.expires_never();
    co_return !ec;
  }

  // An answer, then the connection closes. (A named response, not a braced temporary in
  // the co_await: g++ 12 destroys such temporaries twice.)
  boost::asio::awaitable<bool> refuse(int status) {
    immediate_response r;
    r.status = status;
    r.close_connection = true;
    co_return co_await write_immediate(std::move(r));
  }

  boost::asio::awaitable<bool> write_immediate(immediate_response r) {
    std::string out;
    closing_ = closing_ || r.close_connection;
    add_connection_headers(r.headers);
    r.headers.emplace_back("content-length", std::to_string(r.body.size()));
    append_head(out, r.status, r.headers);
    out += "\r\n";
    out += r.body;
    co_return co_await write_all(out);
  }

  // Streams what the call produces to the socket; false if the peer is gone.
  boost::asio::awaitable<bool> write_response(exchange& ex, call& rpc) {
    while (!ex.started) {
      if (peer_gone_) co_return false;
      co_await ex.wake.wait();
    }
    std::string out;
    bool const whole = ex.ended;  // everything known up front: Content-Length
    protocol::metadata headers = std::move(ex.headers);
    add_connection_headers(headers);
    if (whole) headers.emplace_back("content-length", std::to_string(ex.body.size()));
    else headers.emplace_back("transfer-encoding", "chunked");
    append_head(out, ex.status, headers);
    out += "\r\n";
    if (whole) {
      out += ex.body;
      co_return co_await write_all(out);
    }
    for (;;) {
      if (!ex.body.empty()) {
        char size[20];
        int const len = std::snprintf(size, sizeof size, "%zx\r\n", ex.body.size());
        out.append(size, static_cast<std::size_t>(len));
        out += ex.body;
        out += "\r\n";
        ex.body.clear();
        rpc.on_drained();
      }
      if (ex.ended) out += "0\r\n\r\n";
      if (!out.empty()) {
        if (!co_await write_all(out)) co_return false;
        out.clear();
      }
      if (ex.ended) co_return true;
      if (peer_gone_) co_return false;
      co_await ex.wake.wait();
      if (peer_gone_) co_return false;
    }
  }

  Stream stream_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<server_state const> server_;
  std::string peer_;
  bool closing_ = false;
  bool between_requests_ = false;
  bool served_any_ = false;
  // The read that watches the peer during a streaming response.
  bool watching_ = false;
  bool peer_gone_ = false;
  exchange* current_ = nullptr;
  signal watch_done_;
  boost::asio::steady_timer next_request_timer_;
};

using http1_connection = basic_http1_connection<boost::beast::tcp_stream>;

}  // namespace edgepipe::transport::detail
