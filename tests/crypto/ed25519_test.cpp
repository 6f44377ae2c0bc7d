// Ed25519: RFC 8032 known answers, an independent cross-check with the openssl command,
// PEM loading, and strict verification (no non-canonical S, no small-order key or R).
#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>
#include <edgepipe/crypto/signing_input.hpp>

#include "../support/hex.hpp"
#include "../support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using namespace edgepipe::crypto;
using test_support::hex;
using test_support::unhex;

namespace {

struct rfc8032_vector {
  char const* seed;
  char const* public_key;
  char const* message;
  char const* signature;
};

// RFC 8032, section 7.1, tests 1 to 3.
rfc8032_vector const rfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

// PKCS#8 for an Ed25519 seed: a fixed 16-byte DER prefix, then the 32-byte seed.
std::string pem_of_seed(std::string const& seed) {
  std::string der = unhex("302e020100300506032b657004220420") + seed;
  return "-----BEGIN PRIVATE KEY-----\n" + to_base64(der) + "\n-----END PRIVATE KEY-----\n";
}

std::string le_add(std::string a, std::string const& b) {  // little-endian 256-bit a + b
  unsigned carry = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    unsigned sum = static_cast<unsigned char>(a[i]) + static_cast<unsigned char>(b[i]) + carry;
    a[i] = static_cast<char>(sum & 0xff);
    carry = sum >> 8;
  }
  return a;
}

}  // namespace

TEST_CASE("signing and verifying reproduce RFC 8032's test vectors", "[crypto][ed25519]") {
  for (auto const& v : rfc8032) {
    auto signer = ed25519_signer::from_seed(unhex(v.seed), "k1");
    CHECK(hex(as_bytes(signer.public_key())) == v.public_key);
    std::string const message = unhex(v.message);
    CHECK(hex(as_bytes(signer.sign(message))) == v.signature);
    CHECK(ed25519_verify(unhex(v.signature), message, unhex(v.public_key)));
  }
}

TEST_CASE("our signing input signature matches the openssl command's", "[crypto][ed25519]") {
  test_support::temp_dir dir;
  std::string const seed = unhex(rfc8032[1].seed);
  std::string const key_path = dir.write("key.pem", pem_of_seed(seed));

  sha256_digest h;
  REQUIRE(sha256("{\"text\":\"hi\"}", h));
  std::string input;
  append_signing_input(input, request_signing_fields{"dev-1", "user.echo", "req-0123456789abcdef", 1'700'000'000'000,
                                                     as_bytes(h)});
  std::string const input_path = dir.write("input.bin", input);
  std::string const sig_path = (dir.path() / "sig.bin").string();
  std::string const cmd = "openssl pkeyutl -sign -rawin -inkey " + key_path + " -in " + input_path + " -out " +
                          sig_path + " 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::string const openssl_signature = dir.read("sig.bin");

  auto signer = ed25519_signer::from_pem_file(key_path, "k1");
  CHECK(hex(as_bytes(signer.sign(input))) == hex(openssl_signature));
  CHECK(hex(as_bytes(signer.public_key())) == rfc8032[1].public_key);
  CHECK(ed25519_verify(openssl_signature, input, as_bytes(signer.public_key())));
}

TEST_CASE("loading a signer key refuses what is not an Ed25519 PKCS#8 key", "[crypto][ed25519]") {
  CHECK_THROWS_WITH(ed25519_signer::from_pem("not a key", "k1"), "not a PEM private key");
  test_support::temp_dir dir;
  std::string const rsa = dir.path() / "ec.pem";
  REQUIRE(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + rsa + " 2>/dev/null").c_str()) == 0);
  CHECK_THROWS_WITH(ed25519_signer::from_pem_file(rsa, "k1"), "the private key is not an Ed25519 key");
  CHECK_THROWS_WITH(ed25519_signer::from_pem_file((dir.path() / "missing.pem").string(), "k1"),
                    Catch::Contains("cannot open"));
}

TEST_CASE("verification is strict", "[crypto][ed25519]") {
  auto const& v = rfc8032[1];
  std::string const message = unhex(v.message);
  std::string const good_sig = unhex(v.signature);
  std::string const good_key = unhex(v.public_key);
  REQUIRE(ed25519_verify(good_sig, message, good_key));

  // The group order L, little-endian.
  std::string const L = unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  std::string const identity = unhex("0100000000000000000000000000000000000000000000000000000000000000");
  std::string const zero = std::string(32, '\0');

  SECTION("a non-canonical S (S + L) is rejected, though it satisfies the equation") {
    std::string sig = good_sig.substr(0, 32) + le_add(good_sig.substr(32), L);
    CHECK_FALSE(ed25519_verify(sig, message, good_key));
  }
  SECTION("small-order public keys are rejected, even with a signature a lax verifier accepts") {
    // With A and R the identity and S = 0, [S]B = R + [k]A holds for every message.
    std::string const trivial_sig = identity + zero;
    for (char const* small_order : {
             "0100000000000000000000000000000000000000000000000000000000000000",  // order 1
             "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // order 2
             "0000000000000000000000000000000000000000000000000000000000000000",  // order 4
             "0000000000000000000000000000000000000000000000000000000000000080",  // order 4
             "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  // order 8
             "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  // order 8
         }) {
      INFO(small_order);
      CHECK_FALSE(ed25519_verify(trivial_sig, message, unhex(small_order)));
      CHECK_FALSE(ed25519_verify(trivial_sig, "any other message", unhex(small_order)));
    }
  }
  SECTION("non-canonical public key encodings are rejected") {
    for (char const* non_canonical : {
             "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p
             "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p + 1
             "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  // y = p, sign bit set
         }) {
      INFO(non_canonical);
      CHECK_FALSE(ed25519_verify(identity + zero, message, unhex(non_canonical)));
    }
  }
  SECTION("a small-order R is rejected") {
    std::string sig = unhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a") + good_sig.substr(32);
    CHECK_FALSE(ed25519_verify(sig, message, good_key));
    CHECK_FALSE(ed25519_verify(identity + good_sig.substr(32), message, good_key));
  }
  SECTION("wrong lengths are rejected, never read past") {
    CHECK_FALSE(ed25519_verify(good_sig.substr(0, 63), message, good_key));
    CHECK_FALSE(ed25519_verify(good_sig + "x", message, good_key));
    CHECK_FALSE(ed25519_verify(good_sig, message, good_key.substr(0, 31)));
    CHECK_FALSE(ed25519_verify(good_sig, message, good_key + "x"));
    CHECK_FALSE(ed25519_verify("", message, ""));
  }
  SECTION("another key's signature, another message, or any flipped bit fails") {
    CHECK_FALSE(ed25519_verify(good_sig, message, unhex(rfc8032[0].public_key)));
    CHECK_FALSE(ed25519_verify(good_sig, message + "x", good_key));
    for (std::size_t bit = 0; bit < 512; bit += 7) {
      std::string sig = good_sig;
      sig[bit / 8] = static_cast<char>(sig[bit / 8] ^ (1 << (bit % 8)));
      INFO("bit " << bit);
      CHECK_FALSE(ed25519_verify(sig, message, good_key));
    }
  }
}

TEST_CASE("keys travel as standard base64 of 32 raw bytes", "[crypto]") {
  auto signer = ed25519_signer::from_seed(unhex(rfc8032[0].seed), "k1");
  std::string const b64 = to_base64(as_bytes(signer.public_key()));
  CHECK(b64 == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
  ed25519_public_key back{};
  CHECK(from_base64(b64, back));
  CHECK(back == signer.public_key());
  CHECK_FALSE(from_base64("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR==", back));  // wrong length
  CHECK_FALSE(from_base64("not base64!", back));
  CHECK_FALSE(from_base64(b64 + "AAAA", back));
}
