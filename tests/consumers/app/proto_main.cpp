// A downstream program that speaks the edge API: the generated code of gateway.proto (from
// dependency('edgepipe-proto')) and a signing input built by the full library.
#include <edgepipe/crypto/signing_input.hpp>

#include "gateway.pb.h"

#include <cstdio>
#include <string>

int main() {
  edgepipe::gateway::v1::SignedRequest req;
  req.set_protocol_version(1);
  req.set_device_session_id("dev-1");
  req.set_message_type("user.echo");
  req.set_request_id("req-0123456789abcdef");
  req.set_timestamp_ms(1'700'000'000'000);
  req.set_payload("hello");
  req.set_payload_sha256(std::string(32, '\x01'));

  edgepipe::gateway::v1::SignedRequest back;
  if (!back.ParseFromString(req.SerializeAsString()) || back.request_id() != req.request_id()) return 1;

  std::string input;
  edgepipe::crypto::append_signing_input(input, edgepipe::crypto::request_signing_fields{
      back.device_session_id(), back.message_type(), back.request_id(), back.timestamp_ms(),
      back.payload_sha256()});
  if (input.size() != 106) return 2;  // docs/wire-protocol.md works this example through
  std::puts("consumer proto: ok");
  return 0;
}
