// detail/spin_lock.hpp: the small locks the store's shards and queues use. A shard's critical
// sections are a few hundred nanoseconds at most, so spinning (with a yield after a short while,
// for machines with more threads than cores) beats a futex round trip. Both locks are plain
// words, so a fork() child can reset them (see cleaner.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace twincache::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins a little, then yields the core: the lock holder may be descheduled.
class backoff {
 public:
  void pause() noexcept {
    if (++spins_ < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  unsigned spins_ = 0;
};

// Reader-writer spin lock with writer preference: a writer sets the writer bit (blocking new
// readers) and then waits for the readers already in to leave. Hot path: lock_shared() and
// unlock_shared() are one atomic add each when no writer is around.
class rw_spin_lock {
 public:
  void lock() noexcept {
    backoff b;
    for (;;) {
      std::uint32_t s = state_.load(std::memory_order_relaxed);
      if (!(s & writer_bit) &&
          state_.compare_exchange_weak(s, s | writer_bit, std::memory_order_acquire)) {
        break;
      }
      b.pause();
    }
    backoff w;
    while (state_.load(std::memory_order_acquire) != writer_bit) w.pause();
  }
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, writer_bit, std::memory_order_acquire);
  }
  void unlock() noexcept { state_.fetch_and(~writer_bit, std::memory_order_release); }

  void lock_shared() noexcept {
    for (;;) {
      const std::uint32_t s = state_.fetch_add(1, std::memory_order_acquire);
      if (!(s & writer_bit)) return;
      state_.fetch_sub(1, std::memory_order_relaxed);
      backoff b;
      while (state_.load(std::memory_order_relaxed) & writer_bit) b.pause();
    }
  }
  void unlock_shared() noexcept { state_.fetch_sub(1, std::memory_order_release); }

  // fork() child only: the parent's holders do not exist here.
  void reset_after_fork() noexcept { state_.store(0, std::memory_order_relaxed); }

 private:
  static constexpr std::uint32_t writer_bit = 0x80000000u;
  std::atomic<std::uint32_t> state_{0};  // writer bit | number of readers inside
};

// Plain exclusive spin lock.
class spin_lock {
 public:
  void lock() noexcept {
    backoff b;
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) b.pause();
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }
  void reset_after_fork() noexcept { locked_.store(false, std::memory_order_relaxed); }

 private:
  std::atomic<bool> locked_{false};
};

// RAII for the shared side (std::shared_lock works too, but this keeps the header small).
template <class Lock>
class shared_guard {
 public:
  explicit shared_guard(Lock& l) noexcept : l_(l) { l_.lock_shared(); }
  ~shared_guard() { l_.unlock_shared(); }
  shared_guard(const shared_guard&) = delete;
  shared_guard& operator=(const shared_guard&) = delete;

 private:
  Lock& l_;
};

}  // namespace twincache::detail
