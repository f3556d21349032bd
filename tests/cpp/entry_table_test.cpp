// Tests for the single-threaded slot engine (entry_table.hpp): limits at their edges, TTL
// through an injected clock, updates at capacity, every removal reason, slot reuse. Tests that do
// not depend on which entry a policy picks run under both policies.
#include "twincache/entry_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "test_clock.hpp"

namespace twincache {
namespace {

using test_support::sec;

struct removed_log {
  std::vector<std::pair<std::uint32_t, removal_reason>> events;
  auto callback() {
    return [this](std::uint32_t s, removal_reason r) { events.emplace_back(s, r); };
  }
};

limits make_limits(std::uint64_t items, std::uint64_t bytes = unlimited,
                   std::uint64_t value_bytes = unlimited) {
  limits l;
  l.max_items = items;
  l.max_bytes = bytes;
  l.max_value_bytes = value_bytes;
  return l;
}

class EntryTable : public ::testing::TestWithParam<policy_kind> {
 protected:
  std::shared_ptr<clock> clk = [] {
    auto c = std::make_shared<clock>();
    c->set_manual(1000 * sec);
    return c;
  }();
  removed_log log;

  std::uint32_t must_insert(entry_table& t, std::uint64_t hash, std::uint64_t key_bytes,
                            std::uint64_t value_weight, std::optional<time_ns> ttl = std::nullopt) {
    std::uint32_t slot = no_slot;
    status st = t.insert(hash, key_bytes, value_weight, ttl, slot, log.callback());
    EXPECT_TRUE(st.ok()) << st.message();
    return slot;
  }
};

INSTANTIATE_TEST_SUITE_P(BothPolicies, EntryTable,
                         ::testing::Values(policy_kind::lru, policy_kind::tinylfu),
                         [](const auto& info) { return std::string(policy_name(info.param)); });

// A table with no item or byte limit never evicts, so it keeps lru's cheap bookkeeping whatever
// policy was asked for; any limit brings the asked policy back.
TEST_P(EntryTable, UnlimitedTableUsesLruBookkeeping) {
  entry_table unlimited_table(make_limits(unlimited), GetParam(), clk);
  EXPECT_EQ(unlimited_table.policy(), policy_kind::lru);
  entry_table items(make_limits(10), GetParam(), clk);
  EXPECT_EQ(items.policy(), GetParam());
  entry_table bytes(make_limits(unlimited, 1000), GetParam(), clk);
  EXPECT_EQ(bytes.policy(), GetParam());
  // Nothing is evicted however many entries arrive.
  for (std::uint64_t h = 1; h <= 5000; ++h) must_insert(unlimited_table, h, 8, 8);
  EXPECT_EQ(unlimited_table.size(), 5000u);
  EXPECT_TRUE(log.events.empty());
}

TEST_P(EntryTable, InsertThenHitAndMissAreCounted) {
  entry_table t(make_limits(10), GetParam(), clk);
  const std::uint32_t s = must_insert(t, 42, 3, 5);
  EXPECT_TRUE(t.lookup(s, clk->now(), log.callback()));
  t.record_miss();
  const stats st = t.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.inserts, 1u);
  EXPECT_EQ(st.items, 1u);
  EXPECT_EQ(st.bytes, 3 + 5 + entry_overhead_bytes);
  EXPECT_EQ(t.meta(s).hash, 42u);
}

TEST_P(EntryTable, ExpiresExactlyAtSetTimePlusTtl) {
  entry_table t(make_limits(10), GetParam(), clk);
  const std::uint32_t s = must_insert(t, 1, 1, 1, 5 * sec);
  clk->advance(5 * sec - 1);
  EXPECT_TRUE(t.is_live(s, clk->now())) << "one nanosecond before set time + ttl: live";
  clk->advance(1);
  EXPECT_FALSE(t.is_live(s, clk->now())) << "at set time + ttl: expired";
  EXPECT_FALSE(t.lookup(s, clk->now(), log.callback()));
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].second, removal_reason::expired);
  const stats st = t.stats();
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.items, 0u);
  EXPECT_EQ(st.bytes, 0u);
}

TEST_P(EntryTable, PerEntryTtlOverridesTheDefault) {
  entry_table t(make_limits(10), GetParam(), clk, 10 * sec);
  const std::uint32_t with_default = must_insert(t, 1, 1, 1);
  const std::uint32_t short_ttl = must_insert(t, 2, 1, 1, 2 * sec);
  const std::uint32_t long_ttl = must_insert(t, 3, 1, 1, 60 * sec);
  clk->advance(2 * sec);
  EXPECT_FALSE(t.is_live(short_ttl, clk->now()));
  EXPECT_TRUE(t.is_live(with_default, clk->now()));
  clk->advance(8 * sec);
  EXPECT_FALSE(t.is_live(with_default, clk->now()));
  EXPECT_TRUE(t.is_live(long_ttl, clk->now()));
}

TEST_P(EntryTable, NoTtlNeverExpires) {
  entry_table t(make_limits(10), GetParam(), clk);
  const std::uint32_t s = must_insert(t, 1, 1, 1);
  clk->advance(200LL * 365 * 24 * 3600 * sec);
  EXPECT_TRUE(t.is_live(s, clk->now()));
  EXPECT_EQ(t.meta(s).expiry, never);
  EXPECT_EQ(t.ttl_items(), 0u);
}

TEST_P(EntryTable, RejectsNonPositiveTtlNamingIt) {
  entry_table t(make_limits(10), GetParam(), clk);
  std::uint32_t slot = no_slot;
  status st = t.insert(1, 1, 1, time_ns{0}, slot, log.callback());
  EXPECT_EQ(st.code(), status_code::out_of_range);
  EXPECT_EQ(st.message(), "ttl must be > 0 nanoseconds (got 0)");
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(validate_table_options(make_limits(1), time_ns{-5}).message(),
            "default_ttl must be > 0 nanoseconds (got -5)");
}

TEST_P(EntryTable, MaxItemsExactlyFullKeepsAllOneMoreEvictsOne) {
  entry_table t(make_limits(3), GetParam(), clk);
  for (std::uint64_t h = 1; h <= 3; ++h) must_insert(t, h, 1, 1);
  EXPECT_TRUE(log.events.empty()) << "exactly full: nothing evicted";
  EXPECT_EQ(t.size(), 3u);
  must_insert(t, 4, 1, 1);
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].second, removal_reason::evicted_items);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.stats().evicted_items, 1u);
  EXPECT_EQ(t.stats().evicted_bytes, 0u);
}

TEST_P(EntryTable, MaxBytesExactlyFullKeepsAllOneByteOverEvicts) {
  const std::uint64_t w = 10 + 20 + entry_overhead_bytes;  // key 10, value 20
  entry_table t(make_limits(unlimited, 3 * w), GetParam(), clk);
  for (std::uint64_t h = 1; h <= 3; ++h) must_insert(t, h, 10, 20);
  EXPECT_EQ(t.bytes(), 3 * w);
  EXPECT_TRUE(log.events.empty()) << "exactly full: nothing evicted";
  must_insert(t, 4, 10, 21);  // one byte more than the one it displaces
  EXPECT_EQ(t.stats().evicted_bytes, 2u) << "3w - w + (w + 1) > 3w: a second entry must go";
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.bytes(), 2 * w + 1);
  for (const auto& [slot, reason] : log.events) EXPECT_EQ(reason, removal_reason::evicted_bytes);
}

TEST_P(EntryTable, OversizeValueIsRejectedAndTheTableUnchanged) {
  entry_table t(make_limits(10, 1000, 100), GetParam(), clk);
  const std::uint32_t s = must_insert(t, 1, 4, 100);  // exactly max_value_bytes: fine
  std::uint32_t slot = no_slot;
  status st = t.insert(2, 4, 101, std::nullopt, slot, log.callback());
  EXPECT_EQ(st.code(), status_code::value_too_large);
  EXPECT_EQ(st.message(), "value size must be at most max_value_bytes = 100 bytes (got 101 bytes)");
  EXPECT_EQ(slot, no_slot);

  entry_table big(make_limits(10, 200), GetParam(), clk);
  must_insert(big, 1, 36, 100);  // 36 + 100 + 64 = 200: exactly max_bytes
  st = big.insert(2, 37, 100, std::nullopt, slot, log.callback());
  EXPECT_EQ(st.code(), status_code::value_too_large);
  EXPECT_EQ(st.message(),
            "entry size (key 37 + value 100 + overhead 64 bytes) must be at most "
            "max_bytes = 200 bytes (got 201 bytes)");
  EXPECT_EQ(big.size(), 1u) << "rejecting must not evict anything";
  EXPECT_EQ(big.stats().rejected, 1u);
  EXPECT_TRUE(log.events.empty());

  // An update with an oversize value keeps the old entry as it was.
  st = t.update(s, 4, 101, std::nullopt, log.callback());
  EXPECT_EQ(st.code(), status_code::value_too_large);
  EXPECT_EQ(t.meta(s).weight, 4 + 100 + entry_overhead_bytes);
  EXPECT_EQ(t.stats().rejected, 2u);
  EXPECT_EQ(t.stats().updates, 0u);
}

TEST_P(EntryTable, HugeSizesDoNotWrapAround) {
  entry_table t(make_limits(10), GetParam(), clk);
  std::uint32_t slot = no_slot;
  status st = t.insert(1, 8, ~std::uint64_t{0} - 10, std::nullopt, slot, log.callback());
  EXPECT_EQ(st.code(), status_code::value_too_large);
  EXPECT_EQ(st.message(),
            "entry size (key 8 + value 18446744073709551605 + overhead 64 bytes) must be at "
            "most 4294967295 bytes (got more than 2^64 bytes)");
}

TEST_P(EntryTable, UpdateAtCapacityEvictsOnlyForTheWeightItAdds) {
  const std::uint64_t w = 4 + 10 + entry_overhead_bytes;
  entry_table t(make_limits(3, 3 * w + 5), GetParam(), clk);
  std::uint32_t s[3];
  for (std::uint64_t h = 0; h < 3; ++h) s[h] = must_insert(t, h + 1, 4, 10);
  // Same weight, then smaller, then up to exactly full: nothing else moves.
  ASSERT_TRUE(t.update(s[0], 4, 10, std::nullopt, log.callback()).ok());
  ASSERT_TRUE(t.update(s[1], 4, 3, std::nullopt, log.callback()).ok());
  EXPECT_EQ(t.bytes(), 3 * w - 7);
  ASSERT_TRUE(t.update(s[2], 4, 22, std::nullopt, log.callback()).ok());  // +12 = 3w + 5
  EXPECT_TRUE(log.events.empty());
  EXPECT_EQ(t.bytes(), 3 * w + 5);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.stats().updates, 3u);
  // One byte more than fits: exactly one other entry leaves, and the count stays exact.
  ASSERT_TRUE(t.update(s[2], 4, 23, std::nullopt, log.callback()).ok());
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_NE(log.events[0].first, s[2]) << "the updated entry is never its own victim";
  EXPECT_EQ(log.events[0].second, removal_reason::evicted_bytes);
  const std::uint64_t left =
      log.events[0].first == s[0] ? t.meta(s[1]).weight : t.meta(s[0]).weight;
  EXPECT_EQ(t.bytes(), left + 4 + 23 + entry_overhead_bytes);
  EXPECT_TRUE(t.is_resident(s[2]));
}

TEST_P(EntryTable, GrowingUpdatesNeverOverrunTheBudgetNorEvictTheUpdatedEntry) {
  const std::uint64_t max_bytes = 40 * (8 + 100 + entry_overhead_bytes);
  entry_table t(make_limits(unlimited, max_bytes), GetParam(), clk);
  std::vector<std::uint32_t> slot_of(200, no_slot);
  std::uint64_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint64_t k = (x >> 33) % slot_of.size();
    const std::uint64_t value = 1 + (x >> 20) % 400;
    std::uint32_t& s = slot_of[k];
    auto forget = [&](std::uint32_t gone, removal_reason) {
      for (auto& m : slot_of) {
        if (m == gone) m = no_slot;
      }
    };
    if (s != no_slot) {
      ASSERT_TRUE(t.update(s, 8, value, std::nullopt, forget).ok());
      ASSERT_TRUE(t.is_resident(s)) << "an update never evicts its own entry";
      ASSERT_EQ(t.meta(s).weight, 8 + value + entry_overhead_bytes);
    } else {
      std::uint32_t fresh = no_slot;
      ASSERT_TRUE(t.insert(k, 8, value, std::nullopt, fresh, forget).ok());
      slot_of[k] = fresh;
    }
    ASSERT_LE(t.bytes(), max_bytes) << "after operation " << i;
  }
  std::uint64_t sum = 0, n = 0;
  for (std::uint32_t s : slot_of) {
    if (s == no_slot) continue;
    sum += t.meta(s).weight;
    ++n;
  }
  EXPECT_EQ(sum, t.bytes()) << "the byte count is exactly the sum of the live weights";
  EXPECT_EQ(n, t.size());
}

TEST_P(EntryTable, UpdateRestartsTheTtl) {
  entry_table t(make_limits(10), GetParam(), clk);
  const std::uint32_t s = must_insert(t, 1, 1, 1, 10 * sec);
  clk->advance(9 * sec);
  ASSERT_TRUE(t.update(s, 1, 1, 10 * sec, log.callback()).ok());
  clk->advance(9 * sec);
  EXPECT_TRUE(t.is_live(s, clk->now()));
  ASSERT_TRUE(t.update(s, 1, 1, std::nullopt, log.callback()).ok());
  EXPECT_EQ(t.meta(s).expiry, never) << "no TTL and no default: the new value never expires";
  EXPECT_EQ(t.ttl_items(), 0u);
}

TEST_P(EntryTable, EraseClearAndResetStatsCountAsDocumented) {
  entry_table t(make_limits(10), GetParam(), clk);
  const std::uint32_t a = must_insert(t, 1, 1, 1);
  must_insert(t, 2, 1, 1);
  must_insert(t, 3, 1, 1);
  t.erase(a, log.callback());
  EXPECT_EQ(t.clear(log.callback()), 2u);
  stats st = t.stats();
  EXPECT_EQ(st.deleted, 1u);
  EXPECT_EQ(st.cleared, 2u);
  EXPECT_EQ(st.inserts, 3u) << "clear() keeps counters";
  EXPECT_EQ(st.items, 0u);
  EXPECT_EQ(st.bytes, 0u);
  ASSERT_EQ(log.events.size(), 3u);
  EXPECT_EQ(log.events[0].second, removal_reason::deleted);
  EXPECT_EQ(log.events[1].second, removal_reason::cleared);
  t.reset_stats();
  st = t.stats();
  EXPECT_EQ(st.inserts + st.deleted + st.cleared + st.hits + st.misses, 0u);
  // The table works after clear().
  const std::uint32_t b = must_insert(t, 9, 1, 1);
  EXPECT_TRUE(t.is_live(b, clk->now()));
}

TEST_P(EntryTable, ReleasedSlotsAreReused) {
  entry_table t(make_limits(10), GetParam(), clk);
  const std::uint32_t a = must_insert(t, 1, 1, 1);
  must_insert(t, 2, 1, 1);
  t.erase(a, log.callback());
  EXPECT_FALSE(t.is_resident(a));
  EXPECT_EQ(must_insert(t, 3, 1, 1), a);
  EXPECT_EQ(t.slot_count(), 2u);
}

TEST_P(EntryTable, ExpireBatchRemovesOnlyExpiredAndStopsAtItsBudget) {
  entry_table t(make_limits(unlimited), GetParam(), clk);
  for (std::uint64_t h = 0; h < 100; ++h) must_insert(t, h, 1, 1, h % 2 ? 5 * sec : 50 * sec);
  EXPECT_EQ(t.expire_batch(clk->now(), 64, 1000, log.callback()), 0u);
  clk->advance(5 * sec);
  EXPECT_EQ(t.expire_batch(clk->now(), 20, 1000, log.callback()), 20u) << "at most max_removed";
  EXPECT_EQ(t.expire_batch(clk->now(), 64, 10, log.callback()), 5u)
      << "10 slots looked at, half of them odd";
  EXPECT_EQ(t.expire_batch(clk->now(), 64, 1000, log.callback()), 25u);
  EXPECT_EQ(t.size(), 50u);
  EXPECT_EQ(t.stats().expired, 50u);
  for (const auto& [slot, reason] : log.events) {
    EXPECT_EQ(reason, removal_reason::expired);
    EXPECT_EQ(slot % 2, 1u);
  }
}

// The insert protocol (docs/architecture.md, "Eviction: one protocol"): a value just set is
// resident at once, whatever admission thinks of it, and admission still decides which other
// entry leaves. 99 items under tinylfu: the window's 1% is under one entry, the case where the
// new entry alone overflows the window.
TEST_P(EntryTable, AFreshWriteIsReadableAtOnceUnderACountLimit) {
  entry_table t(make_limits(99), GetParam(), clk);
  std::vector<std::uint32_t> hot;
  for (std::uint64_t h = 1; h <= 99; ++h) hot.push_back(must_insert(t, h, 8, 8));
  for (int round = 0; round < 10; ++round) {
    for (std::uint32_t s : hot) t.hit(s);
  }
  std::uint32_t previous = no_slot;
  int outlived = 0;
  for (std::uint64_t h = 1000; h < 1040; ++h) {  // one-hit wonders
    const std::uint32_t s = must_insert(t, h, 8, 8);
    ASSERT_TRUE(t.is_live(s, clk->now())) << "key " << h << " just set";
    ASSERT_EQ(t.size(), 99u);
    // Under tinylfu the previous one meets main's (hot) victim at this insert, and loses.
    if (previous != no_slot && t.is_resident(previous)) ++outlived;
    previous = s;
  }
  if (GetParam() == policy_kind::tinylfu) {
    EXPECT_LE(outlived, 2) << "admission kept one-hit wonders (only sketch collisions may)";
    std::uint64_t hot_left = 0;
    for (std::uint32_t s : hot) hot_left += t.is_resident(s);
    EXPECT_GE(hot_left, 96u) << "the hot entries stay";
  } else {
    EXPECT_EQ(outlived, 39) << "lru keeps the 39 newest";
  }
  EXPECT_EQ(t.stats().evicted_items, 40u);
}

// Under a byte limit, entries heavier than the window (1% of max_bytes) are resident after their
// insert too, and an entry of exactly max_bytes evicts every other one.
TEST_P(EntryTable, AFreshWriteIsReadableAtOnceUnderAByteLimitWhateverItWeighs) {
  const std::uint64_t unit = 8 + 32 + entry_overhead_bytes;  // 104 bytes
  entry_table t(make_limits(unlimited, 50 * unit), GetParam(), clk);
  std::vector<std::uint32_t> slots;
  for (std::uint64_t h = 1; h <= 50; ++h) slots.push_back(must_insert(t, h, 8, 32));
  for (std::uint32_t s : slots) t.hit(s);
  std::uint64_t x = 7;
  for (std::uint64_t h = 1000; h < 1200; ++h) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint64_t value = 32 + (x >> 33) % (10 * unit);  // up to ~11 units: > the window
    const std::uint32_t s = must_insert(t, h, 8, value);
    ASSERT_TRUE(t.is_live(s, clk->now())) << "key " << h << " weighing " << value;
    ASSERT_LE(t.bytes(), 50 * unit);
  }
  const std::uint32_t whole = must_insert(t, 5000, 8, 50 * unit - 8 - entry_overhead_bytes);
  EXPECT_TRUE(t.is_live(whole, clk->now()));
  EXPECT_EQ(t.size(), 1u) << "exactly max_bytes: every other entry left";
  EXPECT_EQ(t.bytes(), 50 * unit);
  std::uint32_t slot = no_slot;
  EXPECT_EQ(t.insert(5001, 8, 50 * unit, std::nullopt, slot, log.callback()).code(),
            status_code::value_too_large)
      << "alone over max_bytes: refused";
  EXPECT_TRUE(t.is_live(whole, clk->now())) << "a refused entry changes nothing";
}

// An update that must evict takes others than the entry just inserted, and never itself.
TEST_P(EntryTable, AGrowingUpdateSparesTheEntryJustInserted) {
  const std::uint64_t w = 4 + 10 + entry_overhead_bytes;
  entry_table t(make_limits(unlimited, 3 * w), GetParam(), clk);
  const std::uint32_t b = must_insert(t, 1, 4, 10);
  const std::uint32_t c = must_insert(t, 2, 4, 10);
  const std::uint32_t a = must_insert(t, 3, 4, 10);
  ASSERT_TRUE(t.update(b, 4, 10 + w, std::nullopt, log.callback()).ok());  // needs one more w
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].first, c);
  EXPECT_TRUE(t.is_live(a, clk->now()));
  EXPECT_TRUE(t.is_live(b, clk->now()));
  // Growing to the whole budget: the last other entry leaves, even the fresh one.
  ASSERT_TRUE(t.update(b, 4, 10 + 2 * w, std::nullopt, log.callback()).ok());
  EXPECT_FALSE(t.is_resident(a));
  EXPECT_TRUE(t.is_live(b, clk->now()));
  EXPECT_EQ(t.bytes(), 3 * w);
}

TEST(EntryTableLru, EvictsTheLeastRecentlyUsed) {
  auto clk = std::make_shared<clock>();
  clk->set_manual(0);
  removed_log log;
  entry_table t(make_limits(3), policy_kind::lru, clk);
  std::uint32_t s[4];
  for (std::uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.insert(i, 1, 1, std::nullopt, s[i], log.callback()).ok());
  }
  t.hit(s[0]);
  ASSERT_TRUE(t.insert(3, 1, 1, std::nullopt, s[3], log.callback()).ok());
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].first, s[1]);
}

TEST(EntryTableBudget, SharedBudgetCountsAcrossTables) {
  limits l = make_limits(4);
  budget shared(l);
  removed_log log;
  entry_table a(l, policy_kind::lru, nullptr, std::nullopt, &shared, 2);
  entry_table b(l, policy_kind::lru, nullptr, std::nullopt, &shared, 2);
  std::uint32_t s;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.insert(i, 1, 1, std::nullopt, s, log.callback()).ok());
  ASSERT_TRUE(b.insert(9, 1, 1, std::nullopt, s, log.callback()).ok());
  EXPECT_EQ(shared.items(), 4u);
  EXPECT_TRUE(log.events.empty());
  ASSERT_TRUE(b.insert(10, 1, 1, std::nullopt, s, log.callback()).ok());
  EXPECT_EQ(log.events.size(), 1u) << "b evicts its own entry first";
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_FALSE(shared.over());
}

}  // namespace
}  // namespace twincache
