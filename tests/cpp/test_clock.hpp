// test_clock.hpp: the manual time every C++ test drives expiry with (no test sleeps to expire).
#pragma once

#include <memory>

#include "twincache/clock.hpp"

namespace twincache::test_support {

inline constexpr time_ns sec = 1'000'000'000;

// A clock in manual mode, started at `start` (far from 0, so "set at t, expires at t + ttl"
// arithmetic never touches the sentinel values).
inline std::shared_ptr<clock> manual_clock(time_ns start = 1000 * sec) {
  auto c = std::make_shared<clock>();
  c->set_manual(start);
  return c;
}

}  // namespace twincache::test_support
