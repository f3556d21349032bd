// The disk store's typed-value and tag calls (docs/persistence.md): set_parts() writes a large
// value from two pieces into one signed side file, get(array_file) hands out an array's file
// and HMAC without reading it and verify() checks mapped bytes; tag(), query() and evict_tag()
// over tags.sql, whose triggers drop an entry's tags when its value is replaced or deleted.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "twincache/disk_store.hpp"

using namespace twincache;
using namespace twincache::disk;

namespace {

std::unique_ptr<disk_store> open_store(const std::string& dir, time_ns write_delay) {
  options o;
  o.path = dir;
  o.write_delay = write_delay;
  o.clock = std::make_shared<twincache::clock>();
  o.clock->set_manual(1'000'000'000'000);
  std::unique_ptr<disk_store> s;
  const status st = disk_store::open(o, s);
  EXPECT_TRUE(st.ok()) << st.message();
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(DiskTypedValues, PartsGoToOneSignedFileThatVerifyAccepts) {
  test_support::temp_dir root{"disk-tags-test"};
  auto s = open_store(root.path() + "/c", 2'000'000);  // write-behind: the parts path
  const std::string head(64, 'h');
  const std::string body(1 << 20, 'b');
  ASSERT_TRUE(s->set_parts("k", codec_array, head, body).ok());
  ASSERT_TRUE(s->flush().ok());
  bool found = false;
  std::uint32_t codec = 0;
  std::string mac, file;
  ASSERT_TRUE(s->get("k", found, codec, mac, nullptr, &file).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(codec, codec_array);
  ASSERT_EQ(mac.size(), 32u);
  const std::string data = read_file(file);
  EXPECT_EQ(data, head + body);
  EXPECT_TRUE(s->verify("k", codec_array, std::string_view(data).substr(0, 64),
                        std::string_view(data).substr(64), mac));
  std::string tampered = data;
  tampered.back() ^= 1;
  EXPECT_FALSE(s->verify("k", codec_array, "", tampered, mac));
  // Without array_file, the value is read and checked as any other.
  std::string value;
  ASSERT_TRUE(s->get("k", found, codec, value).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(value, head + body);
  // A small value: one piece in the row.
  ASSERT_TRUE(s->set_parts("small", codec_array, "ab", "cd").ok());
  ASSERT_TRUE(s->get("small", found, codec, value, nullptr, &file).ok());
  EXPECT_TRUE(found && file.empty());
  EXPECT_EQ(value, "abcd");
}

TEST(DiskTags, TagQueryEvict) {
  test_support::temp_dir root{"disk-tags-test"};
  auto s = open_store(root.path() + "/c", 0);
  ASSERT_TRUE(s->set("a", codec_raw, "1").ok());
  ASSERT_TRUE(s->set("b", codec_raw, std::string(200'000, 'x')).ok());  // a side file
  ASSERT_TRUE(s->set("c", codec_raw, "3").ok());
  ASSERT_TRUE(s->tag("a", {"t", "u"}, R"({"owner":"ana"})").ok());
  ASSERT_TRUE(s->tag("b", {"t"}, "").ok());
  std::vector<entry_listing> rows;
  ASSERT_TRUE(s->query("t", {}, rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(s->query("", {{"$.owner", R"("ana")"}}, rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key, "a");
  EXPECT_EQ(rows[0].tags, (std::vector<std::string>{"t", "u"}));
  EXPECT_EQ(rows[0].meta, R"({"owner":"ana"})");
  EXPECT_EQ(rows[0].created, 1'000'000'000'000);
  ASSERT_TRUE(s->set("a", codec_raw, "new").ok());  // a new value: no tags, no meta
  ASSERT_TRUE(s->query("u", {}, rows).ok());
  EXPECT_TRUE(rows.empty());
  std::uint64_t removed = 0;
  ASSERT_TRUE(s->evict_tag("t", removed).ok());
  EXPECT_EQ(removed, 1u);  // b only: a lost its tags
  std::vector<std::string> keys;
  ASSERT_TRUE(s->keys(keys).ok());
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_TRUE(std::filesystem::is_empty(root.path() + "/c/blobs"));
  ASSERT_TRUE(s->query("", {}, rows).ok());
  EXPECT_EQ(rows.size(), 2u);
}

}  // namespace
