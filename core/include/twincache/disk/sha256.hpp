// disk/sha256.hpp: SHA-256 (FIPS 180-4) for the disk tier's HMAC (disk/hmac.hpp), our own code
// (core/src/disk/sha256.cpp): no libcrypto. Incremental: update() any number of times, then
// finish() once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace twincache::disk {

using digest256 = std::array<std::uint8_t, 32>;

class sha256_ctx {
 public:
  // `portable`: always the plain C++ rounds (tests compare them with the SHA-extension ones).
  explicit sha256_ctx(bool portable = false);
  void update(const void* data, std::size_t len);
  digest256 finish();

 private:
  using blocks_fn = void (*)(std::uint32_t*, const std::uint8_t*, std::size_t);
  blocks_fn blocks_;
  std::uint32_t state_[8];
  std::uint8_t buffer_[64];
  std::size_t used_ = 0;      // bytes in buffer_
  std::uint64_t total_ = 0;   // bytes hashed so far
};

}  // namespace twincache::disk
