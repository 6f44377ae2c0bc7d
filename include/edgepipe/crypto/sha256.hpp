// SHA-256 through OpenSSL's EVP interface, which uses the CPU's SHA extensions.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace edgepipe::crypto {

inline constexpr std::size_t sha256_size = 32;
using sha256_digest = std::array<std::uint8_t, sha256_size>;

namespace detail {
// Fetched once per process: an implicit fetch per call would cost a provider lookup.
inline EVP_MD const* sha256_method() noexcept {
  static EVP_MD* const method = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return method;
}

struct md_ctx_free {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// One digest context per thread, reset per use: hashing allocates nothing per call.
inline EVP_MD_CTX* thread_md_ctx() noexcept {
  thread_local std::unique_ptr<EVP_MD_CTX, md_ctx_free> const ctx{EVP_MD_CTX_new()};
  return ctx.get();
}
}  // namespace detail

// SHA-256 of `data` into `out`; false only if OpenSSL fails (out of memory).
inline bool sha256(std::string_view data, sha256_digest& out) noexcept {
  EVP_MD const* method = detail::sha256_method();
  EVP_MD_CTX* ctx = detail::thread_md_ctx();
  unsigned int written = 0;
  return method != nullptr && ctx != nullptr && EVP_DigestInit_ex2(ctx, method, nullptr) == 1 &&
         EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx, out.data(), &written) == 1 && written == sha256_size;
}

// Constant-time comparison of a digest with untrusted bytes of any length.
inline bool digest_equals(sha256_digest const& digest, std::string_view claimed) noexcept {
  return claimed.size() == sha256_size && CRYPTO_memcmp(digest.data(), claimed.data(), sha256_size) == 0;
}

inline std::string_view as_bytes(sha256_digest const& digest) noexcept {
  return {reinterpret_cast<char const*>(digest.data()), digest.size()};
}

}  // namespace edgepipe::crypto
