// tags.cpp: tags and metadata of disk entries (docs/persistence.md, "Tags, metadata and
// queries"): disk_store::tag, write_tags_locked (also a tagged set()'s), query and evict_tag
// over the tables of tags.sql, which triggers on `entries` keep exact. Python's twin is
// python/twincache/_disk_tags.py (same SQL file).
#include <sqlite3.h>

#include <string>
#include <vector>

#include "disk/schema_sql.hpp"
#include "sqlite_util.hpp"
#include "twincache/disk_store.hpp"

namespace twincache::disk {

namespace {

// A statement prepared for one call (these calls are rare: no cache of prepared statements).
struct stmt {
  sqlite3_stmt* s = nullptr;
  stmt(sqlite3* db, const std::string& sql) {
    sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
  }
  ~stmt() { sqlite3_finalize(s); }
  stmt(const stmt&) = delete;
  stmt& operator=(const stmt&) = delete;
};

void bind_text(sqlite3_stmt* s, int i, std::string_view t) {
  sqlite3_bind_text64(s, i, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

}  // namespace

status disk_store::ensure_tags_locked() {
  if (tags_ready_) return {};
  if (status st = exec(tags_sql); !st.ok()) return st;
  tags_ready_ = true;
  return {};
}

status disk_store::tag(std::string_view key, const std::vector<std::string>& tags,
                       std::string_view meta) {
  flush().ok();  // the entry's row first (its triggers reset its info and tags)
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) return {};
  if (status st = ensure_tags_locked(); !st.ok()) return st;
  if (status st = begin_write(); !st.ok()) return st;
  status st = write_tags_locked(key, tags, meta);
  if (st.ok()) st = commit();
  if (!st.ok()) rollback();
  return st;
}

status disk_store::write_tags_locked(std::string_view key, const std::vector<std::string>& tags,
                                     std::string_view meta) {
  const auto kh = key_hash_of(key);
  status st;
  {
    // An entry written before the tables existed has no info row yet: its write time is its
    // access time then (the best known).
    stmt i(db_,
           "INSERT OR IGNORE INTO entry_info(key_hash, created, meta) "
           "SELECT key_hash, atime, NULL FROM entries WHERE key_hash = ?1");
    bind_blob(i.s, 1, kh.data(), kh.size());
    if (sqlite3_step(i.s) != SQLITE_DONE) st = sqlite_error("INSERT entry_info");
  }
  if (st.ok() && !meta.empty()) {
    stmt u(db_, "UPDATE entry_info SET meta = ?2 WHERE key_hash = ?1");
    bind_blob(u.s, 1, kh.data(), kh.size());
    bind_text(u.s, 2, meta);
    if (sqlite3_step(u.s) != SQLITE_DONE) st = sqlite_error("UPDATE entry_info");
  }
  {
    stmt ins(db_,
             "INSERT OR IGNORE INTO entry_tags(tag, key_hash) "
             "SELECT ?2, key_hash FROM entries WHERE key_hash = ?1");
    for (const std::string& t : tags) {
      if (!st.ok()) break;
      sqlite3_reset(ins.s);
      bind_blob(ins.s, 1, kh.data(), kh.size());
      bind_text(ins.s, 2, t);
      if (sqlite3_step(ins.s) != SQLITE_DONE) st = sqlite_error("INSERT entry_tags");
    }
  }
  return st;
}

status disk_store::query(std::string_view tag,
                         const std::vector<std::pair<std::string, std::string>>& where,
                         std::vector<entry_listing>& out) {
  flush().ok();
  out.clear();
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) return {};
  if (status st = ensure_tags_locked(); !st.ok()) return st;
  std::string sql =
      "SELECT e.key, e.size, i.created, e.expiry, i.meta, "
      "(SELECT group_concat(t.tag, char(31)) FROM entry_tags t WHERE t.key_hash = e.key_hash) "
      "FROM entries e LEFT JOIN entry_info i ON i.key_hash = e.key_hash "
      "WHERE (e.expiry = 0 OR e.expiry > ?1)";
  if (!tag.empty()) sql += " AND e.key_hash IN (SELECT key_hash FROM entry_tags WHERE tag = ?2)";
  for (std::size_t i = 0; i < where.size(); ++i) {
    const std::string a = std::to_string(3 + 2 * i), b = std::to_string(4 + 2 * i);
    sql += " AND json_extract(i.meta, ?" + a + ") IS json_extract(?" + b + ", '$')";
  }
  sql += " ORDER BY e.atime";
  stmt q(db_, sql);
  if (q.s == nullptr) return sqlite_error("SELECT entries (query)");
  sqlite3_bind_int64(q.s, 1, now());
  if (!tag.empty()) bind_text(q.s, 2, tag);
  for (std::size_t i = 0; i < where.size(); ++i) {
    bind_text(q.s, static_cast<int>(3 + 2 * i), where[i].first);
    bind_text(q.s, static_cast<int>(4 + 2 * i), where[i].second);
  }
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
    entry_listing e;
    e.key.assign(column_blob(q.s, 0));
    e.size = static_cast<std::uint64_t>(sqlite3_column_int64(q.s, 1));
    e.created = sqlite3_column_int64(q.s, 2);
    e.expiry = sqlite3_column_int64(q.s, 3);
    e.meta.assign(column_blob(q.s, 4));
    const std::string_view tags = column_blob(q.s, 5);
    for (std::size_t pos = 0; pos < tags.size();) {
      std::size_t end = tags.find('\x1f', pos);
      if (end == std::string_view::npos) end = tags.size();
      e.tags.emplace_back(tags.substr(pos, end - pos));
      pos = end + 1;
    }
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) {
    out.clear();
    return sqlite_error("SELECT entries (query)");
  }
  return {};
}

status disk_store::evict_tag(std::string_view tag, std::uint64_t& removed) {
  flush().ok();
  removed = 0;
  std::lock_guard g(mu_);
  if (status st = ensure_process(); !st.ok()) return st;
  if (db_ == nullptr) return {};
  if (status st = ensure_tags_locked(); !st.ok()) return st;
  if (status st = begin_write(); !st.ok()) return st;
  status st;
  {
    stmt d(db_,
           "DELETE FROM entries WHERE key_hash IN "
           "(SELECT key_hash FROM entry_tags WHERE tag = ?1)");
    bind_text(d.s, 1, tag);
    if (sqlite3_step(d.s) != SQLITE_DONE) {
      st = sqlite_error("DELETE (evict tag)");
    } else {
      removed = static_cast<std::uint64_t>(sqlite3_changes(db_));
    }
  }
  pending_.deleted += removed;
  std::vector<std::string> doomed;
  if (st.ok()) st = flush_counters_locked();
  if (st.ok()) st = take_doomed_locked(doomed);
  if (st.ok()) st = commit();
  if (!st.ok()) {
    pending_.deleted -= removed;
    removed = 0;
    rollback();
    return st;
  }
  for (const std::string& f : doomed) unlink_blob(f);
  pending_ = {};
  counts_.deleted += removed;
  if (l1_) l1_->clear();
  if (removed != 0) bump_generation(nullptr);
  return {};
}

}  // namespace twincache::disk
