// One-shot zstd frames (disk/zstd_frame.hpp), as the Node disk addon hands them to the Redis
// tier's envelopes: round trips, the recorded content size, and the refusals (not a frame, a
// declared size above the caller's limit or implausible for the frame, a truncated frame).
#include <gtest/gtest.h>

#include <string>

#include "twincache/disk/zstd_frame.hpp"

namespace td = twincache::disk;

TEST(ZstdFrame, RoundTripsAndShrinksRepetitiveData) {
  std::string data;
  for (int i = 0; i < 2000; ++i) data += "twincache ";
  const auto packed = td::zstd_compress(data, 1);
  ASSERT_TRUE(packed.has_value());
  EXPECT_LT(packed->size(), data.size() / 16);
  const auto back = td::zstd_decompress(*packed, data.size());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, data);
  EXPECT_EQ(td::zstd_decompress(*td::zstd_compress("", 1), 0).value_or("x"), "");
}

TEST(ZstdFrame, RefusesWhatItCannotDecode) {
  const std::string data(10000, 'a');
  const auto packed = td::zstd_compress(data, 1);
  ASSERT_TRUE(packed.has_value());
  EXPECT_FALSE(td::zstd_decompress(*packed, data.size() - 1).has_value());  // over the limit
  EXPECT_FALSE(td::zstd_decompress("not a zstd frame", 1 << 20).has_value());
  EXPECT_FALSE(td::zstd_decompress(packed->substr(0, packed->size() - 1), 1 << 20).has_value());
  // A frame header declaring far more than its size can hold is refused before allocating.
  EXPECT_FALSE(td::plausible_zstd_size(2700000000ull, 35));
  EXPECT_TRUE(td::plausible_zstd_size(data.size(), packed->size()));
}
