// disk_store_removals.cpp: what takes rows out of a disk_store (disk_store.hpp): expiry
// cleanup, eviction over max_bytes, the removal reports (report_removals, take_removals), erase,
// contains, clear (in small batches on a full disk) and prune.
#include "disk_store_internal.hpp"

namespace twincache::disk {

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

}  // namespace twincache::disk
