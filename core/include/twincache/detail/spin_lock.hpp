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

// A reader-writer lock whose readers spread over `Stripes` counters on their own cache lines,
// so readers on different threads never write the same line: a read-mostly shard scales with
// threads. A writer sets the writer word and then waits for every stripe to drain. Readers pass
// their stripe (this_thread_stripe()). Hot path: lock_shared()/unlock_shared() are one atomic
// add each on the reader's own line plus one load of the (unchanging) writer word.
// Each stripe also keeps a 32-bit event count that a reader can bump in the same atomic add as
// its unlock (unlock_shared_counted): the store numbers its read-buffer positions with it, so a
// recorded hit costs no atomic operation of its own.
template <unsigned Stripes>
class striped_rw_lock {
  static_assert(Stripes > 0 && (Stripes & (Stripes - 1)) == 0, "a power of two");

 public:
  static constexpr unsigned stripes = Stripes;

  void lock() noexcept {
    backoff b;
    for (;;) {
      std::uint32_t expected = 0;
      if (writer_.compare_exchange_weak(expected, 1, std::memory_order_seq_cst)) break;
      b.pause();
    }
    for (auto& r : readers_) {
      backoff w;
      while (inside(r.word.load(std::memory_order_seq_cst)) != 0) w.pause();
    }
  }
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    if (!writer_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return false;
    for (auto& r : readers_) {
      if (inside(r.word.load(std::memory_order_seq_cst)) != 0) {
        writer_.store(0, std::memory_order_release);
        return false;
      }
    }
    return true;
  }
  void unlock() noexcept { writer_.store(0, std::memory_order_release); }

  void lock_shared(unsigned stripe) noexcept {
    std::atomic<std::uint64_t>& w = readers_[stripe & (Stripes - 1)].word;
    for (;;) {
      // seq_cst on both sides (here and in lock()) orders "I am in" before "is a writer in?".
      w.fetch_add(1, std::memory_order_seq_cst);
      if (writer_.load(std::memory_order_seq_cst) == 0) return;
      w.fetch_sub(1, std::memory_order_release);
      backoff b;
      while (writer_.load(std::memory_order_relaxed) != 0) b.pause();
    }
  }
  void unlock_shared(unsigned stripe) noexcept {
    readers_[stripe & (Stripes - 1)].word.fetch_sub(1, std::memory_order_release);
  }
  // Leaves like unlock_shared() and counts one event on the stripe, in one atomic add. Returns
  // the stripe's event count before this one (mod 2^32).
  std::uint32_t unlock_shared_counted(unsigned stripe) noexcept {
    const std::uint64_t before = readers_[stripe & (Stripes - 1)].word.fetch_add(
        event_unit - 1, std::memory_order_release);
    return static_cast<std::uint32_t>(before >> 32);
  }
  // The stripe's event count (mod 2^32); acquire: what a counted reader wrote before it left.
  std::uint32_t events(unsigned stripe) const noexcept {
    return static_cast<std::uint32_t>(
        readers_[stripe & (Stripes - 1)].word.load(std::memory_order_acquire) >> 32);
  }

  // fork() child only: the parent's readers do not exist here; the event counts stay.
  void reset_after_fork() noexcept {
    writer_.store(0, std::memory_order_relaxed);
    for (auto& r : readers_) {
      r.word.store(r.word.load(std::memory_order_relaxed) & ~readers_mask,
                   std::memory_order_relaxed);
    }
  }

 private:
  static constexpr std::uint64_t event_unit = std::uint64_t{1} << 32;
  static constexpr std::uint64_t readers_mask = event_unit - 1;
  static std::uint64_t inside(std::uint64_t word) noexcept { return word & readers_mask; }
  struct alignas(64) counter {
    // Low 32 bits: readers inside through this stripe. High 32 bits: the stripe's event count.
    std::atomic<std::uint64_t> word{0};
  };
  alignas(64) std::atomic<std::uint32_t> writer_{0};  // 1 while a writer holds or wants the lock
  counter readers_[Stripes];
};

// The stripe this thread uses for striped locks and buffers: threads are numbered in the order
// they first ask, so two threads get different stripes.
inline unsigned this_thread_stripe() noexcept {
  static std::atomic<unsigned> next{0};
  thread_local const unsigned mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

// RAII for the shared side of a striped_rw_lock, on this thread's stripe.
template <class Lock>
class shared_guard {
 public:
  explicit shared_guard(Lock& l) noexcept : l_(l), stripe_(this_thread_stripe()) {
    l_.lock_shared(stripe_);
  }
  ~shared_guard() { l_.unlock_shared(stripe_); }
  shared_guard(const shared_guard&) = delete;
  shared_guard& operator=(const shared_guard&) = delete;

 private:
  Lock& l_;
  unsigned stripe_;
};

}  // namespace twincache::detail
