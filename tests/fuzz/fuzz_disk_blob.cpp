// fuzz_disk_blob: libFuzzer target for reading a large value's side file (<dir>/blobs/*.bin)
// with arbitrary bytes in it. The first input byte picks the entry (a plain value or a zstd one,
// both stored in blobs/); each run stores it afresh, overwrites its file with the rest of the
// input and reads it through a cold memory tier. What must hold: no crash, no sanitizer report;
// get() returns ok; a hit is exactly the value stored (only the original bytes pass the HMAC);
// a miss is counted as corrupt (the entry is dropped), never returned as data.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"

using namespace twincache;
using namespace twincache::fuzz;

namespace {
std::string g_dir;
std::unique_ptr<disk::disk_store> g_store;
std::unique_ptr<side_db> g_side;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_dir = make_fuzz_dir("fuzz-blob");
  if (!disk::disk_store::open(fuzz_options(g_dir), g_store).ok()) fuzz_fail("open");
  g_side = std::make_unique<side_db>(g_dir);
  std::atexit([] {
    g_side.reset();
    g_store.reset();
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::size_t n = 0;
  const seed_entry* seeds = seed_entries(n);
  const seed_entry& e = seeds[size > 0 && (data[0] & 1) ? 4 : 3];  // "zfile" or "file"
  const std::string_view bytes(reinterpret_cast<const char*>(data) + (size > 0 ? 1 : 0),
                               size > 0 ? size - 1 : 0);
  if (!g_store->set(e.key, e.codec, e.value).ok()) fuzz_fail("set");
  const std::string file = g_side->file_of(e.key);
  if (file.empty()) fuzz_fail("the seed value is not in a side file", e.key);
  if (!write_file(g_dir + "/blobs/" + file, bytes)) fuzz_fail("cannot overwrite the blob");
  g_store->drop_l1();
  disk::disk_stats before, after;
  (void)g_store->stats(before);
  bool found = false;
  std::uint32_t codec = 0;
  std::string value;
  const status st = g_store->get(e.key, found, codec, value);
  if (!st.ok()) fuzz_fail("get failed", st.message());
  (void)g_store->stats(after);
  if (found) {
    if (value != e.value || codec != e.codec) fuzz_fail("a tampered blob was returned");
  } else if (after.corrupt != before.corrupt + 1) {
    fuzz_fail("a tampered blob's miss is not counted as corrupt");
  }
  return 0;
}
