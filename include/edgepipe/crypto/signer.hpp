// The gateway's signing key: loaded once at start-up, used to sign responses and events.
#pragma once

#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/signing_input.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::crypto {

// Holds one Ed25519 key pair and its key id. Loading throws std::runtime_error with a
// message fit for a start-up refusal (it never contains key material); signing is
// noexcept. The secret key is wiped when the signer is destroyed.
class ed25519_signer {
 public:
  // From the 32-byte RFC 8032 seed.
  static ed25519_signer from_seed(std::string_view seed, std::string key_id) {
    if (seed.size() != ed25519_seed_size) throw std::runtime_error("Ed25519 seed must be 32 bytes");
    if (!crypto_ready()) throw std::runtime_error("libsodium failed to initialise");
    ed25519_signer signer{std::move(key_id)};
    crypto_sign_seed_keypair(signer.public_key_.data(), signer.secret_key_.data(),
                             reinterpret_cast<unsigned char const*>(seed.data()));
    return signer;
  }

  // From a PEM PKCS#8 private key, as `openssl genpkey -algorithm ed25519` writes it.
  static ed25519_signer from_pem(std::string_view pem, std::string key_id) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                  &BIO_free};
    if (!bio) throw std::runtime_error("out of memory reading the signer key");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free};
    if (!key) throw std::runtime_error("not a PEM private key");
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
      throw std::runtime_error("the private key is not an Ed25519 key");
    std::array<std::uint8_t, ed25519_seed_size> seed{};
    std::size_t seed_size = seed.size();
    if (EVP_PKEY_get_raw_private_key(key.get(), seed.data(), &seed_size) != 1 || seed_size != seed.size())
      throw std::runtime_error("cannot read the Ed25519 private key");
    auto signer = from_seed(as_bytes(seed), std::move(key_id));
    sodium_memzero(seed.data(), seed.size());
    return signer;
  }

  static ed25519_signer from_pem_file(std::string const& path, std::string key_id) {
    std::ifstream file{path, std::ios::binary};
    if (!file) throw std::runtime_error("cannot open " + path);
    std::string pem{std::istreambuf_iterator<char>{file}, std::istreambuf_iterator<char>{}};
    auto signer = from_pem(pem, std::move(key_id));
    sodium_memzero(pem.data(), pem.size());
    return signer;
  }

  ed25519_signer(ed25519_signer&& other) noexcept
      : key_id_{std::move(other.key_id_)}, public_key_{other.public_key_}, secret_key_{other.secret_key_} {
    sodium_memzero(other.secret_key_.data(), other.secret_key_.size());
  }
  ed25519_signer& operator=(ed25519_signer&&) = delete;
  ed25519_signer(ed25519_signer const&) = delete;
  ed25519_signer& operator=(ed25519_signer const&) = delete;
  ~ed25519_signer() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

  [[nodiscard]] std::string const& key_id() const noexcept { return key_id_; }
  [[nodiscard]] ed25519_public_key const& public_key() const noexcept { return public_key_; }

  [[nodiscard]] ed25519_signature sign(std::string_view message) const noexcept {
    ed25519_signature signature{};
    crypto_sign_detached(signature.data(), nullptr, reinterpret_cast<unsigned char const*>(message.data()),
                         message.size(), secret_key_.data());
    return signature;
  }

  // Signs the signing input of a response or an event (signing_input.hpp). The input is
  // built in a per-thread buffer that keeps its capacity, so steady-state signing does
  // not allocate.
  template <class Fields>
    requires requires(std::string& out, Fields const& f) { append_signing_input(out, f); }
  [[nodiscard]] ed25519_signature sign_fields(Fields const& fields) const {
    thread_local std::string input;
    input.clear();
    append_signing_input(input, fields);
    return sign(input);
  }

 private:
  explicit ed25519_signer(std::string key_id) : key_id_{std::move(key_id)} {}

  std::string key_id_;
  ed25519_public_key public_key_{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret_key_{};
};

}  // namespace edgepipe::crypto
