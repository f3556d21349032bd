// cleaner.hpp: the one background thread per process that reclaims expired entries for every
// store, and the process-wide store registry that makes stores safe across fork().
//
// Hand-off. The cleaner removes expired entries in small batches (at most
// cleaner::batch_removals removals and cleaner::batch_scans slot checks per shard lock hold).
// It never runs V's destructor: a reclaimed value is moved into its store's release queue and
// destroyed later on a thread of the store's owner (the next public call, or drain_released()).
// It never touches a Python or JS value and never calls user code.
//
// Registry. Every store registers at construction (for fork) and is unregistered by its
// destructor; the registry mutex is held while the cleaner works inside a store, so a store's
// destructor waits for the batch in progress and the cleaner is never inside a store being
// destroyed. The cleaner serves only stores that asked for it (their first entry with an
// expiry); it starts lazily at that moment, and is stopped and joined at process exit.
//
// fork(). pthread_atfork handlers: prepare takes the registry mutex and then every registered
// store's locks (shards, then release queue); the parent releases them; the child, where only
// the forking thread exists, resets them, forgets the parent's cleaner thread, and lets the
// next entry with an expiry start a new one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace twincache {

// What the cleaner and the fork handlers need from a store. Implemented by store<V>; virtual
// calls happen only on the cleaner's and fork's paths, never on the store's hot paths.
class cleanable {
 public:
  cleanable() = default;
  cleanable(const cleanable&) = delete;
  cleanable& operator=(const cleanable&) = delete;

  // One sweep over every shard in small batches. Returns how many entries it reclaimed.
  virtual std::uint64_t reclaim_expired() = 0;
  virtual void fork_prepare() noexcept = 0;  // take every lock of the store
  virtual void fork_parent() noexcept = 0;   // release them
  virtual void fork_child() noexcept = 0;    // reset them

  bool wants_cleaning() const noexcept { return wants_cleaning_.load(std::memory_order_relaxed); }

 protected:
  ~cleanable() = default;
  std::atomic<bool> wants_cleaning_{false};  // set by the store's first entry with an expiry
};

class cleaner {
 public:
  // Removals and slot checks per shard lock hold.
  static constexpr std::uint64_t batch_removals = 64;
  static constexpr std::uint64_t batch_scans = 1024;

  static cleaner& instance();

  // Registry (store constructor / destructor). remove() waits for a batch in progress.
  void add(cleanable* store);
  void remove(cleanable* store);

  // A store has entries with an expiry: make sure the thread runs. Cheap when it does (one
  // relaxed load), so stores call it on every set with an expiry. Must not be called with a
  // store lock held.
  void ensure_running() {
    if (!running_.load(std::memory_order_acquire)) start();
  }

  // Time between two passes (default 1 s). Takes effect at the next wait.
  void set_interval(std::chrono::nanoseconds interval);
  std::chrono::nanoseconds interval() const;

  // One pass over every store that wants cleaning, on the calling thread (tests with a manual
  // clock call this instead of waiting for the thread). Returns the entries reclaimed.
  std::uint64_t run_once();

  // Stops and joins the thread (also done at exit). A later ensure_running() starts it again.
  void stop();
  bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  // Passes the thread has completed (tests wait on it instead of sleeping blindly).
  std::uint64_t passes() const noexcept { return passes_.load(std::memory_order_acquire); }

  // fork handlers (pthread_atfork); public for the C-linkage trampolines.
  void fork_prepare() noexcept;
  void fork_parent() noexcept;
  void fork_child() noexcept;

 private:
  cleaner() = default;
  void start();
  void loop();
  std::uint64_t pass_locked();

  mutable std::mutex mu_;  // guards stores_, interval_, stop_, thread_, cv_; held during a pass
  std::condition_variable* cv_ = new std::condition_variable();  // wakes the thread to stop
  std::vector<cleanable*> stores_;                               // every live store
  std::chrono::nanoseconds interval_ = std::chrono::seconds(1);
  bool stop_ = false;
  std::thread* thread_ = nullptr;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> passes_{0};
};

}  // namespace twincache
