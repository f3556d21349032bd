// hash.hpp: the project's two hash functions, both from xxHash (compiled inline, no runtime
// library). hash64 (XXH3-64) places keys in shards and index buckets inside one process.
// hash128 (XXH3-128) names a key wherever it leaves the process (disk tier, cross-language
// vectors); its output is frozen by tests/vectors/keys.json. absl::Hash and std::hash are never
// used for anything that leaves the process: they are seeded per process or unspecified.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

namespace twincache {

struct hash128 {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  friend bool operator==(const hash128&, const hash128&) = default;
};

// Hot path: XXH3-64 over the key bytes.
inline std::uint64_t hash64(std::string_view bytes) noexcept {
  return XXH3_64bits(bytes.data(), bytes.size());
}

// The hash the eviction policy sees for an integer key, in every binding (Python's hash of an
// int, Node's number keys) and in the replay tool: XXH3-64 of its 8 little-endian bytes. One
// function, so a trace of integer keys meets the same sketch collisions and the same duel sample
// through Python, Node and bench/hitratio, and makes the same decisions.
inline std::uint64_t hash64_int(std::uint64_t v) noexcept {
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(v >> (8 * i));
  return XXH3_64bits(bytes, sizeof bytes);
}

inline hash128 hash128_of(std::string_view bytes) noexcept {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return {h.high64, h.low64};
}

// xxHash's canonical form: 32 lowercase hex digits, high half first (as `xxhsum -H2` prints).
inline std::string to_hex(const hash128& h) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = digits[(h.high >> (4 * i)) & 0xF];
    out[31 - i] = digits[(h.low >> (4 * i)) & 0xF];
  }
  return out;
}

}  // namespace twincache
