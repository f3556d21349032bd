// Removal reports of the persistent tier (disk_store::report_removals): the entries a write or
// prune() culls to max_bytes ("evicted") or reclaims after their TTL ("expired") are handed to
// the binding once each, after their transaction commits, with their values when asked (a large
// value's side file and a compressed value included); nothing when reports are off.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "twincache/disk_store.hpp"

using namespace twincache;
using namespace twincache::disk;

namespace {

class DiskRemovals : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<twincache::clock>();
    clock_->set_manual(1'000'000'000'000);
  }
  std::unique_ptr<disk_store> open(options o) {
    o.path = root_.path() + "/cache";
    o.clock = clock_;
    std::unique_ptr<disk_store> s;
    const status st = disk_store::open(o, s);
    EXPECT_TRUE(st.ok()) << st.message();
    return s;
  }
  static void put(disk_store& s, const std::string& key, const std::string& value,
                  std::optional<time_ns> ttl = std::nullopt) {
    const status st = s.set(key, codec_json, value, ttl);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  test_support::temp_dir root_{"disk-removals"};
  std::shared_ptr<twincache::clock> clock_;
};

// Bytes zstd cannot shrink (so they keep their size on disk).
std::string noise(std::size_t n, std::uint32_t seed) {
  std::string out(n, '\0');
  for (char& c : out) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>(seed >> 24);
  }
  return out;
}

std::string value_of(int i) { return std::string(100, static_cast<char>('a' + i % 26)); }

TEST_F(DiskRemovals, CullingDuringAWriteReportsEachVictimOnceWithItsValue) {
  options o;
  o.max_bytes = 10 * 102;  // ten entries of 2-byte keys and 100-byte values
  o.compress_threshold = 0;
  o.write_delay = 0;
  auto s = open(o);
  s->report_removals(true, true);
  for (int i = 0; i < 10; ++i) {
    put(*s, "k" + std::to_string(i), value_of(i));
    clock_->advance(2'000'000'000);
  }
  EXPECT_FALSE(s->has_removals());  // within the budget: nothing culled
  EXPECT_TRUE(s->take_removals().empty());
  for (int i = 10; i < 15; ++i) {
    put(*s, "x" + std::to_string(i - 10), value_of(i));
    clock_->advance(2'000'000'000);
  }
  EXPECT_TRUE(s->has_removals());
  std::vector<removal> got = s->take_removals();
  EXPECT_FALSE(s->has_removals());
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got[i].key, "k" + std::to_string(i));
    EXPECT_EQ(got[i].reason, removal::why::evicted);
    EXPECT_TRUE(got[i].has_value);
    EXPECT_EQ(got[i].codec, codec_json);
    EXPECT_EQ(got[i].value, value_of(i));
  }
  EXPECT_TRUE(s->take_removals().empty());  // handed over once
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.evicted, 5u);
}

TEST_F(DiskRemovals, WriteBehindVictimsAreReportedOnceTheirBatchCommits) {
  options o;
  o.max_bytes = 4 * 102;
  o.compress_threshold = 0;
  o.write_delay = 1'000'000;
  auto s = open(o);
  s->report_removals(true, false);  // keys only
  for (int i = 0; i < 8; ++i) put(*s, "k" + std::to_string(i), value_of(i));
  ASSERT_TRUE(s->flush().ok());
  std::vector<removal> got = s->take_removals();
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  ASSERT_EQ(got.size(), st.evicted);
  EXPECT_GE(got.size(), 4u);
  std::vector<std::string> keys;
  for (const removal& r : got) {
    keys.push_back(r.key);
    EXPECT_FALSE(r.has_value);
    EXPECT_TRUE(r.value.empty());
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end());  // once each
}

TEST_F(DiskRemovals, ExpiredRowsReclaimedByPruneAndByCullingAreExpired) {
  options o;
  o.max_bytes = 10 * 102;
  o.compress_threshold = 0;
  o.write_delay = 0;
  auto s = open(o);
  s->report_removals(true, true);
  for (int i = 0; i < 3; ++i) put(*s, "t" + std::to_string(i), value_of(i), 5'000'000'000);
  for (int i = 3; i < 10; ++i) put(*s, "k" + std::to_string(i), value_of(i));
  clock_->advance(6'000'000'000);
  put(*s, "new", value_of(20));  // over budget: the expired rows go first
  std::vector<removal> got = s->take_removals();
  ASSERT_EQ(got.size(), 3u);
  for (const removal& r : got) {
    EXPECT_EQ(r.reason, removal::why::expired);
    EXPECT_EQ(r.key[0], 't');
    EXPECT_EQ(r.value, value_of(r.key[1] - '0'));
  }
  put(*s, "short", value_of(21), 1'000'000'000);
  clock_->advance(2'000'000'000);
  std::uint64_t n = 0;
  ASSERT_TRUE(s->prune(n).ok());
  EXPECT_EQ(n, 1u);
  got = s->take_removals();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "short");
  EXPECT_EQ(got[0].reason, removal::why::expired);
  EXPECT_EQ(got[0].value, value_of(21));
}

TEST_F(DiskRemovals, ValuesOfCompressedAndFileBackedVictimsComeBackWhole) {
  options o;
  o.max_bytes = 600000;
  o.compress_threshold = 1024;
  o.file_threshold = 100000;
  o.write_delay = 0;
  auto s = open(o);
  s->report_removals(true, true);
  const std::string big = noise(300000, 1);   // its own file
  const std::string squeezable(50000, 'z');   // compressed in the row
  put(*s, "big", big);
  clock_->advance(2'000'000'000);
  put(*s, "sq", squeezable);
  clock_->advance(2'000'000'000);
  put(*s, "big2", noise(300000, 2));  // over budget: "big" goes (oldest access)
  std::vector<removal> got = s->take_removals();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "big");
  EXPECT_EQ(got[0].value, big);
  put(*s, "big3", noise(300000, 3));  // "sq" then "big2" go
  got = s->take_removals();
  ASSERT_GE(got.size(), 1u);
  EXPECT_EQ(got[0].key, "sq");
  EXPECT_TRUE(got[0].has_value);
  EXPECT_EQ(got[0].value, squeezable);
}

TEST_F(DiskRemovals, NothingIsKeptWhenReportsAreOff) {
  options o;
  o.max_bytes = 4 * 102;
  o.compress_threshold = 0;
  o.write_delay = 0;
  auto s = open(o);
  for (int i = 0; i < 8; ++i) put(*s, "k" + std::to_string(i), value_of(i));
  EXPECT_FALSE(s->has_removals());
  EXPECT_TRUE(s->take_removals().empty());
  s->report_removals(true, true);
  put(*s, "k8", value_of(8));
  EXPECT_EQ(s->take_removals().size(), 1u);
  s->report_removals(false, false);
  put(*s, "k9", value_of(9));
  EXPECT_FALSE(s->has_removals());
}

}  // namespace
