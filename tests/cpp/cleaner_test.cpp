// Tests for the background cleaner (cleaner.hpp): it starts lazily, reclaims expired entries
// into the release queue (never destroying values itself), serves several stores, and lets a
// store be destroyed while it runs. Expiry is driven by manual clocks; where the real thread
// must act, the test waits on its pass counter with a generous deadline (no fixed sleeps).
#include "twincache/cleaner.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "test_clock.hpp"
#include "twincache/store.hpp"

namespace twincache {
namespace {

using test_support::manual_clock;
using test_support::sec;

store_options ttl_options(std::shared_ptr<clock> c, unsigned shards = 4) {
  store_options o;
  o.clock = std::move(c);
  o.shards = shards;
  return o;
}

template <class V>
void put(store<V>& s, const std::string& k, V v, std::optional<time_ns> ttl) {
  ASSERT_TRUE(s.set(k, hash64(k), std::move(v), 8, ttl).ok());
}

// Waits until the cleaner thread has completed `n` more passes. Returns false on timeout.
bool wait_passes(std::uint64_t n) {
  const std::uint64_t target = cleaner::instance().passes() + n;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (cleaner::instance().passes() < target) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class Cleaner : public ::testing::Test {
 protected:
  void SetUp() override { cleaner::instance().stop(); }
  void TearDown() override {
    cleaner::instance().stop();
    cleaner::instance().set_interval(std::chrono::seconds(1));
  }
};

TEST_F(Cleaner, StartsOnlyWhenAStoreHasAnEntryWithAnExpiry) {
  auto clk = manual_clock();
  store<int> s(ttl_options(clk));
  put(s, "plain", 1, std::nullopt);
  EXPECT_FALSE(cleaner::instance().running());
  EXPECT_FALSE(s.wants_cleaning());
  put(s, "timed", 2, 5 * sec);
  EXPECT_TRUE(cleaner::instance().running());
  EXPECT_TRUE(s.wants_cleaning());
}

TEST_F(Cleaner, RunOnceReclaimsOnlyExpiredEntriesOfEveryStore) {
  auto clk = manual_clock();
  store<int> a(ttl_options(clk));
  store<int> b(ttl_options(clk, 1));
  for (int i = 0; i < 300; ++i) put(a, "a" + std::to_string(i), i, (i % 3 ? 2 : 9) * sec);
  for (int i = 0; i < 10; ++i) put(b, "b" + std::to_string(i), i, 2 * sec);
  put(b, "forever", 1, std::nullopt);
  cleaner::instance().stop();  // this test drives the passes itself
  EXPECT_EQ(cleaner::instance().run_once(), 0u);
  clk->advance(2 * sec);
  EXPECT_EQ(cleaner::instance().run_once(), 200u + 10u);
  EXPECT_EQ(a.size(), 100u);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(a.stats().expired, 200u);
  EXPECT_EQ(a.released_pending(), 200u) << "reclaimed values wait for the owner";
  EXPECT_EQ(a.drain_released(), 200u);
  clk->advance(7 * sec);
  EXPECT_EQ(cleaner::instance().run_once(), 100u);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.bytes(), 0u);
}

TEST_F(Cleaner, TheThreadReclaimsWithoutAnyCallOnTheStore) {
  auto clk = manual_clock();
  cleaner::instance().set_interval(std::chrono::milliseconds(1));
  store<std::string> s(ttl_options(clk));
  for (int i = 0; i < 50; ++i) put(s, "k" + std::to_string(i), std::string(40, 'v'), 1 * sec);
  ASSERT_TRUE(cleaner::instance().running());
  clk->advance(1 * sec);
  ASSERT_TRUE(wait_passes(2)) << "the cleaner thread made no progress within 20 s";
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.stats().expired, 50u);
  EXPECT_EQ(s.released_pending(), 50u);
  std::string out;
  EXPECT_FALSE(s.get("k1", out));
  EXPECT_EQ(s.released_pending(), 0u) << "the next public call drains the queue";
}

TEST_F(Cleaner, StoresComeAndGoWhileTheThreadRuns) {
  auto clk = manual_clock();
  cleaner::instance().set_interval(std::chrono::microseconds(100));
  for (int round = 0; round < 50; ++round) {
    store<std::string> s(ttl_options(clk));
    for (int i = 0; i < 20; ++i) put(s, "k" + std::to_string(i), std::string(30, 'x'), 1 * sec);
    clk->advance(1 * sec);
    if (round % 10 == 0) ASSERT_TRUE(wait_passes(1));
  }  // each destructor unregisters, waiting for a pass inside it
  EXPECT_TRUE(cleaner::instance().running());
}

TEST_F(Cleaner, StopJoinsAndALaterExpiryRestarts) {
  auto clk = manual_clock();
  store<int> s(ttl_options(clk));
  put(s, "a", 1, 1 * sec);
  ASSERT_TRUE(cleaner::instance().running());
  cleaner::instance().stop();
  EXPECT_FALSE(cleaner::instance().running());
  put(s, "b", 2, 1 * sec);
  EXPECT_TRUE(cleaner::instance().running());
}

}  // namespace
}  // namespace twincache
