// Writes seed corpora from real messages: signed requests that reach each stage's success
// and failure, and the signing inputs of a request, a response and an event.
// Run: build/fuzz/edgepipe-write-seeds fuzz/corpus
#include "../../tests/support/contract_world.hpp"

#include "push.pb.h"

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
  contract_world::world w;
  using mutation = std::function<void(contract_world::request&)>;
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
      {"stale", [&](auto& r) { r.set_timestamp_ms(contract_world::now_ms - 120'000); w.sign(r); }},
      {"future", [&](auto& r) { r.set_timestamp_ms(contract_world::now_ms + 120'000); w.sign(r); }},
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
                                                               contract_world::now_ms, valid.payload_sha256()});
  c::append_signing_input(event, c::event_signing_fields{"dev-1", valid.request_id(), "evt-1", "gateway.subscribed",
                                                         contract_world::now_ms, valid.payload_sha256()});
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

  // The push stream as the demo backend sends it: client events for a session and for
  // every session of a user, an invalidation, a message that is no PushEvent, a newer kind.
  std::filesystem::path const push = std::filesystem::path{argv[1]} / "push_events";
  std::filesystem::create_directories(push);
  auto client_event = [](std::string user, std::string device, std::string id) {
    edgepipe::push::v1::PushEvent e;
    auto* c = e.mutable_client_event();
    c->set_user_id(std::move(user));
    c->set_device_session_id(std::move(device));
    c->set_event_id(std::move(id));
    c->set_event_type("orders.updated");
    c->set_payload("{\"order\":42}");
    return e.SerializeAsString();
  };
  edgepipe::push::v1::PushEvent revoke;
  revoke.mutable_session_invalidation()->set_user_id("u1");
  revoke.mutable_session_invalidation()->set_device_session_id("d1");
  revoke.mutable_session_invalidation()->set_reason("user_logout");
  std::string events;
  for (int i = 0; i < 6; ++i) p::append_frame(events, 0, client_event("u1", i % 2 ? "" : "d1", "evt-" + std::to_string(i)));
  p::append_frame(events, 0, client_event("u2", "d3", "evt-u2"));
  p::append_frame(events, 0, revoke.SerializeAsString());
  p::append_frame(events, 0, client_event("u1", "d1", "evt-after-revoke"));
  p::append_frame(events, 0, "\xff\xff not a push event");
  p::append_frame(events, 0, std::string{"\x1a\x02hi", 4});  // a field this gateway does not know
  std::ofstream{push / "stream.bin", std::ios::binary} << '\x07' << events;
  std::ofstream{push / "stream-whole.bin", std::ios::binary} << '\x00' << events;

  // Backend answers as the demo backend writes them.
  std::filesystem::path const rest = std::filesystem::path{argv[1]} / "backend_response";
  std::filesystem::create_directories(rest);
  auto answer = [](std::string head, std::string body) {
    return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  std::string const session_json =
      R"({"device_session_id":"dev-1","user_id":"user-1","status":"active","public_key":"MCowBQYDK2VwAyEA"})";
  std::vector<std::pair<std::string, std::string>> const answers{
      {"session-found", answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", session_json)},
      {"session-not-found", answer("HTTP/1.1 404 Not Found\r\n", "")},
      {"backend-error", answer("HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n", "boom")},
      {"command-ok", answer("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Result-Code: accepted\r\n",
                            "\x01\x02payload")},
      {"command-conflict", answer("HTTP/1.1 409 Conflict\r\n", "")},
      {"command-throttled", answer("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n", "")},
      {"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"},
      {"until-close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the connection closes"},
  };
  for (auto const& [name, bytes] : answers) std::ofstream{rest / (name + ".bin"), std::ios::binary} << '\x00' << bytes;
  std::ofstream{rest / "session-found-split.bin", std::ios::binary} << '\x05' << answers[0].second;
}
