// Tests for key_builder: hand-checked encodings of every type (docs/keys.md), the canonical rules
// (1 == 1.0, -0.0 == 0, one NaN, order-independent maps and sets), errors, reuse, and the shared
// vectors in tests/vectors/keys.json that the Python and Node encoders must match too.
#include "twincache/key_builder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
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

TEST(KeyBuilder, BigIntegerWordsMatchBigEndianBytes) {
  auto words = [](bool neg, std::vector<std::uint64_t> w) {
    return encode([&](auto& b) { b.add_big_int_words(neg, w); });
  };
  auto bytes = [](bool neg, std::vector<std::uint8_t> m) {
    return encode([&](auto& b) { b.add_big_int(neg, m); });
  };
  EXPECT_EQ(words(false, {}), "010300");
  EXPECT_EQ(words(true, {0, 0}), "010300");
  EXPECT_EQ(words(true, {1}), "01040101");
  EXPECT_EQ(words(false, {0, 1}), "010309010000000000000000");
  EXPECT_EQ(words(true, {0, 1, 0}), "010409010000000000000000");
  EXPECT_EQ(words(false, {0x0807060504030201ull, 0x0a09ull}),
            bytes(false, {0x0a, 0x09, 8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(words(true, {~0ull, ~0ull, 0x7f}),
            bytes(true, {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                         0xff, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(words(false, {12345}), encode([](auto& b) { b.add_int(12345); }));
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

// ---- tests/vectors/keys.json -------------------------------------------------------------------

// A small JSON reader: enough for the vectors file (objects, arrays, strings with escapes, numbers
// kept as text, literals). Throws std::runtime_error on malformed input.
struct json {
  enum kind_t { null, boolean, number, string, array, object } kind = null;
  bool b = false;
  std::string text;  // number text or string value
  std::vector<json> items;
  std::vector<std::pair<std::string, json>> members;

  const json& at(std::string_view key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return v;
    }
    throw std::runtime_error("missing member " + std::string(key));
  }
};

class json_reader {
 public:
  explicit json_reader(std::string_view s) : s_(s) {}
  json parse() {
    json v = value();
    ws();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error("JSON: " + why + " at offset " + std::to_string(i_));
  }
  void ws() {
    while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_]) != nullptr) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  json value() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    json v;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = json::object;
      if (eat('}')) return v;
      do {
        ws();
        std::string k = string_body();
        expect(':');
        v.members.emplace_back(std::move(k), value());
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = json::array;
      if (eat(']')) return v;
      do {
        v.items.push_back(value());
      } while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = json::string;
      v.text = string_body();
    } else if (s_.substr(i_, 4) == "null") {
      i_ += 4;
    } else if (s_.substr(i_, 4) == "true") {
      i_ += 4;
      v.kind = json::boolean;
      v.b = true;
    } else if (s_.substr(i_, 5) == "false") {
      i_ += 5;
      v.kind = json::boolean;
    } else {
      const std::size_t start = i_;
      while (i_ < s_.size() && std::strchr("+-0123456789.eE", s_[i_]) != nullptr) ++i_;
      if (i_ == start) fail("unexpected character");
      v.kind = json::number;
      v.text = std::string(s_.substr(start, i_ - start));
    }
    return v;
  }
  unsigned hex4() {
    if (i_ + 4 > s_.size()) fail("short \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = std::tolower(static_cast<unsigned char>(s_[i_++]));
      u = u * 16 + static_cast<unsigned>(h <= '9' ? h - '0' : h - 'a' + 10);
    }
    return u;
  }
  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  std::string string_body() {
    if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      const char e = s_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(i_, 2) == "\\u") {
            i_ += 2;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4() - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

const json& vectors() {
  static const json doc = [] {
    std::ifstream in(TWINCACHE_VECTORS_DIR "/keys.json", std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " TWINCACHE_VECTORS_DIR "/keys.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return json_reader(ss.str()).parse();
  }();
  return doc;
}

// Decimal text -> sign and big-endian magnitude.
std::pair<bool, std::vector<std::uint8_t>> parse_decimal(std::string_view t) {
  const bool negative = !t.empty() && t[0] == '-';
  if (negative) t.remove_prefix(1);
  std::vector<std::uint8_t> le;  // little-endian base 256
  for (const char c : t) {
    unsigned carry = static_cast<unsigned>(c - '0');
    for (auto& byte : le) {
      const unsigned v = byte * 10u + carry;
      byte = static_cast<std::uint8_t>(v);
      carry = v >> 8;
    }
    while (carry) {
      le.push_back(static_cast<std::uint8_t>(carry));
      carry >>= 8;
    }
  }
  return {negative, std::vector<std::uint8_t>(le.rbegin(), le.rend())};
}

double parse_float(const json& v) {
  if (v.kind == json::string) {
    if (v.text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (v.text == "Infinity") return std::numeric_limits<double>::infinity();
    if (v.text == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  double d = 0;
  const auto r = std::from_chars(v.text.data(), v.text.data() + v.text.size(), d);
  if (r.ec != std::errc() || r.ptr != v.text.data() + v.text.size()) {
    throw std::runtime_error("bad float " + v.text);
  }
  return d;
}

// When set, build() visits map and set elements in a random order and announces random wrong
// counts to begin_*: the encoding must not change.
std::mt19937* g_shuffle = nullptr;

std::size_t announced(std::size_t n) {
  if (g_shuffle == nullptr) return n;
  const std::size_t choices[] = {0, n, n + 1, n + 1000};
  return choices[(*g_shuffle)() % 4];
}

std::vector<std::size_t> visit_order(std::size_t n) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  if (g_shuffle != nullptr) std::shuffle(order.begin(), order.end(), *g_shuffle);
  return order;
}

// Builds a typed JSON input (docs/keys.md, "Vectors") with key_builder, the way a binding would.
status build(key_builder& b, const json& v) {
  switch (v.kind) {
    case json::null: b.add_null(); return {};
    case json::boolean: b.add_bool(v.b); return {};
    case json::string: return b.add_string(v.text);
    case json::number: {
      if (v.text.find_first_of(".eE") != std::string::npos) {
        b.add_float(parse_float(v));
      } else {
        b.add_int(std::stoll(v.text));
      }
      return {};
    }
    case json::array: throw std::runtime_error("bare array in a typed input");
    case json::object: break;
  }
  if (v.members.size() != 1) throw std::runtime_error("typed input needs exactly one member");
  const auto& [kind, x] = v.members[0];
  if (kind == "int") {
    std::int64_t small = 0;
    const auto r = std::from_chars(x.text.data(), x.text.data() + x.text.size(), small);
    if (r.ec == std::errc() && r.ptr == x.text.data() + x.text.size()) {
      b.add_int(small);  // the int64 fast path
    } else {
      const auto [negative, magnitude] = parse_decimal(x.text);
      b.add_big_int(negative, magnitude);
    }
    return {};
  }
  if (kind == "float") {
    b.add_float(parse_float(x));
    return {};
  }
  if (kind == "str") return b.add_string(x.text);
  if (kind == "bytes") {
    const auto data = from_hex(x.text);
    b.add_bytes(data.data(), data.size());
    return {};
  }
  if (kind == "list" || kind == "tuple") {
    if (status s = b.begin_list(announced(x.items.size())); !s.ok()) return s;
    for (const json& e : x.items) {
      if (status s = build(b, e); !s.ok()) return s;
    }
    b.end_list();
    return {};
  }
  if (kind == "map") {
    if (status s = b.begin_map(announced(x.items.size())); !s.ok()) return s;
    for (const std::size_t i : visit_order(x.items.size())) {
      for (const json& e : x.items[i].items) {
        if (status s = build(b, e); !s.ok()) return s;
      }
    }
    b.end_map();
    return {};
  }
  if (kind == "set") {
    if (status s = b.begin_set(announced(x.items.size())); !s.ok()) return s;
    for (const std::size_t i : visit_order(x.items.size())) {
      if (status s = build(b, x.items[i]); !s.ok()) return s;
    }
    b.end_set();
    return {};
  }
  if (kind == "buffer") {
    std::vector<std::int64_t> shape;
    for (const json& d : x.at("shape").items) shape.push_back(std::stoll(d.text));
    const auto data = from_hex(x.at("hex").text);
    return b.add_buffer(x.at("dtype").text, shape, std::as_bytes(std::span(data)));
  }
  throw std::runtime_error("unknown typed input " + kind);
}

std::string encode_input(const json& input) {
  key_builder b;
  const status s = build(b, input);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(b.depth(), 0u);
  return std::string(b.bytes());
}

TEST(KeyVectors, EveryVectorEncodesAndHashesAsTheFileSays) {
  const json& doc = vectors();
  ASSERT_EQ(doc.at("version").text, "1");
  const auto& list = doc.at("vectors").items;
  ASSERT_GE(list.size(), 40u);
  key_builder reused;  // one builder for all of them, as bindings use it
  for (const json& v : list) {
    const std::string& name = v.at("name").text;
    const std::string enc = encode_input(v.at("input"));
    EXPECT_EQ(bytes_to_hex(enc), v.at("encoding").text) << name;
    EXPECT_EQ(to_hex(hash128_of(enc)), v.at("hash").text) << name;
    reused.reset();
    ASSERT_TRUE(build(reused, v.at("input")).ok()) << name;
    EXPECT_EQ(reused.bytes(), enc) << name;
    EXPECT_EQ(to_hex(reused.hash()), v.at("hash").text) << name;
  }
}

bool has_unordered(const json& v) {
  for (const auto& [k, x] : v.members) {
    if (k == "map" || k == "set" || has_unordered(x)) return true;
  }
  for (const json& x : v.items) {
    if (has_unordered(x)) return true;
  }
  return false;
}

TEST(KeyVectors, ElementOrderAndAnnouncedCountsDoNotChangeTheEncoding) {
  std::mt19937 rng(12345);
  g_shuffle = &rng;
  key_builder reused;
  std::size_t unordered = 0;
  for (const json& v : vectors().at("vectors").items) {
    for (int round = 0; round < 5; ++round) {
      reused.reset();
      ASSERT_TRUE(build(reused, v.at("input")).ok()) << v.at("name").text;
      EXPECT_EQ(bytes_to_hex(reused.bytes()), v.at("encoding").text) << v.at("name").text;
    }
    unordered += has_unordered(v.at("input"));
  }
  g_shuffle = nullptr;
  EXPECT_GE(unordered, 20u);
}

TEST(KeyVectors, EqualGroupsGiveOneKey) {
  const auto& groups = vectors().at("equal").items;
  ASSERT_GE(groups.size(), 5u);
  for (const json& g : groups) {
    ASSERT_GE(g.items.size(), 2u);
    const std::string first = encode_input(g.items[0]);
    for (const json& x : g.items) EXPECT_EQ(bytes_to_hex(encode_input(x)), bytes_to_hex(first));
  }
}

TEST(KeyVectors, DistinctGroupsArePairwiseDifferent) {
  const auto& groups = vectors().at("distinct").items;
  ASSERT_GE(groups.size(), 5u);
  for (const json& g : groups) {
    std::vector<std::string> encs;
    for (const json& x : g.items) encs.push_back(encode_input(x));
    for (std::size_t i = 0; i < encs.size(); ++i) {
      for (std::size_t j = i + 1; j < encs.size(); ++j) {
        EXPECT_NE(encs[i], encs[j]) << bytes_to_hex(encs[i]);
      }
    }
  }
}

TEST(KeyVectors, ErrorInputsAreRefusedWithTheirCode) {
  const auto& errors = vectors().at("errors").items;
  ASSERT_GE(errors.size(), 1u);
  for (const json& e : errors) {
    key_builder b;
    const status s = build(b, e.at("input"));
    ASSERT_FALSE(s.ok()) << e.at("name").text;
    EXPECT_EQ(status_code_name(s.code()), e.at("code").text) << e.at("name").text;
  }
}

TEST(KeyVectors, Xxh3Of128MatchesEveryLengthClass) {
  const auto& cases = vectors().at("xxh3_128").at("cases").items;
  ASSERT_GE(cases.size(), 20u);
  for (const json& c : cases) {
    const std::size_t n = std::stoul(c.at("length").text);
    std::string input(n, '\0');
    const bool filled = std::any_of(c.members.begin(), c.members.end(),
                                    [](const auto& m) { return m.first == "fill"; });
    for (std::size_t i = 0; i < n; ++i) {
      input[i] = static_cast<char>(filled ? std::stoi(c.at("fill").text) : (i * 7 + n) % 256);
    }
    EXPECT_EQ(to_hex(hash128_of(input)), c.at("hash").text) << "length " << n;
  }
}

}  // namespace
}  // namespace twincache
