// The REST client's answer handling over one connection's life, against a backend that
// sends whatever it likes whenever it likes: interim answers, answers that run past their
// framing, bytes while the connection idles, a close at any point.
//
// Property: an answer is never attributed to the wrong request. Each byte is labelled
// with the request outstanding when the backend sent it; the answer the client reads for
// request k is made only of bytes labelled k. The pool's rules are the client's: after the
// final answer, a connection is kept only when that answer was framed, kept alive and
// followed by nothing; before reuse, anything that arrived while idle closes it.
//
// Input: byte 0 is the largest read the socket hands over at once; then operations:
//   0x00..0x7F  the backend sends the next (op + 1) bytes of input
//   0x80..0xBF  the client sends its next request (on a new connection if it must)
//   0xC0..0xFF  the backend closes the connection
#include <edgepipe/transport/detail/http_answer.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace {

using reader = edgepipe::transport::detail::http_answer_reader;
using labelled = std::deque<std::pair<char, int>>;  // bytes and the request they were sent for
constexpr int idle = -1;

struct connection {
  labelled socket;  // sent by the backend, not read yet
  labelled buffer;  // read by the client, not taken by the parser yet
  bool closed_by_backend = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t const max_read = data[0] == 0 ? 1 : data[0];
  std::size_t at = 1;

  constexpr reader::limits limits{512, 1024};
  std::optional<connection> conn;  // nullopt: none open
  std::optional<reader> answer;    // engaged while a request is outstanding
  int outstanding = idle;
  int next_request = 0;
  int answered = 0;

  // What the client does while an answer is outstanding: read what the socket has, a
  // read at a time, and offer the parser everything buffered.
  auto pump = [&] {
    while (answer && conn && answer->current() == reader::state::reading) {
      if (!conn->buffer.empty()) {
        std::string bytes;
        for (auto const& [c, label] : conn->buffer) bytes.push_back(c);
        std::size_t const used = answer->put(bytes);
        FUZZ_CHECK(used <= bytes.size());
        for (std::size_t i = 0; i < used; ++i) {
          FUZZ_CHECK(conn->buffer.front().second == outstanding);  // the property
          conn->buffer.pop_front();
        }
        if (answer->current() != reader::state::reading) return;
      }
      if (conn->socket.empty()) {
        if (conn->closed_by_backend) answer->put_eof();
        return;
      }
      for (std::size_t i = 0; i < max_read && !conn->socket.empty(); ++i) {
        conn->buffer.push_back(conn->socket.front());
        conn->socket.pop_front();
      }
    }
  };
  // The client's decision once the answer is in: keep the connection only when it was
  // framed, kept alive, and nothing of the backend's was read past it.
  auto settle = [&] {
    if (!answer || answer->current() == reader::state::reading) return;
    bool keep = false;
    if (answer->current() == reader::state::done) {
      auto res = answer->release();
      FUZZ_CHECK(res.result_int() < 100 || res.result_int() >= 200);  // never an interim answer
      FUZZ_CHECK(res.body().size() <= limits.body_bytes);
      ++answered;
      keep = answer->reusable() && conn->buffer.empty() && !conn->closed_by_backend;
    }
    if (!keep) conn.reset();
    answer.reset();
    outstanding = idle;
  };

  while (at < size) {
    std::uint8_t const op = data[at++];
    if (op < 0x80) {
      std::size_t const n = std::min<std::size_t>(op + 1u, size - at);
      if (conn && !conn->closed_by_backend)
        for (std::size_t i = 0; i < n; ++i) conn->socket.emplace_back(static_cast<char>(data[at + i]), outstanding);
      at += n;
    } else if (op < 0xC0) {
      if (answer) continue;  // one request at a time on a connection
      // The peek before reuse: anything that arrived while idle, or a close, ends it.
      if (conn && (!conn->socket.empty() || conn->closed_by_backend)) conn.reset();
      if (!conn) conn.emplace();
      outstanding = next_request++;
      answer.emplace(limits, false);
    } else if (conn) {
      conn->closed_by_backend = true;
      if (!answer) conn.reset();  // the idle watch sees the close
    }
    pump();
    settle();
  }
  FUZZ_CHECK(answered <= next_request);
  return 0;
}
