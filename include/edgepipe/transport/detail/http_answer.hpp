// The HTTP/1.1 client's reading of one answer, as a pure state machine over the bytes a
// connection delivers: interim 1xx answers are skipped, the final answer is parsed within
// limits, and the end says whether the connection may carry another request. Kept apart
// from the socket so the fuzzer drives exactly what the client runs.
#pragma once

#include <edgepipe/transport/detail/beast_http_parser.hpp>  // first: see there

#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace edgepipe::transport::detail {

struct http_answer_limits {
  std::size_t header_bytes = 16 * 1024;
  std::size_t body_bytes = 4 * 1024 * 1024;
};

class http_answer_reader {
 public:
  using response = boost::beast::http::response<boost::beast::http::string_body>;
  using limits = http_answer_limits;
  enum class state {
    reading,    // wants more bytes
    done,       // the final answer is complete
    too_large,  // over a limit
    malformed,  // not an HTTP/1.1 answer, or one we never ask for (101)
  };

  // `head`: the request was HEAD, so the answer has no body whatever its headers say.
  explicit http_answer_reader(limits l = {}, bool head = false) : limits_{l}, head_{head} { start(); }

  // Feeds bytes from the connection; returns how many it used (the rest belong after
  // the final answer, or must be fed again with more behind them).
  std::size_t put(std::string_view bytes) {
    std::size_t used = 0;
    while (state_ == state::reading && used < bytes.size()) {
      boost::system::error_code ec;
      std::size_t const n = parser_->put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
      used += n;
      any_bytes_ = any_bytes_ || n > 0;
      if (ec == boost::beast::http::error::need_more) break;
      if (ec) {
        state_ = (ec == boost::beast::http::error::body_limit || ec == boost::beast::http::error::header_limit)
                     ? state::too_large
                     : state::malformed;
        break;
      }
      if (parser_->is_done()) finish_message();
      else if (n == 0) break;
    }
    return used;
  }

  // The connection ended: an answer framed by the close is complete now; anything else
  // that was started is cut short.
  void put_eof() {
    if (state_ != state::reading) return;
    if (!parser_->got_some()) {
      state_ = state::malformed;
      return;
    }
    boost::system::error_code ec;
    parser_->put_eof(ec);
    if (ec || !parser_->is_done()) {
      state_ = state::malformed;
      return;
    }
    finish_message();
  }

  [[nodiscard]] state current() const noexcept { return state_; }
  // Whether any byte of an answer (interim ones included) has arrived.
  [[nodiscard]] bool answer_started() const noexcept { return any_bytes_; }
  // Interim answers skipped so far.
  [[nodiscard]] std::size_t interim_answers() const noexcept { return interim_; }

  // After `done`: whether the connection may carry another request — the answer was
  // framed by its length or chunking (not by the close) and the backend keeps it alive.
  // The caller also requires that no byte follows the answer.
  [[nodiscard]] bool reusable() const noexcept { return reusable_; }

  response release() { return parser_->release(); }

 private:
  void start() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.header_bytes));
    parser_->body_limit(limits_.body_bytes);
    parser_->skip(head_);
  }

  void finish_message() {
    auto const status = parser_->get().result_int();
    // Beast reads any three digits; a status outside 100..599 is no HTTP answer, and one
    // below 100 must not pass for a final answer. We never ask to switch protocols (101).
    if (status < 100 || status > 599 || status == 101) {
      state_ = state::malformed;
      return;
    }
    if (status >= 100 && status < 200) {  // interim: the final answer follows
      ++interim_;
      start();
      return;
    }
    reusable_ = parser_->get().keep_alive() && !parser_->need_eof();
    state_ = state::done;
  }

  limits limits_;
  bool head_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  state state_ = state::reading;
  std::size_t interim_ = 0;
  bool any_bytes_ = false;
  bool reusable_ = false;
};

}  // namespace edgepipe::transport::detail
