#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signing_input.hpp>

#include "../support/hex.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace edgepipe::crypto;
using test_support::hex;
using test_support::unhex;

namespace {
std::string const hello_sha256 = unhex("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

TEST_CASE("SHA-256 matches the FIPS 180-2 answers", "[crypto]") {
  sha256_digest d;
  REQUIRE(sha256("abc", d));
  CHECK(hex(as_bytes(d)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  REQUIRE(sha256("", d));
  CHECK(hex(as_bytes(d)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  REQUIRE(sha256("hello", d));
  CHECK(as_bytes(d) == hello_sha256);
  CHECK(digest_equals(d, hello_sha256));
  CHECK_FALSE(digest_equals(d, hello_sha256.substr(0, 31)));
  std::string flipped = hello_sha256;
  flipped[31] ^= 1;
  CHECK_FALSE(digest_equals(d, flipped));
}

TEST_CASE("the request signing input is laid out byte for byte as the contract says", "[crypto]") {
  std::string out;
  append_signing_input(out, request_signing_fields{"dev-1", "user.echo", "req-0123456789abcdef", 1'700'000'000'000,
                                                   hello_sha256});
  std::string const expected = std::string("edgepipe.v1.request") + '\0' +  //
                               unhex("00000005") + "dev-1" +                //
                               unhex("00000009") + "user.echo" +            //
                               unhex("00000014") + "req-0123456789abcdef" + //
                               unhex("0000018bcfe56800") +                  // 1 700 000 000 000 ms
                               hello_sha256;
  CHECK(hex(out) == hex(expected));
}

TEST_CASE("negative timestamps are big-endian two's complement", "[crypto]") {
  std::string out;
  append_signing_input(out, response_signing_fields{"d", "r", "ok", -2, hello_sha256});
  std::string const expected = std::string("edgepipe.v1.response") + '\0' + unhex("00000001") + "d" +
                               unhex("00000001") + "r" + unhex("00000002") + "ok" + unhex("fffffffffffffffe") +
                               hello_sha256;
  CHECK(hex(out) == hex(expected));
}

TEST_CASE("the event signing input carries subscription, event id and type", "[crypto]") {
  std::string out;
  append_signing_input(out, event_signing_fields{"dev-1", "sub-1", "e1", "lobby.joined", 1, hello_sha256});
  std::string const expected = std::string("edgepipe.v1.event") + '\0' + unhex("00000005") + "dev-1" +
                               unhex("00000005") + "sub-1" + unhex("00000002") + "e1" + unhex("0000000c") +
                               "lobby.joined" + unhex("0000000000000001") + hello_sha256;
  CHECK(hex(out) == hex(expected));
}

TEST_CASE("signing inputs parse back into the fields they were built from", "[crypto]") {
  std::string buf;
  append_signing_input(buf, request_signing_fields{"a:b.c", "lobby.join", "0123456789abcdefXYZ", -5, hello_sha256});
  auto req = parse_request_signing_input(buf);
  REQUIRE(req.has_value());
  CHECK(req->device_session_id == "a:b.c");
  CHECK(req->message_type == "lobby.join");
  CHECK(req->request_id == "0123456789abcdefXYZ");
  CHECK(req->timestamp_ms == -5);
  CHECK(req->payload_sha256 == hello_sha256);
  CHECK_FALSE(parse_response_signing_input(buf).has_value());  // another domain
  CHECK_FALSE(parse_request_signing_input(buf.substr(0, buf.size() - 1)).has_value());
  CHECK_FALSE(parse_request_signing_input(buf + "x").has_value());
}

TEST_CASE("a fixed buffer refuses to hold a truncated signing input", "[crypto]") {
  fixed_buffer<max_request_signing_input> fits;
  append_signing_input(fits, request_signing_fields{std::string(128, 'd'), std::string(128, 'm'),
                                                    std::string(64, 'r'), 0, hello_sha256});
  CHECK_FALSE(fits.overflow());
  CHECK(fits.view().size() == max_request_signing_input);

  fixed_buffer<max_request_signing_input> too_long;
  append_signing_input(too_long, request_signing_fields{std::string(129, 'd'), std::string(128, 'm'),
                                                        std::string(64, 'r'), 0, hello_sha256});
  CHECK(too_long.overflow());
}
