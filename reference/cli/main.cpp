// edgepipe-cli: try the gateway by hand.
//   edgepipe-cli keygen   --key FILE
//   edgepipe-cli register --public URL --user USER --key FILE
//   edgepipe-cli call     --edge URL --public URL --session ID --key FILE --type TYPE [--payload TEXT]
//   edgepipe-cli subscribe --edge URL --public URL --session ID --key FILE [--count N]
// `call` signs a SignedRequest with the device key, sends it over Connect (HTTP/1.1,
// binary), verifies the SignedResponse against the gateway's published keys and prints it.
// `subscribe` opens SubscribeEvents (Connect streaming over HTTP/1.1) and prints each
// verified event as a JSON line until the stream ends (or N events arrived).
#include "../common/http_client.hpp"
#include "../common/signed_requests.hpp"

#include <edgepipe/protocol/frame.hpp>

#include <edgepipe/clock.hpp>
#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/crypto/signing_input.hpp>

#include "gateway.pb.h"

#include <nlohmann/json.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace edgepipe::reference;
using nlohmann::json;

namespace {

int fail(std::string const& why) {
  std::fprintf(stderr, "edgepipe-cli: %s\n", why.c_str());
  return 1;
}

std::map<std::string, std::string> options_of(int argc, char** argv) {
  std::map<std::string, std::string> o;
  for (int i = 2; i + 1 < argc; i += 2) o[argv[i]] = argv[i + 1];
  return o;
}

std::string hex(std::string_view bytes) {
  static constexpr char d[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::string unhex(std::string const& s) {
  std::string out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<char>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

// The device key is its 32-byte seed, hex, in a file only its owner reads.
edgepipe::crypto::ed25519_signer load_key(std::string const& path) {
  std::ifstream in{path};
  std::string text;
  in >> text;
  return edgepipe::crypto::ed25519_signer::from_seed(unhex(text), "device");
}

http_client::outcome send(asio::io_context& io, std::string const& base, http_client::request req) {
  auto endpoint = parse_http_url(base);
  if (!endpoint) throw std::runtime_error("not an http://host:port URL: " + base);
  http_client client{io.get_executor(), *endpoint};
  auto f = asio::co_spawn(io, client.send(std::move(req), std::chrono::seconds{10}), asio::use_future);
  // Until the answer: a kept-alive connection leaves a wait pending, so run() would not return.
  while (f.wait_for(std::chrono::seconds{0}) != std::future_status::ready) io.run_one();
  return f.get();
}

int keygen(std::map<std::string, std::string>& o) {
  if (!o.contains("--key")) return fail("keygen needs --key FILE");
  edgepipe::crypto::crypto_ready();
  std::string seed(32, '\0');
  randombytes_buf(seed.data(), seed.size());
  auto key = edgepipe::crypto::ed25519_signer::from_seed(seed, "device");
  {
    std::ofstream out{o["--key"]};
    out << hex(seed) << "\n";
  }
  ::chmod(o["--key"].c_str(), 0600);
  std::printf("%s\n", edgepipe::crypto::to_base64(edgepipe::crypto::as_bytes(key.public_key())).c_str());
  return 0;
}

int register_device(std::map<std::string, std::string>& o) {
  for (auto k : {"--public", "--user", "--key"})
    if (!o.contains(k)) return fail(std::string{"register needs "} + k);
  auto key = load_key(o["--key"]);
  asio::io_context io;
  http_client::request req{http::verb::post, "/api/v1/public/auth/register", 11};
  req.set(http::field::content_type, "application/json");
  req.body() = json{{"user_id", o["--user"]},
                    {"public_key", edgepipe::crypto::to_base64(edgepipe::crypto::as_bytes(key.public_key()))}}
                   .dump();
  auto r = send(io, o["--public"], std::move(req));
  if (r.error != http_client::failure::none) return fail("the gateway's public listener did not answer");
  auto body = json::parse(r.res.body(), nullptr, false);
  if (r.res.result_int() / 100 != 2 || !body.is_object() || !body.contains("device_session_id"))
    return fail("registration refused: " + std::to_string(r.res.result_int()) + " " + r.res.body());
  std::printf("%s\n", body["device_session_id"].get<std::string>().c_str());
  return 0;
}

// The gateway's published key with this id, if any.
std::optional<edgepipe::crypto::ed25519_public_key> published_key(asio::io_context& io, std::string const& public_url,
                                                                   std::string const& key_id) {
  http_client::request req{http::verb::get, "/api/v1/public/keys", 11};
  auto keys = send(io, public_url, std::move(req));
  auto json_keys = json::parse(keys.res.body(), nullptr, false);
  if (!json_keys.is_object() || !json_keys["keys"].is_array()) return std::nullopt;
  for (auto const& k : json_keys["keys"]) {
    edgepipe::crypto::ed25519_public_key pk{};
    if (k.value("key_id", "") == key_id && edgepipe::crypto::from_base64(k.value("public_key", ""), pk)) return pk;
  }
  return std::nullopt;
}

int subscribe(std::map<std::string, std::string>& o) {
  for (auto k : {"--edge", "--public", "--session", "--key"})
    if (!o.contains(k)) return fail(std::string{"subscribe needs "} + k);
  auto key = load_key(o["--key"]);
  long const want = o.contains("--count") ? std::stol(o["--count"]) : -1;
  auto const request = sign_request(key, o["--session"], "gateway.subscribe_events", "");
  auto edge = parse_http_url(o["--edge"]);
  if (!edge) return fail("--edge: expected http://host:port");
  asio::io_context io;
  std::optional<edgepipe::crypto::ed25519_public_key> gateway_key;
  asio::ip::tcp::socket socket{io};
  asio::ip::tcp::resolver resolver{io};
  asio::connect(socket, resolver.resolve(edge->host, std::to_string(edge->port)));
  http::request<http::string_body> req{http::verb::post, "/edgepipe.gateway.v1.EdgeGateway/SubscribeEvents", 11};
  req.set(http::field::host, edge->host);
  req.set(http::field::content_type, "application/connect+proto");
  req.set("Connect-Protocol-Version", "1");
  edgepipe::protocol::append_frame(req.body(), 0, request.SerializeAsString());
  req.prepare_payload();
  http::write(socket, req);

  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(socket, buffer, parser);
  if (parser.get().result_int() != 200) return fail("SubscribeEvents answered HTTP " + std::to_string(parser.get().result_int()));
  edgepipe::protocol::frame_decoder decoder{{edgepipe::protocol::flag_compressed | edgepipe::protocol::flag_end_stream,
                                             edgepipe::protocol::default_max_message_size, false}};
  long seen = 0;
  int exit_code = 0;
  bool done = false;
  char chunk[8192];
  while (!done && !parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    boost::system::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec && ec != http::error::need_buffer) break;
    std::size_t const n = sizeof chunk - parser.get().body().size;
    auto s = decoder.feed(std::string_view{chunk, n}, [&](edgepipe::protocol::frame_view f) -> edgepipe::status {
      if (f.flags & edgepipe::protocol::flag_end_stream) {  // {"error":{...}} or {}
        std::printf("%s\n", json{{"stream_ended", json::parse(f.message, nullptr, false)}}.dump().c_str());
        exit_code = f.message.size() > 2 ? 1 : 0;
        done = true;
        return {};
      }
      edgepipe::gateway::v1::SignedEvent e;
      if (!e.ParseFromArray(f.message.data(), static_cast<int>(f.message.size())))
        return edgepipe::status{edgepipe::code::internal, "not_an_event"};
      if (!gateway_key) {
        asio::io_context keys_io;
        gateway_key = published_key(keys_io, o["--public"], e.key_id());
      }
      std::string input;
      edgepipe::crypto::append_signing_input(input, edgepipe::crypto::event_signing_fields{
          request.device_session_id(), e.subscription_id(), e.event_id(), e.event_type(), e.timestamp_ms(),
          e.payload_sha256()});
      edgepipe::crypto::sha256_digest d;
      edgepipe::crypto::sha256(e.payload(), d);
      bool const verified = gateway_key && edgepipe::crypto::digest_equals(d, e.payload_sha256()) &&
                            edgepipe::crypto::ed25519_verify(e.signature(), input, edgepipe::crypto::as_bytes(*gateway_key));
      std::printf("%s\n", json{{"event_type", e.event_type()}, {"event_id", e.event_id()}, {"payload", e.payload()},
                                {"verified", verified}}.dump().c_str());
      std::fflush(stdout);
      if (!verified) exit_code = 3;
      if (want > 0 && ++seen >= want) done = true;
      return {};
    });
    if (!s.ok()) return fail("malformed stream");
  }
  return exit_code;
}

int call(std::map<std::string, std::string>& o) {
  for (auto k : {"--edge", "--public", "--session", "--key", "--type"})
    if (!o.contains(k)) return fail(std::string{"call needs "} + k);
  auto key = load_key(o["--key"]);
  auto const signed_request = sign_request(key, o["--session"], o["--type"], o["--payload"]);

  asio::io_context io;
  http_client::request req{http::verb::post, "/edgepipe.gateway.v1.EdgeGateway/ExecuteCommand", 11};
  req.set(http::field::content_type, "application/proto");
  req.set("Connect-Protocol-Version", "1");
  req.body() = signed_request.SerializeAsString();
  auto r = send(io, o["--edge"], std::move(req));
  if (r.error != http_client::failure::none) return fail("the gateway's edge listener did not answer");
  if (r.res.result_int() != 200) {
    std::printf("%s\n", r.res.body().c_str());  // the Connect error JSON
    return 1;
  }
  edgepipe::gateway::v1::SignedResponse response;
  if (!response.ParseFromString(r.res.body())) return fail("the response is not a SignedResponse");

  http_client::request keys_req{http::verb::get, "/api/v1/public/keys", 11};
  auto keys = send(io, o["--public"], std::move(keys_req));
  auto keys_json = json::parse(keys.res.body(), nullptr, false);
  bool verified = false;
  if (keys_json.is_object() && keys_json["keys"].is_array())
    for (auto const& k : keys_json["keys"]) {
      edgepipe::crypto::ed25519_public_key pk{};
      if (k.value("key_id", "") != response.key_id() || !edgepipe::crypto::from_base64(k.value("public_key", ""), pk))
        continue;
      std::string input;
      edgepipe::crypto::append_signing_input(input, edgepipe::crypto::response_signing_fields{
          signed_request.device_session_id(), response.request_id(), response.result_code(), response.timestamp_ms(),
          response.payload_sha256()});
      edgepipe::crypto::sha256_digest payload_digest;
      edgepipe::crypto::sha256(response.payload(), payload_digest);
      verified = edgepipe::crypto::digest_equals(payload_digest, response.payload_sha256()) &&
                 edgepipe::crypto::ed25519_verify(response.signature(), input, edgepipe::crypto::as_bytes(pk));
    }
  std::printf("%s\n", json{{"request_id", response.request_id()},
                           {"result_code", response.result_code()},
                           {"payload", response.payload()},
                           {"key_id", response.key_id()},
                           {"verified", verified}}
                          .dump()
                          .c_str());
  return verified ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: edgepipe-cli keygen|register|call|subscribe [--option value]...\n", stderr);
    return 2;
  }
  auto o = options_of(argc, argv);
  std::string_view const command = argv[1];
  try {
    if (command == "keygen") return keygen(o);
    if (command == "register") return register_device(o);
    if (command == "call") return call(o);
    if (command == "subscribe") return subscribe(o);
  } catch (std::exception const& e) {
    return fail(e.what());
  }
  return fail("unknown command " + std::string{command});
}
