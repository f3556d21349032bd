// cleaner.cpp: the background thread, the store registry and the fork handlers (cleaner.hpp).
#include "twincache/cleaner.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>

namespace twincache {
namespace {

extern "C" void twincache_fork_prepare() {
  cleaner::instance().fork_prepare();
}
extern "C" void twincache_fork_parent() {
  cleaner::instance().fork_parent();
}
extern "C" void twincache_fork_child() {
  cleaner::instance().fork_child();
}
std::atomic<bool> exiting{false};
void stop_at_exit() {
  exiting.store(true);
  cleaner::instance().stop();
}

}  // namespace

cleaner& cleaner::instance() {
  // Never destroyed: stores that are themselves static may unregister during exit, after any
  // destructor of ours would have run. The thread is stopped by an atexit handler instead.
  static cleaner* const c = [] {
    auto* p = new cleaner();
    pthread_atfork(twincache_fork_prepare, twincache_fork_parent, twincache_fork_child);
    std::atexit(stop_at_exit);
    return p;
  }();
  return *c;
}

void cleaner::add(cleanable* store) {
  std::lock_guard lock(mu_);
  stores_.push_back(store);
}

void cleaner::remove(cleanable* store) {
  std::lock_guard lock(mu_);  // waits for a pass in progress: it may be inside this store
  stores_.erase(std::remove(stores_.begin(), stores_.end(), store), stores_.end());
}

void cleaner::set_interval(std::chrono::nanoseconds interval) {
  std::lock_guard lock(mu_);
  interval_ = std::max(interval, std::chrono::nanoseconds(1));
  cv_->notify_all();
}

std::chrono::nanoseconds cleaner::interval() const {
  std::lock_guard lock(mu_);
  return interval_;
}

std::uint64_t cleaner::run_once() {
  std::lock_guard lock(mu_);
  return pass_locked();
}

std::uint64_t cleaner::pass_locked() {
  std::uint64_t reclaimed = 0;
  for (cleanable* s : stores_) {
    if (s->wants_cleaning()) reclaimed += s->reclaim_expired();
  }
  return reclaimed;
}

void cleaner::start() {
  std::lock_guard lock(mu_);
  if (thread_ != nullptr || exiting.load()) return;
  stop_ = false;
  thread_ = new std::thread([this] { loop(); });
  running_.store(true, std::memory_order_release);
}

void cleaner::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // Wakes for stop() and set_interval(); a new interval starts a new wait.
    const std::chrono::nanoseconds wait = interval_;
    if (cv_->wait_for(lock, wait, [&] { return stop_ || interval_ != wait; })) continue;
    pass_locked();
    passes_.fetch_add(1, std::memory_order_release);
  }
}

void cleaner::stop() {
  std::thread* t = nullptr;
  {
    std::lock_guard lock(mu_);
    if (thread_ == nullptr) return;
    stop_ = true;
    cv_->notify_all();
    t = thread_;  // stays set while joining, so start() does not race a second thread in
  }
  t->join();
  std::lock_guard lock(mu_);
  delete thread_;
  thread_ = nullptr;
  running_.store(false, std::memory_order_release);
}

void cleaner::fork_prepare() noexcept {
  mu_.lock();  // the thread is now waiting or between passes: it is inside no store
  for (cleanable* s : stores_) s->fork_prepare();
}

void cleaner::fork_parent() noexcept {
  for (cleanable* s : stores_) s->fork_parent();
  mu_.unlock();
}

void cleaner::fork_child() noexcept {
  for (cleanable* s : stores_) s->fork_child();
  // Only the forking thread exists here. The parent's thread object, and the condition
  // variable it waited on, describe a thread this process does not have: leak them (a few
  // bytes) rather than join or destroy them, and let the next expiry start a fresh thread.
  thread_ = nullptr;
  cv_ = new std::condition_variable();
  stop_ = false;
  running_.store(false, std::memory_order_relaxed);
  mu_.unlock();  // locked by this very thread in fork_prepare
}

}  // namespace twincache
