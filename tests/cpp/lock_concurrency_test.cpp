// striped_rw_lock (label `concurrency`: scripts/test runs it under TSan): readers on their
// stripes against a writer, and the per-stripe event count that a reader bumps in the same
// atomic add that leaves the lock (the store's read-buffer positions).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "twincache/detail/spin_lock.hpp"

namespace twincache::detail {
namespace {

TEST(LockConcurrency, CountedLeaveNumbersEventsPerStripe) {
  striped_rw_lock<4> lock;
  for (std::uint32_t i = 0; i < 5; ++i) {
    lock.lock_shared(1);
    EXPECT_EQ(lock.unlock_shared_counted(1), i) << "the count before this event";
  }
  EXPECT_EQ(lock.events(1), 5u);
  EXPECT_EQ(lock.events(0), 0u) << "stripes count apart";
  EXPECT_EQ(lock.events(5), 5u) << "stripe numbers wrap like this_thread_stripe()'s";
  ASSERT_TRUE(lock.try_lock()) << "counted readers left: nobody is inside";
  lock.unlock();
}

TEST(LockConcurrency, AReaderInsideKeepsWritersOutWhateverTheCount) {
  striped_rw_lock<4> lock;
  for (int i = 0; i < 3; ++i) {
    lock.lock_shared(2);
    (void)lock.unlock_shared_counted(2);
  }
  lock.lock_shared(2);
  EXPECT_FALSE(lock.try_lock()) << "one reader inside, 3 events counted";
  lock.unlock_shared(2);  // an uncounted leave leaves the count alone
  EXPECT_EQ(lock.events(2), 3u);
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

TEST(LockConcurrency, ResetAfterForkForgetsReadersButKeepsCounts) {
  striped_rw_lock<4> lock;
  lock.lock_shared(3);
  (void)lock.unlock_shared_counted(3);
  lock.lock_shared(3);  // a reader of the parent, gone in the child
  lock.reset_after_fork();
  EXPECT_EQ(lock.events(3), 1u);
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

// Four readers count every shared section they leave while a writer updates a plain pair under
// the exclusive lock: readers must never see the pair half-written, and no event may be lost.
TEST(LockConcurrency, ReadersAndAWriterKeepThePairAndTheCounts) {
  striped_rw_lock<4> lock;
  std::uint64_t a = 0, b = 0;  // guarded by lock; the writer keeps a == b
  constexpr int readers = 4;
  constexpr std::uint32_t sections = 20000;
  std::atomic<std::uint64_t> torn{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      lock.lock();
      ++a;
      ++b;
      lock.unlock();
      std::this_thread::yield();  // let readers in between
    }
  });
  std::vector<std::thread> pool;
  for (int r = 0; r < readers; ++r) {
    pool.emplace_back([&, r] {
      for (std::uint32_t i = 0; i < sections; ++i) {
        lock.lock_shared(static_cast<unsigned>(r));
        if (a != b) torn.fetch_add(1, std::memory_order_relaxed);
        (void)lock.unlock_shared_counted(static_cast<unsigned>(r));
      }
    });
  }
  for (auto& t : pool) t.join();
  stop.store(true);
  writer.join();
  EXPECT_EQ(torn.load(), 0u);
  for (unsigned r = 0; r < readers; ++r) EXPECT_EQ(lock.events(r), sections) << "stripe " << r;
  EXPECT_GT(a, 0u);
}

}  // namespace
}  // namespace twincache::detail
