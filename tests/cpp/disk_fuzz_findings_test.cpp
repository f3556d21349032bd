// Regression tests for what the fuzzers of tests/fuzz found (docs/fuzzing.md, "Findings"). Each
// test replays the shape of the input that failed, made here with the store itself.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "temp_dir.hpp"
#include "twincache/disk_store.hpp"

namespace fs = std::filesystem;
using namespace twincache;
using namespace twincache::disk;

namespace {

std::string read_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::unique_ptr<disk_store> open_dir(const std::string& dir, std::string& warning) {
  options o;
  o.path = dir;
  o.write_delay = 0;
  std::unique_ptr<disk_store> s;
  const status st = disk_store::open_or_memory(o, s, warning);
  EXPECT_TRUE(st.ok()) << st.message();
  return s;
}

// fuzz_disk_open: a cache.db cut to its 100-byte header (a WAL-mode database whose pages are
// gone) made open() retry "PRAGMA journal_mode=WAL" 100 times, 10 ms apart, before it moved the
// file aside: every open of such a file cost over a second (two seconds when the fresh file was
// damaged as well). Only a busy or locked database is retried now. The bound below is 50 times
// what the open takes (~10 ms) and half of the minimum the retries cost.
TEST(DiskFuzzFindings, DamagedHeaderOpensWithoutBusyRetries) {
  test_support::temp_dir root("disk-fuzz-findings");
  const std::string dir = root.path() + "/cache";
  std::string warning;
  {
    auto s = open_dir(dir, warning);
    ASSERT_TRUE(s->persistent());
    ASSERT_TRUE(s->set("k", codec_raw, "v").ok());
  }
  const std::string db = read_file(dir + "/cache.db");
  ASSERT_GT(db.size(), 100u);
  write_file(dir + "/cache.db", db.substr(0, 100));

  const auto start = std::chrono::steady_clock::now();
  auto s = open_dir(dir, warning);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(500));
  // And the damaged file was moved aside, with the warning, and the cache works.
  ASSERT_TRUE(s->persistent()) << s->why();
  EXPECT_NE(warning.find("moved"), std::string::npos) << warning;
  ASSERT_TRUE(s->set("k2", codec_raw, "v2").ok());
  bool found = false;
  std::uint32_t codec = 0;
  std::string value;
  ASSERT_TRUE(s->get("k2", found, codec, value).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(value, "v2");
  int aside = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    aside += e.path().filename().string().rfind("cache.db.corrupt-", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(aside, 1);
}

}  // namespace
