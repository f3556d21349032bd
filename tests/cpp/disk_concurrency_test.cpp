// The disk store under threads (run under TSan with the `concurrency` label): readers, writers
// (queued for the writer thread), erasers and flushes on one store, plus a second store on the
// same directory, while the writer thread commits batches. Every value read is one that was
// written for its key; after the last flush, both stores agree. Large values written from several
// threads at once share the store's side worker (or write their own file when it is busy).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"
#include "twincache/disk_store.hpp"

namespace fs = std::filesystem;
using namespace twincache;
using namespace twincache::disk;

namespace {

// Each test gets a fresh directory, removed afterwards; the store lives in its cache/.
class DiskConcurrency : public ::testing::Test {
 protected:
  test_support::temp_dir root{"disk-conc"};
  std::string dir = root.path() + "/cache";
};

std::string noise(std::size_t n, std::uint32_t seed) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>((seed = seed * 1103515245 + 12345) >> 16);
  return out;
}

}  // namespace

TEST_F(DiskConcurrency, ThreadsMixingEveryOperation) {
  options o;
  o.path = dir;
  o.max_bytes = 200 * 1024;  // eviction runs too
  o.write_delay = 500'000;
  std::unique_ptr<disk_store> a, b;
  ASSERT_TRUE(disk_store::open(o, a).ok());
  ASSERT_TRUE(disk_store::open(o, b).ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      disk_store& s = (t % 2 == 0) ? *a : *b;
      for (int i = 0; i < 300; ++i) {
        const std::string key = "k" + std::to_string(i % 40);
        const std::string value = key + ":" + std::string(100 + (i % 7) * 50, 'a' + t);
        switch ((i + t) % 6) {
          case 0:
          case 1: {
            if (!s.set(key, codec_raw, value).ok()) ++bad;
            break;
          }
          case 2:
          case 3: {
            bool found = false;
            std::uint32_t codec = 0;
            std::string v;
            if (!s.get(key, found, codec, v).ok()) ++bad;
            if (found && v.compare(0, key.size() + 1, key + ":") != 0) ++bad;
            break;
          }
          case 4: {
            bool existed = false;
            if (!s.erase(key, existed).ok()) ++bad;
            break;
          }
          default: {
            if (i % 30 == 5 && !s.flush().ok()) ++bad;
            (void)s.l1_epoch();
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_TRUE(a->flush().ok());
  ASSERT_TRUE(b->flush().ok());
  std::vector<std::string> ka, kb;
  ASSERT_TRUE(a->keys(ka).ok());
  ASSERT_TRUE(b->keys(kb).ok());
  EXPECT_EQ(ka, kb);
  disk_stats st;
  ASSERT_TRUE(a->stats(st).ok());
  EXPECT_LE(st.bytes, o.max_bytes);
  EXPECT_EQ(st.write_errors, 0u);
}

// Values of 512 KiB and more are written to their file by the store's side worker while the
// caller signs them; callers that find the worker busy write their own file. Either way each
// value reads back whole, one file per value.
TEST_F(DiskConcurrency, LargeValuesFromManyThreadsReadBackWhole) {
  options o;
  o.path = dir;
  o.l1_max_bytes = 0;  // reads go to the files
  std::unique_ptr<disk_store> s;
  ASSERT_TRUE(disk_store::open(o, s).ok());
  constexpr int threads = 4, per_thread = 3;
  constexpr std::size_t size = 600 * 1024;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const std::string key = "big" + std::to_string(t) + "_" + std::to_string(i);
        EXPECT_TRUE(s->set(key, codec_raw, noise(size, 10 * t + i + 1)).ok());
      }
    });
  }
  for (std::thread& w : workers) w.join();
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir + "/blobs")) ++files;
  EXPECT_EQ(files, static_cast<std::size_t>(threads * per_thread));
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < per_thread; ++i) {
      const std::string key = "big" + std::to_string(t) + "_" + std::to_string(i);
      bool found = false;
      std::uint32_t codec = 0;
      std::string v;
      ASSERT_TRUE(s->get(key, found, codec, v).ok());
      EXPECT_TRUE(found) << key;
      EXPECT_TRUE(v == noise(size, 10 * t + i + 1)) << key;
    }
  }
}
