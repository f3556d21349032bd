// store.cpp: the non-template parts of store.hpp: option checks and the automatic shard count.
#include "twincache/store.hpp"

#include <bit>
#include <string>
#include <thread>

namespace twincache {
namespace {

// A shard should hold enough entries for its policy to mean something; smaller caches get
// fewer shards (down to one, where policy=lru is exact LRU over the whole cache).
constexpr std::uint64_t min_items_per_shard = 128;
constexpr std::uint64_t min_bytes_per_shard = 128 * 1024;
constexpr unsigned max_shards = 1024;
constexpr unsigned max_auto_shards = 64;

}  // namespace

status validate(const store_options& o) {
  if (status st = validate_table_options(o.limits, o.default_ttl); !st.ok()) return st;
  if (o.shards != 0 && (o.shards > max_shards || !std::has_single_bit(o.shards))) {
    return {status_code::out_of_range,
            "shards must be 0 (automatic) or a power of two in [1, 1024] (got " +
                std::to_string(o.shards) + ")"};
  }
  return {};
}

unsigned shard_count_for(const store_options& o) {
  if (o.shards != 0) return o.shards;
  // Four shards per hardware thread keeps two threads on one shard rare.
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  unsigned n = std::bit_ceil(std::min(max_auto_shards, hw * 4));
  while (n > 1 && o.limits.max_items != unlimited && o.limits.max_items / n < min_items_per_shard) {
    n /= 2;
  }
  while (n > 1 && o.limits.max_bytes != unlimited && o.limits.max_bytes / n < min_bytes_per_shard) {
    n /= 2;
  }
  return n;
}

}  // namespace twincache
