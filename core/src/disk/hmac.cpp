// hmac.cpp: HMAC-SHA256 (RFC 2104) over our SHA-256 (disk/sha256.hpp), and random bytes from
// the kernel (disk/hmac.hpp).
#include "twincache/disk/hmac.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>

#include "twincache/disk/sha256.hpp"

namespace twincache::disk {
namespace {

constexpr std::size_t block_size = 64;  // SHA-256's block

}  // namespace

digest256 sha256(std::string_view data) {
  sha256_ctx c;
  if (!data.empty()) c.update(data.data(), data.size());
  return c.finish();
}

hmac_sha256_key::hmac_sha256_key(std::string_view key) {
  // RFC 2104: keys longer than a block are hashed first, then zero-padded to the block size.
  std::uint8_t k[block_size] = {};
  if (key.size() > block_size) {
    const digest256 kh = sha256(key);
    std::copy(kh.begin(), kh.end(), k);
  } else {
    std::copy(key.begin(), key.end(), k);
  }
  std::uint8_t pad[block_size];
  for (std::size_t i = 0; i < block_size; ++i) pad[i] = k[i] ^ 0x36;
  inner_.update(pad, block_size);
  for (std::size_t i = 0; i < block_size; ++i) pad[i] = k[i] ^ 0x5c;
  outer_.update(pad, block_size);
}

digest256 hmac_sha256_key::sign(std::initializer_list<std::string_view> parts) const {
  sha256_ctx c = inner_;
  for (std::string_view p : parts) {
    if (!p.empty()) c.update(p.data(), p.size());
  }
  const digest256 inner = c.finish();
  c = outer_;
  c.update(inner.data(), inner.size());
  return c.finish();
}

digest256 hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts) {
  return hmac_sha256_key(key).sign(parts);
}

bool digest_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept {
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < n; ++i) diff |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

bool random_bytes(std::uint8_t* out, std::size_t n) noexcept {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = getrandom(out + done, n - done, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace twincache::disk
