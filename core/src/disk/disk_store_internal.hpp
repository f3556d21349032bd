// disk_store_internal.hpp: what the pieces of disk_store (disk_store.cpp, disk_store_open.cpp,
// disk_store_write.cpp, disk_store_removals.cpp, disk_store_side.cpp) share: their includes,
// tuning constants, small SQLite helpers, the prepared statements (stmt_set) and the side worker.
// Internal: not installed.
#pragma once

#include "twincache/disk_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <system_error>
#include <thread>
#include <utility>

#include "disk/schema_sql.hpp"
#include "sqlite_util.hpp"
#include "twincache/cleaner.hpp"
#include "twincache/disk/hmac.hpp"
#include "twincache/disk/zstd_frame.hpp"  // plausible_zstd_size
#include "twincache/hash.hpp"
#include "twincache/key_builder.hpp"

namespace twincache::disk {

// The schema (schema.sql, embedded by the build): one row per key; meta has exactly one row
// (id 1) whose counters the triggers keep in step with the entries table in the same
// transaction, so the byte total is never scanned.

inline constexpr std::size_t compress_sample = 64 * 1024;
// Values at least this large are written to their file by a helper thread during the HMAC.
inline constexpr std::size_t parallel_write_bytes = 512 * 1024;
// The largest single write() of a side file (see write_blob).
inline constexpr std::size_t write_chunk_bytes = 128 * 1024;
// <dir>/reserve: space held back so that deletes can commit on a full disk (make_room_locked).
// A delete of a few rows writes ~8 pages of 16 KiB to the WAL.
inline constexpr off_t reserve_bytes = 256 * 1024;
// clear() on a full disk: rows per transaction (each followed by a WAL truncation).
inline constexpr int clear_batch_rows = 16;

inline bool is_damage_code(int rc) { return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB; }

// An SQLite message with every byte outside printable ASCII as '?': SQLite quotes bytes of a
// damaged file in some messages (a malformed schema's text), and the bindings need valid UTF-8
// (found by fuzz_disk_dir.py: Python could not decode the moved-aside warning).
inline std::string printable(const char* s) {
  std::string out(s != nullptr ? s : "?");
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) c = '?';
  }
  return out;
}

// "20261203T161500Z": the time part of a moved-aside database's name.
inline std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

struct stmt_deleter {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_deleter>;


struct disk_store::stmt_set {
  stmt_ptr get, upsert, touch, remove_row, remove_key, probe, add_counts, meta, evict, purge,
      evict_ret, purge_ret, doomed, undoom,
      keys, count, clear, begin, commit, rollback;
};


// One persistent helper thread that runs one job at a time: writing a large value's side file
// while the caller computes its HMAC. A thread started per value cost ~70 µs of a 1 MiB set's
// ~1 ms. A second caller that finds it busy does the work itself (try_start() returns false).
//
// Job states: idle (busy_ false) -> taken (busy_, job_ set, done_ false; the thread runs it)
// -> done (done_; the taker's wait() returns and makes it idle again).
class side_worker {
 public:
  side_worker() = default;
  side_worker(const side_worker&) = delete;
  side_worker& operator=(const side_worker&) = delete;
  ~side_worker() {
    {
      std::lock_guard g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_ && thread_->joinable()) thread_->join();
  }

  // Runs job on the helper thread; false (nothing started) if another caller's job holds it or
  // no thread could be started. Every true must be followed by wait().
  bool try_start(std::function<void()> job) {
    std::unique_lock g(mu_);
    if (busy_ || stop_) return false;
    if (!thread_) {
      try {
        thread_ = std::make_unique<std::thread>([this] { loop(); });
      } catch (const std::system_error&) {
        return false;
      }
    }
    busy_ = true;
    done_ = false;
    job_ = std::move(job);
    g.unlock();
    cv_.notify_all();
    return true;
  }

  void wait() {
    std::unique_lock g(mu_);
    done_cv_.wait(g, [&] { return done_; });
    job_ = nullptr;
    busy_ = false;
  }

  // A forked child: the thread is the parent's (and mu_ may have been held by a parent thread
  // at the fork). Forget both without joining or unlocking.
  void abandon() noexcept {
    (void)thread_.release();  // NOLINT: joining a thread of another process is impossible
    new (&mu_) std::mutex();
    new (&cv_) std::condition_variable();
    new (&done_cv_) std::condition_variable();
    new (&job_) std::function<void()>();
    busy_ = done_ = stop_ = false;
  }

 private:
  void loop() {
    std::unique_lock g(mu_);
    for (;;) {
      cv_.wait(g, [&] { return stop_ || (busy_ && !done_); });
      if (!(busy_ && !done_)) return;  // stop_, nothing taken
      g.unlock();
      job_();  // job_ is not touched by anyone else until done_
      g.lock();
      done_ = true;
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;                    // guards everything below
  std::condition_variable cv_;       // wakes the thread: a job taken, or stop
  std::condition_variable done_cv_;  // wakes wait(): the job is done
  std::function<void()> job_;
  bool busy_ = false;
  bool done_ = false;
  bool stop_ = false;
  std::unique_ptr<std::thread> thread_;
};

// Names are 32 lowercase hex digits + ".bin": anything else in a row is never opened
// (disk_store_side.cpp).
bool valid_blob_name(std::string_view name);

}  // namespace twincache::disk
