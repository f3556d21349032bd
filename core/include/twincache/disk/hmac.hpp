// disk/hmac.hpp: SHA-256 and HMAC-SHA256 (RFC 2104) for signing disk entries. Both are our own
// code (disk/sha256.hpp, which uses the CPU's SHA extensions where present: signing a 1 MiB value
// costs about half a millisecond instead of several), so the disk tier links no libcrypto.
// Tested with the FIPS 180-4 examples and the RFC 4231 vectors (tests/cpp/disk_hmac_test.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "twincache/disk/sha256.hpp"

namespace twincache::disk {

digest256 sha256(std::string_view data);

// HMAC-SHA256 of the concatenation of `parts` under `key`.
digest256 hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts);

// HMAC-SHA256 under one key for many messages: the key's inner and outer pads are hashed once,
// here, and every sign() starts from copies of those two states (two compression rounds fewer
// per message than hmac_sha256). The Node addon (node/src/redis_mac.cpp) and the Python disk
// module (python/src/disk_module.cpp, RedisMac) keep one per Redis secret.
class hmac_sha256_key {
 public:
  explicit hmac_sha256_key(std::string_view key);
  // The HMAC of the concatenation of `parts`; the same bytes as hmac_sha256(key, parts).
  digest256 sign(std::initializer_list<std::string_view> parts) const;

 private:
  sha256_ctx inner_;  // state after the key ^ 0x36 block
  sha256_ctx outer_;  // state after the key ^ 0x5c block
};

// Constant-time comparison of two digests.
bool digest_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept;

// Fills out with n bytes from the kernel's random source (getrandom). False on failure.
bool random_bytes(std::uint8_t* out, std::size_t n) noexcept;

}  // namespace twincache::disk
