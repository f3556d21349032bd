// Tests for detail::small_vector (the bindings' list of removed entries): order and values kept
// across the spill from the inline elements to the heap, and clear() starting over.
#include "twincache/detail/small_vector.hpp"

#include <gtest/gtest.h>

using twincache::detail::small_vector;

TEST(SmallVector, KeepsOrderAcrossTheSpill) {
  small_vector<int, 4> v;
  EXPECT_TRUE(v.empty());
  for (int i = 0; i < 11; ++i) v.push_back(i * 10);
  ASSERT_EQ(v.size(), 11u);
  EXPECT_FALSE(v.empty());
  for (int i = 0; i < 11; ++i) EXPECT_EQ(v[static_cast<std::size_t>(i)], i * 10);
  v[2] = -1;
  v[9] = -2;
  EXPECT_EQ(v[2], -1);
  EXPECT_EQ(v[9], -2);
}

TEST(SmallVector, ClearStartsOver) {
  small_vector<int, 2> v;
  for (int i = 0; i < 5; ++i) v.push_back(i);
  v.clear();
  EXPECT_TRUE(v.empty());
  v.push_back(7);
  v.push_back(8);
  v.push_back(9);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], 7);
  EXPECT_EQ(v[2], 9);
}
