// disk_store_side.cpp: large values in signed side files under <dir>/blobs/ (disk_store.hpp):
// writing, reading and deleting them, taking the names of files whose rows are gone (doomed),
// and sweeping orphaned files. The helper thread that writes them is side_worker
// (disk_store_internal.hpp).
#include "disk_store_internal.hpp"

namespace twincache::disk {

// ---- side files for large values (blobs/) ------------------------------------------------------

// Names are 32 lowercase hex digits + ".bin": anything else in a row is never opened.
bool valid_blob_name(std::string_view name) {
  if (name.size() != 36 || name.substr(32) != ".bin") return false;
  for (char c : name.substr(0, 32)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

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

}  // namespace twincache::disk
