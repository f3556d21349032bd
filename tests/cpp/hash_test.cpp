// The hashes that leave the process are frozen: these values are xxHash's published XXH3 outputs.
#include "twincache/hash.hpp"

#include <gtest/gtest.h>

namespace twincache {
namespace {

TEST(Hash, Xxh3OfEmptyInputMatchesTheReference) {
  EXPECT_EQ(hash64(""), 0x2D06800538D394C2ull);
  EXPECT_EQ(to_hex(hash128_of("")), "99aa06d3014798d86001c324468d497f");
}

TEST(Hash, DifferentBytesGiveDifferentHashes) {
  EXPECT_NE(hash64("a"), hash64("b"));
  EXPECT_NE(hash128_of("a"), hash128_of("b"));
}

}  // namespace
}  // namespace twincache
