// Damaged files and full disks (issue 14, docs/persistence.md "Damaged databases" and "Full
// disks"): a cache.db with garbage over its header, cut in half, or not twincache's is moved
// aside with one warning and the cache keeps working; a damaged page is a counted miss; on a
// full disk (a size-limited tmpfs, mounted when the test may), deletes and clear() free space.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "twincache/disk_store.hpp"

namespace fs = std::filesystem;
using namespace twincache;
using namespace twincache::disk;

namespace {

constexpr std::size_t page_bytes = 16384;

std::string read_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The files of dir whose names start with prefix.
std::vector<std::string> files_starting(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  return out;
}

class DiskDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = root_.path() + "/cache";
    clock_ = std::make_shared<twincache::clock>();
    clock_->set_manual(1'000'000'000'000);
  }

  options opts() const {
    options o;
    o.path = dir_;
    o.clock = clock_;
    o.write_delay = 0;  // synchronous: each set is committed when it returns
    return o;
  }
  // open_or_memory, as the bindings open: the warning goes to *warning.
  std::unique_ptr<disk_store> open(std::string* warning = nullptr) {
    std::unique_ptr<disk_store> s;
    std::string w;
    const status st = disk_store::open_or_memory(opts(), s, w);
    EXPECT_TRUE(st.ok()) << st.message();
    if (warning != nullptr) *warning = w;
    return s;
  }
  // Entries k0..k{n-1} of `size` bytes each, committed and closed.
  void fill(int n, std::size_t size) {
    auto s = open();
    ASSERT_TRUE(s->persistent());
    for (int i = 0; i < n; ++i) {
      const std::string k = "k" + std::to_string(i);
      ASSERT_TRUE(s->set(k, codec_raw, std::string(size, static_cast<char>('a' + i % 26))).ok());
    }
  }
  static std::string get(disk_store& s, std::string_view key) {
    bool found = false;
    std::uint32_t c = 0;
    std::string v;
    const status st = s.get(key, found, c, v);
    EXPECT_TRUE(st.ok()) << st.message();
    return found ? v : std::string("<miss>");
  }
  // After a move aside: one warning naming the new name, the file kept with mode 0600, and a
  // store that works (empty, then round-trips).
  void expect_moved_aside(disk_store& s, const std::string& warning) {
    EXPECT_TRUE(s.persistent()) << s.why();
    const auto aside = files_starting(dir_, "cache.db.corrupt-");
    ASSERT_EQ(aside.size(), 1u);
    EXPECT_NE(warning.find("moved it to " + dir_ + "/" + aside[0]), std::string::npos) << warning;
    EXPECT_NE(warning.find("started an empty cache"), std::string::npos) << warning;
    struct stat st {};
    ASSERT_EQ(::stat((dir_ + "/" + aside[0]).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(get(s, "k1"), "<miss>");
    ASSERT_TRUE(s.set("fresh", codec_raw, "value").ok());
    EXPECT_EQ(get(s, "fresh"), "value");
    EXPECT_FALSE(s.has_warning());  // given once, through open_or_memory
  }

  test_support::temp_dir root_{"disk-damage"};
  std::string dir_;
  std::shared_ptr<twincache::clock> clock_;
};

TEST_F(DiskDamage, GarbageOverTheHeaderIsMovedAsideWithOneWarning) {
  fill(20, 100);
  std::string db = read_file(dir_ + "/cache.db");
  ASSERT_GT(db.size(), 32u);
  for (int i = 0; i < 32; ++i) db[i] = static_cast<char>(0xA5 ^ i);
  write_file(dir_ + "/cache.db", db);
  std::string warning;
  auto s = open(&warning);  // crashed (SIGSEGV in ~disk_store) before the fix
  expect_moved_aside(*s, warning);
  EXPECT_NE(warning.find("file is not a database"), std::string::npos) << warning;
  s.reset();
  auto again = open(&warning);  // the fresh database opens quietly
  EXPECT_EQ(warning, "");
  EXPECT_EQ(get(*again, "fresh"), "value");
}

TEST_F(DiskDamage, DatabaseCutInHalfIsMovedAside) {
  fill(200, 1000);
  const auto size = fs::file_size(dir_ + "/cache.db");
  ASSERT_GT(size, 8 * page_bytes);
  fs::resize_file(dir_ + "/cache.db", size / 2);
  std::string warning;
  auto s = open(&warning);
  // Cut in half, the file may still open (page 1 is whole): then the first read of a missing
  // page moves it aside. Either way every call answers, and one warning says so.
  for (int i = 0; i < 200; ++i) get(*s, "k" + std::to_string(i));
  if (warning.empty()) {
    ASSERT_TRUE(s->has_warning());
    warning = s->take_warning();
  }
  expect_moved_aside(*s, warning);
}

TEST_F(DiskDamage, ForeignDatabaseIsMovedAsideNotAdopted) {
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/cache.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE entries(x); INSERT INTO entries VALUES (42);", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ::chmod((dir_ + "/cache.db").c_str(), 0600);
  std::string warning;
  auto s = open(&warning);
  expect_moved_aside(*s, warning);
  // The other program's data is intact in the moved file.
  const auto aside = files_starting(dir_, "cache.db.corrupt-");
  ASSERT_EQ(sqlite3_open((dir_ + "/" + aside[0]).c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT x FROM entries", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(q, 0), 42);
  sqlite3_finalize(q);
  sqlite3_close(db);
}

TEST_F(DiskDamage, NewerFormatIsRefusedNotMovedAside) {
  fill(1, 10);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/cache.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET format = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  std::string warning;
  auto s = open(&warning);  // a later twincache's database: left alone, memory only
  EXPECT_FALSE(s->persistent());
  EXPECT_NE(warning.find("has format 99"), std::string::npos) << warning;
  EXPECT_TRUE(files_starting(dir_, "cache.db.corrupt-").empty());
}

TEST_F(DiskDamage, FlippedBitInEveryPageIsACountedMissNeverAnError) {
  constexpr int n = 300;
  fill(n, 700);
  std::string db = read_file(dir_ + "/cache.db");
  const std::size_t pages = db.size() / page_bytes;
  ASSERT_GT(pages, 10u);
  // Every page but the first (a damaged first page is the case above): one bit at a spread
  // offset (page headers, cell pointers, cells).
  for (std::size_t p = 1; p < pages; ++p) db[p * page_bytes + (p * 7919) % page_bytes] ^= 0x10;
  write_file(dir_ + "/cache.db", db);
  std::string warning;
  auto s = open(&warning);
  ASSERT_TRUE(s->persistent()) << warning;
  int hits = 0;
  for (int round = 0; round < 2; ++round) {  // the second round reads what the first left
    for (int i = 0; i < n; ++i) {
      const std::string k = "k" + std::to_string(i);
      const std::string v = get(*s, k);  // never an error
      if (v != "<miss>") {
        EXPECT_EQ(v, std::string(700, static_cast<char>('a' + i % 26)));
        hits += round == 0;
      }
    }
  }
  disk_stats st;
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_LT(hits, n);  // the flips hurt some entries
  EXPECT_GE(st.corrupt, 1u) << "hits " << hits << " misses " << st.misses << " warning "
                            << s->has_warning();
  EXPECT_EQ(st.hits + st.misses, 2u * n);
  // Damage the store could not drop row by row moved the file aside: said once.
  if (s->has_warning()) {
    EXPECT_NE(s->take_warning().find("moved it to"), std::string::npos);
    EXPECT_FALSE(s->has_warning());
  }
  EXPECT_LE(files_starting(dir_, "cache.db.corrupt-").size(), 1u);
  // The cache keeps working: writes, reads, deletes, clear.
  ASSERT_TRUE(s->set("after", codec_raw, "ok").ok());
  EXPECT_EQ(get(*s, "after"), "ok");
  bool existed = false;
  ASSERT_TRUE(s->erase("k7", existed).ok());
  std::uint64_t removed = 0;
  ASSERT_TRUE(s->clear(removed).ok());
  std::uint64_t count = 1;
  ASSERT_TRUE(s->count(count).ok());
  EXPECT_EQ(count, 0u);
}

// A tmpfs of `bytes` at dir (root only): skipped, with the reason, where mount is not allowed.
class FullDisk : public DiskDamage {
 protected:
  void SetUp() override {
    DiskDamage::SetUp();
    mnt_ = root_.path() + "/mnt";
    fs::create_directories(mnt_);
    if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=2m,mode=0700") != 0) {
      GTEST_SKIP() << "cannot mount a 2 MiB tmpfs (" << std::strerror(errno)
                   << "): the full-disk test needs root";
    }
    mounted_ = true;
    dir_ = mnt_ + "/cache";
  }
  void TearDown() override {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  // Fills what is left of the filesystem with a file of zeros.
  void fill_disk() {
    std::ofstream out(mnt_ + "/filler", std::ios::binary);
    const std::string chunk(4096, '\0');
    while (out.write(chunk.data(), chunk.size())) {
    }
  }

  std::string mnt_;
  bool mounted_ = false;
};

TEST_F(FullDisk, DeletesAndClearFreeSpaceOnAFullDisk) {
  auto s = open();
  ASSERT_TRUE(s->persistent());
  for (int i = 0; i < 8; ++i) {
    const status w = s->set("k" + std::to_string(i), codec_raw, std::string(8000, 'x'));
    ASSERT_TRUE(w.ok()) << w.message();
  }
  fill_disk();
  // Writes fail with the disk full, counted, never a crash.
  const status w = s->set("more", codec_raw, std::string(200 * 1024, 'z'));
  disk_stats st;
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.code(), status_code::io_error);
  EXPECT_NE(w.message().find("database or disk is full"), std::string::npos) << w.message();
  // A delete commits (the store gives back its reserve, truncates the WAL).
  bool existed = false;
  const status e = s->erase("k3", existed);
  ASSERT_TRUE(e.ok()) << e.message();
  EXPECT_TRUE(existed);
  EXPECT_EQ(get(*s, "k3"), "<miss>");
  std::uint64_t removed = 0;
  const status c = s->clear(removed);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(removed, 7u);
  std::uint64_t count = 1;
  ASSERT_TRUE(s->count(count).ok());
  EXPECT_EQ(count, 0u);
  ASSERT_TRUE(s->stats(st).ok());
  EXPECT_EQ(st.items, 0u);
  EXPECT_EQ(st.bytes, 0u);
  // With the filler gone, the cache writes again.
  fs::remove(mnt_ + "/filler");
  ASSERT_TRUE(s->set("again", codec_raw, "v").ok());
  EXPECT_EQ(get(*s, "again"), "v");
}

}  // namespace
