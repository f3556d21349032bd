// The disk store's typed-value and tag calls (docs/persistence.md): set_parts() writes a large
// value from two pieces into one signed side file, get(array_file) hands out an array's file
// and HMAC without reading it and verify() checks mapped bytes; tag(), query() and evict_tag()
// over tags.sql, whose triggers drop an entry's tags when its value is replaced or deleted; a
// set() with a tag_set writes value, tags and meta in one transaction.
#include <gtest/gtest.h>
#include <sqlite3.h>

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

// Runs sql on the directory's database through a connection of the test's own.
void exec_sql(const std::string& dir, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/cache.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// Synchronous and write-behind stores, plain and two-piece (side file) values: the tags and
// meta commit with the value (the tables created by the set itself on a fresh directory), and
// a tag insert that fails rolls the value back with it.
TEST(DiskTags, TaggedSetIsOneTransaction) {
  for (const time_ns delay : {time_ns{0}, time_ns{2'000'000}}) {
    test_support::temp_dir root{"disk-tags-test"};
    const std::string dir = root.path() + "/c";
    auto s = open_store(dir, delay);
    const tag_set first{{"old"}, R"({"n":1})"};
    ASSERT_TRUE(s->set("k", codec_raw, "v1", std::nullopt, nullptr, &first).ok());
    const std::string body(200'000, 'b');
    const tag_set arr{{"arr"}, ""};
    ASSERT_TRUE(s->set_parts("a", codec_array, "h", body, std::nullopt, nullptr, &arr).ok());
    ASSERT_TRUE(s->flush().ok());
    std::vector<entry_listing> rows;
    ASSERT_TRUE(s->query("old", {}, rows).ok());
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].key, "k");
    EXPECT_EQ(rows[0].meta, R"({"n":1})");
    ASSERT_TRUE(s->query("arr", {}, rows).ok());
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].key, "a");

    exec_sql(dir,
             "CREATE TRIGGER boom BEFORE INSERT ON entry_tags WHEN NEW.tag = 'boom' "
             "BEGIN SELECT RAISE(ABORT, 'boom'); END");
    const tag_set bad{{"boom"}, R"({"n":2})"};
    status st = s->set("k", codec_raw, "v2", std::nullopt, nullptr, &bad);
    if (st.ok()) st = s->flush();  // write-behind: the batch's error comes with flush()
    EXPECT_FALSE(st.ok()) << "delay " << delay;
    s.reset();
    s = open_store(dir, delay);
    bool found = false;
    std::uint32_t codec = 0;
    std::string value;
    ASSERT_TRUE(s->get("k", found, codec, value).ok());
    EXPECT_TRUE(found);
    EXPECT_EQ(value, "v1") << "delay " << delay;
    ASSERT_TRUE(s->query("old", {}, rows).ok());
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].meta, R"({"n":1})");
  }
}

}  // namespace
