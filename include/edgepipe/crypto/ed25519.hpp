// Ed25519 with libsodium: strict verification and deterministic signing.
//
// crypto_sign_verify_detached rejects a non-canonical S, a non-canonical or small-order
// public key and a small-order R; OpenSSL 3.0's verify accepts some of those, which is
// why verification is libsodium's.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgepipe::crypto {

inline constexpr std::size_t ed25519_public_key_size = crypto_sign_PUBLICKEYBYTES;  // 32
inline constexpr std::size_t ed25519_signature_size = crypto_sign_BYTES;            // 64
inline constexpr std::size_t ed25519_seed_size = crypto_sign_SEEDBYTES;            // 32

using ed25519_public_key = std::array<std::uint8_t, ed25519_public_key_size>;
using ed25519_signature = std::array<std::uint8_t, ed25519_signature_size>;

// libsodium must be initialised once before use; idempotent and thread-safe. Every
// function here calls it, so callers need not.
inline bool crypto_ready() noexcept {
  static bool const ready = sodium_init() >= 0;
  return ready;
}

// Strict verification. Wrong lengths are a failed verification, not an error.
inline bool ed25519_verify(std::string_view signature, std::string_view message,
                           std::string_view public_key) noexcept {
  if (signature.size() != ed25519_signature_size || public_key.size() != ed25519_public_key_size)
    return false;
  if (!crypto_ready()) return false;
  return crypto_sign_verify_detached(reinterpret_cast<unsigned char const*>(signature.data()),
                                     reinterpret_cast<unsigned char const*>(message.data()), message.size(),
                                     reinterpret_cast<unsigned char const*>(public_key.data())) == 0;
}

template <std::size_t N>
std::string_view as_bytes(std::array<std::uint8_t, N> const& a) noexcept {
  return {reinterpret_cast<char const*>(a.data()), a.size()};
}

// Standard base64 (with padding), as the keys endpoint and the backend's JSON carry keys.
inline std::string to_base64(std::string_view bytes) {
  crypto_ready();
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<unsigned char const*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Decodes standard base64 into `out`; false when `text` is not valid base64 or does not
// decode to exactly out.size() bytes.
template <std::size_t N>
bool from_base64(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (!crypto_ready()) return false;
  std::size_t written = 0;
  char const* end = nullptr;
  int const rc = sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &written, &end,
                                   sodium_base64_VARIANT_ORIGINAL);
  return rc == 0 && written == N && end == text.data() + text.size();
}

}  // namespace edgepipe::crypto
