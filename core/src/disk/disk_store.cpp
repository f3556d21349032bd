// disk_store.cpp: the SQLite-backed persistent tier (disk_store.hpp; layout in
// docs/persistence.md). This is the class's main file: construction, fork handling, the memory
// tier, reads (get), transactions and counters, and the listing and statistics calls. The rest is
// split by concern: disk_store_open.cpp (opening, schema, damage and the generation file),
// disk_store_write.cpp (preparing and committing writes, the write queue),
// disk_store_removals.cpp (deletes, eviction, expiry and the removal reports) and
// disk_store_side.cpp (large values' side files); disk_store_internal.hpp is what they share.
#include "disk_store_internal.hpp"

namespace twincache::disk {

namespace {

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

time_ns wall_now(const ::twincache::clock* c) noexcept {
  if (c != nullptr && c->is_manual()) return c->now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
