// detail/flat_index.hpp: a shard's key index. Open addressing with linear probing over 8-byte
// buckets, each holding a 32-bit hash tag and a 32-bit slot id (+1, so 0 means empty). Deletion
// shifts the following buckets back (no tombstones), so probe sequences stay short however many
// erases happen. The index never reads keys: find() hands candidate slots to the caller's
// comparison.
//
// The tag is the upper 32 bits of the key's hash64; its low bits pick the home bucket, so the
// index can rehash itself without the keys. (Stores pick shards with the hash's low bits, which
// keeps the two choices independent.)
//
// Not thread-safe: the owning shard's lock guards it.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

namespace twincache::detail {

class flat_index {
 public:
  static constexpr std::uint32_t npos = 0xFFFFFFFFu;

  flat_index() { reset(min_capacity); }

  static std::uint32_t tag_of(std::uint64_t hash) noexcept {
    return static_cast<std::uint32_t>(hash >> 32);
  }

  // Hot path: the first bucket is usually the answer; 8 buckets share a cache line.
  template <class Eq>
  std::uint32_t find(std::uint64_t hash, Eq&& eq) const noexcept {
    const std::uint32_t tag = tag_of(hash);
    for (std::uint64_t pos = tag & mask_;; pos = (pos + 1) & mask_) {
      const std::uint64_t b = buckets_[pos];
      if (b == 0) return npos;
      if (static_cast<std::uint32_t>(b >> 32) == tag) {
        const std::uint32_t slot = static_cast<std::uint32_t>(b) - 1;
        if (eq(slot)) return slot;
      }
    }
  }

  // Adds slot under hash; the caller knows the key is absent.
  void insert(std::uint64_t hash, std::uint32_t slot) {
    if ((size_ + 1) * 4 > (mask_ + 1) * 3) grow();
    place(make_bucket(tag_of(hash), slot));
    ++size_;
  }

  // Removes slot, which must be present under hash.
  void erase(std::uint64_t hash, std::uint32_t slot) noexcept {
    const std::uint32_t tag = tag_of(hash);
    const std::uint64_t want = make_bucket(tag, slot);
    std::uint64_t i = tag & mask_;
    while (buckets_[i] != want) i = (i + 1) & mask_;
    // Backward shift: pull each following bucket into the hole when the hole lies between its
    // home and its current position.
    for (std::uint64_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      const std::uint64_t b = buckets_[j];
      if (b == 0) break;
      const std::uint64_t home = static_cast<std::uint32_t>(b >> 32) & mask_;
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        buckets_[i] = b;
        i = j;
      }
    }
    buckets_[i] = 0;
    --size_;
  }

  void clear() { reset(min_capacity); }
  // Forgets every slot and sizes the table so that `entries` slots fit without growing (insert
  // then never allocates).
  void clear_for(std::uint64_t entries) {
    std::uint64_t cap = min_capacity;
    while (cap * 3 < entries * 4) cap *= 2;
    reset(cap);
  }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t capacity() const noexcept { return mask_ + 1; }
  std::uint64_t memory_bytes() const noexcept { return capacity() * sizeof(std::uint64_t); }

 private:
  static constexpr std::uint64_t min_capacity = 8;

  static std::uint64_t make_bucket(std::uint32_t tag, std::uint32_t slot) noexcept {
    return (static_cast<std::uint64_t>(tag) << 32) | (static_cast<std::uint64_t>(slot) + 1);
  }
  void place(std::uint64_t b) noexcept {
    std::uint64_t pos = static_cast<std::uint32_t>(b >> 32) & mask_;
    while (buckets_[pos] != 0) pos = (pos + 1) & mask_;
    buckets_[pos] = b;
  }
  void reset(std::uint64_t cap) {
    buckets_ = std::make_unique<std::uint64_t[]>(cap);  // zeroed: all empty
    mask_ = cap - 1;
    size_ = 0;
  }
  void grow() {
    std::unique_ptr<std::uint64_t[]> old = std::move(buckets_);
    const std::uint64_t old_cap = mask_ + 1;
    const std::uint64_t n = size_;
    reset(old_cap * 2);
    for (std::uint64_t i = 0; i < old_cap; ++i) {
      if (old[i] != 0) place(old[i]);
    }
    size_ = n;
  }

  std::unique_ptr<std::uint64_t[]> buckets_;
  std::uint64_t mask_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace twincache::detail
