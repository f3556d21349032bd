// stats.hpp: the counters every cache keeps, with one meaning in C++, Python and Node.
#pragma once

#include <cstdint>

namespace twincache {

// A point-in-time copy of a cache's counters. Counters only grow, except through
// reset_stats(); `items` and `bytes` are current sizes.
//
// clear() removes every entry and counts each as `cleared`; it does NOT reset counters.
// reset_stats() zeroes the counters (not items/bytes). functools' cache_clear() does both.
struct stats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;     // lookups that found nothing live (absent or expired)
  std::uint64_t inserts = 0;    // sets of a key that was absent
  std::uint64_t updates = 0;    // sets of a key that was live (value replaced in place)
  std::uint64_t rejected = 0;   // sets refused: value over max_value_bytes / max_bytes
  // Removals, by reason.
  std::uint64_t evicted_items = 0;  // to stay within max_items
  std::uint64_t evicted_bytes = 0;  // to stay within max_bytes
  std::uint64_t expired = 0;        // TTL passed (found on access or by the cleaner)
  std::uint64_t deleted = 0;        // erase() of a live key
  std::uint64_t cleared = 0;        // clear()
  // Current sizes.
  std::uint64_t items = 0;
  std::uint64_t bytes = 0;  // sum of entry weights (key + value + entry_overhead_bytes)

  std::uint64_t evictions() const noexcept { return evicted_items + evicted_bytes; }
};

}  // namespace twincache
