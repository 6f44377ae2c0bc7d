// Writes seed corpora from real messages: signed requests that reach each stage's success
// and failure, and the signing inputs of a request, a response and an event.
// Run: build/fuzz/edgepipe-write-seeds fuzz/corpus
#include "../gateway_chain.hpp"

#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/grpc_web.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::filesystem::path const out = std::filesystem::path{argv[1]} / "signed_request_chain";
  std::filesystem::path const inputs = std::filesystem::path{argv[1]} / "signing_input";
  std::filesystem::create_directories(out);
  std::filesystem::create_directories(inputs);
  fuzz_gateway::world w;
  using mutation = std::function<void(fuzz_gateway::request&)>;
  std::vector<std::pair<std::string, mutation>> const seeds{
      {"valid", [](auto&) {}},
      {"bad-version", [](auto& r) { r.set_protocol_version(2); }},
      {"bad-message-type", [&](auto& r) { r.set_message_type("User.Echo"); w.sign(r); }},
      {"no-route", [&](auto& r) { r.set_message_type("billing.charge"); w.sign(r); }},
      {"gateway-route", [&](auto& r) { r.set_message_type("gateway.subscribe_events"); w.sign(r); }},
      {"unknown-session", [&](auto& r) { r.set_device_session_id("dev-unknown"); w.sign(r); }},
      {"revoked-session", [&](auto& r) { r.set_device_session_id("dev-revoked"); w.sign(r); }},
      {"backend-down", [&](auto& r) { r.set_device_session_id("dev-down"); w.sign(r); }},
      {"hash-mismatch", [](auto& r) { r.set_payload("tampered"); }},
      {"bad-signature", [](auto& r) { r.mutable_signature()->at(3) ^= 1; }},
      {"stale", [&](auto& r) { r.set_timestamp_ms(fuzz_gateway::now_ms - 120'000); w.sign(r); }},
      {"future", [&](auto& r) { r.set_timestamp_ms(fuzz_gateway::now_ms + 120'000); w.sign(r); }},
      {"other-request-id", [&](auto& r) { r.set_request_id("req-fedcba9876543210-x"); w.sign(r); }},
  };
  for (auto const& [name, mutate] : seeds) {
    auto r = w.valid();
    mutate(r);
    std::ofstream{out / (name + ".bin"), std::ios::binary} << r.SerializeAsString();
  }

  namespace c = edgepipe::crypto;
  auto const valid = w.valid();
  std::string request, response, event;
  c::append_signing_input(request, c::request_signing_fields{valid.device_session_id(), valid.message_type(),
                                                             valid.request_id(), valid.timestamp_ms(),
                                                             valid.payload_sha256()});
  c::append_signing_input(response, c::response_signing_fields{"dev-1", valid.request_id(), "ok",
                                                               fuzz_gateway::now_ms, valid.payload_sha256()});
  c::append_signing_input(event, c::event_signing_fields{"dev-1", valid.request_id(), "evt-1", "gateway.subscribed",
                                                         fuzz_gateway::now_ms, valid.payload_sha256()});
  // Frames as a gRPC client sends them (options byte, flags byte, no splits, then frames),
  // and gzip members of real messages (a limit byte, then the member).
  namespace p = edgepipe::protocol;
  std::filesystem::path const frames = std::filesystem::path{argv[1]} / "frame_decoder";
  std::filesystem::path const gz = std::filesystem::path{argv[1]} / "gzip";
  std::filesystem::create_directories(frames);
  std::filesystem::create_directories(gz);
  std::string const message = valid.SerializeAsString();
  std::string wire{"\x81\xff\x02\x03\x09", 5};  // trailers+compressed allowed, two splits
  p::append_frame(wire, 0, message);
  p::append_frame(wire, 0, "");
  std::string zipped;
  (void)p::gzip_compress(message, zipped);
  p::append_frame(wire, p::flag_compressed, zipped);
  p::append_grpc_web_trailers(wire, {{"grpc-status", "0"}});
  std::ofstream{frames / "grpc-messages.bin", std::ios::binary} << wire;
  std::ofstream{gz / "message.bin", std::ios::binary} << std::string{"\xff"} << zipped;

  std::ofstream{inputs / "request.bin", std::ios::binary} << request;
  std::ofstream{inputs / "response.bin", std::ios::binary} << response;
  std::ofstream{inputs / "event.bin", std::ios::binary} << event;
}
