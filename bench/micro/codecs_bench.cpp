// The protocol codecs on the request path: framing, message encode/decode (binary vs
// JSON), the Connect, gRPC and gRPC-Web status encodings, grpc-web-text base64, timeouts.
#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/grpc.hpp>
#include <edgepipe/protocol/grpc_web.hpp>
#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/protocol/protobuf_codec.hpp>

#include "../../tests/support/contract_world.hpp"

#include <benchmark/benchmark.h>

#include <string>

namespace {

namespace p = edgepipe::protocol;

void frame_encode(benchmark::State& state) {
  std::string const message(static_cast<std::size_t>(state.range(0)), 'm');
  std::string out;
  for (auto _ : state) {
    out.clear();
    p::append_frame(out, 0, message);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(frame_encode)->Arg(64)->Arg(1024)->Arg(65536);

void frame_decode(benchmark::State& state) {
  std::string wire;
  p::append_frame(wire, 0, std::string(static_cast<std::size_t>(state.range(0)), 'm'));
  for (auto _ : state) {
    p::frame_decoder d;
    std::size_t seen = 0;
    auto s = d.feed(wire, [&](p::frame_view f) {
      seen += f.message.size();
      return edgepipe::status{};
    });
    benchmark::DoNotOptimize(seen);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(frame_decode)->Arg(64)->Arg(1024)->Arg(65536);

contract_world::request const& signed_request() {
  static contract_world::world w;
  static auto const r = w.valid();
  return r;
}

void message_decode(benchmark::State& state) {
  auto const codec = state.range(0) == 0 ? p::message_codec::proto : p::message_codec::json;
  std::string bytes;
  (void)p::encode_message(codec, signed_request(), bytes);
  contract_world::request out;
  for (auto _ : state) {
    auto s = p::decode_message(codec, bytes, out);
    benchmark::DoNotOptimize(s);
  }
  state.SetLabel(state.range(0) == 0 ? "SignedRequest, binary" : "SignedRequest, JSON");
}
BENCHMARK(message_decode)->Arg(0)->Arg(1);

void message_encode(benchmark::State& state) {
  auto const codec = state.range(0) == 0 ? p::message_codec::proto : p::message_codec::json;
  std::string out;
  for (auto _ : state) {
    auto s = p::encode_message(codec, signed_request(), out);
    benchmark::DoNotOptimize(s);
  }
  state.SetLabel(state.range(0) == 0 ? "SignedRequest, binary" : "SignedRequest, JSON");
}
BENCHMARK(message_encode)->Arg(0)->Arg(1);

edgepipe::status const failure{edgepipe::code::unauthenticated, "signature_invalid", "the signature does not verify"};

void connect_error_json(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    p::append_connect_error_json(out, failure);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(connect_error_json);

void grpc_status_trailers(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(p::grpc_status_trailers(failure));
}
BENCHMARK(grpc_status_trailers);

void grpc_web_trailers_roundtrip(benchmark::State& state) {
  auto const trailers = p::grpc_status_trailers(failure);
  std::string block;
  for (auto _ : state) {
    block.clear();
    p::append_grpc_web_trailers(block, trailers);
    benchmark::DoNotOptimize(p::parse_grpc_web_trailers(std::string_view{block}.substr(p::frame_header_size)));
  }
}
BENCHMARK(grpc_web_trailers_roundtrip);

void grpc_web_text_decode(benchmark::State& state) {
  std::string text;
  p::append_base64(text, std::string(static_cast<std::size_t>(state.range(0)), 'm'));
  std::string out;
  for (auto _ : state) {
    out.clear();
    p::base64_decoder d;
    benchmark::DoNotOptimize(d.feed(text, out));
    benchmark::DoNotOptimize(d.finish(out));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(grpc_web_text_decode)->Arg(1024)->Arg(65536);

void timeouts_parse(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(p::parse_grpc_timeout("250m"));
    benchmark::DoNotOptimize(p::parse_connect_timeout("250"));
  }
  state.SetLabel("grpc-timeout + connect-timeout-ms");
}
BENCHMARK(timeouts_parse);

}  // namespace
