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

void digest_parts(const std::uint8_t* prefix, std::size_t prefix_len,
                  std::initializer_list<std::string_view> parts, digest256& out) {
  sha256_ctx c;
  if (prefix_len != 0) c.update(prefix, prefix_len);
  for (std::string_view p : parts) {
    if (!p.empty()) c.update(p.data(), p.size());
  }
  out = c.finish();
}

}  // namespace

digest256 sha256(std::string_view data) {
  digest256 out{};
  digest_parts(nullptr, 0, {data}, out);
  return out;
}

digest256 hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts) {
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
  digest256 inner{};
  digest_parts(pad, block_size, parts, inner);
  for (std::size_t i = 0; i < block_size; ++i) pad[i] = k[i] ^ 0x5c;
  digest256 out{};
  digest_parts(pad, block_size,
               {std::string_view(reinterpret_cast<const char*>(inner.data()), inner.size())}, out);
  return out;
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
