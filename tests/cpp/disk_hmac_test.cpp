// SHA-256 (FIPS 180-4 examples) and HMAC-SHA256 (RFC 4231 test cases) as the disk tier signs
// entries with them.
#include <gtest/gtest.h>

#include <string>

#include "twincache/disk/hmac.hpp"
#include "twincache/key_builder.hpp"

namespace td = twincache::disk;

static std::string hex(const td::digest256& d) {
  return twincache::bytes_to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), 32));
}
static std::string unhex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(Sha256, Fips180Examples) {
  EXPECT_EQ(hex(td::sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(td::sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(td::sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex(td::sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

struct rfc4231_case {
  std::string key, data, mac;
};

TEST(HmacSha256, Rfc4231) {
  const rfc4231_case cases[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(hex(td::hmac_sha256(c.key, {c.data})), c.mac) << c.data;
    // Split messages sign the same as the concatenation.
    const std::size_t half = c.data.size() / 2;
    EXPECT_EQ(hex(td::hmac_sha256(c.key, {std::string_view(c.data).substr(0, half), "",
                                          std::string_view(c.data).substr(half)})),
              c.mac);
  }
}

// One key object signs many messages (the Node addon's RedisMac keeps one per Redis secret): each
// signature equals hmac_sha256's, whatever was signed before it.
TEST(HmacSha256, KeyObjectSignsLikeTheFunction) {
  const td::hmac_sha256_key jefe("Jefe");
  EXPECT_EQ(hex(jefe.sign({"what do ya want ", "for nothing?"})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const td::hmac_sha256_key long_key(std::string(131, '\xaa'));
  EXPECT_EQ(hex(long_key.sign({"Test Using Larger Than Block-Size Key - Hash Key First"})),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 37));
  for (std::size_t n = 0; n <= data.size(); n += 13) {
    const std::string_view m(data.data(), n);
    EXPECT_EQ(hex(jefe.sign({m})), hex(td::hmac_sha256("Jefe", {m}))) << n;
    EXPECT_EQ(hex(jefe.sign({"", m, ""})), hex(td::hmac_sha256("Jefe", {m}))) << n;
  }
  EXPECT_EQ(hex(td::hmac_sha256_key("").sign({})), hex(td::hmac_sha256("", {})));
}

TEST(HmacSha256, DigestEqualIsExact) {
  const auto a = td::sha256("a");
  auto b = a;
  EXPECT_TRUE(td::digest_equal(a.data(), b.data(), 32));
  b[31] ^= 1;
  EXPECT_FALSE(td::digest_equal(a.data(), b.data(), 32));
}

// The SHA-extension rounds (used where the CPU has them) and the portable ones agree on every
// length around the block and padding boundaries, fed whole or byte by byte.
TEST(Sha256, PortableAndAcceleratedRoundsAgree) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  for (std::size_t n = 0; n <= data.size(); n += (n < 200 ? 1 : 61)) {
    td::sha256_ctx fast, portable(true), bytewise(true);
    fast.update(data.data(), n);
    portable.update(data.data(), n);
    for (std::size_t i = 0; i < n; ++i) bytewise.update(data.data() + i, 1);
    const auto expected = portable.finish();
    EXPECT_EQ(hex(fast.finish()), hex(expected)) << n;
    EXPECT_EQ(hex(bytewise.finish()), hex(expected)) << n;
  }
  td::sha256_ctx portable(true);
  const std::string million(1000000, 'a');
  portable.update(million.data(), million.size());
  EXPECT_EQ(hex(portable.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
