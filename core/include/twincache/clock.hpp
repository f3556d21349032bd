// clock.hpp: the monotonic clock every expiry decision reads. Tests (C++, Python, Node) inject
// time by switching a clock to manual mode and advancing it; nothing in the project sleeps to
// test expiry.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace twincache {

// Nanoseconds on a monotonic time line. Only differences mean anything.
using time_ns = std::int64_t;

class clock {
 public:
  // Hot path: one relaxed load and, in real mode, one steady_clock read.
  time_ns now() const noexcept {
    const time_ns manual = manual_ns_.load(std::memory_order_relaxed);
    if (manual >= 0) return manual;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Switches to manual mode at `start` (>= 0). From then on now() returns what tests set.
  void set_manual(time_ns start) noexcept { manual_ns_.store(start, std::memory_order_relaxed); }
  // Moves a manual clock forward (or back: tests may). No effect in real mode.
  void advance(time_ns delta) noexcept {
    time_ns cur = manual_ns_.load(std::memory_order_relaxed);
    while (cur >= 0 && !manual_ns_.compare_exchange_weak(cur, cur + delta)) {
    }
  }
  bool is_manual() const noexcept { return manual_ns_.load(std::memory_order_relaxed) >= 0; }

  // The process-wide real clock that stores use unless given their own.
  static std::shared_ptr<clock> real() {
    static const std::shared_ptr<clock> instance = std::make_shared<clock>();
    return instance;
  }

 private:
  std::atomic<time_ns> manual_ns_{-1};  // -1: real time
};

}  // namespace twincache
