// Tests for store<V> (store.hpp): what a user of the cache relies on, through the public API,
// with an injected clock. Policy-independent behaviour runs under both policies.
#include "twincache/store.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_clock.hpp"

namespace twincache {
namespace {

using test_support::manual_clock;
using test_support::sec;

store_options options(policy_kind p, std::uint64_t max_items = unlimited,
                      std::uint64_t max_bytes = unlimited, unsigned shards = 1) {
  store_options o;
  o.limits.max_items = max_items;
  o.limits.max_bytes = max_bytes;
  o.policy = p;
  o.shards = shards;
  return o;
}

std::string key(int i) {
  return "key-" + std::to_string(i);
}

// set() with the key's hash64, as the bindings call it.
template <class V>
status put(store<V>& s, std::string_view k, std::type_identity_t<V> v, std::uint64_t weight,
           std::optional<time_ns> ttl = std::nullopt, set_result* result = nullptr) {
  return s.set(k, hash64(k), std::move(v), weight, ttl, result);
}

// A value whose destruction (when it still owns something) records the destroying thread.
struct probe {
  static std::mutex mu;
  static std::vector<std::pair<int, std::thread::id>> destroyed;

  int id = -1;  // -1: empty (default or moved-from)
  probe() noexcept = default;
  explicit probe(int i) noexcept : id(i) {}
  probe(const probe& o) noexcept : id(o.id) {}
  probe(probe&& o) noexcept : id(o.id) { o.id = -1; }
  probe& operator=(probe&& o) noexcept {
    reset();
    id = o.id;
    o.id = -1;
    return *this;
  }
  probe& operator=(const probe& o) noexcept {
    reset();
    id = o.id;
    return *this;
  }
  ~probe() { reset(); }
  void reset() noexcept {
    if (id < 0) return;
    std::lock_guard g(mu);
    destroyed.emplace_back(id, std::this_thread::get_id());
    id = -1;
  }
  static std::vector<std::pair<int, std::thread::id>> take() {
    std::lock_guard g(mu);
    return std::exchange(destroyed, {});
  }
};
std::mutex probe::mu;
std::vector<std::pair<int, std::thread::id>> probe::destroyed;

class Store : public ::testing::TestWithParam<policy_kind> {
 protected:
  std::shared_ptr<clock> clk = manual_clock();
  store_options opts(std::uint64_t max_items = unlimited, std::uint64_t max_bytes = unlimited,
                     unsigned shards = 1) {
    store_options o = options(GetParam(), max_items, max_bytes, shards);
    o.clock = clk;
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(BothPolicies, Store,
                         ::testing::Values(policy_kind::lru, policy_kind::tinylfu),
                         [](const auto& info) { return std::string(policy_name(info.param)); });

TEST_P(Store, SetGetUpdateAndTellInsertFromUpdate) {
  store<std::uint64_t> s(opts());
  std::uint64_t v = 0;
  EXPECT_FALSE(s.get("a", v));
  set_result r{};
  ASSERT_TRUE(put(s, "a", 1, 8, std::nullopt, &r).ok());
  EXPECT_EQ(r, set_result::inserted);
  ASSERT_TRUE(s.get("a", v));
  EXPECT_EQ(v, 1u);
  ASSERT_TRUE(put(s, "a", 2, 8, std::nullopt, &r).ok());
  EXPECT_EQ(r, set_result::updated);
  ASSERT_TRUE(s.get("a", v));
  EXPECT_EQ(v, 2u);
  const stats st = s.stats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.inserts, 1u);
  EXPECT_EQ(st.updates, 1u);
  EXPECT_EQ(st.items, 1u);
  EXPECT_EQ(st.bytes, 1 + 8 + entry_overhead_bytes);
  EXPECT_EQ(s.size(), 1u);
}

TEST_P(Store, KeysAreComparedByBytesShortAndLong) {
  store<std::uint64_t> s(opts());
  const std::string long_a(100, 'a');
  std::string long_b = long_a;
  long_b.back() = 'b';
  const std::string with_nul("x\0y", 3);
  ASSERT_TRUE(put(s, long_a, 1, 8).ok());
  ASSERT_TRUE(put(s, long_b, 2, 8).ok());
  ASSERT_TRUE(put(s, with_nul, 3, 8).ok());
  ASSERT_TRUE(put(s, "", 4, 8).ok());
  ASSERT_TRUE(put(s, std::string(16, 'k'), 5, 8).ok());
  std::uint64_t v = 0;
  ASSERT_TRUE(s.get(long_a, v));
  EXPECT_EQ(v, 1u);
  ASSERT_TRUE(s.get(long_b, v));
  EXPECT_EQ(v, 2u);
  ASSERT_TRUE(s.get(with_nul, v));
  EXPECT_EQ(v, 3u);
  EXPECT_FALSE(s.get(std::string("x"), v));
  ASSERT_TRUE(s.get("", v));
  EXPECT_EQ(v, 4u);
  ASSERT_TRUE(s.get(std::string(16, 'k'), v));
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(s.bytes(), 100 + 100 + 3 + 0 + 16 + 5 * (8 + entry_overhead_bytes));
  EXPECT_TRUE(s.erase(long_a));
  EXPECT_FALSE(s.contains(long_a));
  EXPECT_TRUE(s.contains(long_b));
}

TEST_P(Store, ManyKeysAcrossShardsSurviveGrowthAndErase) {
  store<std::uint64_t> s(opts(unlimited, unlimited, 8));
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(put(s, key(i), i, 8).ok());
  for (int i = 0; i < 5000; i += 2) ASSERT_TRUE(s.erase(key(i)));
  EXPECT_EQ(s.size(), 2500u);
  for (int i = 0; i < 5000; ++i) {
    std::uint64_t v = 0;
    EXPECT_EQ(s.get(key(i), v), i % 2 == 1) << i;
    if (i % 2 == 1) EXPECT_EQ(v, static_cast<std::uint64_t>(i));
  }
}

TEST_P(Store, ExpiryEdgeUsesTheInjectedClock) {
  store<std::uint64_t> s(opts());
  ASSERT_TRUE(put(s, "k", 7, 8, 3 * sec).ok());
  std::uint64_t v = 0;
  clk->advance(3 * sec - 1);
  EXPECT_TRUE(s.contains("k"));
  EXPECT_TRUE(s.get("k", v)) << "live until set time + ttl";
  clk->advance(1);
  EXPECT_FALSE(s.contains("k")) << "expired at set time + ttl, cleaner or not";
  EXPECT_FALSE(s.get("k", v));
  const stats st = s.stats();
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.items, 0u);
}

TEST_P(Store, PerEntryTtlOverridesTheDefault) {
  store_options o = opts();
  o.default_ttl = 10 * sec;
  store<std::uint64_t> s(o);
  ASSERT_TRUE(put(s, "default", 1, 8).ok());
  ASSERT_TRUE(put(s, "short", 2, 8, 1 * sec).ok());
  ASSERT_TRUE(put(s, "long", 3, 8, 100 * sec).ok());
  clk->advance(1 * sec);
  EXPECT_FALSE(s.contains("short"));
  EXPECT_TRUE(s.contains("default"));
  clk->advance(9 * sec);
  EXPECT_FALSE(s.contains("default"));
  EXPECT_TRUE(s.contains("long"));
}

TEST_P(Store, SetOnAnExpiredKeyIsAnInsert) {
  store<std::uint64_t> s(opts());
  ASSERT_TRUE(put(s, "k", 1, 8, 1 * sec).ok());
  clk->advance(2 * sec);
  set_result r{};
  ASSERT_TRUE(put(s, "k", 2, 8, std::nullopt, &r).ok());
  EXPECT_EQ(r, set_result::inserted);
  const stats st = s.stats();
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.inserts, 2u);
  EXPECT_EQ(st.updates, 0u);
  EXPECT_EQ(st.items, 1u);
}

TEST_P(Store, EraseTellsWhetherTheKeyWasLive) {
  store<std::uint64_t> s(opts());
  ASSERT_TRUE(put(s, "a", 1, 8).ok());
  ASSERT_TRUE(put(s, "b", 2, 8, 1 * sec).ok());
  EXPECT_TRUE(s.erase("a"));
  EXPECT_FALSE(s.erase("a"));
  clk->advance(1 * sec);
  EXPECT_FALSE(s.erase("b")) << "an expired key was not live";
  const stats st = s.stats();
  EXPECT_EQ(st.deleted, 1u);
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.items, 0u);
}

TEST_P(Store, MaxItemsAtTheEdge) {
  store<std::uint64_t> s(opts(3));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(put(s, key(i), i, 8).ok());
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.stats().evictions(), 0u) << "exactly full: nothing evicted";
  ASSERT_TRUE(put(s, key(3), 3, 8).ok());
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.stats().evicted_items, 1u);
  EXPECT_TRUE(s.contains(key(3)));
}

TEST_P(Store, MaxBytesAtTheEdge) {
  const std::uint64_t w = 5 + 10 + entry_overhead_bytes;  // "key-N" + 10-byte value
  store<std::uint64_t> s(opts(unlimited, 4 * w));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(put(s, key(i), i, 10).ok());
  EXPECT_EQ(s.bytes(), 4 * w);
  EXPECT_EQ(s.stats().evictions(), 0u) << "exactly full: nothing evicted";
  ASSERT_TRUE(put(s, key(4), 4, 11).ok());  // one byte over after displacing one
  const stats st = s.stats();
  EXPECT_EQ(st.evicted_bytes, 2u);
  EXPECT_EQ(st.evicted_items, 0u);
  EXPECT_EQ(st.bytes, 2 * w + w + 1);
  EXPECT_EQ(st.items, 3u);
}

TEST_P(Store, BudgetsHoldForTheWholeStoreAcrossShards) {
  store<std::uint64_t> s(opts(10, unlimited, 8));
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(put(s, key(i), i, 8).ok());
    ASSERT_LE(s.size(), 10u);
  }
  EXPECT_EQ(s.size(), 10u);
  const stats st = s.stats();
  EXPECT_EQ(st.evicted_items, 190u);
  EXPECT_EQ(st.items, 10u);
  std::uint64_t live = 0;
  s.for_each([&](std::string_view, const std::uint64_t&) { ++live; });
  EXPECT_EQ(live, 10u);
  EXPECT_TRUE(s.contains(key(199))) << "the entry just set is never the one evicted";
}

TEST_P(Store, ByteBudgetHoldsForTheWholeStoreAcrossShards) {
  const std::uint64_t w = 6 + 8 + entry_overhead_bytes;  // keys "key-NN": 6 bytes from 10 on
  store<std::uint64_t> s(opts(unlimited, 10 * w, 8));
  for (int i = 10; i < 100; ++i) {
    ASSERT_TRUE(put(s, key(i), i, 8).ok());
    ASSERT_LE(s.bytes(), 10 * w);
  }
  const stats st = s.stats();
  EXPECT_EQ(st.items, 10u);
  EXPECT_EQ(st.bytes, 10 * w);
  EXPECT_EQ(st.evicted_bytes, 80u);
  EXPECT_EQ(st.evicted_items, 0u);
  EXPECT_TRUE(s.contains(key(99)));
}

TEST_P(Store, UpdateAtCapacityKeepsOthersAndCountsBytesExactly) {
  const std::uint64_t w = 5 + 10 + entry_overhead_bytes;
  store<std::uint64_t> s(opts(3, 3 * w));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(put(s, key(i), i, 10).ok());
  ASSERT_TRUE(put(s, key(1), 11, 10).ok());  // same weight
  ASSERT_TRUE(put(s, key(2), 12, 4).ok());   // lighter
  EXPECT_EQ(s.stats().evictions(), 0u);
  EXPECT_EQ(s.bytes(), 3 * w - 6);
  ASSERT_TRUE(put(s, key(2), 12, 10).ok());  // back to exactly full
  EXPECT_EQ(s.stats().evictions(), 0u);
  EXPECT_EQ(s.bytes(), 3 * w);
  ASSERT_TRUE(put(s, key(2), 13, 11).ok());  // one byte more: one other entry goes
  const stats st = s.stats();
  EXPECT_EQ(st.evicted_bytes, 1u);
  EXPECT_EQ(st.items, 2u);
  EXPECT_EQ(st.bytes, w + (5 + 11 + entry_overhead_bytes));
  std::uint64_t v = 0;
  ASSERT_TRUE(s.get(key(2), v));
  EXPECT_EQ(v, 13u);
}

TEST_P(Store, OversizeValuesAreRejectedAndTheStoreUnchanged) {
  store_options o = opts(10, 500);
  o.limits.max_value_bytes = 100;
  store<std::uint64_t> s(o);
  ASSERT_TRUE(put(s, "a", 1, 100).ok());
  status st = put(s, "b", 2, 101);
  EXPECT_EQ(st.code(), status_code::value_too_large);
  EXPECT_EQ(st.message(), "value size must be at most max_value_bytes = 100 bytes (got 101 bytes)");
  st = put(s, "a", 3, 101);
  EXPECT_EQ(st.code(), status_code::value_too_large);
  const std::string big_key(400, 'k');
  st = put(s, big_key, 4, 37);  // 400 + 37 + 64 = 501
  EXPECT_EQ(st.message(),
            "entry size (key 400 + value 37 + overhead 64 bytes) must be at most max_bytes = 500 "
            "bytes (got 501 bytes)");
  std::uint64_t v = 0;
  ASSERT_TRUE(s.get("a", v));
  EXPECT_EQ(v, 1u) << "a rejected update keeps the old value";
  EXPECT_FALSE(s.contains("b"));
  const stats stt = s.stats();
  EXPECT_EQ(stt.rejected, 3u);
  EXPECT_EQ(stt.items, 1u);
  EXPECT_EQ(stt.bytes, 1 + 100 + entry_overhead_bytes);
  EXPECT_EQ(stt.evictions(), 0u);
}

TEST_P(Store, EveryRemovalReasonIsCounted) {
  const std::uint64_t w = 5 + 8 + entry_overhead_bytes;
  store<std::uint64_t> s(opts(4, 4 * w));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(put(s, key(i), i, 8).ok());
  ASSERT_TRUE(put(s, key(4), 4, 8).ok());  // 5 items > 4: evicted_items
  EXPECT_EQ(s.stats().evicted_items, 1u);
  EXPECT_TRUE(s.erase(key(4)));                // deleted; now 3 items, 3w bytes
  ASSERT_TRUE(put(s, key(5), 5, 8 + w).ok());  // weighs 2w: 5w > 4w, one evicted_bytes
  EXPECT_EQ(s.stats().evicted_bytes, 1u);
  EXPECT_EQ(s.size(), 3u);
  ASSERT_TRUE(put(s, key(6), 6, 8, 1 * sec).ok());  // 5w > 4w again; expires later
  clk->advance(1 * sec);
  std::uint64_t v = 0;
  EXPECT_FALSE(s.get(key(6), v));  // expired
  const std::uint64_t left = s.size();
  EXPECT_EQ(left, 2u);
  EXPECT_EQ(s.clear(), left);
  const stats st = s.stats();
  EXPECT_EQ(st.evicted_items, 1u);
  EXPECT_EQ(st.evicted_bytes, 2u);
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.deleted, 1u);
  EXPECT_EQ(st.cleared, 2u);
  EXPECT_EQ(st.inserts, 7u);
  EXPECT_EQ(st.items, 0u);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.inserts, st.evicted_items + st.evicted_bytes + st.expired + st.deleted + st.cleared)
      << "every inserted entry left for exactly one counted reason";
}

TEST_P(Store, ClearKeepsCountersResetStatsZeroesThem) {
  store<std::uint64_t> s(opts());
  ASSERT_TRUE(put(s, "a", 1, 8).ok());
  std::uint64_t v;
  ASSERT_TRUE(s.get("a", v));
  EXPECT_EQ(s.clear(), 1u);
  stats st = s.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.cleared, 1u);
  EXPECT_EQ(st.items, 0u);
  EXPECT_FALSE(s.get("a", v));
  ASSERT_TRUE(put(s, "b", 2, 8).ok());
  s.reset_stats();
  st = s.stats();
  EXPECT_EQ(st.hits + st.misses + st.inserts + st.cleared, 0u);
  EXPECT_EQ(st.items, 1u) << "reset_stats keeps the entries";
  ASSERT_TRUE(s.get("b", v));
  EXPECT_EQ(s.stats().hits, 1u);
}

TEST_P(Store, ForEachSeesLiveEntriesAndMayCallBack) {
  store<std::uint64_t> s(opts(unlimited, unlimited, 4));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(put(s, key(i), i, 8, i < 10 ? 1 * sec : 5 * sec).ok());
  clk->advance(1 * sec);
  std::map<std::string, std::uint64_t> seen;
  s.for_each([&](std::string_view k, const std::uint64_t& v) {
    seen.emplace(std::string(k), v);
    s.contains(k);  // calling back into the store from the callback must not deadlock
  });
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_EQ(seen.count(key(3)), 0u);
  EXPECT_EQ(seen.at(key(42)), 42u);
}

TEST_P(Store, RemovedValuesAreDestroyedOnTheCallersThreadAfterTheCall) {
  const std::thread::id me = std::this_thread::get_id();
  probe::take();
  {
    store<probe> s(opts(2));
    ASSERT_TRUE(put(s, "a", probe(1), 8).ok());
    ASSERT_TRUE(put(s, "b", probe(2), 8).ok());
    ASSERT_TRUE(put(s, "a", probe(3), 8).ok());  // replaces 1
    ASSERT_TRUE(put(s, "c", probe(4), 8).ok());  // evicts one of 2, 3
    EXPECT_TRUE(s.erase("c"));                   // 4
    auto d = probe::take();
    std::vector<int> ids;
    for (auto& [id, tid] : d) {
      EXPECT_EQ(tid, me);
      ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    ASSERT_EQ(ids.size(), 3u);
    EXPECT_EQ(ids[0], 1);
    EXPECT_EQ(ids[2], 4);
  }
  EXPECT_EQ(probe::take().size(), 1u) << "the store's destructor destroys what is left";
}

TEST_P(Store, ValuesTheCleanerReclaimsWaitForTheOwnersThread) {
  const std::thread::id me = std::this_thread::get_id();
  probe::take();
  store<probe> s(opts(unlimited, unlimited, 2));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(put(s, key(i), probe(i), 8, 1 * sec).ok());
  ASSERT_TRUE(put(s, "keep", probe(100), 8).ok());
  clk->advance(1 * sec);
  std::uint64_t reclaimed = 0;
  std::thread other([&] { reclaimed = s.reclaim_expired(); });  // as the cleaner thread does
  other.join();
  EXPECT_EQ(reclaimed, 10u);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(probe::take().empty()) << "nothing destroyed on the reclaiming thread";
  EXPECT_EQ(s.released_pending(), 10u);
  EXPECT_TRUE(s.contains("keep"));  // contains() does not drain; the next get() does
  probe out;
  ASSERT_TRUE(s.get("keep", out));
  EXPECT_EQ(s.released_pending(), 0u);
  const auto d = probe::take();
  ASSERT_EQ(d.size(), 10u);
  for (auto& [id, tid] : d) EXPECT_EQ(tid, me);
  EXPECT_EQ(s.stats().expired, 10u);
}

TEST_P(Store, OneReclaimPassRemovesEveryExpiredEntryPastTheBatchLimits) {
  // More expired entries than one batch may remove (cleaner::batch_removals) and more slots than
  // one batch looks at (cleaner::batch_scans), all in one shard: one pass still takes them all.
  store<std::uint64_t> s(opts(unlimited, unlimited, 1));
  constexpr int expiring = 3 * cleaner::batch_scans;
  for (int i = 0; i < expiring; ++i) {
    ASSERT_TRUE(put(s, key(i), i, 8, 1 * sec).ok());
    if (i % 100 == 0) ASSERT_TRUE(put(s, "keep" + std::to_string(i), i, 8).ok());
  }
  const std::uint64_t kept = s.size() - expiring;
  EXPECT_EQ(kept, 31u);
  clk->advance(1 * sec);
  EXPECT_EQ(s.reclaim_expired(), std::uint64_t{expiring});
  EXPECT_EQ(s.size(), kept);
  EXPECT_EQ(s.stats().expired, std::uint64_t{expiring});
  EXPECT_EQ(s.reclaim_expired(), 0u);
  s.drain_released();
}

TEST_P(Store, DrainReleasedEmptiesTheQueue) {
  probe::take();
  store<probe> s(opts());
  ASSERT_TRUE(put(s, "a", probe(1), 8, 1 * sec).ok());
  clk->advance(1 * sec);
  EXPECT_EQ(s.reclaim_expired(), 1u);
  EXPECT_TRUE(probe::take().empty());
  EXPECT_EQ(s.drain_released(), 1u);
  EXPECT_EQ(probe::take().size(), 1u);
  EXPECT_EQ(s.drain_released(), 0u);
}

TEST(StoreOptions, BadOptionsAreRefusedWithTheRule) {
  store_options o;
  o.shards = 3;
  EXPECT_EQ(store<int>::validate(o).message(),
            "shards must be 0 (automatic) or a power of two in [1, 1024] (got 3)");
  EXPECT_THROW(store<int>{o}, std::invalid_argument);
  o.shards = 0;
  o.limits.max_items = 0;
  EXPECT_EQ(store<int>::validate(o).code(), status_code::out_of_range);
  o.limits.max_items = 5;
  o.default_ttl = 0;
  EXPECT_EQ(store<int>::validate(o).message(), "default_ttl must be > 0 nanoseconds (got 0)");
}

TEST(StoreOptions, SmallCachesGetOneShard) {
  store_options o;
  o.limits.max_items = 100;
  EXPECT_EQ(shard_count_for(o), 1u);
  o.limits.max_items = unlimited;
  EXPECT_GE(shard_count_for(o), 1u);
  o.shards = 16;
  EXPECT_EQ(shard_count_for(o), 16u);
}

TEST(StoreLru, OneShardIsExactLru) {
  store_options o = options(policy_kind::lru, 3);
  store<int> s(o);
  ASSERT_TRUE(put(s, "a", 1, 4).ok());
  ASSERT_TRUE(put(s, "b", 2, 4).ok());
  ASSERT_TRUE(put(s, "c", 3, 4).ok());
  int v;
  ASSERT_TRUE(s.get("a", v));
  ASSERT_TRUE(put(s, "d", 4, 4).ok());
  EXPECT_FALSE(s.contains("b"));
  EXPECT_TRUE(s.contains("a"));
  ASSERT_TRUE(put(s, "c", 33, 4).ok());  // an update counts as a use
  ASSERT_TRUE(put(s, "e", 5, 4).ok());
  EXPECT_FALSE(s.contains("a"));
  EXPECT_TRUE(s.contains("c"));
}

TEST(StoreTinylfu, HitsReachThePolicyThroughTheReadBuffer) {
  store_options o = options(policy_kind::tinylfu, 1000);
  store<int> s(o);
  ASSERT_TRUE(put(s, "a", 1, 4).ok());
  int v = 0;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s.get("a", v));
  const stats st = s.stats();
  EXPECT_EQ(st.hits, 1000u) << "every hit is counted even though the policy sees them lossily";
}

// One protocol (docs/architecture.md, "Eviction: one protocol"): a one-shard store and a bare
// entry_table (what the bindings and the replay tool run) make the same decisions, hit for hit,
// on a skewed trace with scans that keeps admission busy; and every value set is there at once.
TEST_P(Store, OneShardStoreReplaysLikeTheEntryTable) {
  const std::uint64_t capacity = 200;
  store<int> s(opts(capacity));
  limits l;
  l.max_items = capacity;
  entry_table t(l, GetParam());
  std::map<std::uint64_t, std::uint32_t> slot_of;
  auto forget = [&](std::uint32_t gone, removal_reason) {
    for (auto it = slot_of.begin(); it != slot_of.end(); ++it) {
      if (it->second == gone) {
        slot_of.erase(it);
        return;
      }
    }
  };
  std::uint64_t x = 99, store_hits = 0, table_hits = 0;
  for (int i = 0; i < 30000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint64_t r = x >> 33;
    // 1 in 10 requests scans fresh keys; the rest pick among 1,000 keys, favouring small ones.
    const std::uint64_t k = i % 10 == 0 ? 1'000'000 + i : (r % 1000) * (r % 1000) / 1000;
    const std::string name = key(static_cast<int>(k));
    const std::uint64_t h = hash64(name);
    int v = 0;
    if (s.get(name, h, v)) {
      ++store_hits;
    } else {
      ASSERT_TRUE(s.set(name, h, static_cast<int>(k), 4).ok());
      ASSERT_TRUE(s.contains(name, h)) << "a value just set is there at request " << i;
    }
    auto it = slot_of.find(k);
    if (it != slot_of.end() && t.lookup(it->second, 0, forget)) {
      ++table_hits;
    } else {
      std::uint32_t slot = no_slot;
      ASSERT_TRUE(t.insert(h, name.size(), 4, std::nullopt, slot, forget).ok());
      slot_of[k] = slot;
    }
  }
  EXPECT_EQ(store_hits, table_hits);
  EXPECT_GT(table_hits, 3000u) << "a trace where the cache matters";
  EXPECT_EQ(s.size(), capacity);
}

}  // namespace
}  // namespace twincache
