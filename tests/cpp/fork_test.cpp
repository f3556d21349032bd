// fork() safety (cleaner.hpp): a process with a running cleaner and threads busy in a store
// forks; the child must find every lock usable, no cleaner thread (it died with the fork), and
// a working cleaner again as soon as it sets an entry with an expiry. The child reports through
// its exit code; an alarm turns a deadlock into a failure instead of a hung test.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "test_clock.hpp"
#include "twincache/cleaner.hpp"
#include "twincache/store.hpp"

namespace twincache {
namespace {

using test_support::sec;

#if defined(__SANITIZE_ADDRESS__)
// GCC 12's AddressSanitizer runtime does not lock its allocator around fork(): when a parent
// thread is inside malloc at that moment, the child's first new thread (the restarted cleaner)
// can wait forever on the allocator's lock. Under ASan the workers therefore pause around each
// fork; the release build forks while they run, which is the case this test exists for.
constexpr bool pause_workers_at_fork = true;
#else
constexpr bool pause_workers_at_fork = false;
#endif

// Exit codes of the child, one per check.
enum child_result : int {
  ok = 0,
  cleaner_still_running = 10,
  set_failed = 11,
  get_failed = 12,
  cleaner_not_restarted = 13,
  not_reclaimed = 14,
  stats_wrong = 15,
};

int child_main(store<std::string>& s, clock& clk) {
  alarm(20);  // a deadlocked child dies of SIGALRM, which the parent reports
  if (cleaner::instance().running()) return cleaner_still_running;
  // Every shard lock and the release queue must be usable.
  for (int i = 0; i < 200; ++i) {
    const std::string k = "child" + std::to_string(i);
    if (!s.set(k, hash64(k), "v" + std::to_string(i), 8).ok()) return set_failed;
  }
  std::string out;
  if (!s.get("child7", hash64("child7"), out) || out != "v7") return get_failed;
  // An entry with an expiry starts a new cleaner thread in the child, which reclaims it.
  const std::uint64_t before = s.stats().expired;
  if (!s.set("short", hash64("short"), "x", 1, 1 * sec).ok()) return set_failed;
  if (!cleaner::instance().running()) return cleaner_not_restarted;
  clk.advance(1 * sec);
  const std::uint64_t target = cleaner::instance().passes() + 2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (cleaner::instance().passes() < target) {
    if (std::chrono::steady_clock::now() > deadline) return not_reclaimed;
    std::this_thread::yield();
  }
  if (s.contains("short", hash64("short"))) return not_reclaimed;
  if (s.stats().expired < before + 1) return stats_wrong;
  s.drain_released();
  return ok;
}

TEST(Fork, ChildResetsLocksAndRestartsTheCleaner) {
  cleaner::instance().set_interval(std::chrono::milliseconds(1));
  auto clk = std::make_shared<clock>();
  clk->set_manual(0);
  store_options o;
  o.clock = clk;
  o.shards = 4;
  o.limits.max_items = 5000;
  store<std::string> s(o);
  for (int i = 0; i < 1000; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(s.set(k, hash64(k), std::string(20, 'v'), 20, 1 * sec).ok());
  }
  ASSERT_TRUE(cleaner::instance().running());

  // Two threads keep the store's locks busy while the main thread forks, so some forks happen
  // while a lock is wanted or held.
  std::atomic<bool> stop{false};
  std::atomic<bool> pause{false};
  std::atomic<int> paused{0};
  if (pause_workers_at_fork) {
    std::printf("note: ASan build, workers pause around fork() (see pause_workers_at_fork)\n");
  }
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&, t] {
      std::string out;
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        if (pause.load()) {
          paused.fetch_add(1);
          while (pause.load()) std::this_thread::yield();
          paused.fetch_sub(1);
        }
        const std::string k = "k" + std::to_string((i * 7 + t) % 2000);
        if (i % 3 == 0) {
          (void)s.set(k, hash64(k), "w", 1, 1 * sec);
        } else {
          s.get(k, hash64(k), out);
        }
        if (i % 500 == 0) clk->advance(sec / 2);
      }
    });
  }

  constexpr int forks = 8;
  for (int f = 0; f < forks; ++f) {
    if (pause_workers_at_fork) {
      pause.store(true);
      while (paused.load() < 2) std::this_thread::yield();
    }
    const pid_t pid = fork();
    pause.store(false);
    ASSERT_GE(pid, 0) << "fork failed";
    if (pid == 0) _exit(child_main(s, *clk));  // _exit: no atexit handlers, no gtest teardown
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFEXITED(wstatus))
        << "child " << f << " died of signal " << (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0)
        << " (14 = SIGALRM: a lock stayed held in the child)";
    EXPECT_EQ(WEXITSTATUS(wstatus), ok)
        << "child " << f << " failed check " << WEXITSTATUS(wstatus);
  }
  stop.store(true);
  for (auto& w : workers) w.join();

  // The parent is unharmed: its cleaner still runs and its store still works.
  EXPECT_TRUE(cleaner::instance().running());
  ASSERT_TRUE(s.set("after", hash64("after"), "y", 1).ok());
  std::string out;
  EXPECT_TRUE(s.get("after", hash64("after"), out));
  cleaner::instance().set_interval(std::chrono::seconds(1));
}

}  // namespace
}  // namespace twincache
