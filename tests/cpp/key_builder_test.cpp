// Tests for key_builder: hand-checked encodings of every type (docs/keys.md), the canonical rules
// (1 == 1.0, -0.0 == 0, one NaN, order-independent maps and sets), errors, reuse, and the shared
// vectors in tests/vectors/keys.json that the Python and Node encoders must match too.
#include "twincache/key_builder.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace twincache {
namespace {

std::string hex(const key_builder& b) { return bytes_to_hex(b.bytes()); }

template <class F>
std::string encode(F&& f) {
  key_builder b;
  f(b);
  EXPECT_EQ(b.depth(), 0u);
  return hex(b);
}

std::vector<std::uint8_t> from_hex(std::string_view h) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(KeyBuilder, EmptyKeyIsTheVersionByte) {
  key_builder b;
  EXPECT_EQ(hex(b), "01");
  EXPECT_EQ(b.hash(), hash128_of(std::string_view("\x01", 1)));
  EXPECT_EQ(b.hash64(), hash64(std::string_view("\x01", 1)));
}

TEST(KeyBuilder, Scalars) {
  EXPECT_EQ(encode([](auto& b) { b.add_null(); }), "0100");
  EXPECT_EQ(encode([](auto& b) { b.add_undefined(); }), "010c");
  EXPECT_EQ(encode([](auto& b) { b.add_bool(false); }), "0101");
  EXPECT_EQ(encode([](auto& b) { b.add_bool(true); }), "0102");
}

TEST(KeyBuilder, IntegersAreSignAndMinimalBigEndianMagnitude) {
  EXPECT_EQ(encode([](auto& b) { b.add_int(0); }), "010300");
  EXPECT_EQ(encode([](auto& b) { b.add_int(1); }), "01030101");
  EXPECT_EQ(encode([](auto& b) { b.add_int(-1); }), "01040101");
  EXPECT_EQ(encode([](auto& b) { b.add_int(255); }), "010301ff");
  EXPECT_EQ(encode([](auto& b) { b.add_int(256); }), "0103020100");
  EXPECT_EQ(encode([](auto& b) { b.add_int(-256); }), "0104020100");
  EXPECT_EQ(encode([](auto& b) { b.add_int(std::numeric_limits<std::int64_t>::max()); }),
            "0103087fffffffffffffff");
  EXPECT_EQ(encode([](auto& b) { b.add_int(std::numeric_limits<std::int64_t>::min()); }),
            "0104088000000000000000");
  EXPECT_EQ(encode([](auto& b) { b.add_uint(std::numeric_limits<std::uint64_t>::max()); }),
            "010308ffffffffffffffff");
}

TEST(KeyBuilder, BigIntegersMatchTheFastPath) {
  // Every int64 edge through add_big_int gives the bytes add_int gives.
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{127},
                         std::int64_t{128}, std::int64_t{-129}, std::int64_t{65535},
                         std::int64_t{1} << 40, std::numeric_limits<std::int64_t>::max(),
                         std::numeric_limits<std::int64_t>::min() + 1}) {
    const std::uint64_t u = static_cast<std::uint64_t>(v);
    const std::uint64_t m = v < 0 ? 0 - u : u;
    std::uint8_t be[10] = {0, 0};  // two leading zero bytes are dropped
    for (int k = 0; k < 8; ++k) be[2 + k] = static_cast<std::uint8_t>(m >> (8 * (7 - k)));
    const std::string big = encode([&](auto& b) { b.add_big_int(v < 0, be); });
    EXPECT_EQ(big, encode([&](auto& b) { b.add_int(v); })) << v;
  }
  const std::uint8_t two_to_64[] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(encode([&](auto& b) { b.add_big_int(false, two_to_64); }), "010309010000000000000000");
  EXPECT_EQ(encode([&](auto& b) { b.add_big_int(true, two_to_64); }), "010409010000000000000000");
  // Negative zero is zero.
  const std::uint8_t zero[] = {0, 0};
  EXPECT_EQ(encode([&](auto& b) { b.add_big_int(true, zero); }), "010300");
  EXPECT_EQ(encode([&](auto& b) { b.add_big_int(true, {}); }), "010300");
}

TEST(KeyBuilder, IntegralFloatsAreIntegers) {
  EXPECT_EQ(encode([](auto& b) { b.add_float(1.0); }), "01030101");
  EXPECT_EQ(encode([](auto& b) { b.add_float(-0.0); }), "010300");
  EXPECT_EQ(encode([](auto& b) { b.add_float(0.0); }), "010300");
  EXPECT_EQ(encode([](auto& b) { b.add_float(-9223372036854775808.0); }),
            encode([](auto& b) { b.add_int(std::numeric_limits<std::int64_t>::min()); }));
  EXPECT_EQ(encode([](auto& b) { b.add_float(9223372036854775808.0); }),
            encode([](auto& b) { b.add_uint(std::uint64_t{1} << 63); }));
  EXPECT_EQ(encode([](auto& b) { b.add_float(18446744073709551616.0); }),
            "010309010000000000000000");
  EXPECT_EQ(encode([](auto& b) { b.add_float(-18446744073709551616.0); }),
            "010409010000000000000000");
  // 2^1023 * (2 - 2^-52): the largest double, a 128-byte integer.
  const std::string max = encode([](auto& b) { b.add_float(std::numeric_limits<double>::max()); });
  EXPECT_EQ(max.substr(0, 8), "01038001");  // length 128 is the two-byte LEB128 80 01
  EXPECT_EQ(max.size(), 2 * (4 + 128u));
  EXPECT_EQ(max.substr(8, 14), "fffffffffffff8");  // 53 one bits
  EXPECT_EQ(max.substr(22), std::string(2 * 121, '0'));
}

TEST(KeyBuilder, OtherFloatsAreLittleEndianBinary64WithOneNaN) {
  EXPECT_EQ(encode([](auto& b) { b.add_float(1.5); }), "0105000000000000f83f");
  EXPECT_EQ(encode([](auto& b) { b.add_float(-0.5); }), "0105000000000000e0bf");
  EXPECT_EQ(encode([](auto& b) { b.add_float(INFINITY); }), "0105000000000000f07f");
  EXPECT_EQ(encode([](auto& b) { b.add_float(-INFINITY); }), "0105000000000000f0ff");
  const std::string nan = "0105000000000000f87f";
  EXPECT_EQ(encode([](auto& b) { b.add_float(std::nan("")); }), nan);
  EXPECT_EQ(encode([](auto& b) { b.add_float(-std::nan("")); }), nan);
  EXPECT_EQ(encode([](auto& b) { b.add_float(std::bit_cast<double>(0x7FF0000000000001ull)); }),
            nan);
  EXPECT_EQ(encode([](auto& b) { b.add_float(std::numeric_limits<double>::denorm_min()); }),
            "01050100000000000000");
}

TEST(KeyBuilder, StringsAndBytes) {
  EXPECT_EQ(encode([](auto& b) { EXPECT_TRUE(b.add_string("").ok()); }), "010600");
  EXPECT_EQ(encode([](auto& b) { EXPECT_TRUE(b.add_string("a").ok()); }), "01060161");
  EXPECT_EQ(encode([](auto& b) { EXPECT_TRUE(b.add_string("\xc3\xa9").ok()); }), "010602c3a9");
  EXPECT_EQ(encode([](auto& b) { EXPECT_TRUE(b.add_string("\xf0\x9f\x98\x80").ok()); }),
            "010604f09f9880");
  EXPECT_EQ(encode([](auto& b) { b.add_bytes("", 0); }), "010700");
  EXPECT_EQ(encode([](auto& b) { b.add_bytes("\x00\xff", 2); }), "01070200ff");
  // Length prefixes are LEB128.
  const std::string s300(300, 'x');
  const std::string e = encode([&](auto& b) { EXPECT_TRUE(b.add_string(s300).ok()); });
  EXPECT_EQ(e.substr(0, 8), "0106ac02");
  EXPECT_EQ(e.size(), 2 * (4 + 300u));
}

TEST(KeyBuilder, InvalidUtf8IsAnErrorNamingTheArgument) {
  for (std::string_view bad : {std::string_view("\xff"), std::string_view("ab\xc3"),
                               std::string_view("\xc0\x80"),          // overlong NUL
                               std::string_view("\xed\xa0\x80"),      // lone surrogate U+D800
                               std::string_view("\xf4\x90\x80\x80"),  // above U+10FFFF
                               std::string_view("abcdefgh\x80")}) {
    key_builder b;
    const status s = b.add_string(bad, "argument 'x'");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), status_code::out_of_range);
    EXPECT_NE(s.message().find("argument 'x' must be valid UTF-8"), std::string::npos)
        << s.message();
    EXPECT_EQ(hex(b), "01") << "a refused string leaves the key unchanged";
  }
  key_builder b;
  const status s = b.add_string("abc\xff");
  EXPECT_EQ(s.message(),
            "key string must be valid UTF-8 (invalid sequence starting with byte 0xff at "
            "offset 3)");
}

TEST(KeyBuilder, ListsCarryTheirCountAndNest) {
  EXPECT_EQ(encode([](auto& b) {
              ASSERT_TRUE(b.begin_list(0).ok());
              b.end_list();
            }),
            "010800");
  EXPECT_EQ(encode([](auto& b) {
              ASSERT_TRUE(b.begin_list(2).ok());
              b.add_int(1);
              ASSERT_TRUE(b.begin_list(1).ok());
              b.add_null();
              b.end_list();
              b.end_list();
            }),
            "010802030101080100");
}

TEST(KeyBuilder, AWrongExpectedCountIsCorrected) {
  const std::string exact = encode([](auto& b) {
    ASSERT_TRUE(b.begin_list(200).ok());
    for (int i = 0; i < 200; ++i) b.add_int(i);
    b.end_list();
  });
  EXPECT_EQ(exact.substr(0, 8), "0108c801");
  for (std::size_t guess : {std::size_t{0}, std::size_t{5}, std::size_t{100000}}) {
    EXPECT_EQ(encode([&](auto& b) {
                ASSERT_TRUE(b.begin_list(guess).ok());
                for (int i = 0; i < 200; ++i) b.add_int(i);
                b.end_list();
              }),
              exact);
  }
  EXPECT_EQ(encode([](auto& b) {
              ASSERT_TRUE(b.begin_list(1000).ok());
              b.end_list();
            }),
            "010800");
}

TEST(KeyBuilder, MapsAreSortedByPairEncoding) {
  auto ab = [](auto& b) {
    ASSERT_TRUE(b.begin_map(2).ok());
    ASSERT_TRUE(b.add_string("b").ok());
    b.add_int(1);
    ASSERT_TRUE(b.add_string("a").ok());
    b.add_int(2);
    b.end_map();
  };
  auto ba = [](auto& b) {
    ASSERT_TRUE(b.begin_map().ok());
    ASSERT_TRUE(b.add_string("a").ok());
    b.add_int(2);
    ASSERT_TRUE(b.add_string("b").ok());
    b.add_int(1);
    b.end_map();
  };
  EXPECT_EQ(encode(ab), "010902060161030102060162030101");
  EXPECT_EQ(encode(ba), encode(ab));
  EXPECT_EQ(encode([](auto& b) {
              ASSERT_TRUE(b.begin_map().ok());
              b.end_map();
            }),
            "010900");
}

TEST(KeyBuilder, SetsAreSortedAndDeduplicated) {
  EXPECT_EQ(encode([](auto& b) {
              ASSERT_TRUE(b.begin_set(3).ok());
              b.add_int(2);
              b.add_int(1);
              b.add_float(2.0);
              b.end_set();
            }),
            "010a02030101030102");
  EXPECT_EQ(encode([](auto& b) {
              ASSERT_TRUE(b.begin_set().ok());
              b.add_float(NAN);
              b.add_float(-NAN);
              b.end_set();
            }),
            "010a0105000000000000f87f");
}

TEST(KeyBuilder, UnorderedContainersInsideOthersKeepTheirSiblingsInPlace) {
  // [ {3, 1, 2}, "z", { [2]: {"y", "x"}, [1]: null } ]
  auto build = [](auto& b, bool reversed) {
    ASSERT_TRUE(b.begin_list(3).ok());
    ASSERT_TRUE(b.begin_set().ok());
    for (int v : reversed ? std::vector<int>{2, 1, 3} : std::vector<int>{3, 1, 2}) b.add_int(v);
    b.end_set();
    ASSERT_TRUE(b.add_string("z").ok());
    ASSERT_TRUE(b.begin_map().ok());
    auto first = [&] {
      ASSERT_TRUE(b.begin_list(1).ok());
      b.add_int(2);
      b.end_list();
      ASSERT_TRUE(b.begin_set().ok());
      ASSERT_TRUE(b.add_string(reversed ? "x" : "y").ok());
      ASSERT_TRUE(b.add_string(reversed ? "y" : "x").ok());
      b.end_set();
    };
    auto second = [&] {
      ASSERT_TRUE(b.begin_list(1).ok());
      b.add_int(1);
      b.end_list();
      b.add_null();
    };
    if (reversed) {
      second();
      first();
    } else {
      first();
      second();
    }
    b.end_map();
    b.end_list();
  };
  const std::string a = encode([&](auto& b) { build(b, false); });
  const std::string r = encode([&](auto& b) { build(b, true); });
  EXPECT_EQ(a, r);
  EXPECT_EQ(a, "010803" "0a03030101030102030103" "06017a" "0902" "080103010100" "0801030102"
               "0a02060178060179");
}

TEST(KeyBuilder, DepthIsCapped) {
  key_builder b;
  for (std::size_t i = 0; i < key_builder::max_depth; ++i) ASSERT_TRUE(b.begin_list(1).ok());
  const std::string before(b.bytes());
  const status s = b.begin_list(1);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), status_code::out_of_range);
  EXPECT_NE(s.message().find("nesting depth must be at most 64"), std::string::npos);
  EXPECT_EQ(b.bytes(), before);
  EXPECT_FALSE(b.begin_map().ok());
  EXPECT_FALSE(b.begin_set().ok());
  b.reset();
  EXPECT_EQ(hex(b), "01");
  EXPECT_EQ(b.depth(), 0u);
}

TEST(KeyBuilder, Buffers) {
  const double data[] = {1.0, 2.5};
  EXPECT_EQ(encode([&](auto& b) {
              const std::int64_t shape[] = {2};
              ASSERT_TRUE(b.add_buffer("<f8", shape, std::as_bytes(std::span(data))).ok());
            }),
            "010b033c6638010210000000000000f03f0000000000000440");
  EXPECT_EQ(encode([&](auto& b) {
              const std::int64_t shape[] = {0, 3};
              ASSERT_TRUE(b.add_buffer("|u1", shape, {}).ok());
            }),
            "010b037c753102000300");
  EXPECT_EQ(encode([&](auto& b) {
              ASSERT_TRUE(b.add_buffer("<M8[ns]", {}, std::as_bytes(std::span(data, 1))).ok());
            }),
            "010b073c4d385b6e735d0008000000000000f03f");
}

TEST(KeyBuilder, BufferErrorsNameTheArgument) {
  const std::byte bytes[16] = {};
  const std::int64_t two[] = {2};
  for (std::string_view bad : {"", "f8", ">f8", "=f8", "<f3", "|f8", "<u1", "<S3", "<O8", "<f08",
                               "<i8[ns]", "<M8[n s]", "<b2"}) {
    key_builder b;
    const status s = b.add_buffer(bad, two, bytes, "argument 'a'");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.code(), status_code::invalid_argument) << bad;
    EXPECT_EQ(s.message().rfind("argument 'a' dtype must be", 0), 0u) << s.message();
    EXPECT_EQ(hex(b), "01");
  }
  const std::pair<std::string_view, std::int64_t> goods[] = {
      {"<f8", 2}, {"<i8", 2}, {"<u2", 8}, {"|S8", 2}, {"|V16", 1}, {"<U2", 2}, {"<c16", 1},
      {"<M8[D]", 2}, {"|b1", 16}, {"<f2", 8}};
  for (const auto& [good, n] : goods) {
    key_builder b;
    const std::int64_t shape[] = {n};
    EXPECT_TRUE(b.add_buffer(good, shape, bytes).ok()) << good;
  }
  key_builder b;
  const status s = b.add_buffer("<f8", two, std::span(bytes, 8));
  EXPECT_EQ(s.code(), status_code::out_of_range);
  EXPECT_EQ(s.message(),
            "key buffer data must be product(shape) * itemsize bytes for dtype '<f8' and shape "
            "(2,) (got 8 bytes)");
  const std::int64_t negative[] = {-1, -16};
  EXPECT_EQ(b.add_buffer("|u1", negative, bytes).code(), status_code::out_of_range);
  const std::int64_t huge[] = {1LL << 62, 1LL << 62, 0};
  EXPECT_TRUE(b.add_buffer("<f8", huge, {}).ok()) << "a zero dimension makes any shape empty";
  const std::int64_t overflow[] = {1LL << 62, 1LL << 62, 4};
  EXPECT_EQ(b.add_buffer("<f8", overflow, bytes).code(), status_code::out_of_range);
}

TEST(KeyBuilder, ReuseGivesTheSameBytesAndHash) {
  key_builder b;
  auto build = [&] {
    b.reset();
    ASSERT_TRUE(b.begin_map().ok());
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(b.add_string(std::to_string(49 - i)).ok());
      b.add_float(i * 0.5);
    }
    b.end_map();
  };
  build();
  const std::string first(b.bytes());
  const hash128 h = b.hash();
  for (int round = 0; round < 3; ++round) {
    build();
    EXPECT_EQ(b.bytes(), first);
    EXPECT_EQ(b.hash(), h);
  }
  EXPECT_EQ(h, hash128_of(first));
}

}  // namespace
}  // namespace twincache
