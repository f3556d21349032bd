// hmac.cpp: HMAC-SHA256 (RFC 2104) over libcrypto's SHA-256 (disk/hmac.hpp).
#include "twincache/disk/hmac.hpp"

#include <openssl/evp.h>
#include <sys/random.h>

#include <cerrno>
#include <memory>
#include <stdexcept>

namespace twincache::disk {
namespace {

constexpr std::size_t block_size = 64;  // SHA-256's block

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using md_ctx = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;

// One reusable context per thread (creating one costs an allocation per call otherwise).
EVP_MD_CTX* thread_ctx() {
  thread_local md_ctx ctx(EVP_MD_CTX_new());
  if (!ctx) throw std::bad_alloc();
  return ctx.get();
}

// SHA-256 fetched from the default provider once. EVP_sha256() is a legacy handle that OpenSSL 3
// looks up again on every EVP_DigestInit_ex (name lookups, a hash table under a lock,
// allocations): in a profile of first reads after opening, that lookup was most of libcrypto's
// ~12% and the SHA-256 rounds themselves little. A fetched digest re-initializes the context it
// already set up.
const EVP_MD* sha256_md() {
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);  // never freed
  return fetched != nullptr ? fetched : EVP_sha256();
}

void digest_parts(const std::uint8_t* prefix, std::size_t prefix_len,
                  std::initializer_list<std::string_view> parts, digest256& out) {
  EVP_MD_CTX* c = thread_ctx();
  if (EVP_DigestInit_ex(c, sha256_md(), nullptr) != 1) throw std::runtime_error("sha256 init");
  if (prefix_len != 0) EVP_DigestUpdate(c, prefix, prefix_len);
  for (std::string_view p : parts) {
    if (!p.empty()) EVP_DigestUpdate(c, p.data(), p.size());
  }
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(c, out.data(), &n) != 1 || n != out.size()) {
    throw std::runtime_error("sha256 final");
  }
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
