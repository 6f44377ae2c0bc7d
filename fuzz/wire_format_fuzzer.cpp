// The wire table both ways. A request body split at fuzzer-chosen points reads exactly
// as unsplit in every wire format (a bad one fails either way), and no message exceeds the
// limit; the messages read are then written back as a response, and its body frames
// decode to those messages followed by the format's ending.
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/protocol/request_reader.hpp>
#include <edgepipe/protocol/response_writer.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace {
using namespace edgepipe::protocol;

struct outcome {
  std::vector<std::string> messages;
  edgepipe::status failure;
};

outcome read(wire_format f, bool gzip, std::size_t max, std::string_view body, std::vector<std::size_t> const& cuts) {
  request_reader r{f, gzip, max};
  outcome out;
  auto on_message = [&](std::string&& m) {
    FUZZ_CHECK(m.size() <= max);
    out.messages.push_back(std::move(m));
  };
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    if (cut <= at || cut > body.size()) continue;
    if (out.failure.ok()) out.failure = r.feed(body.substr(at, cut - at), on_message);
    at = cut;
  }
  if (out.failure.ok()) out.failure = r.feed(body.substr(at), on_message);
  if (out.failure.ok()) out.failure = r.finish(on_message);
  return out;
}

struct recording {
  bool started = false, ended = false, trailers_only = false;
  std::string body;
  void start_response(int, metadata, bool end_stream) {
    FUZZ_CHECK(!started);
    started = true;
    trailers_only = end_stream;
    ended = end_stream;
  }
  void append_body(std::string_view bytes) {
    FUZZ_CHECK(started && !ended);
    body.append(bytes);
  }
  void end_response(metadata const*) {
    FUZZ_CHECK(started && !ended);
    ended = true;
  }
};

constexpr char const* content_types[] = {"application/proto", "application/connect+proto", "application/grpc",
                                         "application/grpc-web", "application/grpc-web-text"};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size < 3) return 0;
  content_type_info const type = *classify_content_type(content_types[data[0] % 5]);
  wire_format const format = wire_format_of(type);
  bool const gzip = data[0] & 0x10;
  std::size_t const max = 1 + std::size_t{data[1]} * 64;
  std::size_t const ncuts = data[2] % 8;
  if (size < 3 + ncuts) return 0;
  std::vector<std::size_t> cuts(data + 3, data + 3 + ncuts);
  std::string_view const body{reinterpret_cast<char const*>(data) + 3 + ncuts, size - 3 - ncuts};

  outcome const whole = read(format, gzip, max, body, {});
  outcome const split = read(format, gzip, max, body, cuts);
  // A bad body fails however it is split, but which fault is met first may depend on
  // the split (gRPC-Web text checks a piece's base64 before its frames): the messages
  // read before the failure are then a prefix of the same sequence.
  FUZZ_CHECK(whole.failure.ok() == split.failure.ok());
  if (whole.failure.ok()) {
    FUZZ_CHECK(whole.messages == split.messages);
  } else {
    auto const& shorter = whole.messages.size() <= split.messages.size() ? whole.messages : split.messages;
    auto const& longer = whole.messages.size() <= split.messages.size() ? split.messages : whole.messages;
    FUZZ_CHECK(std::equal(shorter.begin(), shorter.end(), longer.begin()));
  }

  // Written back, uncompressed so the frames can be compared.
  recording out;
  response_writer w{type, "", 0};
  std::vector<std::string> sent = whole.messages;
  if (format == wire_format::connect_unary && sent.size() > 1) sent.resize(1);
  for (auto const& m : sent) FUZZ_CHECK(w.send_message(out, m, {}).ok());
  w.finish(out, whole.failure, {}, {}, {});
  FUZZ_CHECK(out.started && out.ended);
  if (format == wire_format::connect_unary) {
    if (whole.failure.ok() && !sent.empty()) FUZZ_CHECK(out.body == sent.front());
    return 0;
  }
  std::string wire = out.body;
  if (format == wire_format::grpc_web_text) {
    // Each write is base64 on its own, padded: decode write by write as a client does.
    base64_decoder d;
    wire.clear();
    FUZZ_CHECK(d.feed(out.body, wire) && d.finish(wire));
  }
  std::vector<std::pair<std::uint8_t, std::string>> frames;
  frame_decoder fd{frame_decoder::options{0xff, 1u << 30, false}};
  FUZZ_CHECK(fd.feed(wire, [&](frame_view f) {
                 frames.emplace_back(f.flags, std::string{f.message});
                 return edgepipe::status{};
               }).ok());
  FUZZ_CHECK(fd.finish().ok());
  bool const ending_frame = format == wire_format::connect_stream || (!out.trailers_only && format != wire_format::grpc);
  FUZZ_CHECK(frames.size() == sent.size() + (ending_frame ? 1 : 0));
  for (std::size_t i = 0; i < sent.size(); ++i) FUZZ_CHECK(frames[i] == std::pair(std::uint8_t{0}, sent[i]));
  if (ending_frame) FUZZ_CHECK(frames.back().first == (format == wire_format::connect_stream ? flag_end_stream : flag_trailers));
  return 0;
}
