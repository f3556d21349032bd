// store.hpp: the thread-safe cache of the core. store<V> maps keys (bytes, with their hash64)
// to values of the binding's type V, under the limits, TTLs and policy of entry_table.hpp, split
// into shards that each have their own lock, index and table.
//
// Per entry: the key bytes (inline up to 16 bytes, else one heap block), the 64-bit hash, the
// value, its weight (key bytes + value weight + entry_overhead_bytes) and its expiry, in one
// 24 + 16 + sizeof(V) byte record, plus one 8-byte bucket in the shard's open-addressing index
// (detail/flat_index.hpp) and the policy's links.
//
// Locks and what they guard:
//   shard::lock (striped reader-writer spin lock)  the shard's index, table (records, policy,
//       counters, free list) and the read buffers' replay positions. Exclusive for writes, for
//       hits under policy_kind::lru (every hit moves the entry: exact LRU) and to replay the
//       read buffers. Shared for lookups under policy_kind::tinylfu: each thread enters on its
//       own stripe (its own cache line), and a hit appends its slot to that stripe's lossy read
//       buffer (one atomic add on a line no other thread writes). Whoever next holds the lock
//       exclusively, or a reader that fills its buffer and wins a try_lock, replays the buffers
//       into the policy. A slot replayed after it was removed is skipped; one reused meanwhile
//       gets a harmless extra access.
//   release_lock_ (spin lock)  the release queue: values the cleaner reclaimed.
//   Order: cleaner registry mutex -> shard lock -> release_lock_. No call holds two shard locks.
//
// Values are never destroyed under a shard lock. Values a public call removes (evicted, expired,
// erased, cleared, replaced by an update) are moved out and destroyed by that call on its own
// thread after the lock is dropped. Values the cleaner reclaims go to the release queue and are
// destroyed by the next public call (any thread of the owner; one relaxed load when the queue
// is empty) or by drain_released(). So for Python, V may own a PyObject* whose destructor needs
// the GIL: the caller holds it, the cleaner never runs it. Requirements on V: nothrow default and
// move construction and move assignment, copy construction (get() copies the value out under the
// shard lock), and a moved-from V that is cheap to destroy on any thread (the cleaner's and the
// lock holder's) without calling back into a language runtime: an empty handle.
//
// Limits are the whole store's: the shards share one budget of items and bytes. A set evicts in
// its own shard first (the policy's victim there) and only when that shard has nothing left to
// give, from the others. Policies are per shard, so LRU order is exact within a shard; small
// caches (fewer than 128 items per shard) get fewer shards, down to one, which is exact LRU.
//
// Expired entries are never returned, whether or not the cleaner has run: get() and contains()
// check the expiry against the store's clock.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "twincache/cleaner.hpp"
#include "twincache/clock.hpp"
#include "twincache/detail/flat_index.hpp"
#include "twincache/detail/spin_lock.hpp"
#include "twincache/entry_table.hpp"
#include "twincache/hash.hpp"
#include "twincache/options.hpp"
#include "twincache/policy.hpp"
#include "twincache/stats.hpp"
#include "twincache/status.hpp"

namespace twincache {

struct store_options {
  ::twincache::limits limits;
  policy_kind policy = default_policy();
  std::optional<time_ns> default_ttl;         // nanoseconds, > 0; none: entries never expire
  std::shared_ptr<::twincache::clock> clock;  // null: clock::real()
  unsigned shards = 0;                        // 0: automatic; else a power of two <= 1024
};

enum class set_result : std::uint8_t { inserted, updated };

// Checks store options (limits, default TTL, shard count). Messages as in options.hpp.
status validate(const store_options& o);
// The shard count a store gets for these options (resolves shards = 0).
unsigned shard_count_for(const store_options& o);

template <class V>
class store final : public cleanable {
  static_assert(std::is_nothrow_default_constructible_v<V>, "V needs a noexcept empty state");
  static_assert(std::is_nothrow_move_constructible_v<V> && std::is_nothrow_move_assignable_v<V>,
                "V must move without throwing");
  static_assert(std::is_copy_constructible_v<V>, "get() copies V out");

 public:
  using value_type = V;
  static constexpr std::size_t inline_key_bytes = 16;
  static constexpr unsigned read_stripes = 4;            // reader stripes per shard
  static constexpr std::uint64_t read_buffer_size = 32;  // per stripe; a power of two

  static status validate(const store_options& o) { return ::twincache::validate(o); }

  // Throws std::invalid_argument with validate()'s message for bad options.
  explicit store(store_options o = {})
      : clock_(o.clock ? o.clock : clock::real()), policy_(o.policy), budget_(o.limits) {
    if (status st = validate(o); !st.ok()) throw std::invalid_argument(st.message());
    const unsigned n = shard_count_for(o);
    shard_mask_ = n - 1;
    shards_.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
      shards_.push_back(
          std::make_unique<shard>(o.limits, o.policy, clock_, o.default_ttl, &budget_, n));
    }
    cleaner::instance().add(this);
  }

  ~store() {
    cleaner::instance().remove(this);  // waits if the cleaner is inside this store
    for (auto& sh : shards_) {
      for (std::uint32_t s = 0; s < sh->table.slot_count(); ++s) {
        if (sh->table.meta(s).live()) free_key(sh->table.at(s));
      }
    }
  }

  // ---- Reads.

  // Copies the live value of key into out. Hot path: under tinylfu a hit takes the shard lock
  // shared and appends to the read buffer; under lru it takes it exclusive.
  bool get(std::string_view key, std::uint64_t hash, V& out) {
    shard& sh = shard_for(hash);
    if (policy_ == policy_kind::lru) return get_exclusive(sh, key, hash, out);
    const unsigned stripe = detail::this_thread_stripe();
    sh.lock.lock_shared(stripe);
    const std::uint32_t slot = find(sh, key, hash);
    if (slot != no_slot) {
      const record& rec = sh.table.at(slot);
      const time_ns exp = rec.meta.expiry;
      if (exp == never || clock_->now() < exp) {
        V copy(rec.payload.value);
        // Leaving and claiming a read-buffer position are one atomic add.
        const std::uint32_t position = sh.lock.unlock_shared_counted(stripe);
        record_read(sh, stripe, slot, hash, position);
        out = std::move(copy);
        drain_released_if_any();
        return true;
      }
      sh.lock.unlock_shared(stripe);
      return get_exclusive(sh, key, hash, out);  // expired: remove it
    }
    sh.lock.unlock_shared(stripe);
    sh.rings[stripe & (read_stripes - 1)].misses.fetch_add(1, std::memory_order_relaxed);
    drain_released_if_any();
    return false;
  }
  bool get(std::string_view key, V& out) { return get(key, hash64(key), out); }

  // Whether key is live. Counts nothing and does not touch the policy.
  bool contains(std::string_view key, std::uint64_t hash) {
    shard& sh = shard_for(hash);
    detail::shared_guard g(sh.lock);
    const std::uint32_t slot = find(sh, key, hash);
    return slot != no_slot && !expired(sh.table.meta(slot));
  }
  bool contains(std::string_view key) { return contains(key, hash64(key)); }

  // ---- Writes.

  // Inserts or replaces key's value. value_weight is what the value counts against max_bytes and
  // max_value_bytes; ttl (nanoseconds, > 0) overrides the store's default. value_too_large
  // (and out_of_range for a bad ttl) leave the store unchanged. `result`, when given, tells an
  // insert from an update.
  status set(std::string_view key, std::uint64_t hash, V value, std::uint64_t value_weight,
             std::optional<time_ns> ttl = std::nullopt, set_result* result = nullptr) {
    shard& sh = shard_for(hash);
    value_sink sink;  // destroyed after the lock is released
    status st;
    bool has_expiry = false;
    bool over = false;
    {
      std::lock_guard g(sh.lock);
      drain_reads(sh);
      auto on_removed = remover(sh, sink);
      std::uint32_t slot = find(sh, key, hash);
      if (slot != no_slot && expired(sh.table.meta(slot))) {
        sh.table.remove(slot, removal_reason::expired, on_removed);  // then this is an insert
        slot = no_slot;
      }
      if (slot != no_slot) {
        st = sh.table.update(slot, key.size(), value_weight, ttl, on_removed);
        if (st.ok()) {
          record& rec = sh.table.at(slot);
          sink.push(std::move(rec.payload.value));
          rec.payload.value = std::move(value);
          has_expiry = rec.meta.expiry != never;
          if (result) *result = set_result::updated;
        }
      } else {
        st = sh.table.insert(hash, key.size(), value_weight, ttl, slot, on_removed);
        if (st.ok()) {
          record& rec = sh.table.at(slot);
          store_key(rec, key);
          rec.payload.value = std::move(value);
          sh.index.insert(hash, slot);
          has_expiry = rec.meta.expiry != never;
          if (result) *result = set_result::inserted;
        }
      }
      over = st.ok() && budget_.over();
    }
    if (over) evict_elsewhere(sh);
    if (has_expiry) note_expiry();
    drain_released_if_any();
    return st;
  }
  // Removes key. Returns whether it was live (an expired entry is removed as `expired`).
  bool erase(std::string_view key, std::uint64_t hash) {
    shard& sh = shard_for(hash);
    value_sink sink;
    bool was_live = false;
    {
      std::lock_guard g(sh.lock);
      drain_reads(sh);
      const std::uint32_t slot = find(sh, key, hash);
      if (slot != no_slot) {
        was_live = !expired(sh.table.meta(slot));
        sh.table.remove(slot, was_live ? removal_reason::deleted : removal_reason::expired,
                        remover(sh, sink));
      }
    }
    drain_released_if_any();
    return was_live;
  }
  bool erase(std::string_view key) { return erase(key, hash64(key)); }

  // Removes every entry, each counted as `cleared`; counters are kept (see stats.hpp). Returns
  // how many entries it removed.
  std::uint64_t clear() {
    std::uint64_t n = 0;
    for (auto& p : shards_) {
      shard& sh = *p;
      value_sink sink;
      std::lock_guard g(sh.lock);
      drain_reads(sh);
      n += sh.table.clear([&](std::uint32_t s, removal_reason) {
        record& rec = sh.table.at(s);
        free_key(rec);
        sink.push(std::move(rec.payload.value));
      });
      sh.index.clear();
    }
    drain_released_if_any();
    return n;
  }

  // ---- Stats and state.

  // Counters summed over the shards (each shard read under its lock: a consistent view per
  // shard, not a global snapshot while writers run).
  ::twincache::stats stats() const {
    ::twincache::stats total;
    for (const auto& p : shards_) {
      shard& sh = *p;
      detail::shared_guard g(sh.lock);
      const ::twincache::stats s = sh.table.stats();
      total.hits += s.hits;
      total.misses += s.misses;
      for (unsigned i = 0; i < read_stripes; ++i) {
        const read_ring& r = sh.rings[i];
        total.hits += ring_hits(sh, i) - r.hits_base;
        total.misses += r.misses.load(std::memory_order_relaxed);
      }
      total.inserts += s.inserts;
      total.updates += s.updates;
      total.rejected += s.rejected;
      total.evicted_items += s.evicted_items;
      total.evicted_bytes += s.evicted_bytes;
      total.expired += s.expired;
      total.deleted += s.deleted;
      total.cleared += s.cleared;
      total.items += s.items;
      total.bytes += s.bytes;
    }
    return total;
  }

  // Zeroes the counters (not items and bytes).
  void reset_stats() {
    for (auto& p : shards_) {
      shard& sh = *p;
      std::lock_guard g(sh.lock);
      sh.table.reset_stats();
      for (unsigned i = 0; i < read_stripes; ++i) {
        read_ring& r = sh.rings[i];
        r.hits_base = ring_hits(sh, i);
        r.misses.store(0, std::memory_order_relaxed);
      }
    }
  }

  std::uint64_t size() const noexcept { return budget_.items(); }
  std::uint64_t bytes() const noexcept { return budget_.bytes(); }
  const ::twincache::limits& limits() const noexcept { return budget_.get_limits(); }
  policy_kind policy() const noexcept { return policy_; }
  unsigned shard_count() const noexcept { return shard_mask_ + 1; }
  const std::shared_ptr<::twincache::clock>& clock() const noexcept { return clock_; }

  // Calls f(std::string_view key, const V& value) for every live entry. Each shard's entries are
  // copied out under its lock and f runs after the lock is dropped, so f may call back into the
  // store (or into Python/JS). Entries set or removed meanwhile may or may not be seen.
  template <class F>
  void for_each(F&& f) {
    std::vector<std::pair<std::string, V>> snapshot;
    for (auto& p : shards_) {
      shard& sh = *p;
      snapshot.clear();
      {
        detail::shared_guard g(sh.lock);
        snapshot.reserve(sh.table.size());
        const time_ns now = clock_->now();
        for (std::uint32_t s = 0; s < sh.table.slot_count(); ++s) {
          if (!sh.table.is_live(s, now)) continue;
          const record& rec = sh.table.at(s);
          snapshot.emplace_back(std::string(key_data(rec), rec.meta.aux), rec.payload.value);
        }
      }
      for (auto& [k, v] : snapshot) f(std::string_view(k), std::as_const(v));
    }
  }

  // Destroys, on the calling thread, the values the cleaner reclaimed. Returns how many.
  std::uint64_t drain_released() {
    std::vector<V> local;
    {
      std::lock_guard g(release_lock_);
      local.swap(released_);
      released_count_.store(0, std::memory_order_relaxed);
    }
    return local.size();
  }
  // Values waiting in the release queue.
  std::uint64_t released_pending() const noexcept {
    return released_count_.load(std::memory_order_relaxed);
  }

  // ---- cleanable (the cleaner's thread and the fork handlers).

  std::uint64_t reclaim_expired() override {
    std::uint64_t total = 0;
    const time_ns now = clock_->now();
    for (auto& p : shards_) {
      shard& sh = *p;
      // One sweep looks at every slot: `full` batches of batch_scans slots cover the table, and a
      // batch that stops at batch_removals looked at fewer, so it earns one more batch. Then at
      // least `full` batches ran uncapped. (`full` is read again under each lock: sets on other
      // threads may grow the table.)
      std::uint64_t full = 1, capped = 0;
      for (std::uint64_t b = 0; b < full + capped; ++b) {
        std::lock_guard g(sh.lock);
        if (sh.table.ttl_items() == 0) break;
        full = (sh.table.slot_count() + cleaner::batch_scans - 1) / cleaner::batch_scans;
        drain_reads(sh);
        const std::uint64_t removed =
            sh.table.expire_batch(now, cleaner::batch_removals, cleaner::batch_scans,
                                  [&](std::uint32_t s, removal_reason) {
                                    record& rec = sh.table.at(s);
                                    sh.index.erase(rec.meta.hash, s);
                                    free_key(rec);
                                    std::lock_guard q(release_lock_);
                                    released_.push_back(std::move(rec.payload.value));
                                    released_count_.fetch_add(1, std::memory_order_relaxed);
                                  });
        total += removed;
        if (removed == cleaner::batch_removals) ++capped;
      }
    }
    return total;
  }

  void fork_prepare() noexcept override {
    for (auto& p : shards_) p->lock.lock();
    release_lock_.lock();
  }
  void fork_parent() noexcept override {
    release_lock_.unlock();
    for (auto& p : shards_) p->lock.unlock();
  }
  void fork_child() noexcept override {
    release_lock_.reset_after_fork();
    for (auto& p : shards_) p->lock.reset_after_fork();
  }

 private:
  struct payload {
    // The key when it has at most inline_key_bytes bytes; else its first 8 bytes hold a char*
    // to a heap copy owned by the slot (freed on removal). The length is the meta's aux.
    char key[inline_key_bytes];
    V value{};
  };
  using table_type = basic_entry_table<payload>;
  using record = typename table_type::record;

  // One reader stripe's lossy read buffer and counters. Its tail (the next position, and the
  // number of hits recorded here under tinylfu, mod 2^32) is the stripe's event count in the
  // shard's lock, bumped as a hit leaves the lock. slots, hashes and misses are written by the
  // threads on that stripe (atomics); head, hits and hits_base by the holder of the shard's
  // exclusive lock.
  struct alignas(64) read_ring {
    read_ring() {
      for (auto& s : slots) s.store(no_slot, std::memory_order_relaxed);
    }
    std::atomic<std::uint64_t> misses{0};  // misses found under the shared lock
    std::uint32_t head = 0;                // next position to replay (the tail at the last one)
    std::uint64_t hits = 0;                // hits recorded before head (64 bits: never wraps)
    std::uint64_t hits_base = 0;           // hits at the last reset_stats()
    std::atomic<std::uint32_t> slots[read_buffer_size];
    std::atomic<std::uint64_t> hashes[read_buffer_size];  // the hit keys' hashes, by position
  };

  struct alignas(64) shard {
    shard(const ::twincache::limits& l, policy_kind kind, std::shared_ptr<::twincache::clock> c,
          std::optional<time_ns> ttl, budget* b, unsigned n)
        : table(l, kind, std::move(c), ttl, b, n) {}
    // Guards index and table (records, policy, counters, free list) and the rings' head and
    // hits_base. Readers hold it shared on their own stripe, so they never share a written line.
    mutable detail::striped_rw_lock<read_stripes> lock;
    detail::flat_index index;
    table_type table;
    read_ring rings[read_stripes];
  };

  // Hits recorded on ring i so far. Caller holds sh.lock (shared or exclusive). Exact while a
  // stripe records fewer than 2^32 hits between two drains (a drain is tried every 32).
  static std::uint64_t ring_hits(const shard& sh, unsigned i) noexcept {
    const read_ring& r = sh.rings[i];
    return r.hits + static_cast<std::uint32_t>(sh.lock.events(i) - r.head);
  }

  // Values taken out under a lock, destroyed with this object after the lock is released. Two
  // inline places cover a set with one eviction without allocating.
  class value_sink {
   public:
    void push(V&& v) {
      if (n_ < 2) {
        inline_[n_++] = std::move(v);
      } else {
        more_.push_back(std::move(v));
      }
    }

   private:
    V inline_[2]{};
    unsigned n_ = 0;
    std::vector<V> more_;
  };

  shard& shard_for(std::uint64_t hash) const noexcept { return *shards_[hash & shard_mask_]; }

  static const char* key_data(const record& r) noexcept {
    if (r.meta.aux <= inline_key_bytes) return r.payload.key;
    const char* p;
    std::memcpy(&p, r.payload.key, sizeof p);
    return p;
  }
  static void store_key(record& r, std::string_view k) {
    r.meta.aux = static_cast<std::uint32_t>(k.size());
    if (k.size() <= inline_key_bytes) {
      if (!k.empty()) std::memcpy(r.payload.key, k.data(), k.size());
      return;
    }
    char* p = new char[k.size()];
    std::memcpy(p, k.data(), k.size());
    std::memcpy(r.payload.key, &p, sizeof p);
  }
  static void free_key(record& r) noexcept {
    if (r.meta.aux > inline_key_bytes) delete[] key_data(r);
  }

  // Hot path: equality of n bytes without a call for short keys. Overlapping loads from both
  // ends cover 4..16 bytes without reading past either buffer.
  static bool bytes_equal(const char* a, const char* b, std::size_t n) noexcept {
    if (n >= 8 && n <= 16) {
      std::uint64_t a0, b0, a1, b1;
      std::memcpy(&a0, a, 8);
      std::memcpy(&b0, b, 8);
      std::memcpy(&a1, a + n - 8, 8);
      std::memcpy(&b1, b + n - 8, 8);
      return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4 && n < 8) {
      std::uint32_t a0, b0, a1, b1;
      std::memcpy(&a0, a, 4);
      std::memcpy(&b0, b, 4);
      std::memcpy(&a1, a + n - 4, 4);
      std::memcpy(&b1, b + n - 4, 4);
      return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return n == 0 || std::memcmp(a, b, n) == 0;
  }

  // Hot path: index probe, then one record for length, bytes and (by the caller) expiry.
  std::uint32_t find(const shard& sh, std::string_view key, std::uint64_t hash) const noexcept {
    const std::uint32_t slot = sh.index.find(hash, [&](std::uint32_t s) {
      const record& r = sh.table.at(s);
      return r.meta.aux == key.size() && bytes_equal(key_data(r), key.data(), key.size());
    });
    return slot == detail::flat_index::npos ? no_slot : slot;
  }

  bool expired(const entry_meta& m) const noexcept {
    return m.expiry != never && clock_->now() >= m.expiry;
  }

  auto remover(shard& sh, value_sink& sink) {
    return [&sh, &sink](std::uint32_t s, removal_reason) {
      record& rec = sh.table.at(s);
      sh.index.erase(rec.meta.hash, s);
      free_key(rec);
      sink.push(std::move(rec.payload.value));
    };
  }

  // A lookup under the exclusive lock: policy lru, or an expired entry found under tinylfu.
  bool get_exclusive(shard& sh, std::string_view key, std::uint64_t hash, V& out) {
    value_sink sink;
    V copy{};
    bool hit = false;
    {
      std::lock_guard g(sh.lock);
      drain_reads(sh);
      const std::uint32_t slot = find(sh, key, hash);
      if (slot == no_slot) {
        sh.table.record_miss();
      } else {
        const time_ns now = sh.table.meta(slot).expiry == never ? 0 : clock_->now();
        hit = sh.table.lookup(slot, now, remover(sh, sink));
        if (hit) copy = sh.table.at(slot).payload.value;
      }
    }
    if (hit) out = std::move(copy);
    drain_released_if_any();
    return hit;
  }

  // Hot path under tinylfu: two relaxed stores (slot and hash) at the position the reader's
  // unlock_shared_counted() returned, on lines only its stripe writes; every
  // read_buffer_size-th hit there tries to replay the buffers.
  void record_read(shard& sh, unsigned stripe, std::uint32_t slot, std::uint64_t hash,
                   std::uint32_t t) {
    read_ring& r = sh.rings[stripe & (read_stripes - 1)];
    r.slots[t & (read_buffer_size - 1)].store(slot, std::memory_order_relaxed);
    r.hashes[t & (read_buffer_size - 1)].store(hash, std::memory_order_relaxed);
    if ((t & (read_buffer_size - 1)) == read_buffer_size - 1 && sh.lock.try_lock()) {
      drain_reads(sh);
      sh.lock.unlock();
    }
  }

  // Replays the read buffers into the policy. Caller holds sh.lock exclusively. Lossy: a
  // position overwritten before it was replayed is skipped, one claimed but not yet written
  // replays the slot (or hash) of a lap before, and a slot removed since is ignored.
  void drain_reads(shard& sh) {
    if (policy_ == policy_kind::lru) return;
    for (unsigned i = 0; i < read_stripes; ++i) {
      read_ring& r = sh.rings[i];
      const std::uint32_t tail = sh.lock.events(i);
      std::uint32_t head = r.head;
      r.hits += static_cast<std::uint32_t>(tail - head);
      if (static_cast<std::uint32_t>(tail - head) > read_buffer_size) {
        head = tail - read_buffer_size;  // lapped: the oldest positions were overwritten
      }
      for (; head != tail; ++head) {
        const std::uint32_t at = head & (read_buffer_size - 1);
        const std::uint32_t s = r.slots[at].load(std::memory_order_relaxed);
        if (s != no_slot) sh.table.touch_buffered(s, r.hashes[at].load(std::memory_order_relaxed));
      }
      r.head = tail;
    }
  }

  // The budget is still over after a set evicted all it could from its own shard.
  void evict_elsewhere(shard& from) {
    const std::size_t n = shards_.size();
    std::size_t start = 0;
    while (shards_[start].get() != &from) ++start;
    for (std::size_t i = 1; i < n && budget_.over(); ++i) {
      shard& sh = *shards_[(start + i) % n];
      value_sink sink;
      std::lock_guard g(sh.lock);
      drain_reads(sh);
      while (sh.table.evict_one(no_slot, remover(sh, sink))) {
      }
    }
  }

  void note_expiry() {
    if (!wants_cleaning_.load(std::memory_order_relaxed)) {
      wants_cleaning_.store(true, std::memory_order_relaxed);
    }
    cleaner::instance().ensure_running();
  }

  void drain_released_if_any() {
    if (released_count_.load(std::memory_order_relaxed) != 0) drain_released();
  }

  // Read by every call: kept apart from the lines that writers change.
  std::shared_ptr<::twincache::clock> clock_;
  policy_kind policy_;
  std::uint64_t shard_mask_ = 0;
  std::vector<std::unique_ptr<shard>> shards_;
  alignas(64) budget budget_;  // shared by every shard's table; written by every insert/removal
  alignas(64) detail::spin_lock release_lock_;  // guards released_
  std::vector<V> released_;                     // values the cleaner reclaimed, for the owner
  std::atomic<std::uint64_t> released_count_{0};
};

}  // namespace twincache
