// policy_tinylfu.hpp: the default eviction policy, adaptive W-TinyLFU, behind policy.hpp's
// contract (slot ids, single-threaded, victim()/on_remove protocol).
//
// Design (reimplemented from Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", ACM ToS 2017, and Einziger et al., "Adaptive Software Cache Management",
// Middleware 2018; no code copied):
//   * window: a small LRU that every new entry enters; it absorbs bursts of recency.
//   * main: a segmented LRU, probation (entries admitted from the window) and protected (entries
//     hit again while in probation; ~80% of main). Protected overflow is demoted to probation.
//   * admission: when the window overflows, its LRU entry (the candidate) competes with main's
//     victim (probation's LRU entry); the one with the higher estimated frequency stays. A warm
//     candidate that loses still gets in with probability 1/128, so an attacker cannot pin main
//     by flooding the sketch with colliding hashes.
//   * the fresh entry: victim() never names the slot inserted last while any other slot is
//     resident. It counts in its region's weight, but it is skipped as a candidate and as main's
//     victim: when it alone overflows the window (a window smaller than one entry, or an entry
//     heavier than the window) the contest is between the others, and it becomes the window's
//     candidate at the next insert. So a value just written can be read back at once; admission
//     decides which *other* entry leaves (docs/architecture.md, "Eviction").
//   * frequency sketch: a 4-bit count-min sketch, 4 counters per key inside one 64-byte block
//     (one cache line per increment), halved every 10 x entries additions so old popularity ages.
//   * adaptation (ghost steering): the window's share of the capacity moves to where the hit
//     density at the regions' edges is higher. A direct-mapped table remembers recently evicted
//     keys (fingerprint, why they left: rejected from the window or evicted from main, and when,
//     counted in evictions of that kind). A miss on a ghost at most max(3% x entries, 12)
//     evictions old is a hit that a slightly larger window (or main) would have made: the
//     window's edge moves two entries that way. Recency-heavy traces grow the window within a
//     few hundred misses; loops, scans and frequency-skewed traces keep it small. A
//     Caffeine-style hill climber on the sampled hit ratio is built in but off by default (it
//     gained nothing on top).
//   * the LRU duel: one key in R (R >= 8) also runs through an exact miniature LRU. The duel's
//     states are
//       sampling --LRU beats the policy decisively on the carried evidence--> latched
//       sampling --the policy leads decisively, or misses too rarely for LRU to win--> asleep
//       asleep --duel_sleep x epoch x R misses--> sampling (a fresh contest)
//     A sleeping duel samples nothing, so hits pay nothing for it. A latched policy is exact
//     LRU (window = whole cache, no sampling) until clear() or set_capacity(); clear() or a new
//     capacity also wakes a sleeping duel. Once latched, a hit on an entry still in main moves it
//     into the window, so what is used survives and what is not leaves first, as in LRU
//     (evicting main in main's order would throw out entries hit a moment ago). zigzag, where
//     every key has the same frequency and LRU is optimal, is the trace that needs it.
// Every operation is O(1) amortized; on_access (the hit path, applied in batches from the
// store's read buffer) is one list move, plus one sketch increment unless the entry is in
// protected (plus a mini LRU step for a sampled key while the duel is awake), and never
// allocates.
// Constants and the experiments behind them: docs/hit-ratio.md.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "twincache/detail/flat_index.hpp"
#include "twincache/policy_lru.hpp"

namespace twincache {

// 4-bit count-min sketch with periodic halving ("reset" in the TinyLFU paper). Each key's four
// counters live in one 64-byte block of 8 words: counter i sits in word 2i or 2i+1 of the block.
class frequency_sketch {
 public:
  static constexpr unsigned max_count = 15;

  // Sizes the table for about `entries` distinct resident keys (grows only). Growing keeps every
  // estimate: a key's block index only gains high bits, so each new block starts as a copy of
  // the old block its low bits name (an owner's table grows its slots as it fills, and counts
  // forgotten then would make the filled cache admit worse than one sized at once).
  // words_per_entry: table words (16 counters each) per entry before rounding to a power of two.
  void ensure_capacity(std::uint64_t entries, double words_per_entry = 1.0) {
    entries = std::clamp<std::uint64_t>(entries, 8, std::uint64_t{1} << 26);
    const std::uint64_t words = std::bit_ceil(std::max<std::uint64_t>(
        8, static_cast<std::uint64_t>(words_per_entry * double(entries))));
    if (words <= table_.size()) return;
    std::vector<std::uint64_t> grown(words, 0);
    if (!table_.empty()) {
      const std::uint64_t old_mask = block_mask_;
      for (std::uint64_t b = 0; b < words / 8; ++b) {
        std::copy_n(&table_[(b & old_mask) * 8], 8, &grown[b * 8]);
      }
    }
    table_.swap(grown);
    block_mask_ = (words / 8) - 1;
    sample_size_ = 10 * entries;
  }

  // Estimated number of recent accesses of a hash, 0..15.
  unsigned frequency(std::uint64_t hash) const noexcept {
    if (table_.empty()) return 0;
    const std::uint64_t h = spread(hash);
    const std::uint64_t* block = &table_[(h >> 32 & block_mask_) * 8];
    unsigned f = max_count;
    for (unsigned i = 0; i < 4; ++i) {
      const unsigned sel = static_cast<unsigned>(h >> (i * 8));
      const std::uint64_t word = block[2 * i + (sel & 1)];
      f = std::min(f, static_cast<unsigned>(word >> (((sel >> 1) & 15) * 4)) & 15u);
    }
    return f;
  }

  // Hot path: one cache line, four branch-free 4-bit saturating increments; every sample_size
  // increments all counters are halved.
  void increment(std::uint64_t hash) noexcept {
    if (table_.empty()) return;
    const std::uint64_t h = spread(hash);
    std::uint64_t* const block = table_.data() + (h >> 32 & block_mask_) * 8;
    for (unsigned i = 0; i < 4; ++i) {
      const unsigned sel = static_cast<unsigned>(h >> (i * 8));
      std::uint64_t& word = block[2 * i + (sel & 1)];
      const unsigned shift = ((sel >> 1) & 15) * 4;
      word += std::uint64_t{((word >> shift) & 15u) != max_count} << shift;
    }
    if (++additions_ >= sample_size_) halve();
  }

  void clear() noexcept {
    std::fill(table_.begin(), table_.end(), 0);
    additions_ = 0;
  }
  std::uint64_t sample_size() const noexcept { return sample_size_; }
  std::uint64_t table_words() const noexcept { return table_.size(); }

  // Divides every counter by two (aging). O(table), once per sample_size additions.
  void halve() noexcept {
    for (std::uint64_t& w : table_) w = (w >> 1) & 0x7777777777777777ull;
    additions_ /= 2;
  }

 private:
  // Callers' hashes are good (XXH3), but tests and tools pass small integers: remix them.
  static std::uint64_t spread(std::uint64_t x) noexcept {
    x ^= x >> 31;
    x *= 0x7FB5D329728EA185ull;
    x ^= x >> 27;
    x *= 0x81DADEF4BC2DD44Dull;
    x ^= x >> 33;
    return x;
  }

  std::vector<std::uint64_t> table_;
  std::uint64_t block_mask_ = 0;
  std::uint64_t sample_size_ = 0;
  std::uint64_t additions_ = 0;
};

// An exact LRU over 32-bit keys with a budget in weight units, for tinylfu_policy's LRU duel: it
// sees only the sampled keys, so it stays small (at most ~2 x 1,024 keys per policy). The order
// is an lru_policy over slots; the keys find their slots through a flat_index sized in reset(),
// so access() never allocates. Not a hot path: a hit reaches it only for a sampled key.
class mini_lru {
 public:
  void reset(std::uint64_t budget, std::uint32_t max_keys) {
    max_keys = std::max<std::uint32_t>(1, max_keys);
    budget_ = budget;
    weight_ = 0;
    order_ = lru_policy{};
    order_.resize(max_keys);
    index_.clear_for(max_keys);
    keys_.assign(max_keys, 0);
    weights_.assign(max_keys, 0);
    free_.clear();
    for (std::uint32_t s = max_keys; s-- > 0;) free_.push_back(s);
  }
  bool empty() const noexcept { return keys_.empty(); }
  std::uint64_t budget() const noexcept { return budget_; }
  std::uint64_t weight() const noexcept { return weight_; }

  // Whether the key was resident (an LRU hit). Afterwards it is the most recently used key,
  // unless it weighs more than the whole budget (LRU would not keep it either).
  bool access(std::uint32_t key, std::uint64_t w) noexcept {
    const auto w32 = static_cast<std::uint32_t>(std::min<std::uint64_t>(w, 0xFFFFFFFFu));
    std::uint32_t s = find(key);
    if (s != detail::flat_index::npos) {
      weight_ = weight_ - weights_[s] + w32;
      weights_[s] = w32;
      order_.on_access(s, 0);
      trim(s);
      return true;
    }
    if (w32 > budget_) return false;
    if (free_.empty()) remove(order_.victim());
    s = free_.back();
    free_.pop_back();
    keys_[s] = key;
    weights_[s] = w32;
    weight_ += w32;
    index_.insert(index_hash(key), s);  // never grows: sized for every slot in reset()
    order_.on_insert(s, 0, w32);
    trim(s);
    return false;
  }
  void erase(std::uint32_t key) noexcept {
    const std::uint32_t s = find(key);
    if (s != detail::flat_index::npos) remove(s);
  }
  // Empties the LRU, keeping its budget and its memory (no allocation).
  void forget_all() noexcept {
    for (std::uint32_t s = order_.victim(); s != no_slot; s = order_.victim()) remove(s);
  }

 private:
  // Sampled keys share their low bits (the sample test): the index sees them multiplied.
  static std::uint64_t index_hash(std::uint32_t key) noexcept {
    return std::uint64_t{key} * 0x9E3779B97F4A7C15ull;
  }
  std::uint32_t find(std::uint32_t key) const noexcept {
    return index_.find(index_hash(key), [&](std::uint32_t s) { return keys_[s] == key; });
  }
  // Evicts from the LRU end until the budget holds again, never `keep`.
  void trim(std::uint32_t keep) noexcept {
    while (weight_ > budget_) {
      const std::uint32_t v = order_.victim();
      if (v == keep || v == no_slot) break;
      remove(v);
    }
  }
  void remove(std::uint32_t s) noexcept {
    index_.erase(index_hash(keys_[s]), s);
    weight_ -= weights_[s];
    order_.on_remove(s);
    free_.push_back(s);
  }

  lru_policy order_;
  detail::flat_index index_;
  std::vector<std::uint32_t> keys_, weights_;  // by slot
  std::vector<std::uint32_t> free_;
  std::uint64_t budget_ = 0, weight_ = 0;
};

// The policy's tunables. The defaults are the shipped policy; fixed_window() gives the static
// W-TinyLFU of the TinyLFU paper (for comparison runs).
struct tinylfu_config {
  double initial_window = 0.01;    // window share of the capacity at start
  double protected_share = 0.80;   // protected share of main
  // Ghost steering: a miss on a key evicted at most max(reach x entries, min_reach) evictions
  // (of its kind) ago moves the window's edge by delta entries towards the region that would have
  // kept it (min_reach: below ~400 entries 3% is too few evictions to steer by). The table holds
  // table x entries fingerprints (4 bytes each; 0.5: 2 bytes per entry, for the store's <= 64
  // bytes of overhead per entry; 1.0 measured +0.20 on the reference mean, and with a 1.0 sketch
  // +0.41: docs/hit-ratio.md, "Memory vs hit ratio").
  bool ghosts = true;
  double ghost_reach = 0.03;
  double ghost_delta = 2.0;
  double ghost_table = 0.5;
  double ghost_min_reach = 12.0;
  // Sketch words (16 four-bit counters each) per entry, rounded up to a power of two in total.
  // 0.5 (8 counters, 4 bytes per entry) keeps the store within 64 bytes of overhead per entry.
  double sketch_words = 0.5;
  // Hill climbing (Middleware 2018 style; off: on top of the ghosts it gained nothing, see
  // docs/hit-ratio.md): every sample_factor x entries requests the window moves by step in the
  // direction that last raised the hit ratio; a fall reverses and halves the step.
  bool climber = false;
  double sample_factor = 10.0;
  double initial_step = 0.0625;    // share of capacity
  double min_step = 0.005;         // steps never shrink below this share of capacity
  double step_shrink = 0.5;
  double tolerance = 0.005;        // hit-ratio changes within +-tolerance are noise...
  double flat_decay = 0.98;        // ...the window stays, next step x this
  // Hits on protected entries skip the sketch (the hit path's dearest step: one cache line). They
  // are admitted already; their counts matter again only once demoted, and then every hit
  // counts. Measured: same reference mean, 2.3x cheaper on_access (docs/hit-ratio.md).
  bool count_protected_hits = false;
  // The LRU duel (docs/hit-ratio.md, "The LRU duel"), for traces where recency is all there is
  // (zigzag) and W-TinyLFU's ghosts steer too slowly. One key in R (R a power of two, at least
  // duel_min_rate, larger while entries/R would exceed 2 x duel_mini_entries) also runs through
  // an exact miniature LRU of capacity/R units. Per epoch of entries/R sampled requests the
  // policy counts a (requests only the mini LRU hit) and b (requests only the policy hit), both
  // carried over with weight duel_memory. From the duel_min_epochs-th epoch on, LRU wins an epoch
  // when a - b exceeds duel_sigma standard deviations of a sign test and either duel_margin of
  // the sampled requests or duel_miss_margin of the policy's sampled misses, and the policy
  // latches into exact LRU until clear() or a new capacity.
  bool duel = true;
  unsigned duel_min_rate = 8;       // 1 key in 8 at most: the other hits pay one hash test
  double duel_mini_entries = 512;   // enough sampled keys for a steady estimate in large caches
  double duel_memory = 0.875;       // ~8 epochs: zigzag's sweeps flip single epochs' winner
  double duel_sigma = 3.0;
  double duel_margin = 0.04;        // an effect well above the 1-point target...
  double duel_miss_margin = 0.10;   // ...or LRU saves a tenth of the misses (high hit ratios)
  unsigned duel_min_epochs = 3;     // no verdict while the cache is still filling
  bool duel_migrate = true;         // latched: main's hits move into the window (see the top)
  // From the duel_min_epochs-th epoch on, a duel whose carried evidence shows the policy ahead
  // (b - a > duel_sigma sigmas), or the policy missing less than duel_margin of the sampled
  // requests (LRU cannot win by that margin, and few misses make a miss-margin win slow to
  // show), sleeps for duel_sleep x (epoch x R) misses: no key is sampled, so hits pay nothing
  // for it. Only a miss can be a hit LRU would have made, so misses are the sleep's clock.
  // Waking is a fresh contest: an empty mini LRU, no evidence, and a first epoch that is not
  // judged (the mini LRU refills). 0: never sleeps.
  double duel_sleep = 4.0;
  // Until some key comes back (a hit, a write of a resident key, or a miss on a key the ghosts
  // remember), every key has been seen once and the sketch knows nothing: admission breaks ties
  // for the candidate, the more recent key, as LRU would. zigzag's first turn then finds its
  // keys (docs/hit-ratio.md). The state ends for good at the first return; clear() restarts it.
  bool cold_ties = true;
  unsigned warm_threshold = 6;       // candidates at least this frequent may win by chance...
  unsigned random_admit_mask = 127;  // ...with probability 1/(mask+1)

  // The static W-TinyLFU of the TinyLFU paper (comparison runs): a fixed window share.
  static tinylfu_config fixed_window(double share) {
    tinylfu_config c;
    c.initial_window = share;
    c.ghosts = false;
    c.climber = false;
    c.duel = false;
    c.cold_ties = false;
    return c;
  }
};

class tinylfu_policy {
 public:
  enum region : std::uint8_t { in_window = 0, in_probation = 1, in_protected = 2, absent = 3 };

  explicit tinylfu_policy(tinylfu_config cfg = {}) : cfg_(cfg) {
    window_share_ = cfg.initial_window;
    flags_.general = cfg.climber || cfg.count_protected_hits;
    flags_.cold = cfg.cold_ties;
  }

  // Slot ids must stay below 2^30 - 1 (nodes keep the region in their links' top bits).
  void resize(std::uint32_t n) {
    if (n > max_slots) throw std::length_error("tinylfu_policy: more than 2^30 - 2 slots");
    if (n > nodes_.size()) {
      nodes_.resize(n);
      if (!weights_.empty()) weights_.resize(n, 1);
      if (own_hashes_ != nullptr) {
        own_hashes_->resize(n, 0);
        hashes_ = reinterpret_cast<const unsigned char*>(own_hashes_->data());
      }
    }
    slots_ = std::max<std::uint64_t>(slots_, n);
    size_sketch();
  }

  // Where the policy reads a resident slot's 64-bit hash: at base + slot x stride (the owner's
  // records, e.g. entry_meta::hash in the entry table, valid until the next resize()). Without
  // a binding the policy keeps its own copy (8 bytes per slot; the replay tool and tests).
  void bind_hashes(const std::uint64_t* base, std::size_t stride) noexcept {
    own_hashes_.reset();
    hashes_ = reinterpret_cast<const unsigned char*>(base);
    hash_stride_ = stride;
  }

  // A hint from an owner that counts items: the cache will hold about n entries, so the sketch,
  // the ghosts and the duel are sized for them now rather than growing with the slots as it
  // fills (an owner's table hands out slots one by one; sized late, the policy would judge its
  // first contests with what it learned in a smaller cache).
  void expect_entries(std::uint64_t n) {
    expected_entries_ = n;
    size_sketch();
  }

  void set_capacity(std::uint64_t c) {
    capacity_ = c;
    lru_latched_ = false;  // a new capacity is a new contest (size_duel() restarts the evidence)
    flags_.migrating = false;
    size_sketch();
    apply_window_share();
  }

  // The key the sketch and the ghosts see for a 64-bit hash (a multiplicative mix, so that small
  // integer hashes from tests and tools spread too).
  static std::uint64_t sketch_key(std::uint64_t hash) noexcept {
    return (hash * 0x9E3779B97F4A7C15ull) >> 32;
  }

  void on_insert(std::uint32_t s, std::uint64_t hash, std::uint64_t w) noexcept {
    if (own_hashes_ != nullptr) (*own_hashes_)[s] = hash;
    const std::uint64_t key = sketch_key(hash);
    sketch_.increment(key);
    set_weight(s, w);
    w = weight(s);
    push_front(lists_[in_window], s, in_window);
    weight_[in_window] += w;
    ++size_;
    ++misses_;
    fresh_ = s;
    if (cfg_.ghosts) recall(key);
    if (flags_.duel_on) {
      if (sampled(key)) duel_request(key, w, false);
    } else if (duel_sleep_left_ != 0 && --duel_sleep_left_ == 0) {
      wake_duel();
    }
    // Window overflow moves to probation eagerly while main has room (the cache is filling).
    while (weight_[in_window] > window_max_ && main_has_room_for(lists_[in_window].tail)) {
      move(lists_[in_window].tail, in_probation);
    }
    tick();
  }

  // Hot path (drained from the store's read buffer). In the common state (the duel asleep or off,
  // no latched migration, not cold, no climber) a hit branches once on its region: in protected it
  // is one relink and no sketch increment; elsewhere one sketch increment and one list move.
  // Otherwise on_access_general() also feeds the duel (one key in R, at least 8: a mini LRU step).
  void on_access(std::uint32_t s, std::uint64_t hash) noexcept { access_in(where_of(s), s, hash); }

  // The store's replay of its read buffers: on_access() if slot s is still resident (the buffer
  // is lossy and replayed late, so the slot may have been removed), reading s's node once.
  void on_access_if_resident(std::uint32_t s, std::uint64_t hash) noexcept {
    if (s >= nodes_.size()) return;
    const std::uint8_t r = where_of(s);
    if (r != absent) access_in(r, s, hash);
  }

  // A resident key written again (its weight may be the same): an access, and a return.
  void on_weight_change(std::uint32_t s, std::uint64_t /*old_w*/, std::uint64_t new_w) noexcept {
    flags_.cold = false;
    const std::uint8_t r = where_of(s);
    weight_[r] -= weight(s);  // what the region was charged
    set_weight(s, new_w);
    weight_[r] += weight(s);
    const std::uint64_t key = key_of(s);
    sketch_.increment(key);
    if (flags_.duel_on && sampled(key)) mini_.access(static_cast<std::uint32_t>(key), weight(s));
    touch(r, s);
  }

  void on_remove(std::uint32_t s) noexcept {
    // A removal other than victim()'s (a delete, an expiry) leaves the mini LRU too: it must
    // never count a hit the cache could not have made.
    if (s == fresh_) fresh_ = no_slot_;
    if (s == last_victim_) {
      last_victim_ = no_slot_;
    } else if (flags_.duel_on) {
      const std::uint64_t key = key_of(s);
      if (sampled(key)) mini_.erase(static_cast<std::uint32_t>(key));
    }
    const std::uint8_t r = where_of(s);
    weight_[r] -= weight(s);
    unlink(lists_[r], s);
    set_where(s, absent);
    --size_;
  }

  // The entry to evict so the cache fits its capacity again. May first move window overflow into
  // main (admitting or rejecting candidates), which is why it is not const. Never the slot
  // inserted last, unless it is the only resident slot (see "the fresh entry" at the top).
  std::uint32_t victim() noexcept {
    last_victim_ = choose_victim();
    return last_victim_;
  }

  void clear() {
    for (auto& l : lists_) l = list{};
    for (auto& w : weight_) w = 0;
    for (std::uint32_t s = 0; s < nodes_.size(); ++s) set_where(s, absent);
    size_ = 0;
    fresh_ = no_slot_;
    sketch_.clear();
    hits_ = misses_ = 0;
    flags_.cold = cfg_.cold_ties;
    unlatch();
  }

  std::uint64_t size() const noexcept { return size_; }

  // Introspection for tests, the replay tool and debugging.
  region where(std::uint32_t s) const noexcept { return static_cast<region>(where_of(s)); }
  std::uint64_t region_weight(region r) const noexcept { return weight_[r]; }
  std::uint64_t window_max() const noexcept { return window_max_; }
  std::uint64_t protected_max() const noexcept { return protected_max_; }
  double window_share() const noexcept { return window_share_; }
  // Whether the LRU duel latched the policy into exact LRU; the duel's sampling rate R (0: off).
  bool lru_latched() const noexcept { return lru_latched_; }
  std::uint64_t duel_rate() const noexcept {
    return flags_.duel_on || duel_sleep_left_ != 0 ? std::uint64_t{1} << duel_shift_ : 0;
  }
  // Whether no key has come back yet (no hit, no miss on a remembered key): see cold_ties.
  bool cold() const noexcept { return flags_.cold; }
  // Whether the duel is asleep (the policy was at least as good as LRU; see duel_sleep).
  bool duel_asleep() const noexcept { return duel_sleep_left_ != 0; }
  const frequency_sketch& sketch() const noexcept { return sketch_; }
  frequency_sketch& sketch() noexcept { return sketch_; }
  std::uint64_t sample_period() const noexcept { return sample_period_; }
  // Most to least recently used within one region.
  template <class F>
  void for_each_mru(region r, F&& f) const {
    for (std::uint32_t s = lists_[r].head; s != no_slot_; s = nodes_[s].next) f(s);
  }

 private:
  std::uint32_t choose_victim() noexcept {
    for (;;) {
      const std::uint32_t c = oldest_but_fresh(in_window);
      if (c != no_slot_ && weight_[in_window] > window_max_) {
        if (main_has_room_for(c)) {
          move(c, in_probation);
          continue;
        }
        const std::uint32_t v = main_victim();
        if (v == no_slot_) return c;  // c != no_slot_ here
        if (admit(c, v)) {
          move(c, in_probation);
          remember(v, 1);
          return v;
        }
        remember(c, 0);
        return c;
      }
      const std::uint32_t v = main_victim();
      if (v != no_slot_) {
        remember(v, 1);
        return v;
      }
      if (c != no_slot_) return c;
      return fresh_ == no_slot_ ? 0xFFFFFFFFu : fresh_;  // the only resident slot
    }
  }

  // Region r's least recently used slot other than the fresh one (no_slot_: none).
  std::uint32_t oldest_but_fresh(std::uint8_t r) const noexcept {
    const std::uint32_t t = lists_[r].tail;
    return t != fresh_ || t == no_slot_ ? t : nodes_[t].prev();
  }

  // Links are 30 bits; the all-ones 30-bit value is "none".
  static constexpr std::uint32_t no_slot_ = 0x3FFFFFFFu;
  static constexpr std::uint32_t max_slots = no_slot_;

  // 8 bytes per slot: the two intrusive links, the region in prev's top 2 bits. The hash is read
  // from the owner's records (bind_hashes) and the weight from weights_, which stays empty (every
  // weight 1) until some entry weighs more than one unit.
  struct node {
    std::uint32_t prev_where = (std::uint32_t{absent} << 30) | no_slot_;
    std::uint32_t next = no_slot_;
    std::uint32_t prev() const noexcept { return prev_where & no_slot_; }
    void set_prev(std::uint32_t p) noexcept { prev_where = (prev_where & ~no_slot_) | p; }
  };
  static_assert(sizeof(node) == 8);
  struct list {
    std::uint32_t head = no_slot_, tail = no_slot_;  // head: most recently used
  };

  std::uint8_t where_of(std::uint32_t s) const noexcept {
    return static_cast<std::uint8_t>(nodes_[s].prev_where >> 30);
  }
  void set_where(std::uint32_t s, std::uint8_t r) noexcept {
    nodes_[s].prev_where = (nodes_[s].prev_where & no_slot_) | (std::uint32_t{r} << 30);
  }
  std::uint64_t weight(std::uint32_t s) const noexcept {
    return weights_.empty() ? 1 : weights_[s];
  }
  void set_weight(std::uint32_t s, std::uint64_t w) {
    const auto w32 = static_cast<std::uint32_t>(std::min<std::uint64_t>(w, 0xFFFFFFFFu));
    if (weights_.empty()) {
      if (w32 == 1) return;
      weights_.assign(nodes_.size(), 1);
    }
    weights_[s] = w32;
  }
  std::uint64_t key_of(std::uint32_t s) const noexcept {
    std::uint64_t h;
    std::memcpy(&h, hashes_ + std::size_t{s} * hash_stride_, sizeof h);
    return sketch_key(h);
  }

  void unlink(list& l, std::uint32_t s) noexcept {
    node& n = nodes_[s];
    const std::uint32_t p = n.prev();
    (p == no_slot_ ? l.head : nodes_[p].next) = n.next;
    if (n.next == no_slot_) {
      l.tail = p;
    } else {
      nodes_[n.next].set_prev(p);
    }
    n.set_prev(no_slot_);
    n.next = no_slot_;
  }
  void push_front(list& l, std::uint32_t s, std::uint8_t r) noexcept {
    node& n = nodes_[s];
    n.prev_where = (std::uint32_t{r} << 30) | no_slot_;
    n.next = l.head;
    if (l.head == no_slot_) {
      l.tail = s;
    } else {
      nodes_[l.head].prev_where = (std::uint32_t{r} << 30) | s;  // the head is in region r too
    }
    l.head = s;
  }
  // Moves s to the MRU end of region r.
  void move(std::uint32_t s, std::uint8_t r) noexcept {
    const std::uint8_t from = where_of(s);
    const std::uint64_t w = weight(s);
    weight_[from] -= w;
    unlink(lists_[from], s);
    push_front(lists_[r], s, r);
    weight_[r] += w;
  }

  // A hit on s, which is in region r: the common path, or the general one.
  void access_in(std::uint8_t r, std::uint32_t s, std::uint64_t hash) noexcept {
    if (slow_access()) [[unlikely]] {
      on_access_general(r, s, hash);
      return;
    }
    if (r == in_protected) {
      to_front(in_protected, s);
      return;
    }
    sketch_.increment(sketch_key(hash));
    if (r == in_probation) {
      promote(s);
    } else {
      to_front(in_window, s);
    }
  }

  // Any state: ends the cold state, feeds the duel, honours the migration and the climber.
  void on_access_general(std::uint8_t r, std::uint32_t s, std::uint64_t hash) noexcept {
    flags_.cold = false;
    const std::uint64_t key = sketch_key(hash);
    if (cfg_.count_protected_hits || r != in_protected) {
      sketch_.increment(key);
    }
    if (flags_.duel_on && sampled(key)) [[unlikely]] {
      duel_request(key, weight(s), true);
    }
    touch(r, s);
    if (cfg_.climber) {  // the climber's sample clock; nothing else reads hits_
      ++hits_;
      tick();
    }
  }

  // A hit (or a rewrite) on s, which is in region r: the list moves.
  void touch(std::uint8_t r, std::uint32_t s) noexcept {
    if (flags_.migrating) [[unlikely]] {
      if (weight_[in_probation] + weight_[in_protected] == 0) {
        flags_.migrating = false;  // main is drained: hits take the common path again
      } else if (r != in_window && weight_[in_window] + weight(s) <= window_max_) {
        move(s, in_window);  // latched, main not drained yet: main's hits join the LRU
        return;
      }
    }
    if (r == in_probation) {
      promote(s);
    } else {
      to_front(r, s);
    }
  }
  // A hit in probation: into protected, whose overflow goes back to probation.
  void promote(std::uint32_t s) noexcept {
    move(s, in_protected);
    demote_protected_overflow(s);
  }
  // Moves s to the front of its own region's list (r: where s is; window or protected).
  // Hot path. No weight bookkeeping, s has a predecessor (it is not the head), and s's neighbours
  // are in region r too, so their links are written whole, without reading them first.
  void to_front(std::uint8_t r, std::uint32_t s) noexcept {
    list& l = lists_[r];
    if (l.head == s) return;
    const std::uint32_t in_r = std::uint32_t{r} << 30;
    node& n = nodes_[s];
    const std::uint32_t p = n.prev();
    nodes_[p].next = n.next;
    if (n.next == no_slot_) {
      l.tail = p;
    } else {
      nodes_[n.next].prev_where = in_r | p;
    }
    n.prev_where = in_r | no_slot_;
    n.next = l.head;
    nodes_[l.head].prev_where = in_r | s;
    l.head = s;
  }

  void demote_protected_overflow(std::uint32_t keep) noexcept {
    while (weight_[in_protected] > protected_max_) {
      const std::uint32_t t = lists_[in_protected].tail;
      if (t == keep) break;
      move(t, in_probation);
    }
  }

  // Whether window candidate c fits into main without a contest (the cache is filling). A fresh
  // slot heavier than the whole window overflows it whatever the other candidates do: that excess
  // counts against main, where the slot would be had it been decided at once.
  bool main_has_room_for(std::uint32_t c) const noexcept {
    if (c == no_slot_) return false;
    const std::uint64_t main = weight_[in_probation] + weight_[in_protected];
    return main + weight(c) + fresh_excess() <= main_max();
  }
  // How much heavier than the whole window the fresh slot is (0 when it is not in the window).
  std::uint64_t fresh_excess() const noexcept {
    if (fresh_ == no_slot_ || where_of(fresh_) != in_window) return 0;
    const std::uint64_t w = weight(fresh_);
    return w <= window_max_ ? 0 : w - window_max_;
  }
  std::uint64_t main_max() const noexcept { return capacity_ - window_max_; }

  // Probation's LRU slot, else protected's; never the fresh slot.
  std::uint32_t main_victim() const noexcept {
    const std::uint32_t v = oldest_but_fresh(in_probation);
    return v != no_slot_ ? v : oldest_but_fresh(in_protected);
  }

  // TinyLFU admission: does the window's candidate deserve main's victim's place?
  bool admit(std::uint32_t candidate, std::uint32_t victim) noexcept {
    if (weight(candidate) > main_max()) return false;
    const unsigned fc = sketch_.frequency(key_of(candidate));
    const unsigned fv = sketch_.frequency(key_of(victim));
    if (fc > fv) return true;
    if (flags_.cold && fc == fv) return true;
    if (fc < cfg_.warm_threshold) return false;
    return (next_random() & cfg_.random_admit_mask) == 0;
  }

  std::uint64_t next_random() noexcept {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  // Ghosts: a direct-mapped table of recently evicted keys, 32 bits each: 16 bits of
  // fingerprint (never 0: 0 marks an empty cell), the kind of eviction (0: a window candidate
  // rejected by admission, 1: a main victim) and 15 bits of that kind's eviction counter, in units
  // of 2^ghost_shift_ evictions (a unit is table/2048 evictions, so a stamp wraps only after 16
  // table-fulls of evictions, by which time a cell has been overwritten with probability
  // 1 - e^-16). A miss on a young window ghost says a slightly larger window would have hit; one
  // on a young main ghost says a slightly larger main would have. Only young ghosts count (the
  // edge's marginal value), so the two signals balance where the hit ratio peaks.
  void remember(std::uint32_t s, unsigned kind) noexcept {
    if (ghosts_.empty()) return;
    const std::uint64_t h = ghost_spread(key_of(s));
    const std::uint64_t stamp = (++evictions_[kind] >> ghost_shift_) & 0x7FFFu;
    ghosts_[h & ghost_mask_] =
        static_cast<std::uint32_t>(((h >> 48) | 1u) << 16 | std::uint64_t{kind} << 15 | stamp);
  }
  void recall(std::uint64_t key) noexcept {
    if (ghosts_.empty()) return;
    const std::uint64_t h = ghost_spread(key);
    std::uint32_t& g = ghosts_[h & ghost_mask_];
    if (g >> 16 != (((h >> 48) | 1u) & 0xFFFFu)) return;
    flags_.cold = false;  // a key seen before
    const unsigned kind = (g >> 15) & 1u;
    const std::uint64_t age = ((evictions_[kind] >> ghost_shift_) - g) & 0x7FFFu;
    g = 0;
    const double e = double(estimated_entries_);
    const double reach = std::max(cfg_.ghost_min_reach, cfg_.ghost_reach * e);
    if (double(age << ghost_shift_) > reach) return;
    const double d = cfg_.ghost_delta / e;
    window_share_ = std::clamp(window_share_ + (kind == 0 ? d : -d), 0.0, 1.0);
    apply_window_share();
  }
  static std::uint64_t ghost_spread(std::uint64_t x) noexcept {
    x = (x ^ (x >> 29)) * 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 32);
  }

  // The climber's sample clock; cheap on the hit path (one predictable branch when it is off).
  void tick() noexcept {
    if (cfg_.climber && hits_ + misses_ >= sample_period_) climb();
  }

  void climb() noexcept {
    const double hit_ratio = double(hits_) / double(hits_ + misses_);
    hits_ = misses_ = 0;
    if (!cfg_.climber || capacity_ == 0) return;
    if (size_ < estimated_entries_ / 2 && !warm_) return;  // still filling: nothing to learn
    if (!warm_) {
      warm_ = true;
      previous_ratio_ = hit_ratio;
      step_ = cfg_.initial_step;
      window_share_ += direction_ * step_;
      apply_window_share();
      return;
    }
    const double change = hit_ratio - previous_ratio_;
    previous_ratio_ = hit_ratio;
    if (change < -cfg_.tolerance) {
      direction_ = -direction_;
      step_ = std::max(cfg_.min_step, step_ * cfg_.step_shrink);
    } else if (change <= cfg_.tolerance) {
      // No signal: hold still (drifting would walk a hot, all-hit cache into pure LRU).
      step_ = std::max(cfg_.min_step, step_ * cfg_.flat_decay);
      return;
    }
    window_share_ = std::clamp(window_share_ + direction_ * step_, 0.0, 1.0);
    apply_window_share();
  }

  void apply_window_share() noexcept {
    window_max_ = lru_latched_ ? capacity_ : scale(window_share_, capacity_);
    protected_max_ = scale(cfg_.protected_share, main_max());
  }

  // share x budget, exact for unlimited budgets too (a double of 2^64 does not fit a uint64).
  static std::uint64_t scale(double share, std::uint64_t budget) noexcept {
    const double v = share * double(budget);
    return v >= double(budget) ? budget : static_cast<std::uint64_t>(v);
  }

  void size_sketch() {
    // Entries the cache holds: its capacity when that counts items; when it counts bytes the
    // slot table (which grows with the entries) is the better guess. An owner's expect_entries()
    // stands for the slots it has not handed out yet.
    estimated_entries_ =
        std::max<std::uint64_t>(1, std::min(capacity_, std::max(slots_, expected_entries_)));
    sketch_.ensure_capacity(estimated_entries_, cfg_.sketch_words);
    if (cfg_.ghosts) {
      const std::uint64_t g = std::bit_ceil(std::max<std::uint64_t>(
          64, static_cast<std::uint64_t>(cfg_.ghost_table * double(estimated_entries_))));
      if (g > ghosts_.size()) {
        ghosts_.assign(g, 0);
        ghost_mask_ = g - 1;
        // Stamps wrap after 2^15 units: make that >= 16 x the table (see remember()).
        ghost_shift_ = 0;
        while ((std::uint64_t{1} << (15 + ghost_shift_)) < 16 * g) ++ghost_shift_;
      }
    }
    size_duel();
    sample_period_ = std::max<std::uint64_t>(
        64, static_cast<std::uint64_t>(cfg_.sample_factor * double(estimated_entries_)));
  }

  // ---- The LRU duel (see tinylfu_config::duel).
  // A key is sampled when its sketch key's low duel_shift_ bits are 0 (the sketch and the ghost
  // table index by remixes of it, so the sample is independent of both). One AND on the hit path.
  bool sampled(std::uint64_t key) const noexcept {
    return (key & duel_mask_) == 0;
  }
  void size_duel() {
    flags_.duel_on = false;
    if (!cfg_.duel || lru_latched_ || capacity_ == 0 || capacity_ == ~std::uint64_t{0}) return;
    unsigned shift = 0;
    while (shift < 30 && (1u << shift) < cfg_.duel_min_rate) ++shift;
    while (shift < 30 && double(estimated_entries_ >> (shift + 1)) >= cfg_.duel_mini_entries) {
      ++shift;
    }
    const std::uint64_t budget = std::max<std::uint64_t>(1, capacity_ >> shift);
    // The estimate grows with the slots (an owner's table fills after set_capacity): the mini
    // LRU's keys and the epoch follow it, or the duel would judge by a 2-key LRU for good.
    const std::uint64_t entries = std::max<std::uint64_t>(1, estimated_entries_ >> shift);
    if (mini_.empty() || shift != duel_shift_ || budget != mini_.budget() ||
        std::max<std::uint64_t>(16, entries) != epoch_) {
      duel_shift_ = shift;
      duel_mask_ = (std::uint64_t{1} << shift) - 1;
      epoch_ = std::max<std::uint64_t>(16, entries);
      mini_.reset(budget,
                  static_cast<std::uint32_t>(std::min<std::uint64_t>(1u << 24, 2 * entries)));
      clear_evidence();
      duel_sleep_left_ = 0;
      duel_warming_ = false;
    }
    flags_.duel_on = duel_sleep_left_ == 0;
  }
  // A new contest: no counts for the epoch under way, no carried evidence, no epochs judged.
  void clear_evidence() noexcept {
    a_ = b_ = n_ = m_ = 0;
    ev_a_ = ev_b_ = ev_n_ = ev_m_ = 0;
    epochs_ = 0;
  }
  void wake_duel() noexcept {
    mini_.forget_all();
    clear_evidence();  // what put it to sleep may be over
    duel_warming_ = true;
    flags_.duel_on = true;
  }
  void unlatch() {
    lru_latched_ = false;
    flags_.migrating = false;
    mini_ = mini_lru{};
    size_duel();
    apply_window_share();
  }
  // One sampled request: whether the mini LRU hit it, whether the policy did.
  void duel_request(std::uint64_t key, std::uint64_t w, bool policy_hit) noexcept {
    const bool lru_hit = mini_.access(static_cast<std::uint32_t>(key), w);
    a_ += lru_hit && !policy_hit;
    b_ += policy_hit && !lru_hit;
    m_ += !policy_hit;
    if (++n_ >= epoch_) judge_epoch();
  }
  void judge_epoch() noexcept {
    if (duel_warming_) {  // the first epoch after a sleep refilled the mini LRU: no verdict
      duel_warming_ = false;
      a_ = b_ = n_ = m_ = 0;
      return;
    }
    const double m = cfg_.duel_memory;
    ev_a_ = ev_a_ * m + double(a_);
    ev_b_ = ev_b_ * m + double(b_);
    ev_n_ = ev_n_ * m + double(n_);
    ev_m_ = ev_m_ * m + double(m_);
    a_ = b_ = n_ = m_ = 0;
    const double lead = ev_a_ - ev_b_;
    ++epochs_;
    if (epochs_ >= cfg_.duel_min_epochs && lead > cfg_.duel_sigma * std::sqrt(ev_a_ + ev_b_) &&
        (lead > cfg_.duel_margin * ev_n_ || lead > cfg_.duel_miss_margin * ev_m_)) {
      // Latch. The mini LRU is not needed any more (the policy is what it models).
      lru_latched_ = true;
      flags_.migrating = cfg_.duel_migrate;
      flags_.duel_on = false;
      mini_ = mini_lru{};
      apply_window_share();
    } else if (cfg_.duel_sleep > 0 && epochs_ >= cfg_.duel_min_epochs &&
               // Sleep: the policy leads decisively, or it misses too rarely for LRU to win by
               // the margin (every request LRU alone hits is one the policy missed).
               (-lead > cfg_.duel_sigma * std::sqrt(ev_a_ + ev_b_) ||
                ev_m_ < cfg_.duel_margin * ev_n_)) {
      flags_.duel_on = false;
      duel_sleep_left_ = std::max<std::uint64_t>(
          1, static_cast<std::uint64_t>(cfg_.duel_sleep * double(epoch_ << duel_shift_)));
    }
  }

  tinylfu_config cfg_;
  // What sends a hit to on_access_general() instead of the common path: slow_access() tests all
  // four in one 32-bit load.
  struct access_flags {
    bool duel_on = false;    // sampling (duel configured, capacity bounded, not latched, awake)
    bool migrating = false;  // latched with duel_migrate, main not drained: its hits move over
    bool cold = false;       // nothing seen twice yet: admission breaks ties by recency
    bool general = false;    // the climber or count_protected_hits is configured
  } flags_;
  static_assert(sizeof(access_flags) == 4);
  bool slow_access() const noexcept {
    std::uint32_t any;
    std::memcpy(&any, &flags_, sizeof any);
    return any != 0;
  }
  std::vector<node> nodes_;
  std::vector<std::uint32_t> weights_;  // empty: every weight is 1
  // The slots' hashes: the owner's (bind_hashes) or own_hashes_.
  std::unique_ptr<std::vector<std::uint64_t>> own_hashes_ =
      std::make_unique<std::vector<std::uint64_t>>();
  const unsigned char* hashes_ = nullptr;
  std::size_t hash_stride_ = sizeof(std::uint64_t);
  list lists_[3];
  std::uint64_t weight_[4] = {0, 0, 0, 0};
  std::uint64_t size_ = 0;
  std::uint64_t capacity_ = 0;
  std::uint64_t slots_ = 0;
  std::uint64_t expected_entries_ = 0;  // expect_entries()
  std::uint64_t window_max_ = 0;
  std::uint64_t protected_max_ = 0;
  std::uint64_t estimated_entries_ = 1;
  frequency_sketch sketch_;
  std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  std::vector<std::uint32_t> ghosts_;  // 0: empty
  std::uint64_t ghost_mask_ = 0;
  unsigned ghost_shift_ = 0;
  std::uint64_t evictions_[2] = {0, 0};
  // Hill climber.
  std::uint64_t sample_period_ = 64;
  std::uint64_t hits_ = 0, misses_ = 0;
  double window_share_ = 0.01;
  double previous_ratio_ = 0;
  double step_ = 0.0625;
  double direction_ = 1.0;
  bool warm_ = false;
  // The LRU duel.
  mini_lru mini_;
  bool lru_latched_ = false;  // LRU won: the window is the whole cache
  unsigned epochs_ = 0;
  unsigned duel_shift_ = 0;   // R = 2^duel_shift_
  std::uint64_t duel_mask_ = 0;
  std::uint64_t epoch_ = 16;  // sampled requests per judgement
  std::uint64_t a_ = 0, b_ = 0, n_ = 0;  // this epoch: only LRU hit, only the policy hit, all
  std::uint64_t m_ = 0;                  // this epoch: requests the policy missed
  double ev_a_ = 0, ev_b_ = 0, ev_n_ = 0, ev_m_ = 0;  // the same, carried over (duel_memory)
  std::uint64_t duel_sleep_left_ = 0;    // misses until the duel wakes (0: awake)
  bool duel_warming_ = false;            // the epoch under way follows a sleep: not judged
  std::uint32_t last_victim_ = no_slot_;  // victim()'s answer, until its on_remove()
  std::uint32_t fresh_ = no_slot_;        // the slot inserted last, until it leaves
};

}  // namespace twincache
