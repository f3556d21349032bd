// entry_table.hpp: the single-threaded slot engine under every cache. It owns what an entry is
// *besides* its key and value: expiry, weight, hash, liveness, the limits, the eviction policy,
// the stats and the free list of slot ids. It knows no keys and holds no values, so a binding can
// keep its own key -> slot map (a JS Map, a Python dict: user __eq__/__hash__ must never run
// under a core lock) and its own value array, and use this table for every decision. store<V>
// (store.hpp) is built from one table per shard, with the key and value in the table's record.
//
// The life of an entry (one slot):
//
//     absent --insert--> live --(now >= expiry)--> expired (still live in the table, but
//        ^                 |                         invisible: get()/is_live() say no)
//        |                 |                               |
//        |                 +--evict (max_items/max_bytes)--+--> removed, with a reason:
//        |                 +--erase---------------------------> evicted_items, evicted_bytes,
//        |                 +--clear---------------------------> expired, deleted, cleared
//        |                                                         |
//        +----------------- released (slot free, reusable) <------+
//
// Every removal calls the owner's callback `on_removed(slot, reason)` while the slot's record
// still holds its data; the owner drops its key -> slot mapping and takes the value out. When
// the callback returns the slot is released: it is on the free list and the next insert may
// hand it out again. So an owner must finish with a removed slot inside the callback (or at
// least before it stores anything for a slot returned by a later call).
//
// Expiry rule (everywhere in twincache): an entry set at time t with TTL d is live while
// now < t + d and expired from now >= t + d on. No TTL (and no default) means it never expires.
//
// Weight: an entry weighs key bytes + value weight + entry_overhead_bytes (options.hpp). A value
// whose weight exceeds max_value_bytes, or an entry whose weight exceeds max_bytes (or 2^32-1,
// the most one entry may weigh), is rejected with status_code::value_too_large and the table is
// left unchanged except for the `rejected` counter.
//
// Insert protocol (the one every cache runs, and the replay tool through this very code): the
// new entry is counted and handed to the policy first (on_insert), then victims are evicted
// while the budget is over. So the incoming key takes part in the policy's admission contest,
// and the policy never names the entry inserted last while another one is resident: a value
// just set can be read back at once (only an entry that alone breaks a limit is refused, with
// value_too_large). docs/architecture.md, "Eviction".
//
// Budgets: the shards of a store share one `budget` (atomic counters), so that max_items and
// max_bytes hold for the whole store. A standalone table has no shared budget: its own item and
// byte counts are the budget, plain integers (no locked atomic add on every insert and eviction:
// the bindings' hot path). insert() and update() evict from *this* table until the budget has
// room or the table has nothing else to give; a store then takes the rest from its other shards.
//
// Not thread-safe: the owner serializes every call (a shard lock, the GIL, the JS thread).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "twincache/clock.hpp"
#include "twincache/options.hpp"
#include "twincache/policy.hpp"
#include "twincache/stats.hpp"
#include "twincache/status.hpp"

namespace twincache {

// The expiry of an entry that never expires.
inline constexpr time_ns never = std::numeric_limits<time_ns>::max();
// The most one entry (key + value + overhead) may weigh: weights are stored in 32 bits.
inline constexpr std::uint64_t max_entry_weight = 0xFFFFFFFFu;

enum class removal_reason : std::uint8_t {
  evicted_items,  // to stay within max_items
  evicted_bytes,  // to stay within max_bytes
  expired,        // TTL passed (found by a lookup, a set, expire_batch or the cleaner)
  deleted,        // erase()
  cleared,        // clear()
};

constexpr std::string_view removal_reason_name(removal_reason r) noexcept {
  switch (r) {
    case removal_reason::evicted_items:
      return "evicted_items";
    case removal_reason::evicted_bytes:
      return "evicted_bytes";
    case removal_reason::expired:
      return "expired";
    case removal_reason::deleted:
      return "deleted";
    case removal_reason::cleared:
      return "cleared";
  }
  return "unknown";
}

enum class slot_state : std::uint8_t { free = 0, live = 1 };

// What the table keeps per slot (24 bytes). A slot is live exactly when its weight is non-zero:
// every entry weighs at least entry_overhead_bytes, and a released slot's meta is zeroed.
struct entry_meta {
  std::uint64_t hash = 0;    // the key's hash64 (policy sketches, the store's index)
  time_ns expiry = never;    // live while now < expiry
  std::uint32_t weight = 0;  // key + value + entry_overhead_bytes; 0: the slot is free
  std::uint32_t aux = 0;     // the owner's 32 bits (store<V>: the key's length)

  bool live() const noexcept { return weight != 0; }
  slot_state state() const noexcept { return live() ? slot_state::live : slot_state::free; }
};
static_assert(sizeof(entry_meta) == 24);

// Would `have + add` go over `limit` (or wrap)?
constexpr bool over_limit(std::uint64_t have, std::uint64_t add, std::uint64_t limit) noexcept {
  return have + add > limit || have + add < add;
}

// Item and byte counts against the limits, shared by the shards of one store, hence atomic (a
// standalone table counts in plain integers instead: see "Budgets" above).
class budget {
 public:
  explicit budget(const limits& l) noexcept : limits_(l) {}
  const limits& get_limits() const noexcept { return limits_; }
  std::uint64_t items() const noexcept { return items_.load(std::memory_order_relaxed); }
  std::uint64_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  // Would adding this much go over a limit? Which one (items first)?
  bool items_over(std::uint64_t add) const noexcept {
    return over_limit(items(), add, limits_.max_items);
  }
  bool bytes_over(std::uint64_t add) const noexcept {
    return over_limit(bytes(), add, limits_.max_bytes);
  }
  bool over() const noexcept { return items_over(0) || bytes_over(0); }
  void add(std::int64_t items, std::int64_t bytes) noexcept {
    items_.fetch_add(static_cast<std::uint64_t>(items), std::memory_order_relaxed);
    bytes_.fetch_add(static_cast<std::uint64_t>(bytes), std::memory_order_relaxed);
  }

 private:
  limits limits_;
  std::atomic<std::uint64_t> items_{0};
  std::atomic<std::uint64_t> bytes_{0};
};

// Checks one entry against the limits; on success `weight` is its weight. The messages name the
// parameter, the limit and the size: "value size must be at most max_value_bytes = 100 bytes
// (got 150 bytes)". Does not count anything.
status check_entry_size(const limits& l, std::uint64_t key_bytes, std::uint64_t value_weight,
                        std::uint64_t& weight);
// A TTL in nanoseconds, as the core receives it after parse_ttl: must be > 0.
status check_ttl_ns(std::string_view name, time_ns ttl);
// Limits plus an optional default TTL.
status validate_table_options(const limits& l, std::optional<time_ns> default_ttl);

struct no_payload {};

template <class Payload = no_payload>
class basic_entry_table {
 public:
  struct record {
    entry_meta meta;
    [[no_unique_address]] Payload payload{};
  };

  // `shared`: a budget shared with other tables (a store's shards), or null: the table's own
  // counts are its budget.
  // `share`: how many tables share it; each policy is sized for its share of the limits.
  // Preconditions: validate_table_options(l, default_ttl) is ok.
  basic_entry_table(const limits& l, policy_kind kind, std::shared_ptr<clock> clk = nullptr,
                    std::optional<time_ns> default_ttl = std::nullopt, budget* shared = nullptr,
                    unsigned share = 1)
      : shared_(shared),
        limits_(l),
        // Without any limit nothing is ever evicted, so every policy keeps the same entries and
        // the cheapest bookkeeping serves: lru's one list move per access. tinylfu's sketch
        // and ghost table would grow with the entries and cost a cache miss per insert for
        // nothing (13-16% of the profile of 2M inserts into an unbounded Python Cache).
        policy_(l.max_items == unlimited && l.max_bytes == unlimited ? policy_kind::lru : kind),
        clock_(clk ? std::move(clk) : clock::real()),
        default_ttl_(default_ttl) {
    // Policy weight units: bytes when max_bytes is a limit, else one unit per entry.
    weigh_bytes_ = l.max_bytes != unlimited;
    const std::uint64_t cap = weigh_bytes_ ? l.max_bytes : l.max_items;
    policy_capacity_ = cap == unlimited ? unlimited : std::max<std::uint64_t>(1, cap / share);
    policy_.set_capacity(policy_capacity_);
    size_policy_for_items();
  }

  // Replaces the tinylfu policy's constants (the replay tool's experiments: --set, the static
  // W-TinyLFU). Only on a table that has not handed out a slot yet, and only under tinylfu.
  void configure_tinylfu(const tinylfu_config& cfg) {
    if (policy_.tinylfu() == nullptr || !records_.empty()) return;
    policy_.reset(cfg);
    policy_.set_capacity(policy_capacity_);
    size_policy_for_items();
  }

  basic_entry_table(const basic_entry_table&) = delete;
  basic_entry_table& operator=(const basic_entry_table&) = delete;

  // ---- Writes. Each removal goes through on_removed(slot, reason); see the header comment.

  // Adds an entry for a key that has no live slot. On success `slot` is its slot, resident:
  // the entry is counted and given to the policy, then other entries are evicted while the
  // budget is over (see "Insert protocol" at the top). on_removed never sees `slot`. A rejected
  // entry (value_too_large) or a bad TTL (out_of_range) leaves the table unchanged.
  template <class OnRemoved>
  status insert(std::uint64_t hash, std::uint64_t key_bytes, std::uint64_t value_weight,
                std::optional<time_ns> ttl, std::uint32_t& slot, OnRemoved&& on_removed) {
    std::uint64_t w = 0;
    if (status st = admit(key_bytes, value_weight, ttl, w); !st.ok()) return st;
    slot = allocate();
    entry_meta& m = records_[slot].meta;
    m.hash = hash;
    m.expiry = expiry_for(ttl);
    m.weight = static_cast<std::uint32_t>(w);
    if (m.expiry != never) ++ttl_items_;
    ++items_;
    bytes_ += w;
    if (shared_) shared_->add(1, static_cast<std::int64_t>(w));
    policy_.on_insert(slot, hash, policy_weight(w));
    ++counters_.inserts;
    // The policy names the new slot only once it is the last one left here (then the rest of
    // the budget is the other tables' to give: the entry alone fits, admit() checked).
    make_room(0, 0, no_slot, 0, slot, on_removed);
    return {};
  }

  // The same key gets a new value: new weight, new expiry (the TTL restarts). Evicts other
  // entries only for the weight it adds. A rejected update leaves the old entry as it was.
  template <class OnRemoved>
  status update(std::uint32_t slot, std::uint64_t key_bytes, std::uint64_t value_weight,
                std::optional<time_ns> ttl, OnRemoved&& on_removed) {
    std::uint64_t w = 0;
    if (status st = admit(key_bytes, value_weight, ttl, w); !st.ok()) return st;
    entry_meta& m = records_[slot].meta;
    const std::uint64_t old_w = m.weight;
    // The entry counts as used: it must not be its own victim.
    policy_.on_weight_change(slot, policy_weight(old_w), policy_weight(w));
    if (w > old_w) make_room(0, w - old_w, slot, policy_weight(w), no_slot, on_removed);
    entry_meta& m2 = records_[slot].meta;
    if (m2.expiry != never) --ttl_items_;
    m2.expiry = expiry_for(ttl);
    if (m2.expiry != never) ++ttl_items_;
    m2.weight = static_cast<std::uint32_t>(w);
    bytes_ = bytes_ + w - old_w;
    if (shared_) shared_->add(0, static_cast<std::int64_t>(w) - static_cast<std::int64_t>(old_w));
    ++counters_.updates;
    return {};
  }

  // Removes a live slot for `reason` (counted).
  template <class OnRemoved>
  void remove(std::uint32_t slot, removal_reason reason, OnRemoved&& on_removed) {
    count_removal(reason);
    release(slot, reason, on_removed);
  }

  template <class OnRemoved>
  void erase(std::uint32_t slot, OnRemoved&& on_removed) {
    remove(slot, removal_reason::deleted, on_removed);
  }

  // Removes every entry (each counted as `cleared`); counters are kept. Returns how many.
  template <class OnRemoved>
  std::uint64_t clear(OnRemoved&& on_removed) {
    std::uint64_t n = 0;
    for (std::uint32_t s = 0; s < records_.size(); ++s) {
      if (!records_[s].meta.live()) continue;
      on_removed(s, removal_reason::cleared);
      ++n;
    }
    counters_.cleared += n;
    if (shared_) {
      shared_->add(-static_cast<std::int64_t>(items_), -static_cast<std::int64_t>(bytes_));
    }
    items_ = bytes_ = ttl_items_ = 0;
    policy_.clear();
    free_.clear();
    for (std::uint32_t s = static_cast<std::uint32_t>(records_.size()); s-- > 0;) {
      records_[s].meta = entry_meta{};
      free_.push_back(s);
    }
    scan_cursor_ = 0;
    return n;
  }

  // Evicts this table's victim for the budget's first exceeded limit. Returns false when the
  // budget is not over or the table has nothing to evict but `keep`.
  template <class OnRemoved>
  bool evict_one(std::uint32_t keep, OnRemoved&& on_removed) {
    if (items_ == 0 || !(items_over(0) || bytes_over(0))) return false;
    const removal_reason why =
        items_over(0) ? removal_reason::evicted_items : removal_reason::evicted_bytes;
    const std::uint32_t v = policy_.victim();
    if (v == no_slot || v == keep) return false;
    remove(v, why, on_removed);
    return true;
  }

  // Reclaims expired entries: looks at up to max_scanned slots from where the last call stopped
  // and removes up to max_removed expired ones. Returns how many it removed. The cleaner calls
  // this in small batches so that no lock is held long.
  template <class OnRemoved>
  std::uint64_t expire_batch(time_ns now, std::uint64_t max_removed, std::uint64_t max_scanned,
                             OnRemoved&& on_removed) {
    std::uint64_t removed = 0;
    const std::uint64_t n = records_.size();
    if (ttl_items_ == 0 || n == 0) return 0;
    for (std::uint64_t i = 0; i < max_scanned && i < n && removed < max_removed; ++i) {
      if (scan_cursor_ >= n) scan_cursor_ = 0;
      const std::uint32_t s = static_cast<std::uint32_t>(scan_cursor_++);
      const entry_meta& m = records_[s].meta;
      if (m.live() && now >= m.expiry) {
        remove(s, removal_reason::expired, on_removed);
        ++removed;
      }
    }
    return removed;
  }

  // ---- Reads.

  // Hot path: live and not expired at `now`.
  bool is_live(std::uint32_t slot, time_ns now) const noexcept {
    const entry_meta& m = records_[slot].meta;
    return m.live() && (m.expiry == never || now < m.expiry);
  }
  bool is_resident(std::uint32_t slot) const noexcept {
    return slot < records_.size() && records_[slot].meta.live();
  }

  // A lookup found `slot` (its key matched): a hit if it is live at now (policy told, counted),
  // else an expired entry is removed and a miss counted. Returns whether it was a hit.
  template <class OnRemoved>
  bool lookup(std::uint32_t slot, time_ns now, OnRemoved&& on_removed) {
    if (is_live(slot, now)) {
      hit(slot);
      return true;
    }
    if (records_[slot].meta.live()) {
      remove(slot, removal_reason::expired, on_removed);
    }
    ++counters_.misses;
    return false;
  }
  // Policy and counter side of a hit, for owners that checked liveness themselves.
  void hit(std::uint32_t slot) {
    policy_.on_access(slot, records_[slot].meta.hash);
    ++counters_.hits;
  }
  // Policy only (store<V> counts its hits outside the lock).
  void touch(std::uint32_t slot) { policy_.on_access(slot, records_[slot].meta.hash); }
  // A buffered hit on slot, whose key's hash the reader had: applied if the slot is still
  // resident. Hot path (the store's read-buffer drain): under tinylfu it reads no record, only
  // the policy's own node. A slot reused by another key since gets the new key's recency and the
  // old key's count, a loss of the same kind as the buffer's dropped positions.
  void touch_buffered(std::uint32_t slot, std::uint64_t hash) {
    if (tinylfu_policy* t = policy_.tinylfu()) {
      t->on_access_if_resident(slot, hash);
    } else if (is_resident(slot)) {
      touch(slot);
    }
  }
  void record_miss() noexcept { ++counters_.misses; }

  // ---- State.

  time_ns now() const noexcept { return clock_->now(); }
  const std::shared_ptr<clock>& get_clock() const noexcept { return clock_; }
  const limits& get_limits() const noexcept { return limits_; }
  std::optional<time_ns> default_ttl() const noexcept { return default_ttl_; }
  // The bookkeeping in use: lru for an unlimited table whatever was asked (see the constructor).
  policy_kind policy() const noexcept { return policy_.kind(); }
  any_policy& policy_impl() noexcept { return policy_; }

  // This table's entries and bytes (the budget's totals when it is the table's own).
  std::uint64_t size() const noexcept { return items_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  // Live entries that carry an expiry (the cleaner skips tables without any).
  std::uint64_t ttl_items() const noexcept { return ttl_items_; }
  // Slot ids handed out so far: every slot is < slot_count().
  std::uint32_t slot_count() const noexcept { return static_cast<std::uint32_t>(records_.size()); }

  record& at(std::uint32_t slot) noexcept { return records_[slot]; }
  const record& at(std::uint32_t slot) const noexcept { return records_[slot]; }
  const entry_meta& meta(std::uint32_t slot) const noexcept { return records_[slot].meta; }

  // Counters plus this table's items and bytes.
  ::twincache::stats stats() const noexcept {
    ::twincache::stats s = counters_;
    s.items = items_;
    s.bytes = bytes_;
    return s;
  }
  void reset_stats() noexcept { counters_ = ::twincache::stats{}; }

  // Bytes of memory the table itself holds (records, free list, not the policy).
  std::uint64_t memory_bytes() const noexcept {
    return records_.capacity() * sizeof(record) + free_.capacity() * sizeof(std::uint32_t);
  }

 private:
  status admit(std::uint64_t key_bytes, std::uint64_t value_weight, std::optional<time_ns> ttl,
               std::uint64_t& w) {
    if (ttl) {
      if (status st = check_ttl_ns("ttl", *ttl); !st.ok()) return st;
    }
    status st = check_entry_size(limits_, key_bytes, value_weight, w);
    if (!st.ok()) ++counters_.rejected;
    return st;
  }

  std::uint64_t policy_weight(std::uint64_t w) const noexcept { return weigh_bytes_ ? w : 1; }

  // The budget's checks: the shared one's, or this table's own counts.
  bool items_over(std::uint64_t add) const noexcept {
    return shared_ ? shared_->items_over(add) : over_limit(items_, add, limits_.max_items);
  }
  bool bytes_over(std::uint64_t add) const noexcept {
    return shared_ ? shared_->bytes_over(add) : over_limit(bytes_, add, limits_.max_bytes);
  }

  // Under a count limit the policy knows how many entries it will see: it sizes its sketch,
  // ghosts and duel for them at once (up to presized_entries; beyond that they grow with the
  // slots), so a table decides from its first eviction on as the replay tool's figures say.
  static constexpr std::uint64_t presized_entries = std::uint64_t{1} << 16;
  void size_policy_for_items() {
    if (!weigh_bytes_ && policy_capacity_ != unlimited) {
      policy_.expect_entries(std::min(policy_capacity_, presized_entries));
    }
  }

  time_ns expiry_for(std::optional<time_ns> ttl) const noexcept {
    const std::optional<time_ns> d = ttl ? ttl : default_ttl_;
    if (!d) return never;
    const time_ns t = clock_->now();
    return *d >= never - t ? never - 1 : t + *d;
  }

  // Evicts victims until the budget has room for add_items/add_bytes or this table has nothing
  // else to give. `keep` (an entry being updated) is never evicted: should the policy name it,
  // it leaves the policy for the rest of the loop and comes back as just inserted, with
  // keep_weight (its new policy weight). `fresh` (an entry just inserted) is never evicted
  // either: the policy names it only when it is the last entry, and then the loop stops.
  template <class OnRemoved>
  void make_room(std::uint64_t add_items, std::uint64_t add_bytes, std::uint32_t keep,
                 std::uint64_t keep_weight, std::uint32_t fresh, OnRemoved& on_removed) {
    bool keep_out = false;
    for (;;) {
      removal_reason why;
      if (items_over(add_items)) {
        why = removal_reason::evicted_items;
      } else if (bytes_over(add_bytes)) {
        why = removal_reason::evicted_bytes;
      } else {
        break;
      }
      if (policy_.size() == 0) break;
      const std::uint32_t v = policy_.victim();
      if (v == no_slot || v == fresh) break;
      if (v == keep) {
        policy_.on_remove(keep);
        keep_out = true;
        continue;
      }
      remove(v, why, on_removed);
    }
    if (keep_out) policy_.on_insert(keep, records_[keep].meta.hash, keep_weight);
  }

  void count_removal(removal_reason reason) noexcept {
    switch (reason) {
      case removal_reason::evicted_items:
        ++counters_.evicted_items;
        break;
      case removal_reason::evicted_bytes:
        ++counters_.evicted_bytes;
        break;
      case removal_reason::expired:
        ++counters_.expired;
        break;
      case removal_reason::deleted:
        ++counters_.deleted;
        break;
      case removal_reason::cleared:
        ++counters_.cleared;
        break;
    }
  }

  template <class OnRemoved>
  void release(std::uint32_t slot, removal_reason reason, OnRemoved& on_removed) {
    on_removed(slot, reason);
    entry_meta& m = records_[slot].meta;
    policy_.on_remove(slot);
    if (m.expiry != never) --ttl_items_;
    --items_;
    bytes_ -= m.weight;
    if (shared_) shared_->add(-1, -static_cast<std::int64_t>(m.weight));
    m = entry_meta{};
    free_.push_back(slot);
  }

  std::uint32_t allocate() {
    if (!free_.empty()) {
      const std::uint32_t s = free_.back();
      free_.pop_back();
      return s;
    }
    const std::uint32_t s = static_cast<std::uint32_t>(records_.size());
    records_.emplace_back();
    policy_.resize(static_cast<std::uint32_t>(records_.capacity()));
    // The policy reads resident slots' hashes from the records (no copy of its own).
    policy_.bind_hashes(&records_.data()->meta.hash, sizeof(record));
    return s;
  }

  budget* shared_;  // a store's shared budget, or null: items_ and bytes_ are the budget
  limits limits_;
  bool weigh_bytes_ = false;
  std::uint64_t policy_capacity_ = unlimited;  // the policy's budget, in its weight units
  any_policy policy_;
  std::shared_ptr<clock> clock_;
  std::optional<time_ns> default_ttl_;
  std::vector<record> records_;
  std::vector<std::uint32_t> free_;  // released slots, reused last-in first-out
  std::uint64_t items_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t ttl_items_ = 0;
  std::uint64_t scan_cursor_ = 0;
  ::twincache::stats counters_;  // items and bytes unused here: see items_, bytes_
};

// The table bindings use directly, with their own key -> slot map and value storage.
using entry_table = basic_entry_table<>;

}  // namespace twincache
