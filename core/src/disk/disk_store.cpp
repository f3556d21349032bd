// disk_store.cpp: the SQLite-backed persistent tier (disk_store.hpp; layout in
// docs/persistence.md).
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

namespace {

constexpr std::size_t compress_sample = 64 * 1024;
// Values at least this large are written to their file by a helper thread during the HMAC.
constexpr std::size_t parallel_write_bytes = 512 * 1024;
// The largest single write() of a side file (see write_blob).
constexpr std::size_t write_chunk_bytes = 128 * 1024;
// <dir>/reserve: space held back so that deletes can commit on a full disk (make_room_locked).
// A delete of a few rows writes ~8 pages of 16 KiB to the WAL.
constexpr off_t reserve_bytes = 256 * 1024;
// clear() on a full disk: rows per transaction (each followed by a WAL truncation).
constexpr int clear_batch_rows = 16;

bool is_damage_code(int rc) { return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB; }

// An SQLite message with every byte outside printable ASCII as '?': SQLite quotes bytes of a
// damaged file in some messages (a malformed schema's text), and the bindings need valid UTF-8
// (found by fuzz_disk_dir.py: Python could not decode the moved-aside warning).
std::string printable(const char* s) {
  std::string out(s != nullptr ? s : "?");
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) c = '?';
  }
  return out;
}

// "20261203T161500Z": the time part of a moved-aside database's name.
std::string utc_stamp() {
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

// fork(): every live disk_store, for the pthread_atfork handlers (disk_store.hpp, "fork").
// registry_mu guards the list. Never destroyed: stores may outlive static destruction.
struct fork_registry {
  std::mutex mu;
  std::vector<disk_store*> stores;
};
fork_registry& registry() {
  static fork_registry* const r = new fork_registry();
  return *r;
}

extern "C" void twincache_disk_fork_prepare() {
  disk_store::fork_prepare();
}
extern "C" void twincache_disk_fork_parent() {
  disk_store::fork_parent();
}
extern "C" void twincache_disk_fork_child() {
  disk_store::fork_child();
}

void install_fork_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Prepare handlers run in the reverse order of registration: registering after the
    // cleaner's makes ours take every mu_ before the cleaner takes the L1 stores' shard locks,
    // the order the stores themselves use (mu_, then the L1's locks).
    (void)::twincache::cleaner::instance();
    pthread_atfork(twincache_disk_fork_prepare, twincache_disk_fork_parent,
                   twincache_disk_fork_child);
  });
}

}  // namespace

struct disk_store::stmt_set {
  stmt_ptr get, upsert, touch, remove_row, remove_key, probe, add_counts, meta, evict, purge,
      evict_ret, purge_ret, doomed, undoom,
      keys, count, clear, begin, commit, rollback;
};

time_ns wall_now(const ::twincache::clock* c) noexcept {
  if (c != nullptr && c->is_manual()) return c->now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

disk_store::disk_store(const options& o)
    : opts_(o),
      clock_(o.clock ? o.clock : ::twincache::clock::real()),
      side_(std::make_unique<side_worker>()) {
  path_ = o.path.empty() ? default_directory() : o.path;
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  install_fork_handlers();
  std::lock_guard g(registry().mu);
  registry().stores.push_back(this);
}

// Before fork(): waits until no other thread is inside any store (each store's mu_, then its
// queue_mu_: the stores' own lock order), so the child inherits no half-done SQLite call, no
// held SQLite-internal mutex of ours and consistent queues. A call in progress elsewhere is
// waited for: at most its busy timeout (options::busy_timeout_ms) when the database is locked.
void disk_store::fork_prepare() noexcept {
  registry().mu.lock();
  for (disk_store* s : registry().stores) {
    s->mu_.lock();
    s->queue_mu_.lock();
  }
}

void disk_store::fork_parent() noexcept {
  for (disk_store* s : registry().stores) {
    s->queue_mu_.unlock();
    s->mu_.unlock();
  }
  registry().mu.unlock();
}

// In the child only the forking thread exists, and it holds every lock (prepare): they are
// made new (a condition variable may still count waiters of the parent's threads, which would
// make a notify wait for them). The connection, writer thread and queue are the parent's; the
// first call of each store notices the new pid and opens its own (ensure_process).
void disk_store::fork_child() noexcept {
  for (disk_store* s : registry().stores) {
    new (&s->mu_) std::mutex();
    new (&s->queue_mu_) std::mutex();
    new (&s->queue_cv_) std::condition_variable();
    new (&s->done_cv_) std::condition_variable();
  }
  new (&registry().mu) std::mutex();
}

disk_store::~disk_store() {
  {
    std::lock_guard r(registry().mu);
    auto& v = registry().stores;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
  }
  if (pid_ == static_cast<long>(::getpid())) {
    stop_writer();  // commits what is still queued
  } else {
    (void)writer_.release();  // a forked child: the threads are the parent's
    side_->abandon();
  }
  std::lock_guard g(mu_);
  // st_ is null when open_db() failed half way (a damaged file): nothing to hand over.
  if (db_ != nullptr && st_ != nullptr && pid_ == static_cast<long>(::getpid())) {
    // Hand this process's remaining counts and access times to the directory; give up quickly
    // if it is busy.
    sqlite3_busy_timeout(db_, 200);
    if (begin_write().ok()) {
      if (flush_counters_locked().ok() && write_touches_locked().ok() && commit().ok()) {
        pending_ = {};
      } else {
        rollback();
      }
    }
    close_db();
  }
  if (gen_map_ != nullptr) ::munmap(const_cast<std::uint64_t*>(gen_map_), sizeof(std::uint64_t));
  if (gen_fd_ >= 0) ::close(gen_fd_);
}

static status check_options(const options& o) {
  if (o.max_bytes == 0) return {status_code::out_of_range, "max_bytes must be >= 1 (got 0)"};
  if (o.default_ttl && *o.default_ttl <= 0) {
    return {status_code::out_of_range, "ttl must be > 0"};
  }
  if (o.compression_level < 1 || o.compression_level > 19) {
    return {status_code::out_of_range, "compression_level must be in [1, 19]"};
  }
  return {};
}

status disk_store::open(const options& o, std::unique_ptr<disk_store>& out) {
  if (status st = check_options(o); !st.ok()) return st;
  std::unique_ptr<disk_store> s(new disk_store(o));
  if (status st = prepare_directory(s->path_, s->secret_); !st.ok()) return st;
  {
    std::lock_guard g(s->mu_);
    status st = s->open_db();
    if (!st.ok() && s->damaged()) st = s->move_aside_locked(st.message());
    if (!st.ok()) {
      s->close_db();
      return st;
    }
  }
  if (o.l1_max_bytes != 0) {
    store_options so;
    so.limits.max_bytes = o.l1_max_bytes;
    so.clock = s->clock_;
    s->l1_ = std::make_unique<store<l1_ptr>>(so);
  }
  out = std::move(s);
  return {};
}

status disk_store::open_or_memory(const options& o, std::unique_ptr<disk_store>& out,
                                  std::string& warning) {
  warning.clear();
  status st = open(o, out);
  if (st.ok() && out->has_warning()) warning = out->take_warning();
  if (st.ok() || st.code() != status_code::io_error) return st;
  std::unique_ptr<disk_store> s(new disk_store(o));
  s->why_ = st.message();
  store_options so;
  so.limits.max_bytes = o.max_bytes != unlimited ? o.max_bytes
                        : o.l1_max_bytes != 0    ? o.l1_max_bytes
                                                 : (64ull << 20);
  so.clock = s->clock_;
  s->l1_ = std::make_unique<store<l1_ptr>>(so);
  warning = "twincache: cannot use the cache directory " + s->path_ + " (" + st.message() +
            "); caching in memory only";
  out = std::move(s);
  return {};
}

status disk_store::sqlite_error(const char* what) {
  last_rc_ = db_ != nullptr ? (sqlite3_errcode(db_) & 0xFF) : SQLITE_CANTOPEN;
  std::string msg = "SQLite ";
  msg.append(what).append(" failed in ").append(path_).append(": ");
  msg.append(db_ != nullptr ? printable(sqlite3_errmsg(db_)) : "no connection");
  return {status_code::io_error, std::move(msg)};
}

status disk_store::exec(const char* sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
    last_rc_ = rc & 0xFF;
    std::string msg = "SQLite failed in " + path_ + ": " + printable(err);
    sqlite3_free(err);
    return {status_code::io_error, std::move(msg)};
  }
  return {};
}

void disk_store::close_db() noexcept {
  tags_ready_ = false;
  st_.reset();
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

status disk_store::open_db() {
  const std::string file = path_ + "/cache.db";
  if (::mkdir((path_ + "/blobs").c_str(), 0700) != 0 && errno != EEXIST) {
    return {status_code::io_error, "cannot create " + path_ + "/blobs: " + std::strerror(errno)};
  }
  // Created with mode 0600 before SQLite opens it; SQLite gives the -wal and -shm files the
  // database file's permissions.
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return {status_code::io_error, "cannot open " + file + ": " + std::strerror(errno)};
  struct stat fst {};
  db_ino_ = ::fstat(fd, &fst) == 0 ? static_cast<std::uint64_t>(fst.st_ino) : 0;
  ::close(fd);
  last_rc_ = 0;
  foreign_ = false;
  pid_ = static_cast<long>(::getpid());
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(file.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    status st = sqlite_error("open");
    close_db();
    return st;
  }
  sqlite3_busy_timeout(db_, opts_.busy_timeout_ms);
  // 16 KiB pages (for a new database; fixed once created): a 1 MiB value is 64 overflow pages,
  // not 256, which makes writing and reading large values several times cheaper.
  exec("PRAGMA page_size=16384").ok();
  // Switching to WAL needs an exclusive moment; busy_timeout covers most of it, retry the rest.
  // Only a busy or locked database is worth retrying: a damaged one fails at once (it used to
  // cost a second of retries per open, found by tests/fuzz/fuzz_disk_open).
  status st;
  for (int i = 0; i < 100; ++i) {
    st = exec("PRAGMA journal_mode=WAL");
    if (st.ok() || (last_rc_ != SQLITE_BUSY && last_rc_ != SQLITE_LOCKED)) break;
    ::usleep(10000);
  }
  if (!st.ok()) return st;
  // temp_store=MEMORY: the statement journal a commit with triggers needs stays in memory instead
  // of a temporary file created and unlinked per commit (a file creation costs 0.3-0.5 ms on a
  // busy ext4, more than the rest of a small commit).
  if (st = exec("PRAGMA synchronous=NORMAL; PRAGMA mmap_size=268435456; "
                "PRAGMA temp_store=MEMORY;");
      !st.ok()) {
    return st;
  }
  if (st = exec("BEGIN IMMEDIATE"); !st.ok()) return st;
  if (st = exec(schema_sql); !st.ok()) {
    foreign_ = last_rc_ == SQLITE_ERROR;  // e.g. a table "meta" without our columns
    exec("ROLLBACK").ok();
    return st;
  }
  if (st = exec("COMMIT"); !st.ok()) return st;

  st_ = std::make_unique<stmt_set>();
  struct {
    stmt_ptr* slot;
    const char* sql;
  } stmts[] = {
      {&st_->get, "SELECT id, key, codec, value, expiry, atime, hmac, file FROM entries "
                  "WHERE key_hash = ?1"},
      {&st_->doomed, "SELECT file FROM doomed"},
      {&st_->undoom, "DELETE FROM doomed"},
      {&st_->upsert,
       "INSERT INTO entries(key_hash, key, codec, value, size, expiry, atime, hmac, file) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(key_hash) DO UPDATE SET "
       "key = excluded.key, codec = excluded.codec, value = excluded.value, "
       "size = excluded.size, expiry = excluded.expiry, atime = excluded.atime, "
       "hmac = excluded.hmac, file = excluded.file"},
      {&st_->touch, "UPDATE entries SET atime = ?2 WHERE id = ?1 AND atime < ?2"},
      {&st_->remove_row, "DELETE FROM entries WHERE id = ?1 AND hmac = ?2"},
      {&st_->remove_key, "DELETE FROM entries WHERE key_hash = ?1 RETURNING key, expiry"},
      {&st_->probe, "SELECT key, expiry FROM entries WHERE key_hash = ?1"},
      {&st_->add_counts,
       "UPDATE meta SET hits = hits + ?1, misses = misses + ?2, sets = sets + ?3, "
       "evicted = evicted + ?4, expired = expired + ?5, corrupt = corrupt + ?6, "
       "deleted = deleted + ?7 WHERE id = 1"},
      {&st_->meta, "SELECT format, items, bytes, hits, misses, sets, evicted, expired, corrupt, "
                   "deleted FROM meta WHERE id = 1"},
      {&st_->evict, "DELETE FROM entries WHERE id IN "
                    "(SELECT id FROM entries ORDER BY atime, id LIMIT ?1)"},
      {&st_->purge, "DELETE FROM entries WHERE id IN (SELECT id FROM entries "
                    "WHERE expiry != 0 AND expiry <= ?1 LIMIT ?2)"},
      // The same two, for removal reports (report_removals): the victims' rows come back.
      {&st_->evict_ret, "DELETE FROM entries WHERE id IN "
                        "(SELECT id FROM entries ORDER BY atime, id LIMIT ?1) "
                        "RETURNING key, codec, value, file, hmac"},
      {&st_->purge_ret, "DELETE FROM entries WHERE id IN (SELECT id FROM entries "
                        "WHERE expiry != 0 AND expiry <= ?1 LIMIT ?2) "
                        "RETURNING key, codec, value, file, hmac"},
      {&st_->keys, "SELECT key FROM entries WHERE expiry = 0 OR expiry > ?1 ORDER BY atime, id"},
      {&st_->count, "SELECT count(*) FROM entries WHERE expiry = 0 OR expiry > ?1"},
      {&st_->clear, "DELETE FROM entries"},
      {&st_->begin, "BEGIN IMMEDIATE"},
      {&st_->commit, "COMMIT"},
      {&st_->rollback, "ROLLBACK"},
  };
  for (auto& s : stmts) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_, s.sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) !=
        SQLITE_OK) {
      status pst = sqlite_error("prepare");
      foreign_ = last_rc_ == SQLITE_ERROR;  // tables of that name, other columns
      return pst;
    }
    s.slot->reset(raw);
  }
  sqlite3_stmt* m = st_->meta.get();
  reset_guard rg{m};
  if (const int rc = sqlite3_step(m); rc != SQLITE_ROW) {
    if (rc != SQLITE_DONE) return sqlite_error("reading meta");
    foreign_ = true;  // our tables, but no meta row: not written by twincache
    return {status_code::io_error, path_ + "/cache.db has no meta row"};
  }
  const std::int64_t format = sqlite3_column_int64(m, 0);
  if (format != format_version) {
    return {status_code::io_error, path_ + "/cache.db has format " + std::to_string(format) +
                                       ", this version of twincache reads format " +
                                       std::to_string(format_version)};
  }
  // Set up the read path here rather than on the first read: a lookup of a key hash no key has
  // maps the database and reads the key index's first pages, and one HMAC sets up the digest
  // (nothing is counted). The first read after opening cost ~70 µs against ~15 for the next,
  // ~14 of it this setup (loaded 2-core machine, wall time).
  {
    sqlite3_stmt* g = st_->get.get();
    reset_guard grg{g};
    const std::array<std::uint8_t, 16> no_key{};
    bind_blob(g, 1, no_key.data(), no_key.size());
    if (const int rc = sqlite3_step(g); rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return sqlite_error("SELECT");
    }
  }
  (void)sign({}, 0, {});
  ensure_reserve();
  return open_generation();
}

bool disk_store::damaged() const noexcept {
  return foreign_ || is_damage_code(last_rc_);
}
bool disk_store::full() const noexcept {
  return last_rc_ == SQLITE_FULL;
}

std::string disk_store::take_warning() {
  std::lock_guard g(mu_);
  has_warning_.store(false, std::memory_order_release);
  return std::move(warning_);
}

status disk_store::move_aside_locked(const std::string& why) {
  const std::string file = path_ + "/cache.db";
  const std::uint64_t ino = db_ino_;
  close_db();
  pending_ = {};
  // One process moves the file: under an exclusive lock on the directory, and only if cache.db
  // is still the file this connection found damaged (another process may have replaced it).
  const int dfd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    while (::flock(dfd, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  std::string aside;
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_ino) == ino) {
    aside = file + ".corrupt-" + utc_stamp() + "-" + std::to_string(::getpid());
    for (const char* suffix : {"", "-wal", "-shm"}) {  // the WAL belongs to the old file
      if (::rename((file + suffix).c_str(), (aside + suffix).c_str()) != 0 && *suffix == '\0') {
        const int e = errno;
        if (dfd >= 0) ::close(dfd);
        return {status_code::io_error, "cannot move the damaged " + file +
                                           " aside: " + std::strerror(e) + " (" + why + ")"};
      }
    }
  }
  status opened = open_db();
  if (dfd >= 0) ::close(dfd);  // releases the lock
  if (!opened.ok()) {
    close_db();
    return opened;
  }
  if (!aside.empty()) {
    bump_generation(nullptr);  // other processes' memory tiers drop what came from the old file
    warning_ = "twincache: " + file + " was damaged or not a twincache database (" + why +
               "); moved it to " + aside + " and started an empty cache";
    has_warning_.store(true, std::memory_order_release);
  }
  return {};
}

status disk_store::recover_locked(status st) {
  if (st.ok() || db_ == nullptr || !damaged()) return st;
  rollback();
  return move_aside_locked(st.message());
}

void disk_store::ensure_reserve() const {
  const std::string file = path_ + "/reserve";
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) return;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  const bool ok = ::posix_fallocate(fd, 0, reserve_bytes) == 0;
  ::close(fd);
  if (!ok) ::unlink(file.c_str());  // no room for it now: the next open tries again
}

bool disk_store::make_room_locked() {
  rollback();
  const bool had_reserve = ::unlink((path_ + "/reserve").c_str()) == 0;
  // Copies the WAL into the database (whose freed pages it reuses) and truncates it to 0 bytes.
  const bool checkpointed =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr) ==
      SQLITE_OK;
  return had_reserve || checkpointed;
}

status disk_store::open_generation() {
  if (gen_map_ != nullptr) ::munmap(const_cast<std::uint64_t*>(gen_map_), sizeof(std::uint64_t));
  if (gen_fd_ >= 0) ::close(gen_fd_);
  gen_map_ = nullptr;
  const std::string file = path_ + "/generation";
  gen_fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (gen_fd_ < 0) {
    return {status_code::io_error, "cannot open " + file + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (::fstat(gen_fd_, &st) != 0 ||
      (st.st_size < 8 && ::ftruncate(gen_fd_, sizeof(std::uint64_t)) != 0)) {
    return {status_code::io_error, "cannot size " + file + ": " + std::strerror(errno)};
  }
  void* m = ::mmap(nullptr, sizeof(std::uint64_t), PROT_READ, MAP_SHARED, gen_fd_, 0);
  if (m == MAP_FAILED) {
    return {status_code::io_error, "cannot map " + file + ": " + std::strerror(errno)};
  }
  gen_map_ = static_cast<const std::uint64_t*>(m);
  gen_seen_.store(__atomic_load_n(gen_map_, __ATOMIC_ACQUIRE));
  epoch_.fetch_add(1);
  if (l1_) l1_->clear();
  return {};
}

void disk_store::bump_generation(generation_change* out) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = sizeof(std::uint64_t);
  while (::fcntl(gen_fd_, F_OFD_SETLKW, &fl) != 0 && errno == EINTR) {
  }
  std::uint64_t cur = 0, next = 0;
  if (::pread(gen_fd_, &cur, sizeof cur, 0) != static_cast<ssize_t>(sizeof cur)) cur = 0;
  do {
    random_bytes(reinterpret_cast<std::uint8_t*>(&next), sizeof next);
  } while (next == 0 || next == cur);
  const bool wrote = ::pwrite(gen_fd_, &next, sizeof next, 0) == static_cast<ssize_t>(sizeof next);
  fl.l_type = F_UNLCK;
  ::fcntl(gen_fd_, F_OFD_SETLK, &fl);
  if (wrote) {
    std::uint64_t expected = cur;  // stays valid only if nobody else wrote since we last looked
    gen_seen_.compare_exchange_strong(expected, next);
  }
  if (out != nullptr) {
    out->before = cur;
    out->after = wrote ? next : cur;
  }
}

status disk_store::ensure_process() {
  if (db_ == nullptr) return {};
  if (pid_ == static_cast<long>(::getpid())) return {};
  // A forked child: the parent's connection must not be used (nor closed: that would release
  // the parent's POSIX locks). Leak it and open a fresh one.
  st_.release();  // NOLINT: statements belong to the abandoned connection
  db_ = nullptr;
  pending_ = {};
  touches_.clear();  // the parent writes its own
  // The writer thread and the queue are the parent's (it commits them): start afresh. The
  // generation file's descriptor is shared with the parent (and so would its OFD lock be):
  // open_db() opens our own.
  (void)writer_.release();
  side_->abandon();
  new (&queue_mu_) std::mutex();
  new (&queue_cv_) std::condition_variable();
  new (&done_cv_) std::condition_variable();
  queue_.clear();
  pending_by_key_.clear();
  queue_bytes_ = enqueued_ = committed_ = 0;
  flush_waiters_ = 0;
  gen_fd_ = -1;
  gen_map_ = nullptr;
  if (l1_) l1_->clear();
  if (status st = open_db(); !st.ok()) {
    close_db();
    return st;
  }
  return {};
}

// Hot path: one load from the mapped generation file.
bool disk_store::l1_still_valid() {
  const std::uint64_t v = __atomic_load_n(gen_map_, __ATOMIC_ACQUIRE);
  std::uint64_t seen = gen_seen_.load(std::memory_order_acquire);
  if (v == seen) return true;
  if (gen_seen_.compare_exchange_strong(seen, v)) {
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    if (l1_) l1_->clear();
  }
  return false;
}

status disk_store::begin_write() {
  sqlite3_stmt* s = st_->begin.get();
  const int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? status{} : sqlite_error("BEGIN IMMEDIATE");
}

status disk_store::commit() {
  sqlite3_stmt* s = st_->commit.get();
  const int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? status{} : sqlite_error("COMMIT");
}

void disk_store::rollback() noexcept {
  if (sqlite3_get_autocommit(db_)) return;
  sqlite3_stmt* s = st_->rollback.get();
  sqlite3_step(s);
  sqlite3_reset(s);
}

status disk_store::flush_counters_locked() {
  const disk_stats& p = pending_;
  if ((p.hits | p.misses | p.sets | p.evicted | p.expired | p.corrupt | p.deleted) == 0) {
    return {};
  }
  sqlite3_stmt* s = st_->add_counts.get();
  reset_guard rg{s};
  const std::uint64_t v[] = {p.hits, p.misses, p.sets, p.evicted, p.expired, p.corrupt, p.deleted};
  for (int i = 0; i < 7; ++i) sqlite3_bind_int64(s, i + 1, static_cast<sqlite3_int64>(v[i]));
  return sqlite3_step(s) == SQLITE_DONE ? status{} : sqlite_error("updating counters");
}

std::array<std::uint8_t, 32> disk_store::sign(std::string_view key, std::uint32_t codec,
                                              std::string_view stored,
                                              std::string_view more) const {
  // Message: "twincache/1", codec (u32 LE), key length (u64 LE), key, stored value bytes.
  char head[11 + 4 + 8];
  std::memcpy(head, "twincache/1", 11);
  for (int i = 0; i < 4; ++i) head[11 + i] = static_cast<char>(codec >> (8 * i));
  const std::uint64_t n = key.size();
  for (int i = 0; i < 8; ++i) head[15 + i] = static_cast<char>(n >> (8 * i));
  return hmac_sha256(secret_, {std::string_view(head, sizeof head), key, stored, more});
}

void disk_store::l1_put(std::string_view key, std::uint32_t codec, std::string value,
                        time_ns expiry) {
  if (!l1_) return;
  std::optional<time_ns> ttl;
  if (expiry != 0) {
    const time_ns left = expiry - now();
    if (left <= 0) return;
    ttl = left;
  }
  auto v = std::make_shared<l1_value>();
  v->codec = codec;
  v->expiry = expiry;
  const std::uint64_t weight = value.size();
  v->bytes = std::move(value);
  l1_->set(key, hash64(key), l1_ptr(std::move(v)), weight, ttl).ok();  // too big: not cached
}

bool disk_store::memory_get(std::string_view key, std::uint32_t& codec, std::string& value,
                            time_ns* expiry) {
  l1_ptr v;
  if (!l1_->get(key, hash64(key), v)) return false;
  if (v->expiry != 0 && now() >= v->expiry) {
    l1_->erase(key);
    return false;
  }
  codec = v->codec;
  value.assign(v->bytes);
  if (expiry != nullptr) *expiry = v->expiry;
  return true;
}

void disk_store::drop_l1() {
  std::lock_guard g(mu_);
  if (l1_ && db_ != nullptr) l1_->clear();
}

status disk_store::remove_row_locked(std::int64_t id, const void* hmac,
                                     std::uint64_t disk_stats::*counter) {
  sqlite3_stmt* s = st_->remove_row.get();
  reset_guard rg{s};
  sqlite3_bind_int64(s, 1, id);
  bind_blob(s, 2, hmac, 32);
  if (sqlite3_step(s) != SQLITE_DONE) return sqlite_error("DELETE");
  if (sqlite3_changes(db_) > 0) {
    ++(counts_.*counter);
    ++(pending_.*counter);
    bump_generation(nullptr);
  }
  return {};
}

// Coarse LRU without a write on the read path: a read only notes the row's new access time. The
// notes are written by the next write batch (in its transaction, before eviction looks at
// atime), by the destructor, or, in a process that only reads, by the first read at least
// atime_resolution after the oldest note (one transaction for all of them). A first read after
// opening used to write its touch at once: a write transaction that, on a WAL the last closer
// had reset, also synced the WAL header (fdatasync): ~100 µs of a ~140 µs read.
void disk_store::note_touch_locked(std::int64_t id, time_ns t) {
  if (touches_.empty()) touches_since_ = t;
  touches_.emplace_back(id, t);
  if (t - touches_since_ < opts_.atime_resolution && touches_.size() < max_touches) return;
  // Its own transaction; a busy database (another writer) skips the notes, as it always did.
  sqlite3_busy_timeout(db_, 0);
  if (begin_write().ok() && !(write_touches_locked().ok() && commit().ok())) rollback();
  sqlite3_busy_timeout(db_, opts_.busy_timeout_ms);
  touches_.clear();  // written, or given up: access times are approximate
}

status disk_store::write_touches_locked() {
  sqlite3_stmt* u = st_->touch.get();
  for (const auto& [id, t] : touches_) {
    reset_guard rg{u};
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_int64(u, 2, t);
    if (sqlite3_step(u) != SQLITE_DONE) return sqlite_error("UPDATE atime");
  }
  return {};
}

namespace {
bool valid_blob_name(std::string_view name);  // below, with the side files
}  // namespace

status disk_store::get(std::string_view key, bool& found, std::uint32_t& codec,
                       std::string& value, time_ns* expiry_out, std::string* array_file,
                       bool use) {
  found = false;
  if (array_file != nullptr) array_file->clear();
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) {
    found = memory_get(key, codec, value, expiry_out);
    if (use) ++(found ? counts_.hits : counts_.misses);
    return {};
  }
  if (!use && queued_get(key, codec, value, expiry_out)) {
    found = true;  // a peek: not counted, and the L1's recency is left as it is
    return {};
  }
  // Hot path: the L1, when no other connection has committed since it was filled.
  if (use && ((l1_ && l1_still_valid() && memory_get(key, codec, value, expiry_out)) ||
              queued_get(key, codec, value, expiry_out))) {
    found = true;
    ++counts_.hits;
    ++counts_.l1_hits;
    ++pending_.hits;
    return {};
  }
  const auto kh = key_hash_of(key);
  sqlite3_stmt* s = st_->get.get();
  std::int64_t id = 0;
  std::array<std::uint8_t, 32> row_hmac{};
  enum { miss, hit, expired, corrupt, unreadable, array_in_file } outcome = miss;
  time_ns expiry = 0;
  bool touch = false;
  const time_ns t = now();
  {
    reset_guard rg{s};
    bind_blob(s, 1, kh.data(), kh.size());
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      id = sqlite3_column_int64(s, 0);
      const std::string_view row_key = column_blob(s, 1);
      const std::int64_t row_codec = sqlite3_column_int64(s, 2);
      const std::string_view stored = column_blob(s, 3);
      expiry = sqlite3_column_int64(s, 4);
      const time_ns atime = sqlite3_column_int64(s, 5);
      const std::string_view mac = column_blob(s, 6);
      if (mac.size() == 32) std::memcpy(row_hmac.data(), mac.data(), 32);
      std::string_view stored_view = stored;
      std::string from_file;
      bool file_ok = true;
      const auto* file_name = reinterpret_cast<const char*>(sqlite3_column_text(s, 7));
      if (array_file != nullptr && (row_codec == codec_array || row_codec == codec_arrow) &&
          file_name != nullptr &&
          row_key == key && !(expiry != 0 && t >= expiry) && mac.size() == 32 &&
          valid_blob_name(file_name)) {
        // An array or frame in a file of its own: the binding reads or maps it and verify()s
        // the bytes (one copy fewer than reading it here and handing it over).
        *array_file = path_ + "/blobs/" + file_name;
        value.assign(mac);
        codec = static_cast<std::uint32_t>(row_codec);
        if (expiry_out != nullptr) *expiry_out = expiry;
        outcome = array_in_file;
        touch = t - atime >= opts_.atime_resolution;
      } else if (sqlite3_column_type(s, 7) != SQLITE_NULL && row_key == key) {
        // A large value lives in blobs/: read it (a missing or unreadable file is corrupt:
        // removed below only if the row still has this HMAC, i.e. was not replaced meanwhile).
        // Read into the caller's buffer: a caller that reuses it (the bindings do) reads a large
        // value without faulting in fresh pages each time.
        const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(s, 7));
        from_file = std::move(value);
        file_ok = read_blob(name != nullptr ? name : "", from_file);
        stored_view = from_file;
      }
      if (outcome == array_in_file) {
        // checked by verify()
      } else if (row_key != key) {
        outcome = miss;  // another key with the same 128-bit hash: leave it alone
      } else if (use && expiry != 0 && t >= expiry) {
        outcome = expired;
      } else if (mac.size() != 32 || row_codec < 0 || row_codec > 0x1FF || !file_ok) {
        outcome = corrupt;
      } else {
        const std::string_view stored = stored_view;
        const auto want = sign(key, static_cast<std::uint32_t>(row_codec), stored);
        if (!digest_equal(want.data(), row_hmac.data(), 32)) {
          outcome = corrupt;  // never handed to a deserializer
        } else if ((row_codec & codec_zstd) != 0) {
          const unsigned long long n = ZSTD_getFrameContentSize(stored.data(), stored.size());
          if (!plausible_zstd_size(n, stored.size())) {
            outcome = corrupt;
          } else {
            value.resize(static_cast<std::size_t>(n));
            const std::size_t r =
                ZSTD_decompress(value.data(), value.size(), stored.data(), stored.size());
            outcome = ZSTD_isError(r) || r != n ? corrupt : hit;
          }
        } else if (!from_file.empty() && stored.data() == from_file.data()) {
          value = std::move(from_file);
          outcome = hit;
        } else {
          value.assign(stored);
          outcome = hit;
        }
        codec = static_cast<std::uint32_t>(row_codec) & codec_max;
        touch = outcome == hit && t - atime >= opts_.atime_resolution;
      }
    } else if (rc != SQLITE_DONE) {
      status st = sqlite_error("SELECT");
      if (!damaged()) return st;
      outcome = unreadable;  // a damaged page on the way to the row
    }
  }
  if (!use) {  // a peek: nothing counted, touched, cached or removed
    found = outcome == hit;
    if (found && expiry_out != nullptr) *expiry_out = expiry;
    return {};
  }
  if (outcome == array_in_file) {
    found = true;  // counted by verify()
    if (touch) note_touch_locked(id, t);
    return {};
  }
  if (outcome == unreadable) {
    // A counted corrupt miss. The row goes if SQLite can still delete it; if not, the database
    // is damaged beyond one entry: moved aside (one warning).
    ++counts_.misses;
    ++pending_.misses;
    ++counts_.corrupt;
    ++pending_.corrupt;
    sqlite3_stmt* d = st_->remove_key.get();
    int rc;
    {
      reset_guard rg{d};
      bind_blob(d, 1, kh.data(), kh.size());
      while ((rc = sqlite3_step(d)) == SQLITE_ROW) {
      }
    }
    if (rc == SQLITE_DONE) {
      bump_generation(nullptr);
      return {};
    }
    return recover_locked(sqlite_error("DELETE"));
  }
  if (outcome == expired || outcome == corrupt) {
    ++counts_.misses;
    ++pending_.misses;
    return recover_locked(remove_row_locked(
        id, row_hmac.data(), outcome == expired ? &disk_stats::expired : &disk_stats::corrupt));
  }
  if (outcome == miss) {
    ++counts_.misses;
    ++pending_.misses;
    return {};
  }
  found = true;
  ++counts_.hits;
  ++pending_.hits;
  if (expiry_out != nullptr) *expiry_out = expiry;
  if (touch) note_touch_locked(id, t);
  if (l1_) l1_put(key, codec, value, expiry);  // valid: checked before the read
  return {};
}

// Whether the first compress_sample bytes of value compress by at least 1/16 (value is longer).
bool disk_store::sample_compresses(std::string_view value) const {
  std::string out(ZSTD_compressBound(compress_sample), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), value.data(), compress_sample,
                                      opts_.compression_level);
  return !ZSTD_isError(n) && n < compress_sample - compress_sample / 16;
}

disk_store::prepared_write disk_store::prepare(std::string key, std::uint32_t codec,
                                               std::string_view value, time_ns expiry,
                                               time_ns atime) const {
  prepared_write w;
  w.codec = codec;
  w.expiry = expiry;
  w.atime = atime;
  std::string packed;
  bool compressed = false;
  bool try_compress = value.size() >= opts_.compress_threshold && opts_.compress_threshold != 0;
  // Large values: a sample first, so incompressible data (media, random bytes, already
  // compressed arrays) costs one 64 KiB attempt, not a pass over the whole value.
  const bool sample_first = try_compress && value.size() > 2 * compress_sample;
  bool to_file = false;
  bool written_raw = false;  // the side worker found the value incompressible and wrote it
  std::array<std::uint8_t, 32> raw_mac{};
  if (sample_first && opts_.file_threshold != 0 && value.size() >= opts_.file_threshold &&
      value.size() >= parallel_write_bytes) {
    // A value for a file of its own: the side worker samples it and, if the sample does not
    // compress, writes it, while this thread signs it as it is. That bets on incompressible
    // data, what large values mostly are; a value that compresses wastes the signature and is
    // compressed below. Saves the sample's 25-40 µs on the caller's side of a 1 MiB set.
    if (side_->try_start([&] {
          written_raw = !sample_compresses(value);
          if (written_raw) to_file = write_blob(value, w.file);
        })) {
      raw_mac = sign(key, codec, value);
      side_->wait();
      try_compress = !written_raw;
    } else {
      try_compress = sample_compresses(value);
    }
  } else if (sample_first) {
    try_compress = sample_compresses(value);
  }
  if (try_compress) {
    packed.resize(ZSTD_compressBound(value.size()));
    const std::size_t n = ZSTD_compress(packed.data(), packed.size(), value.data(), value.size(),
                                        opts_.compression_level);
    if (!ZSTD_isError(n) && n < value.size() - value.size() / 16) {
      packed.resize(n);
      compressed = true;
    }
  }
  const std::string_view stored = compressed ? std::string_view(packed) : value;
  w.full_codec = compressed ? (codec | codec_zstd) : codec;
  w.stored_size = stored.size();
  // Large values go to a file straight from the caller's bytes (no copy); the row keeps an
  // empty value and the file's name. From parallel_write_bytes on, the side worker's thread
  // writes the file while this one computes the HMAC (both read the same bytes, which the caller
  // keeps alive and unchanged until prepare() returns: the job is waited for first).
  if (written_raw) {
    w.mac = raw_mac;  // and the file is written (to_file), unless that failed
  } else if (opts_.file_threshold != 0 && stored.size() >= opts_.file_threshold) {
    if (stored.size() >= parallel_write_bytes &&
        side_->try_start([&] { to_file = write_blob(stored, w.file); })) {
      w.mac = sign(key, w.full_codec, stored);
      side_->wait();
    } else {
      to_file = write_blob(stored, w.file);
      w.mac = sign(key, w.full_codec, stored);
    }
  } else {
    w.mac = sign(key, w.full_codec, stored);
  }
  if (!to_file) {
    if (compressed) {
      w.stored = std::move(packed);
    } else {
      w.stored.assign(value);
    }
  }
  w.key = std::move(key);
  return w;
}

status disk_store::write_locked(const prepared_write& w) {
  const auto kh = key_hash_of(w.key);
  sqlite3_stmt* s = st_->upsert.get();
  reset_guard rg{s};
  bind_blob(s, 1, kh.data(), kh.size());
  bind_blob(s, 2, w.key.data(), w.key.size());
  sqlite3_bind_int64(s, 3, w.full_codec);
  bind_blob(s, 4, w.stored.data(), w.stored.size());
  sqlite3_bind_int64(s, 5, static_cast<sqlite3_int64>(w.key.size() + w.stored_size));
  sqlite3_bind_int64(s, 6, w.expiry);
  sqlite3_bind_int64(s, 7, w.atime);
  bind_blob(s, 8, w.mac.data(), w.mac.size());
  if (w.file.empty()) {
    sqlite3_bind_null(s, 9);
  } else {
    sqlite3_bind_text(s, 9, w.file.data(), static_cast<int>(w.file.size()), SQLITE_STATIC);
  }
  return sqlite3_step(s) == SQLITE_DONE ? status{} : sqlite_error("INSERT");
}

// One transaction for a batch of writes: the upserts, then expiry and the budget, the counters.
status disk_store::commit_batch_locked(const std::vector<prepared_write>& batch,
                                       generation_change* gen, bool retried) {
  status st = begin_write();
  for (const prepared_write& w : batch) {
    if (!st.ok()) break;
    st = write_locked(w);
  }
  if (st.ok()) st = write_touches_locked();  // before eviction reads atime
  sets_since_purge_ += batch.size();
  if (st.ok() && sets_since_purge_ >= 64) {
    sets_since_purge_ = 0;
    std::uint64_t purged = 0;
    st = purge_expired_locked(now(), 64, purged);
  }
  std::uint64_t evicted = 0;
  if (st.ok() && opts_.max_bytes != unlimited) st = evict_locked(evicted);
  pending_.sets += batch.size();
  std::vector<std::string> doomed;
  if (st.ok()) st = flush_counters_locked();
  if (st.ok()) st = take_doomed_locked(doomed);
  if (st.ok()) st = commit();
  if (!st.ok()) {
    pending_.sets -= batch.size();
    staged_.clear();
    rollback();
    // A damaged database: moved aside, the batch goes to the fresh one.
    if (!retried && damaged() && move_aside_locked(st.message()).ok()) {
      return commit_batch_locked(batch, gen, true);
    }
    for (const prepared_write& w : batch) {
      if (!w.file.empty()) unlink_blob(w.file);
    }
    return st;
  }
  for (const std::string& f : doomed) unlink_blob(f);
  publish_removals_locked();
  pending_ = {};
  touches_.clear();
  counts_.sets += batch.size();
  if (l1_) l1_still_valid();  // drops the L1 if another writer went before us
  bump_generation(gen);
  return {};
}

status disk_store::set(std::string_view key, std::uint32_t codec, std::string_view value,
                       std::optional<time_ns> ttl, generation_change* gen) {
  if (codec > codec_max) {
    return {status_code::out_of_range, "codec must be in [0, 255] (got " +
                                           std::to_string(codec) + ")"};
  }
  if (ttl && *ttl <= 0) return {status_code::out_of_range, "ttl must be > 0"};
  if (gen != nullptr) *gen = {};
  const std::uint64_t plain_size = key.size() + value.size();
  std::unique_lock g(mu_);
  if (opts_.max_bytes != unlimited && plain_size > opts_.max_bytes) {
    ++counts_.rejected;
    return {status_code::value_too_large,
            "entry of " + std::to_string(plain_size) + " bytes exceeds max_bytes (" +
                std::to_string(opts_.max_bytes) + "); the cache is unchanged"};
  }
  if (status st = ensure_process(); !st.ok()) return st;
  const time_ns t = now();
  const std::optional<time_ns> life = ttl ? ttl : opts_.default_ttl;
  const time_ns expiry = life ? t + *life : 0;
  if (db_ == nullptr) {
    auto v = std::make_shared<l1_value>();
    v->codec = codec;
    v->expiry = expiry;
    v->bytes.assign(value);
    if (!l1_->set(key, hash64(key), l1_ptr(std::move(v)), value.size(), life).ok()) {
      ++counts_.rejected;
      return {status_code::value_too_large, "entry exceeds the memory budget"};
    }
    ++counts_.sets;
    return {};
  }
  // Synchronous (committed when set() returns) when asked. Earlier queued writes commit first,
  // so writes of one key stay in order.
  if (opts_.write_delay <= 0) {
    g.unlock();
    flush().ok();
    std::vector<prepared_write> one;
    one.push_back(prepare(std::string(key), codec, value, expiry, t));
    g.lock();
    if (status st = commit_batch_locked(one, gen); !st.ok()) return st;
    if (l1_ && l1_still_valid()) l1_put(key, codec, std::string(value), expiry);
    return {};
  }
  if (l1_ && l1_still_valid()) l1_put(key, codec, std::string(value), expiry);
  g.unlock();

  auto w = std::make_shared<queued_write>();
  w->key.assign(key);
  w->codec = codec;
  w->expiry = expiry;
  w->atime = t;
  if (opts_.file_threshold != 0 && value.size() >= opts_.file_threshold) {
    // Large values are written to their file and signed here, from the caller's bytes: handing
    // megabytes to another thread would cost a copy (and its page faults). Only the row waits
    // for the writer's next batch, which saves the caller a transaction of its own (~180 µs,
    // checkpoints included: more than a fifth of a 1 MiB set).
    w->prepared = prepare(w->key, codec, value, expiry, t);
  } else {
    w->value.assign(value);  // hot path for writers: one copy
  }
  enqueue(std::move(w));
  return {};
}

status disk_store::set_parts(std::string_view key, std::uint32_t codec, std::string_view head,
                             std::string_view body, std::optional<time_ns> ttl,
                             generation_change* gen) {
  const std::uint64_t total = head.size() + body.size();
  if (db_ == nullptr || opts_.file_threshold == 0 || total < opts_.file_threshold ||
      opts_.write_delay <= 0 || codec > codec_max || (ttl && *ttl <= 0)) {
    // Small (one copy is cheap), memory-only or synchronous stores: the plain path.
    std::string joined;
    joined.reserve(total);
    joined.append(head).append(body);
    return set(key, codec, joined, ttl, gen);
  }
  if (gen != nullptr) *gen = {};
  std::unique_lock g(mu_);
  if (opts_.max_bytes != unlimited && key.size() + total > opts_.max_bytes) {
    ++counts_.rejected;
    return {status_code::value_too_large,
            "entry of " + std::to_string(key.size() + total) + " bytes exceeds max_bytes (" +
                std::to_string(opts_.max_bytes) + "); the cache is unchanged"};
  }
  if (status st = ensure_process(); !st.ok()) return st;
  const time_ns t = now();
  const std::optional<time_ns> life = ttl ? ttl : opts_.default_ttl;
  const time_ns expiry = life ? t + *life : 0;
  if (l1_) l1_->erase(key);  // the L1 holds values of the plain path only
  g.unlock();
  auto w = std::make_shared<queued_write>();
  w->key.assign(key);
  w->codec = codec;
  w->expiry = expiry;
  w->atime = t;
  prepared_write p;
  p.key = w->key;
  p.codec = p.full_codec = codec;
  p.expiry = expiry;
  p.atime = t;
  p.stored_size = total;
  // The side worker writes the file while this thread signs the same two pieces.
  bool to_file = false;
  if (total >= parallel_write_bytes &&
      side_->try_start([&] { to_file = write_blob_parts({head, body}, p.file); })) {
    p.mac = sign(key, codec, head, body);
    side_->wait();
  } else {
    to_file = write_blob_parts({head, body}, p.file);
    p.mac = sign(key, codec, head, body);
  }
  if (!to_file) {  // no file (a full disk, say): the row keeps the bytes, as set() does
    p.file.clear();
    p.stored.reserve(total);
    p.stored.append(head).append(body);
  }
  w->prepared = std::move(p);
  enqueue(std::move(w));
  return {};
}

bool disk_store::verify(std::string_view key, std::uint32_t codec, std::string_view head,
                        std::string_view body, std::string_view mac) {
  const auto want = sign(key, codec, head, body);
  const auto* m = reinterpret_cast<const std::uint8_t*>(mac.data());
  const bool ok = mac.size() == 32 && digest_equal(want.data(), m, 32);
  if (ok) {
    std::lock_guard g(mu_);
    ++counts_.hits;
    ++pending_.hits;
  }
  return ok;
}

// Write-behind: hands a write to the writer thread (waiting while the queue is over its
// budget) and starts the thread with the first one.
void disk_store::enqueue(std::shared_ptr<queued_write> w) {
  const std::uint64_t weight = w->weight();
  std::unique_lock q(queue_mu_);
  done_cv_.wait(q, [&] { return queue_bytes_ < opts_.write_queue_bytes || stop_; });
  w->seq = ++enqueued_;
  queue_bytes_ += weight;
  pending_by_key_[w->key] = w;
  queue_.push_back(std::move(w));
  if (!writer_) writer_ = std::make_unique<std::thread>([this] { writer_loop(); });
  q.unlock();
  queue_cv_.notify_one();
}

// The writer thread (write-behind): waits for queued writes, gives later ones up to write_delay
// to join, signs and compresses the batch without any lock, then commits it in one transaction.
// Never touches a language value: it only sees copied bytes.
void disk_store::writer_loop() {
  std::vector<std::shared_ptr<const queued_write>> batch;
  std::vector<prepared_write> prepared;
  std::unique_lock q(queue_mu_);
  for (;;) {
    queue_cv_.wait(q, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stop_ and nothing left
    if (!stop_ && flush_waiters_ == 0) {
      queue_cv_.wait_for(q, std::chrono::nanoseconds(opts_.write_delay), [&] {
        return stop_ || flush_waiters_ != 0 || queue_.size() >= 256 ||
               queue_bytes_ >= (8u << 20);
      });
    }
    batch.swap(queue_);
    q.unlock();
    prepared.clear();
    prepared.reserve(batch.size());
    for (const auto& w : batch) {
      prepared.push_back(w->prepared ? *w->prepared
                                     : prepare(w->key, w->codec, w->value, w->expiry, w->atime));
    }
    status st;
    {
      std::lock_guard g(mu_);
      st = db_ != nullptr ? commit_batch_locked(prepared, nullptr) : status{};
    }
    q.lock();
    std::size_t weight = 0;
    for (const auto& w : batch) {
      weight += w->weight();
      auto it = pending_by_key_.find(w->key);
      if (it != pending_by_key_.end() && it->second == w) pending_by_key_.erase(it);
      committed_ = std::max(committed_, w->seq);
    }
    queue_bytes_ -= weight;
    if (!st.ok()) {
      last_write_error_ = st;
      ++write_errors_;
    }
    batch.clear();
    done_cv_.notify_all();
  }
}

status disk_store::flush() {
  if (pid_ != static_cast<long>(::getpid())) return {};  // a forked child: nothing of ours queued
  std::unique_lock q(queue_mu_);
  if (!writer_) return {};
  const std::uint64_t target = enqueued_;
  ++flush_waiters_;
  queue_cv_.notify_one();
  done_cv_.wait(q, [&] { return committed_ >= target; });
  --flush_waiters_;
  status st = std::move(last_write_error_);
  last_write_error_ = {};
  return st;
}

// Read-your-writes for a value still queued (the L1 may be off or may have dropped it).
bool disk_store::queued_get(std::string_view key, std::uint32_t& codec, std::string& value,
                            time_ns* expiry) {
  std::shared_ptr<const queued_write> w;
  {
    std::lock_guard q(queue_mu_);
    if (pending_by_key_.empty()) return false;
    auto it = pending_by_key_.find(std::string(key));
    if (it == pending_by_key_.end()) return false;
    w = it->second;
  }
  if (w->expiry != 0 && now() >= w->expiry) return false;
  if (w->prepared) {
    if (!unpack_prepared(*w->prepared, value)) return false;
  } else {
    value = w->value;
  }
  codec = w->codec;
  if (expiry != nullptr) *expiry = w->expiry;
  return true;
}

bool disk_store::unpack_prepared(const prepared_write& w, std::string& value) const {
  std::string from_file;
  std::string_view stored = w.stored;
  if (!w.file.empty()) {
    // The file is in a shared directory until its row commits: checked like any stored value.
    from_file = std::move(value);
    if (!read_blob(w.file, from_file)) return false;
    stored = from_file;
    const auto want = sign(w.key, w.full_codec, stored);
    if (!digest_equal(want.data(), w.mac.data(), 32)) return false;
  }
  if ((w.full_codec & codec_zstd) != 0) {
    const unsigned long long n = ZSTD_getFrameContentSize(stored.data(), stored.size());
    if (!plausible_zstd_size(n, stored.size())) return false;
    std::string out(static_cast<std::size_t>(n), '\0');
    const std::size_t r = ZSTD_decompress(out.data(), out.size(), stored.data(), stored.size());
    if (ZSTD_isError(r) || r != n) return false;
    value = std::move(out);
  } else if (!w.file.empty()) {
    value = std::move(from_file);
  } else {
    value.assign(stored);
  }
  return true;
}

void disk_store::stop_writer() noexcept {
  {
    std::lock_guard q(queue_mu_);
    stop_ = true;
  }
  queue_cv_.notify_all();
  if (writer_ && writer_->joinable()) writer_->join();
  writer_.reset();
}

status disk_store::purge_expired_locked(time_ns t, int limit, std::uint64_t& removed) {
  sqlite3_stmt* s = (report_ ? st_->purge_ret : st_->purge).get();
  reset_guard rg{s};
  sqlite3_bind_int64(s, 1, t);
  sqlite3_bind_int64(s, 2, limit);
  if (report_) {
    if (status st = collect_removals_locked(s, removal::why::expired, removed); !st.ok()) {
      return st;
    }
  } else {
    if (sqlite3_step(s) != SQLITE_DONE) return sqlite_error("DELETE expired");
    removed = static_cast<std::uint64_t>(sqlite3_changes(db_));
  }
  counts_.expired += removed;
  pending_.expired += removed;
  return {};
}

status disk_store::evict_locked(std::uint64_t& evicted) {
  evicted = 0;
  for (;;) {
    std::int64_t items = 0, bytes = 0;
    {
      sqlite3_stmt* m = st_->meta.get();
      reset_guard rg{m};
      if (sqlite3_step(m) != SQLITE_ROW) return sqlite_error("reading meta");
      items = sqlite3_column_int64(m, 1);
      bytes = sqlite3_column_int64(m, 2);
    }
    if (bytes <= 0 || static_cast<std::uint64_t>(bytes) <= opts_.max_bytes || items <= 1) {
      return {};
    }
    if (evicted == 0) {
      // Expired entries go first.
      std::uint64_t purged = 0;
      if (status st = purge_expired_locked(now(), 256, purged); !st.ok()) return st;
      if (purged != 0) continue;
    }
    // Oldest access first, in a batch sized by the average entry.
    const std::uint64_t over = static_cast<std::uint64_t>(bytes) - opts_.max_bytes;
    const std::uint64_t avg = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(bytes / items));
    const std::int64_t batch =
        static_cast<std::int64_t>(std::clamp<std::uint64_t>((over + avg - 1) / avg, 1, 64));
    sqlite3_stmt* s = (report_ ? st_->evict_ret : st_->evict).get();
    reset_guard rg{s};
    sqlite3_bind_int64(s, 1, std::min<std::int64_t>(batch, items - 1));
    std::uint64_t n = 0;
    if (report_) {
      if (status st = collect_removals_locked(s, removal::why::evicted, n); !st.ok()) return st;
    } else {
      if (sqlite3_step(s) != SQLITE_DONE) return sqlite_error("DELETE (evict)");
      n = static_cast<std::uint64_t>(sqlite3_changes(db_));
    }
    if (n == 0) return {};
    evicted += n;
    counts_.evicted += n;
    pending_.evicted += n;
  }
}

void disk_store::report_removals(bool on, bool values) {
  std::lock_guard g(mu_);
  report_ = on;
  report_values_ = on && values;
  if (!on) {
    removals_.clear();
    has_removals_.store(false, std::memory_order_release);
  }
}

std::vector<removal> disk_store::take_removals() {
  std::vector<removal> out;
  if (!has_removals()) return out;
  std::lock_guard g(mu_);
  out.swap(removals_);
  has_removals_.store(false, std::memory_order_release);
  return out;
}

void disk_store::publish_removals_locked() {
  if (staged_.empty()) return;
  if (removals_.empty()) {
    removals_.swap(staged_);
  } else {
    for (removal& r : staged_) removals_.push_back(std::move(r));
    staged_.clear();
  }
  has_removals_.store(true, std::memory_order_release);
}

status disk_store::collect_removals_locked(sqlite3_stmt* s, removal::why why,
                                           std::uint64_t& n) {
  n = 0;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ++n;
    removal r;
    r.key.assign(column_blob(s, 0));
    r.reason = why;
    if (l1_) l1_->erase(r.key);  // told gone: not served from memory either
    if (report_values_) {
      // The value as get() would give it: its file read (before the commit unlinks it), the
      // HMAC checked (a damaged victim is told without a value), then decompressed.
      const std::int64_t row_codec = sqlite3_column_int64(s, 1);
      std::string_view stored = column_blob(s, 2);
      const std::string_view mac = column_blob(s, 4);
      std::string from_file;
      bool ok = mac.size() == 32 && row_codec >= 0 && row_codec <= 0x1FF;
      if (ok && sqlite3_column_type(s, 3) != SQLITE_NULL) {
        const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
        ok = read_blob(name != nullptr ? name : "", from_file);
        stored = from_file;
      }
      if (ok) {
        const auto want = sign(r.key, static_cast<std::uint32_t>(row_codec), stored);
        ok = digest_equal(want.data(), reinterpret_cast<const std::uint8_t*>(mac.data()), 32);
      }
      if (ok && (row_codec & codec_zstd) != 0) {
        const unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
        ok = plausible_zstd_size(size, stored.size());
        if (ok) {
          r.value.resize(static_cast<std::size_t>(size));
          const std::size_t got =
              ZSTD_decompress(r.value.data(), r.value.size(), stored.data(), stored.size());
          ok = !ZSTD_isError(got) && got == size;
        }
      } else if (ok) {
        r.value.assign(stored);
      }
      r.has_value = ok;
      r.codec = ok ? static_cast<std::uint32_t>(row_codec) & codec_max : 0;
      if (!ok) r.value.clear();
    }
    staged_.push_back(std::move(r));
  }
  return rc == SQLITE_DONE ? status{} : sqlite_error("DELETE (reported)");
}

status disk_store::erase(std::string_view key, bool& existed) {
  flush().ok();  // queued writes first (their errors stay counted in write_errors)
  existed = false;
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (l1_) existed = l1_->erase(key);
  if (db_ == nullptr) {
    if (existed) ++counts_.deleted;
    return {};
  }
  const auto kh = key_hash_of(key);
  // One transaction; on a full disk, once more after make_room_locked().
  const auto once = [&]() -> status {
    existed = false;
    if (status st = begin_write(); !st.ok()) return st;
    status st;
    bool removed_other = false;
    {
      sqlite3_stmt* s = st_->remove_key.get();
      reset_guard rg{s};
      bind_blob(s, 1, kh.data(), kh.size());
      int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) {
        const std::string_view row_key = column_blob(s, 0);
        const time_ns expiry = sqlite3_column_int64(s, 1);
        if (row_key != key) {
          removed_other = true;
        } else {
          existed = expiry == 0 || now() < expiry;
        }
        rc = sqlite3_step(s);
      }
      if (rc != SQLITE_DONE) st = sqlite_error("DELETE");
    }
    if (removed_other) {  // a colliding key: put nothing back, keep it (roll back)
      rollback();
      return st;
    }
    if (existed) ++pending_.deleted;
    std::vector<std::string> doomed;
    if (st.ok()) st = flush_counters_locked();
    if (st.ok()) st = take_doomed_locked(doomed);
    if (st.ok()) st = commit();
    if (!st.ok()) {
      if (existed) --pending_.deleted;
      rollback();
      return st;
    }
    for (const std::string& f : doomed) unlink_blob(f);
    pending_ = {};
    if (existed) ++counts_.deleted;
    bump_generation(nullptr);
    return {};
  };
  status st = once();
  if (!st.ok() && full() && make_room_locked()) {
    st = once();
    if (st.ok()) ensure_reserve();
  }
  if (!st.ok()) existed = false;
  return recover_locked(st);  // a damaged database: moved aside, so the key is gone
}

status disk_store::contains(std::string_view key, bool& found) {
  found = false;
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  {
    std::uint32_t codec = 0;
    std::string value;
    if (db_ != nullptr && queued_get(key, codec, value, nullptr)) {
      found = true;
      return {};
    }
  }
  if (db_ == nullptr) {
    found = l1_->contains(key);
    return {};
  }
  const auto kh = key_hash_of(key);
  status st;
  {
    sqlite3_stmt* s = st_->probe.get();
    reset_guard rg{s};
    bind_blob(s, 1, kh.data(), kh.size());
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      const time_ns expiry = sqlite3_column_int64(s, 1);
      found = column_blob(s, 0) == key && (expiry == 0 || now() < expiry);
    } else if (rc != SQLITE_DONE) {
      st = sqlite_error("SELECT");
    }
  }
  return recover_locked(st);  // (after the statement's reset: recovery closes it)
}

status disk_store::clear(std::uint64_t& removed) {
  flush().ok();  // queued writes first (their errors stay counted in write_errors)
  removed = 0;
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) {
    removed = l1_->clear();
    counts_.cleared += removed;
    return {};
  }
  status st = begin_write();
  {
    sqlite3_stmt* s = st_->clear.get();
    reset_guard rg{s};
    if (st.ok() && sqlite3_step(s) != SQLITE_DONE) st = sqlite_error("DELETE");
    removed = st.ok() ? static_cast<std::uint64_t>(sqlite3_changes(db_)) : 0;
  }
  std::vector<std::string> doomed;
  if (st.ok()) st = flush_counters_locked();
  if (st.ok()) st = take_doomed_locked(doomed);
  if (st.ok()) st = commit();
  if (st.ok()) {
    for (const std::string& f : doomed) unlink_blob(f);
    pending_ = {};
    counts_.cleared += removed;
  } else {
    removed = 0;
    rollback();
    // A full disk: one transaction for every row needs room in the WAL for every page; a few
    // rows at a time, truncating the WAL in between, needs a few pages.
    if (full() && make_room_locked()) st = clear_in_batches_locked(removed);
  }
  if (l1_) l1_->clear();
  st = recover_locked(st);  // a damaged database: moved aside, a fresh one is empty
  if (removed != 0 || st.ok()) bump_generation(nullptr);
  return st;
}

status disk_store::clear_in_batches_locked(std::uint64_t& removed) {
  removed = 0;
  // Large values' files first: they hold most of the space and their rows are going (a row whose
  // file is missing reads as a corrupt miss meanwhile).
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT file FROM entries WHERE file IS NOT NULL", -1, &q, nullptr) ==
      SQLITE_OK) {
    while (sqlite3_step(q) == SQLITE_ROW) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
      if (t != nullptr) unlink_blob(t);
    }
  }
  sqlite3_finalize(q);
  for (;;) {
    status st = begin_write();
    std::uint64_t n = 0;
    if (st.ok()) {
      sqlite3_stmt* s = st_->evict.get();
      reset_guard rg{s};
      sqlite3_bind_int64(s, 1, clear_batch_rows);
      if (sqlite3_step(s) != SQLITE_DONE) st = sqlite_error("DELETE");
      n = static_cast<std::uint64_t>(sqlite3_changes(db_));
    }
    std::vector<std::string> doomed;
    if (st.ok()) st = flush_counters_locked();
    if (st.ok()) st = take_doomed_locked(doomed);
    if (st.ok()) st = commit();
    if (!st.ok()) {
      rollback();
      std::uint64_t left = 0;
      {
        sqlite3_stmt* m = st_->meta.get();
        reset_guard rg{m};
        if (sqlite3_step(m) == SQLITE_ROW) left = sqlite3_column_int64(m, 1);
      }
      return {status_code::io_error, "clear() removed " + std::to_string(removed) + " entries; " +
                                         std::to_string(left) +
                                         " could not be removed: " + st.message()};
    }
    for (const std::string& f : doomed) unlink_blob(f);
    pending_ = {};
    removed += n;
    counts_.cleared += n;
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    if (n == 0) break;
  }
  ensure_reserve();
  return {};
}

status disk_store::prune(std::uint64_t& removed) {
  flush().ok();  // queued writes first (their errors stay counted in write_errors)
  removed = 0;
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) return {};
  status st = begin_write();
  for (; st.ok();) {
    std::uint64_t n = 0;
    st = purge_expired_locked(now(), 1024, n);
    removed += n;
    if (!st.ok() || n < 1024) break;
  }
  std::uint64_t evicted = 0;
  if (st.ok() && opts_.max_bytes != unlimited) st = evict_locked(evicted);
  removed += evicted;
  std::vector<std::string> doomed;
  if (st.ok()) st = flush_counters_locked();
  if (st.ok()) st = take_doomed_locked(doomed);
  if (st.ok()) st = commit();
  if (!st.ok()) {
    staged_.clear();
    rollback();
    removed = 0;
    return recover_locked(st);  // a damaged database: moved aside
  }
  for (const std::string& f : doomed) unlink_blob(f);
  publish_removals_locked();
  pending_ = {};
  if (removed != 0) bump_generation(nullptr);
  sweep_orphans_locked();
  return {};
}

// ---- side files for large values (blobs/) ------------------------------------------------------

namespace {
// Names are 32 lowercase hex digits + ".bin": anything else in a row is never opened.
bool valid_blob_name(std::string_view name) {
  if (name.size() != 36 || name.substr(32) != ".bin") return false;
  for (char c : name.substr(0, 32)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

bool disk_store::write_blob_parts(std::initializer_list<std::string_view> parts,
                                  std::string& name) const {
  std::uint8_t rnd[16];
  if (!random_bytes(rnd, sizeof rnd)) return false;
  name = bytes_to_hex(std::string_view(reinterpret_cast<const char*>(rnd), sizeof rnd)) + ".bin";
  const std::string file = path_ + "/blobs/" + name;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    name.clear();
    return false;
  }
  // In pieces of at most write_chunk_bytes: one write() of a whole large value makes the kernel
  // (ext4 with large folios) ask for high-order page-cache folios, and on a machine whose memory
  // is fragmented that allocation (compaction) cost 4.6 ms per MiB where 128 KiB pieces cost 1.5
  // (a C loop writing new 1 MiB files, medians of 15 rounds; docs/benchmarks.md, Disk).
  bool ok = true;
  for (const std::string_view data : parts) {
    std::size_t done = 0;
    while (done < data.size()) {
      const std::size_t piece = std::min(data.size() - done, write_chunk_bytes);
      const ssize_t n = ::write(fd, data.data() + done, piece);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    if (done != data.size()) {
      ok = false;
      break;
    }
  }
  ::close(fd);
  if (!ok) {
    ::unlink(file.c_str());
    name.clear();
    return false;
  }
  return true;
}

bool disk_store::read_blob(std::string_view name, std::string& out) const {
  if (!valid_blob_name(name)) return false;
  const std::string file = path_ + "/blobs/" + std::string(name);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ok = done == out.size();
  }
  ::close(fd);
  return ok;
}

void disk_store::unlink_blob(std::string_view name) const {
  if (valid_blob_name(name)) ::unlink((path_ + "/blobs/" + std::string(name)).c_str());
}

status disk_store::take_doomed_locked(std::vector<std::string>& out) {
  {
    sqlite3_stmt* s = st_->doomed.get();
    reset_guard rg{s};
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      if (t != nullptr) out.emplace_back(t);
    }
    if (rc != SQLITE_DONE) return sqlite_error("SELECT doomed");
  }
  if (out.empty()) return {};
  sqlite3_stmt* d = st_->undoom.get();
  reset_guard rg{d};
  return sqlite3_step(d) == SQLITE_DONE ? status{} : sqlite_error("DELETE doomed");
}

// Files in blobs/ that no row names and that are older than an hour: left by a process killed
// between writing a value's file and committing its row, or between a commit and its unlinks.
void disk_store::sweep_orphans_locked() {
  const std::string dir = path_ + "/blobs";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> candidates;
  const auto cutoff = std::chrono::system_clock::now() - std::chrono::hours(1);
  const std::time_t cutoff_s = std::chrono::system_clock::to_time_t(cutoff);
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (!valid_blob_name(name)) continue;
    struct stat st {};
    if (::stat((dir + "/" + std::string(name)).c_str(), &st) == 0 && st.st_mtime < cutoff_s) {
      candidates.emplace_back(name);
    }
  }
  ::closedir(d);
  if (candidates.empty()) return;
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT 1 FROM entries WHERE file = ?1", -1, &q, nullptr) !=
      SQLITE_OK) {
    return;
  }
  for (const std::string& name : candidates) {
    sqlite3_bind_text(q, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    const bool referenced = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_reset(q);
    if (!referenced) unlink_blob(name);
  }
  sqlite3_finalize(q);
}

status disk_store::keys(std::vector<std::string>& out, bool expired) {
  flush().ok();  // queued writes first (their errors stay counted in write_errors)
  out.clear();
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) {
    const time_ns t = now();
    l1_->for_each([&](std::string_view k, const l1_ptr& v) {
      if (!expired || (v->expiry != 0 && t >= v->expiry)) out.emplace_back(k);
    });
    return {};
  }
  status st;
  {
    // The expired rows: rare (DiskCache.expire() with a callback), prepared on each call.
    stmt_ptr once;
    if (expired) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v2(db_,
                             "SELECT key FROM entries WHERE expiry != 0 AND expiry <= ?1 "
                             "ORDER BY expiry, id",
                             -1, &raw, nullptr) != SQLITE_OK) {
        return recover_locked(sqlite_error("SELECT expired keys"));
      }
      once.reset(raw);
    }
    sqlite3_stmt* s = expired ? once.get() : st_->keys.get();
    reset_guard rg{s};
    sqlite3_bind_int64(s, 1, now());
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.emplace_back(column_blob(s, 0));
    if (rc != SQLITE_DONE) {
      st = sqlite_error("SELECT keys");
      out.clear();
    }
  }
  return recover_locked(st);
}

status disk_store::count(std::uint64_t& out) {
  flush().ok();  // queued writes first (their errors stay counted in write_errors)
  out = 0;
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) {
    out = l1_->size();
    return {};
  }
  status st;
  {
    sqlite3_stmt* s = st_->count.get();
    reset_guard rg{s};
    sqlite3_bind_int64(s, 1, now());
    if (sqlite3_step(s) != SQLITE_ROW) {
      st = sqlite_error("SELECT count");
    } else {
      out = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    }
  }
  return recover_locked(st);
}

status disk_store::stats(disk_stats& out) {
  flush().ok();  // queued writes first (their errors stay counted in write_errors)
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  out = counts_;
  {
    std::lock_guard q(queue_mu_);
    out.write_errors = write_errors_;
  }
  if (db_ == nullptr) {
    out.items = l1_->size();
    out.bytes = l1_->bytes();
    return {};
  }
  status st;
  {
    sqlite3_stmt* m = st_->meta.get();
    reset_guard rg{m};
    if (sqlite3_step(m) != SQLITE_ROW) {
      st = sqlite_error("reading meta");
    } else {
      out.items = static_cast<std::uint64_t>(sqlite3_column_int64(m, 1));
      out.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(m, 2));
    }
  }
  return recover_locked(st);  // a damaged database: moved aside, a fresh one is empty
}

status disk_store::info(directory_info& out) {
  flush().ok();  // queued writes first (their errors stay counted in write_errors)
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  out = {};
  out.path = path_;
  if (db_ == nullptr) return {};
  status st;
  {
    sqlite3_stmt* m = st_->meta.get();
    reset_guard rg{m};
    if (sqlite3_step(m) != SQLITE_ROW) st = sqlite_error("reading meta");
    std::uint64_t* fields[] = {&out.items,  &out.bytes,   &out.hits,    &out.misses, &out.sets,
                               &out.evicted, &out.expired, &out.corrupt, &out.deleted};
    for (int i = 0; i < 9 && st.ok(); ++i) {
      *fields[i] = static_cast<std::uint64_t>(sqlite3_column_int64(m, i + 1));
    }
  }
  if (!st.ok()) return recover_locked(st);  // a damaged database: moved aside
  for (const char* suffix : {"/cache.db", "/cache.db-wal", "/cache.db-shm"}) {
    struct stat st {};
    if (::stat((path_ + suffix).c_str(), &st) == 0) out.file_bytes += st.st_size;
  }
  return {};
}

void disk_store::note_hits(std::uint64_t n) {
  std::lock_guard g(mu_);
  counts_.hits += n;
  counts_.l1_hits += n;
  if (db_ != nullptr) pending_.hits += n;
}

void disk_store::reset_stats() {
  std::lock_guard g(mu_);
  counts_ = {};
}

}  // namespace twincache::disk
