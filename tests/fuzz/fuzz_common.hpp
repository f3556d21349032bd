// fuzz_common.hpp: what the disk fuzz targets and fuzz_seeds share: a scratch cache directory
// with a fixed secret (so entries signed by fuzz_seeds verify in the targets), the store
// options the targets open it with, and small file helpers. A failed invariant calls
// fuzz_fail(), which aborts: libFuzzer reports it as a crash with the input that caused it.
#pragma once

#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "twincache/disk_store.hpp"

namespace twincache::fuzz {

// 32 bytes: the directory secret every fuzz directory gets (docs/persistence.md: 32 bytes, 0600).
inline constexpr std::string_view fixed_secret = "twincache-fuzz-secret-0123456789";
static_assert(fixed_secret.size() == 32);

[[noreturn]] inline void fuzz_fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "twincache fuzz invariant failed: %s %s\n", what, detail.c_str());
  std::abort();
}

inline bool write_file(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return done == bytes.size();
}

inline std::string read_file(const std::string& path) {
  std::string out;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

// A fresh directory under $TMPDIR (or /tmp) holding only the fixed secret; removed at exit.
inline std::string make_fuzz_dir(const char* name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != 0 ? tmp : "/tmp") + "/twincache-" +
                     name + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) fuzz_fail("mkdtemp", tmpl);
  if (!write_file(tmpl + "/secret", fixed_secret)) fuzz_fail("writing the secret", tmpl);
  static std::string keep;  // one directory per process: removed by the atexit handler
  keep = tmpl;
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(keep, ignored);
  });
  return tmpl;
}

// Options of a fuzz store: synchronous writes, small thresholds so that small values reach
// zstd and blob files, a short busy timeout (a damaged file must not stall a run).
inline disk::options fuzz_options(const std::string& dir) {
  disk::options o;
  o.path = dir;
  o.write_delay = 0;
  o.compress_threshold = 64;
  o.file_threshold = 256;
  o.busy_timeout_ms = 100;
  o.max_bytes = 1 << 20;
  return o;
}

// The keys and values fuzz_seeds stores (the disk targets look them up).
struct seed_entry {
  const char* key;
  std::string value;
  std::uint32_t codec;
};
inline std::string repeated(std::string_view unit, std::size_t n) {
  std::string s;
  while (s.size() < n) s.append(unit);
  s.resize(n);
  return s;
}
// n bytes that zstd cannot shrink (a fixed xorshift sequence).
inline std::string noise(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  for (char& c : s) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    c = static_cast<char>(seed >> 32);
  }
  return s;
}
inline const seed_entry* seed_entries(std::size_t& n) {
  static const seed_entry entries[] = {
      {"small", "value", disk::codec_raw},
      {"json", "{\"a\": [1, 2, 3]}", disk::codec_json},
      {"zstd", repeated("compressible ", 200), disk::codec_raw},  // zstd, in the row
      {"file", noise(1024, 7), disk::codec_raw},                    // plain, in blobs/
      {"zfile", repeated(noise(300, 11), 1200), disk::codec_v8},    // zstd, in blobs/
      {"", "empty key", disk::codec_pickle},
  };
  n = sizeof entries / sizeof entries[0];
  return entries;
}

}  // namespace twincache::fuzz

namespace twincache::fuzz {

// A second connection to <dir>/cache.db for what the store's API cannot do: find an entry's
// blob file, or rewrite a row's columns (the envelope target).
class side_db {
 public:
  explicit side_db(const std::string& dir) {
    if (sqlite3_open_v2((dir + "/cache.db").c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) !=
        SQLITE_OK) {
      fuzz_fail("cannot open the side connection", dir);
    }
    sqlite3_busy_timeout(db_, 1000);
  }
  ~side_db() { sqlite3_close_v2(db_); }
  side_db(const side_db&) = delete;
  side_db& operator=(const side_db&) = delete;

  // The blob file name of key's row, or "" (no row, or the value is in the row).
  std::string file_of(std::string_view key) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "SELECT file FROM entries WHERE key = ?", -1, &s, nullptr);
    sqlite3_bind_blob(s, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }

  // Rewrites key's row: codec, value bytes, size, hmac and file (null when empty).
  void rewrite(std::string_view key, std::int64_t codec, std::string_view value,
               std::string_view hmac, const std::string& file) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_,
                       "UPDATE entries SET codec = ?, value = ?, size = ?, hmac = ?, file = ? "
                       "WHERE key = ?",
                       -1, &s, nullptr);
    static const char empty = 0;
    sqlite3_bind_int64(s, 1, codec);
    sqlite3_bind_blob(s, 2, value.empty() ? &empty : value.data(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, static_cast<std::int64_t>(key.size() + value.size()));
    sqlite3_bind_blob(s, 4, hmac.data(), static_cast<int>(hmac.size()), SQLITE_TRANSIENT);
    if (file.empty()) {
      sqlite3_bind_null(s, 5);
    } else {
      sqlite3_bind_text(s, 5, file.c_str(), -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_blob(s, 6, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) fuzz_fail("UPDATE failed", sqlite3_errmsg(db_));
    sqlite3_finalize(s);
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace twincache::fuzz
