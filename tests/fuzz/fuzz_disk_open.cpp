// fuzz_disk_open: libFuzzer target for the disk store opening an arbitrary cache.db. Each input
// is written as <dir>/cache.db (no -wal, no -shm, an empty blobs/), then the store opens it
// (open_or_memory, as every binding does), lists keys, reads them and the seed keys, writes,
// erases, prunes and clears, and closes. What must hold (issue 14, docs/persistence.md "Damaged
// databases"): no crash and no sanitizer report; opening never fails (a damaged or foreign file
// is moved aside with a warning, or the store goes memory-only); every call returns a status
// without hanging; a hit is exactly what fuzz_seeds signed for that key (the HMAC forbids
// anything else); a value just set is read back.
#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

using namespace twincache;
using namespace twincache::fuzz;

namespace {

std::string g_dir;

void clean_dir() {
  // Everything but the secret: cache.db and its -wal/-shm, moved-aside copies, blobs/*.
  if (DIR* d = ::opendir(g_dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == ".." || name == "secret" || name == "blobs") continue;
      ::unlink((g_dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
  const std::string blobs = g_dir + "/blobs";
  if (DIR* d = ::opendir(blobs.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ::unlink((blobs + "/" + e->d_name).c_str());
    }
    ::closedir(d);
  }
}

void check_hit(std::string_view key, std::uint32_t codec, const std::string& value) {
  std::size_t n = 0;
  const seed_entry* seeds = seed_entries(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (key != seeds[i].key) continue;
    if (value != seeds[i].value || codec != seeds[i].codec) fuzz_fail("a hit differs from the signed value", std::string(key));
    return;
  }
  // The expiry is not signed (docs/persistence.md, Integrity: key, codec and value are), so a
  // damaged expiry may bring the seed's expired entry back: still the value signed for it.
  if (key == "expiring") {
    if (value != "soon" || codec != disk::codec_raw) fuzz_fail("the expired entry reads wrong");
    return;
  }
  if (key == "fuzz-new") {
    if (value != "written by the fuzz target") fuzz_fail("the key just set reads back wrong");
    return;
  }
  fuzz_fail("a hit on a key nobody signed", std::string(key));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_dir = make_fuzz_dir("fuzz-open");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  clean_dir();
  if (!write_file(g_dir + "/cache.db", {reinterpret_cast<const char*>(data), size})) {
    fuzz_fail("cannot write cache.db");
  }
  std::unique_ptr<disk::disk_store> s;
  std::string warning;
  const status st = disk::disk_store::open_or_memory(fuzz_options(g_dir), s, warning);
  if (!st.ok() || !s) fuzz_fail("open_or_memory failed", st.message());

  std::vector<std::string> keys;
  (void)s->keys(keys);
  std::size_t n = 0;
  const seed_entry* seeds = seed_entries(n);
  for (std::size_t i = 0; i < n; ++i) keys.emplace_back(seeds[i].key);
  if (keys.size() > 16) keys.resize(16);
  for (const std::string& k : keys) {
    bool found = false;
    std::uint32_t codec = 0;
    std::string value;
    time_ns expiry = 0;
    if (s->get(k, found, codec, value, &expiry).ok() && found) check_hit(k, codec, value);
    bool live = false;
    (void)s->contains(k, live);
  }
  // The cache keeps working: a write is read back (from the memory tier at least).
  const status set_st = s->set("fuzz-new", disk::codec_raw, "written by the fuzz target");
  bool found = false;
  std::uint32_t codec = 0;
  std::string value;
  if (s->get("fuzz-new", found, codec, value).ok() && found) check_hit("fuzz-new", codec, value);
  if (set_st.ok() && !found) fuzz_fail("a value set without error is not read back");

  bool existed = false;
  (void)s->erase(keys.empty() ? std::string("small") : keys[0], existed);
  std::uint64_t count = 0, removed = 0;
  (void)s->count(count);
  disk::disk_stats ds;
  (void)s->stats(ds);
  disk::directory_info info;
  (void)s->info(info);
  (void)s->prune(removed);
  (void)s->flush();
  (void)s->clear(removed);
  if (s->has_warning()) (void)s->take_warning();
  s.reset();
  return 0;
}
