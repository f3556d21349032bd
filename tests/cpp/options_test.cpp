// Tests for the one place limits, TTLs and policy names are checked (options.hpp).
#include "twincache/options.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "twincache/policy.hpp"

namespace twincache {
namespace {

TEST(ParseLimit, AcceptsPositiveIntegers) {
  std::uint64_t out = 0;
  ASSERT_TRUE(parse_limit("max_items", std::int64_t{1}, out).ok());
  EXPECT_EQ(out, 1u);
  ASSERT_TRUE(parse_limit("max", 4096.0, out).ok());
  EXPECT_EQ(out, 4096u);
  ASSERT_TRUE(parse_limit("max", std::numeric_limits<double>::infinity(), out).ok());
  EXPECT_EQ(out, unlimited);
}

TEST(ParseLimit, RejectsZeroNegativeAndFractionsNamingTheParameter) {
  std::uint64_t out = 7;
  status s = parse_limit("max_bytes", std::int64_t{-5}, out);
  EXPECT_EQ(s.code(), status_code::out_of_range);
  EXPECT_EQ(s.message(), "max_bytes must be an integer in [1, 9223372036854775807] (got -5)");
  s = parse_limit("maxBytes", 1.5, out);
  EXPECT_EQ(s.message(),
            "maxBytes must be an integer in [1, 9007199254740991] or Infinity (got 1.5)");
  s = parse_limit("max", std::nan(""), out);
  EXPECT_EQ(s.message(),
            "max must be an integer in [1, 9007199254740991] or Infinity (got NaN)");
  EXPECT_FALSE(parse_limit("max", 0.0, out).ok());
  EXPECT_EQ(out, 7u) << "a rejected value must leave the output unchanged";
}

TEST(ParseTtl, ConvertsUnitsToNanoseconds) {
  time_ns out = 0;
  ASSERT_TRUE(parse_ttl("ttl", 1.5, 1e9, "seconds", out).ok());
  EXPECT_EQ(out, 1'500'000'000);
  ASSERT_TRUE(parse_ttl("ttl", 250.0, 1e6, "milliseconds", out).ok());
  EXPECT_EQ(out, 250'000'000);
  ASSERT_TRUE(parse_ttl("ttl", 1e-12, 1e9, "seconds", out).ok());
  EXPECT_EQ(out, 1) << "a tiny positive TTL still expires after at least 1 ns";
}

TEST(ParseTtl, RejectsZeroNegativeNanAndInfinity) {
  time_ns out = 42;
  for (double bad : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity(), 1e300}) {
    status s = parse_ttl("ttl", bad, 1e9, "seconds", out);
    EXPECT_EQ(s.code(), status_code::out_of_range) << bad;
    EXPECT_EQ(s.message().rfind("ttl must be a finite number of seconds > 0 and <= 4e+09", 0), 0u)
        << s.message();
  }
  EXPECT_EQ(parse_ttl("ttl", 0.0, 1e6, "milliseconds", out).message(),
            "ttl must be a finite number of milliseconds > 0 and <= 4e+12 (got 0)");
  EXPECT_EQ(out, 42);
}

TEST(ParsePolicy, KnowsTheNamesAndTheDefault) {
  policy_kind k = policy_kind::tinylfu;
  ASSERT_TRUE(parse_policy("policy", "lru", k).ok());
  EXPECT_EQ(k, policy_kind::lru);
  ASSERT_TRUE(parse_policy("policy", "tinylfu", k).ok());
  EXPECT_EQ(k, policy_kind::tinylfu);
  ASSERT_TRUE(parse_policy("policy", "", k).ok());
  EXPECT_EQ(k, default_policy());
  EXPECT_EQ(parse_policy("policy", "fifo", k).message(),
            "policy must be one of 'lru', 'tinylfu' (got 'fifo')");
}

TEST(LruPolicy, EvictsLeastRecentlyUsedFirst) {
  lru_policy p;
  p.resize(4);
  for (std::uint32_t s = 0; s < 4; ++s) p.on_insert(s, s, 1);
  p.on_access(0, 0);  // order now 0,3,2,1 (MRU first)
  EXPECT_EQ(p.victim(), 1u);
  p.on_remove(1);
  EXPECT_EQ(p.victim(), 2u);
  p.on_remove(3);
  EXPECT_EQ(p.victim(), 2u);
  EXPECT_EQ(p.size(), 2u);
  p.clear();
  EXPECT_EQ(p.victim(), no_slot);
}

}  // namespace
}  // namespace twincache
