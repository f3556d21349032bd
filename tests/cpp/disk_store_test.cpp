// The persistent tier: round trips, TTL on an injected clock, the byte budget and its
// approximate LRU, integrity (a tampered entry is a counted, deleted miss), compression, L1
// coherence between connections, several processes writing at once, a writer killed mid-write,
// directory permission checks and the memory fallback.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "twincache/disk_store.hpp"

namespace fs = std::filesystem;
using namespace twincache;
using namespace twincache::disk;

namespace {

class DiskStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = root_.path() + "/cache";
    clock_ = std::make_shared<twincache::clock>();
    clock_->set_manual(1'000'000'000'000);
  }

  // Synchronous writes unless a test asks for write-behind (a write_delay other than the
  // default), so other connections see each write at once.
  std::unique_ptr<disk_store> open(options o = {}) {
    if (o.write_delay == options{}.write_delay) o.write_delay = 0;
    if (o.path.empty()) o.path = dir_;
    if (!o.clock) o.clock = clock_;
    std::unique_ptr<disk_store> s;
    const status st = disk_store::open(o, s);
    EXPECT_TRUE(st.ok()) << st.message();
    return s;
  }
  static std::string get(disk_store& s, std::string_view key, std::uint32_t* codec = nullptr) {
    bool found = false;
    std::uint32_t c = 0;
    std::string v;
    const status st = s.get(key, found, c, v);
    EXPECT_TRUE(st.ok()) << st.message();
    if (codec) *codec = c;
    return found ? v : std::string("<miss>");
  }
  static void put(disk_store& s, std::string_view key, std::string_view value,
                  std::uint32_t codec = codec_raw, std::optional<time_ns> ttl = std::nullopt) {
    const status st = s.set(key, codec, value, ttl);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  // Runs SQL on the database behind the store's back (another "process").
  void raw_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/cache.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  test_support::temp_dir root_{"disk-test"};
  std::string dir_;  // the store's directory, inside root_
  std::shared_ptr<twincache::clock> clock_;
};

TEST_F(DiskStore, RoundTripAcrossReopen) {
  {
    auto s = open();
    put(*s, "k1", "hello", codec_json);
    put(*s, "k2", std::string(), codec_pickle);
    std::uint32_t c = 99;
    EXPECT_EQ(get(*s, "k1", &c), "hello");
    EXPECT_EQ(c, codec_json);
    EXPECT_EQ(get(*s, "missing"), "<miss>");
  }
  auto s = open();  // a new connection: no L1, everything from disk
  std::uint32_t c = 99;
  EXPECT_EQ(get(*s, "k1", &c), "hello");
  EXPECT_EQ(c, codec_json);
  EXPECT_EQ(get(*s, "k2", &c), "");
  EXPECT_EQ(c, codec_pickle);
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 2u);
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.l1_hits, 0u);
  EXPECT_EQ(get(*s, "k1"), "hello");
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.l1_hits, 1u);  // promoted by the first read
}

TEST_F(DiskStore, PermissionsOfDirectoryAndFiles) {
  auto s = open();
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ + "/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_EQ(::stat((dir_ + "/cache.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(DiskStore, UpdateReplacesAndEraseRemoves) {
  auto s = open();
  put(*s, "k", "one");
  put(*s, "k", "two, longer");
  EXPECT_EQ(get(*s, "k"), "two, longer");
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 1u);
  EXPECT_EQ(st.bytes, 1u + 11u);
  bool existed = false;
  ASSERT_TRUE(s->erase("k", existed).ok());
  EXPECT_TRUE(existed);
  ASSERT_TRUE(s->erase("k", existed).ok());
  EXPECT_FALSE(existed);
  EXPECT_EQ(get(*s, "k"), "<miss>");
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 0u);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.deleted, 1u);
}

TEST_F(DiskStore, TtlOnInjectedClock) {
  options o;
  o.default_ttl = 10'000'000'000;  // 10 s
  auto s = open(o);
  put(*s, "default", "a");
  put(*s, "short", "b", codec_raw, 1'000'000'000);
  clock_->advance(999'999'999);
  EXPECT_EQ(get(*s, "short"), "b");
  clock_->advance(1);
  EXPECT_EQ(get(*s, "short"), "<miss>");  // exactly at expiry: gone (from L1 and disk)
  s->drop_l1();
  EXPECT_EQ(get(*s, "default"), "a");
  clock_->advance(9'000'000'000);
  EXPECT_EQ(get(*s, "default"), "<miss>");
  s.reset();  // hands its counts to the directory
  auto other = open();  // another connection sees them expired too, and they were removed
  disk_stats st;
  ASSERT_TRUE(other->stats(st).ok());
  EXPECT_EQ(st.items, 0u);
  directory_info info;
  ASSERT_TRUE(other->info(info).ok());
  EXPECT_EQ(info.expired, 2u);  // both were found expired on disk and removed
}

TEST_F(DiskStore, ExpiredEntriesAreNotListedAndPruneRemovesThem) {
  auto s = open();
  for (int i = 0; i < 10; ++i) put(*s, "k" + std::to_string(i), "v", codec_raw, 5'000'000'000);
  put(*s, "forever", "v");
  clock_->advance(5'000'000'000);
  std::vector<std::string> keys;
  ASSERT_TRUE(s->keys(keys).ok());
  EXPECT_EQ(keys, std::vector<std::string>{"forever"});
  std::uint64_t n = 0;
  ASSERT_TRUE(s->count(n).ok());
  EXPECT_EQ(n, 1u);
  ASSERT_TRUE(s->prune(n).ok());
  EXPECT_EQ(n, 10u);
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 1u);
}

// get(..., use=false), a peek: nothing counted, no access time noted, nothing removed; an expired
// row is found too (its expiry tells). keys(expired=true) lists the expired rows.
TEST_F(DiskStore, PeekIsNotUseAndFindsExpiredRows) {
  auto s = open();
  put(*s, "old", "1", codec_raw, 5'000'000'000);
  clock_->advance(2'000'000'000);
  put(*s, "new", "2");
  clock_->advance(4'000'000'000);  // "old" expired
  disk_stats before;
  ASSERT_TRUE(s->stats(before).ok());
  bool found = false;
  std::uint32_t codec = 0;
  std::string value;
  time_ns expiry = -1;
  ASSERT_TRUE(s->get("old", found, codec, value, &expiry, nullptr, false).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(value, "1");
  EXPECT_EQ(expiry, 1'000'000'000'000 + 5'000'000'000);
  ASSERT_TRUE(s->get("new", found, codec, value, &expiry, nullptr, false).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(expiry, 0);
  ASSERT_TRUE(s->get("absent", found, codec, value, &expiry, nullptr, false).ok());
  EXPECT_FALSE(found);
  disk_stats after;
  ASSERT_TRUE(s->stats(after).ok());
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.expired, before.expired);
  EXPECT_EQ(after.items, 2u);  // the expired row is still there
  std::vector<std::string> keys;
  ASSERT_TRUE(s->keys(keys, true).ok());
  EXPECT_EQ(keys, std::vector<std::string>{"old"});
  ASSERT_TRUE(s->keys(keys).ok());
  EXPECT_EQ(keys, std::vector<std::string>{"new"});
  EXPECT_EQ(get(*s, "old"), "<miss>");  // a use: the expired row goes, counted
  ASSERT_TRUE(s->stats(after).ok());
  EXPECT_EQ(after.expired, before.expired + 1);
  ASSERT_TRUE(s->keys(keys, true).ok());
  EXPECT_TRUE(keys.empty());
}

// A read does not write: it notes the access time, and the note reaches the directory (keys()
// lists the oldest access first) with the next write, at the latest atime_resolution later with
// a read of a process that only reads, or when the store closes.
TEST_F(DiskStore, AccessTimesOfReadsReachTheDirectoryLater) {
  auto w = open();
  for (const char* k : {"a", "b", "c", "d"}) {
    put(*w, k, "v");
    clock_->advance(2'000'000'000);
  }
  auto keys = [&] {
    std::vector<std::string> out;
    EXPECT_TRUE(w->keys(out).ok());
    return out;
  };
  options o;
  o.l1_max_bytes = 0;  // every get reaches the disk
  {
    auto r = open(o);
    EXPECT_EQ(get(*r, "a"), "v");
    clock_->advance(500'000'000);
    EXPECT_EQ(get(*r, "b"), "v");
    EXPECT_EQ(keys(), (std::vector<std::string>{"a", "b", "c", "d"}));  // noted, not written
    clock_->advance(600'000'000);  // 1.1 s after the first note
    EXPECT_EQ(get(*r, "c"), "v");  // writes the three
    EXPECT_EQ(keys(), (std::vector<std::string>{"d", "a", "b", "c"}));
    clock_->advance(2'000'000'000);
    EXPECT_EQ(get(*r, "d"), "v");
    clock_->advance(100'000'000);
    EXPECT_EQ(get(*r, "a"), "v");
  }  // closing writes the last notes
  EXPECT_EQ(keys(), (std::vector<std::string>{"b", "c", "d", "a"}));
  auto r = open(o);
  clock_->advance(2'000'000'000);
  EXPECT_EQ(get(*r, "b"), "v");
  put(*r, "e", "v");  // a write takes the note along
  EXPECT_EQ(keys(), (std::vector<std::string>{"c", "d", "a", "b", "e"}));
}

TEST_F(DiskStore, ByteBudgetEvictsLeastRecentlyUsed) {
  options o;
  o.max_bytes = 10 * 102;  // ten entries of 2-byte keys and 100-byte values
  o.compress_threshold = 0;
  o.l1_max_bytes = 0;  // every get reaches the disk, so access times are refreshed
  auto s = open(o);
  for (int i = 0; i < 10; ++i) {
    put(*s, "k" + std::to_string(i), std::string(100, 'x'));
    clock_->advance(2'000'000'000);
  }
  EXPECT_EQ(get(*s, "k0"), std::string(100, 'x'));  // k0 becomes the most recent
  clock_->advance(2'000'000'000);
  put(*s, "kA", std::string(100, 'y'));
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 10u);
  EXPECT_LE(st.bytes, o.max_bytes);
  EXPECT_EQ(st.evicted, 1u);
  EXPECT_EQ(get(*s, "k1"), "<miss>");  // the least recently used went
  EXPECT_NE(get(*s, "k0"), "<miss>");
  EXPECT_NE(get(*s, "kA"), "<miss>");
  // A value bigger than the whole budget is refused and changes nothing.
  EXPECT_EQ(s->set("big", codec_raw, std::string(2000, 'z')).code(), status_code::value_too_large);
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 10u);
  EXPECT_EQ(st.rejected, 1u);
}

TEST_F(DiskStore, BudgetHoldsUnderManyWrites) {
  options o;
  o.max_bytes = 64 * 1024;
  o.compress_threshold = 0;
  auto s = open(o);
  for (int i = 0; i < 2000; ++i) put(*s, "key" + std::to_string(i), std::string(500, 'v'));
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_LE(st.bytes, o.max_bytes);
  EXPECT_GE(st.bytes, o.max_bytes - 2 * 510);  // evicts about what it must, not much more
  EXPECT_NE(get(*s, "key1999"), "<miss>");
}

TEST_F(DiskStore, TamperedEntryIsACountedDeletedMiss) {
  {
    auto s = open();
    put(*s, "victim", "cos\nsystem\n(S'echo pwned'\ntR.", codec_pickle);
    put(*s, "other", "fine", codec_pickle);
  }
  // Someone with write access to the database swaps the value (keeping the old HMAC).
  raw_sql("UPDATE entries SET value = CAST('evil payload' AS BLOB) WHERE key = CAST('victim' AS BLOB)");
  auto s = open();
  EXPECT_EQ(get(*s, "victim"), "<miss>");
  EXPECT_EQ(get(*s, "other"), "fine");
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.corrupt, 1u);
  EXPECT_EQ(st.items, 1u);  // deleted
  // A codec swap is caught too (the codec is signed).
  raw_sql("UPDATE entries SET codec = 2 WHERE key = CAST('other' AS BLOB)");
  s->drop_l1();
  EXPECT_EQ(get(*s, "other"), "<miss>");
  // So is a row signed with another directory's secret.
  fs::remove(dir_ + "/secret");
  auto fresh = open();  // a new secret
  s.reset();
  put(*fresh, "x", "y");
  fresh.reset();
  {
    // restore nothing: the new secret now signs "x"; replace the secret again and read
    fs::remove(dir_ + "/secret");
    auto again = open();
    EXPECT_EQ(get(*again, "x"), "<miss>");
  }
}

TEST_F(DiskStore, LargeValuesAreCompressedAndComeBackWhole) {
  auto s = open();
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i % 100) + "\n";
  put(*s, "text", text, codec_json);
  std::string noise(100000, '\0');
  std::uint32_t x = 12345;
  for (char& c : noise) c = static_cast<char>((x = x * 1103515245 + 12345) >> 16);
  put(*s, "noise", noise);
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_LT(st.bytes, text.size() / 4 + noise.size() + 100);  // text shrank, noise stored raw
  s->drop_l1();
  std::uint32_t c = 0;
  EXPECT_EQ(get(*s, "text", &c), text);
  EXPECT_EQ(c, codec_json);  // the compression bit is not the caller's business
  EXPECT_EQ(get(*s, "noise"), noise);
}

namespace {
std::string noise(std::size_t n, std::uint32_t seed) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>((seed = seed * 1103515245 + 12345) >> 16);
  return out;
}
std::vector<std::string> blob_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir + "/blobs")) {
    out.push_back(e.path().filename().string());
  }
  return out;
}
}  // namespace

TEST_F(DiskStore, LargeValuesLiveInFilesAndLeaveWithTheirRows) {
  options o;
  o.l1_max_bytes = 0;  // every get reads the database (and the file)
  auto s = open(o);
  const std::string big1 = noise(200000, 1), big2 = noise(300000, 2);
  put(*s, "big", big1);
  auto files = blob_files(dir_);
  ASSERT_EQ(files.size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/blobs/" + files[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(get(*s, "big"), big1);
  disk_stats ds;
  ASSERT_TRUE(s->stats(ds).ok());
  EXPECT_EQ(ds.bytes, 3u + 200000u);  // the file's bytes count against max_bytes
  put(*s, "big", big2);  // replaced: the old file goes with the old row
  EXPECT_EQ(blob_files(dir_).size(), 1u);
  EXPECT_EQ(get(*s, "big"), big2);
  // A tampered file is a counted miss, and its row is deleted.
  {
    const std::string f = dir_ + "/blobs/" + blob_files(dir_)[0];
    std::string bytes = noise(300000, 2);
    bytes[1000] ^= 1;
    FILE* fp = std::fopen(f.c_str(), "wb");
    ASSERT_NE(fp, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), fp);
    std::fclose(fp);
  }
  EXPECT_EQ(get(*s, "big"), "<miss>");
  ASSERT_TRUE(s->stats(ds).ok());
  EXPECT_EQ(ds.corrupt, 1u);
  EXPECT_EQ(ds.items, 0u);
  put(*s, "small", "x");  // the next write transaction unlinks the deleted row's file
  EXPECT_TRUE(blob_files(dir_).empty());
  // A missing file is a miss too (never a crash).
  put(*s, "gone", big1);
  fs::remove(dir_ + "/blobs/" + blob_files(dir_)[0]);
  EXPECT_EQ(get(*s, "gone"), "<miss>");
  // erase and clear take the files with them.
  put(*s, "e", big1);
  bool existed = false;
  ASSERT_TRUE(s->erase("e", existed).ok());
  EXPECT_TRUE(existed);
  EXPECT_TRUE(blob_files(dir_).empty());
  put(*s, "c1", big1);
  put(*s, "c2", big2);
  EXPECT_EQ(blob_files(dir_).size(), 2u);
  std::uint64_t n = 0;
  ASSERT_TRUE(s->clear(n).ok());
  EXPECT_TRUE(blob_files(dir_).empty());
}

TEST_F(DiskStore, EvictionAndPruneRemoveFilesAndOldOrphans) {
  options o;
  o.max_bytes = 700000;
  auto s = open(o);
  for (int i = 0; i < 6; ++i) {
    put(*s, "k" + std::to_string(i), noise(200000, i + 1));
    clock_->advance(2'000'000'000);
  }
  disk_stats ds;
  ASSERT_TRUE(s->stats(ds).ok());
  EXPECT_LE(ds.bytes, o.max_bytes);
  EXPECT_EQ(blob_files(dir_).size(), ds.items);  // evicted rows took their files along
  // Orphans (a writer killed between its file and its commit): old ones go, fresh ones stay.
  const std::string old_orphan = dir_ + "/blobs/0123456789abcdef0123456789abcdef.bin";
  const std::string new_orphan = dir_ + "/blobs/fedcba9876543210fedcba9876543210.bin";
  for (const auto& f : {old_orphan, new_orphan}) {
    FILE* fp = std::fopen(f.c_str(), "wb");
    ASSERT_NE(fp, nullptr);
    std::fclose(fp);
  }
  const auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(old_orphan, two_hours_ago);
  std::uint64_t n = 0;
  ASSERT_TRUE(s->prune(n).ok());
  EXPECT_FALSE(fs::exists(old_orphan));
  EXPECT_TRUE(fs::exists(new_orphan));
}

TEST_F(DiskStore, L1NeverServesWhatAnotherConnectionReplaced) {
  auto a = open();
  auto b = open();
  put(*a, "k", "from a");
  EXPECT_EQ(get(*a, "k"), "from a");  // in a's L1
  EXPECT_EQ(get(*b, "k"), "from a");
  put(*b, "k", "from b");
  EXPECT_EQ(get(*a, "k"), "from b");
  bool existed = false;
  ASSERT_TRUE(b->erase("k", existed).ok());
  EXPECT_EQ(get(*a, "k"), "<miss>");
}

TEST_F(DiskStore, EveryWriteReplacesTheGenerationNonce) {
  auto a = open();
  auto b = open();
  const std::uint64_t g0 = a->generation();
  EXPECT_EQ(b->generation(), g0);
  generation_change ch;
  ASSERT_TRUE(a->set("k", codec_raw, "v", std::nullopt, &ch).ok());
  EXPECT_EQ(ch.before, g0);
  EXPECT_NE(ch.after, g0);
  EXPECT_EQ(b->generation(), ch.after);  // the file is shared
  ASSERT_TRUE(b->set("k", codec_raw, "w", std::nullopt, &ch).ok());
  EXPECT_EQ(a->generation(), ch.after);
  EXPECT_EQ(get(*a, "k"), "w");  // a's L1 held "v": dropped because the nonce moved
  const std::uint64_t g1 = a->generation();
  bool existed = false;
  ASSERT_TRUE(b->erase("k", existed).ok());
  EXPECT_NE(a->generation(), g1);
  std::uint64_t n = 0;
  const std::uint64_t g2 = a->generation();
  ASSERT_TRUE(a->prune(n).ok());  // nothing removed: nothing changed
  EXPECT_EQ(a->generation(), g2);
  ASSERT_TRUE(a->clear(n).ok());
  EXPECT_NE(a->generation(), g2);
}

TEST_F(DiskStore, WriteBehindReadsItsOwnWritesAndCommitsOnFlushAndClose) {
  options slow;
  slow.write_delay = 60'000'000'000;  // a minute: nothing commits unless asked
  slow.l1_max_bytes = 0;              // reads of queued values come from the queue
  auto a = open(slow);
  auto b = open();
  put(*a, "k", "queued");
  EXPECT_EQ(get(*a, "k"), "queued");  // read-your-writes before the commit
  bool found = false;
  ASSERT_TRUE(a->contains("k", found).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(get(*b, "k"), "<miss>");  // not committed yet
  ASSERT_TRUE(a->flush().ok());
  EXPECT_EQ(get(*b, "k"), "queued");
  for (int i = 0; i < 100; ++i) put(*a, "k" + std::to_string(i), "v");
  std::uint64_t n = 0;
  ASSERT_TRUE(a->count(n).ok());  // counting commits the queue first
  EXPECT_EQ(n, 101u);
  for (int i = 0; i < 50; ++i) put(*a, "late" + std::to_string(i), "v");
  a.reset();  // the destructor commits what is still queued
  ASSERT_TRUE(b->count(n).ok());
  EXPECT_EQ(n, 151u);
  disk_stats st;
  ASSERT_TRUE(b->stats(st).ok());
  EXPECT_EQ(st.write_errors, 0u);
}

TEST_F(DiskStore, ClearRemovesEverything) {
  auto s = open();
  for (int i = 0; i < 50; ++i) put(*s, "k" + std::to_string(i), "v");
  std::uint64_t n = 0;
  ASSERT_TRUE(s->clear(n).ok());
  EXPECT_EQ(n, 50u);
  EXPECT_EQ(get(*s, "k1"), "<miss>");
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 0u);
  EXPECT_EQ(st.bytes, 0u);
}

TEST_F(DiskStore, ManyProcessesWriteAtOnce) {
  { auto s = open(); }  // create the directory first
  constexpr int procs = 4, per = 150;
  std::vector<pid_t> kids;
  for (int p = 0; p < procs; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      options o;
      o.path = dir_;
      std::unique_ptr<disk_store> s;
      if (!disk_store::open(o, s).ok()) ::_exit(2);
      for (int i = 0; i < per; ++i) {
        const std::string k = "p" + std::to_string(p) + "-" + std::to_string(i);
        if (!s->set(k, codec_raw, k + "-value").ok()) ::_exit(3);
        if (!s->set("shared", codec_raw, k).ok()) ::_exit(4);
        bool found = false;
        std::uint32_t c = 0;
        std::string v;
        if (!s->get("p0-0", found, c, v).ok()) ::_exit(5);
        if (found && v != "p0-0-value") ::_exit(6);
      }
      s.reset();
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFEXITED(wstatus));
    EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  }
  auto s = open();
  std::uint64_t n = 0;
  ASSERT_TRUE(s->count(n).ok());
  EXPECT_EQ(n, procs * per + 1u);
  for (int p = 0; p < procs; ++p) {
    const std::string k = "p" + std::to_string(p) + "-" + std::to_string(per - 1);
    EXPECT_EQ(get(*s, k), k + "-value");
  }
  directory_info info;
  ASSERT_TRUE(s->info(info).ok());
  EXPECT_EQ(info.sets, procs * per * 2u);  // every process's counts reached the directory
}

TEST_F(DiskStore, WriterKilledMidWriteLeavesOldOrNew) {
  const std::string old_value(300000, 'o');
  {
    auto s = open();
    put(*s, "k", old_value);
  }
  for (int round = 0; round < 6; ++round) {
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(pipefd[0]);
      options o;
      o.path = dir_;
      o.compress_threshold = 0;
      std::unique_ptr<disk_store> s;
      if (!disk_store::open(o, s).ok()) ::_exit(2);
      const char go = 'g';
      if (::write(pipefd[1], &go, 1) != 1) ::_exit(3);
      for (int i = 0;; ++i) {  // writes until killed
        s->set("k", codec_raw, std::string(300000, static_cast<char>('a' + i % 26))).ok();
      }
    }
    ::close(pipefd[1]);
    char go = 0;
    ASSERT_EQ(::read(pipefd[0], &go, 1), 1);
    ::close(pipefd[0]);
    ::usleep(static_cast<useconds_t>(2000 + 3000 * round));  // land somewhere inside a write
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    auto s = open();
    const std::string v = get(*s, "k");
    ASSERT_EQ(v.size(), 300000u) << v.substr(0, 20);
    EXPECT_EQ(v.find_first_not_of(v[0]), std::string::npos);  // one whole value
    disk_stats st;
    ASSERT_TRUE(s->stats(st).ok());
    EXPECT_EQ(st.items, 1u);
    EXPECT_EQ(st.corrupt, 0u);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/cache.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
  }
}

TEST_F(DiskStore, RefusesAGroupWritableDirectoryAndFallsBackToMemory) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  options o;
  o.path = dir_;
  o.clock = clock_;
  std::unique_ptr<disk_store> s;
  const status st = disk_store::open(o, s);
  EXPECT_EQ(st.code(), status_code::io_error);
  EXPECT_NE(st.message().find("world-writable"), std::string::npos) << st.message();
  std::string warning;
  ASSERT_TRUE(disk_store::open_or_memory(o, s, warning).ok());
  EXPECT_FALSE(s->persistent());
  EXPECT_NE(warning.find(dir_), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ + "/cache.db"));
  put(*s, "k", "v");
  EXPECT_EQ(get(*s, "k"), "v");
  bool existed = false;
  ASSERT_TRUE(s->erase("k", existed).ok());
  EXPECT_TRUE(existed);
  EXPECT_EQ(get(*s, "k"), "<miss>");
}

TEST_F(DiskStore, RefusesASecretReadableByOthers) {
  { auto s = open(); }
  ASSERT_EQ(::chmod((dir_ + "/secret").c_str(), 0644), 0);
  options o;
  o.path = dir_;
  std::unique_ptr<disk_store> s;
  const status st = disk_store::open(o, s);
  EXPECT_EQ(st.code(), status_code::io_error);
  EXPECT_NE(st.message().find("0600"), std::string::npos) << st.message();
}

TEST_F(DiskStore, UnusablePathFallsBackToMemory) {
  options o;
  o.path = "/proc/twincache-cannot-exist";
  std::unique_ptr<disk_store> s;
  std::string warning;
  ASSERT_TRUE(disk_store::open_or_memory(o, s, warning).ok());
  EXPECT_FALSE(s->persistent());
  EXPECT_FALSE(warning.empty());
  put(*s, "k", "v");
  EXPECT_EQ(get(*s, "k"), "v");
}

TEST_F(DiskStore, DefaultDirectoryFollowsTheEnvironment) {
  const char* saved_dir = std::getenv("TWINCACHE_DIR");
  const std::string keep = saved_dir ? saved_dir : "";
  ::setenv("TWINCACHE_DIR", "/somewhere/else", 1);
  EXPECT_EQ(default_directory(), "/somewhere/else");
  ::unsetenv("TWINCACHE_DIR");
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(default_directory(), "/xdg/twincache");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(default_directory(), "/home/u/.cache/twincache");
  if (saved_dir) ::setenv("TWINCACHE_DIR", keep.c_str(), 1);
}

// With write-behind on, a large value's file is written and signed by set() itself and only its
// row waits for the writer thread; until then reads get the value from that file (checked like
// a committed one), or from the queue for a large value that compressed small.
TEST_F(DiskStore, QueuedLargeValuesAreReadBackBeforeTheirRowCommits) {
  options o;
  o.l1_max_bytes = 0;
  o.write_delay = 60'000'000'000;  // a minute: nothing commits unless flushed
  auto s = open(o);
  auto other = open(o);  // a second connection sees only committed rows
  const std::string big = noise(600 * 1024, 21);
  const std::string text(600 * 1024, 'a');  // compresses to a few hundred bytes: no file
  put(*s, "big", big);
  put(*s, "text", text);
  EXPECT_EQ(blob_files(dir_).size(), 1u);  // written by set(), before any commit
  EXPECT_EQ(get(*s, "big"), big);
  EXPECT_EQ(get(*s, "text"), text);
  EXPECT_EQ(get(*other, "big"), "<miss>");
  ASSERT_TRUE(s->flush().ok());
  EXPECT_EQ(get(*other, "big"), big);
  EXPECT_EQ(get(*other, "text"), text);
  EXPECT_EQ(get(*s, "big"), big);
}

// A queued large value's file altered before its row commits is never handed out: a miss while
// queued, and a corrupt entry (deleted) once committed.
TEST_F(DiskStore, QueuedLargeValueWithAlteredFileIsAMiss) {
  options o;
  o.l1_max_bytes = 0;
  o.write_delay = 60'000'000'000;
  auto s = open(o);
  put(*s, "big", noise(600 * 1024, 22));
  const auto files = blob_files(dir_);
  ASSERT_EQ(files.size(), 1u);
  {
    std::FILE* f = std::fopen((dir_ + "/blobs/" + files[0]).c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fputc('!', f);
    std::fclose(f);
  }
  EXPECT_EQ(get(*s, "big"), "<miss>");
  ASSERT_TRUE(s->flush().ok());
  EXPECT_EQ(get(*s, "big"), "<miss>");
  disk_stats ds;
  ASSERT_TRUE(s->stats(ds).ok());
  EXPECT_EQ(ds.corrupt, 1u);
  EXPECT_EQ(ds.items, 0u);
}

// The bindings read into one buffer kept between calls: each read gives exactly its value,
// whatever the buffer held before (a larger file, a row value, a miss).
TEST_F(DiskStore, ReadsIntoAReusedBufferGiveEachValueWhole) {
  options o;
  o.l1_max_bytes = 0;
  auto s = open(o);
  const std::string big1 = noise(300000, 11), big2 = noise(200000, 12);
  put(*s, "big1", big1);
  put(*s, "big2", big2);
  put(*s, "small", "tiny");
  std::string buffer;
  auto read = [&](std::string_view key) {
    bool found = false;
    std::uint32_t codec = 0;
    EXPECT_TRUE(s->get(key, found, codec, buffer).ok());
    return found ? buffer : std::string("<miss>");
  };
  EXPECT_EQ(read("big1"), big1);
  EXPECT_EQ(read("big2"), big2);
  EXPECT_EQ(read("small"), "tiny");
  EXPECT_EQ(read("absent"), "<miss>");
  EXPECT_EQ(read("big1"), big1);
  EXPECT_EQ(read("small"), "tiny");
}

// The side worker's thread is the parent's: a forked child writes large values without it.
TEST_F(DiskStore, ForkedChildWritesLargeValuesWithoutTheParentsWorker) {
  options o;
  o.l1_max_bytes = 0;
  auto s = open(o);
  const std::string parent_value = noise(700 * 1024, 7), child_value = noise(700 * 1024, 8);
  put(*s, "parent", parent_value);  // starts the side worker's thread
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!s->set("child", codec_raw, child_value).ok()) ::_exit(3);
    if (!s->flush().ok()) ::_exit(4);
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(get(*s, "child"), child_value);
  EXPECT_EQ(get(*s, "parent"), parent_value);
  put(*s, "after", noise(700 * 1024, 9));
  EXPECT_EQ(get(*s, "after"), noise(700 * 1024, 9));
}

TEST_F(DiskStore, ForkedChildUsesItsOwnConnection) {
  auto s = open();
  put(*s, "before", "fork");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool found = false;
    std::uint32_t c = 0;
    std::string v;
    if (!s->get("before", found, c, v).ok() || !found || v != "fork") ::_exit(2);
    if (!s->set("child", codec_raw, "wrote").ok()) ::_exit(3);
    if (!s->flush().ok()) ::_exit(4);  // _exit runs no destructor: commit the queue first
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(get(*s, "child"), "wrote");
  put(*s, "after", "ok");
  EXPECT_EQ(get(*s, "after"), "ok");
}

}  // namespace
