// disk_store_open.cpp: opening a disk_store (disk_store.hpp): option checks, the directory's
// SQLite database (pragmas, the schema from schema.sql, the prepared statements), a damaged
// database moved aside and replaced, the full-disk reserve file, the generation file shared by
// the processes' memory tiers, and reopening in a forked child.
#include "disk_store_internal.hpp"

namespace twincache::disk {

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
  // database file's permissions. An existing file is never opened here, only looked at:
  // closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
  // too, so another store of this process on the same directory would lose its locks, and a
  // connection of another process, closing, would think itself the last one and delete the
  // -wal and -shm files under it (SQLite's "How To Corrupt", 2.2).
  struct stat fst {};
  if (::lstat(file.c_str(), &fst) != 0) {
    if (errno != ENOENT) {
      return {status_code::io_error, "cannot open " + file + ": " + std::strerror(errno)};
    }
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST) {
      return {status_code::io_error, "cannot create " + file + ": " + std::strerror(errno)};
    }
    if (fd >= 0) ::close(fd);  // a new file: no connection holds a lock on it yet
    if (::lstat(file.c_str(), &fst) != 0) {
      return {status_code::io_error, "cannot open " + file + ": " + std::strerror(errno)};
    }
  }
  if (!S_ISREG(fst.st_mode)) {  // a symbolic link or anything else: refused, as O_NOFOLLOW did
    return {status_code::io_error, "cannot open " + file + ": not a regular file"};
  }
  db_ino_ = static_cast<std::uint64_t>(fst.st_ino);
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

}  // namespace twincache::disk
