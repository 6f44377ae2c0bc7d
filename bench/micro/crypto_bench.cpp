// The physical limit of a request: Ed25519 sign and verify (libsodium, strict) and
// SHA-256 (OpenSSL), at the sizes a payload takes.
#include <edgepipe/crypto/ed25519.hpp>
#include <edgepipe/crypto/sha256.hpp>
#include <edgepipe/crypto/signer.hpp>

#include <benchmark/benchmark.h>

#include <string>

namespace {

namespace c = edgepipe::crypto;

c::ed25519_signer const& key() {
  static auto const k = c::ed25519_signer::from_seed(std::string(32, '\x42'), "bench");
  return k;
}

void ed25519_sign(benchmark::State& state) {
  std::string const message(static_cast<std::size_t>(state.range(0)), 'm');
  for (auto _ : state) benchmark::DoNotOptimize(key().sign(message));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(ed25519_sign)->Arg(64)->Arg(1024)->Arg(65536);

void ed25519_verify(benchmark::State& state) {
  std::string const message(static_cast<std::size_t>(state.range(0)), 'm');
  auto const signature = key().sign(message);
  for (auto _ : state)
    benchmark::DoNotOptimize(c::ed25519_verify(c::as_bytes(signature), message, c::as_bytes(key().public_key())));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(ed25519_verify)->Arg(64)->Arg(1024)->Arg(65536);

void sha256(benchmark::State& state) {
  std::string const message(static_cast<std::size_t>(state.range(0)), 'm');
  c::sha256_digest digest;
  for (auto _ : state) {
    c::sha256(message, digest);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(sha256)->Arg(64)->Arg(256)->Arg(1024)->Arg(65536);

}  // namespace
