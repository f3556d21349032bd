// fuzz_seeds: writes the seed corpora of the libFuzzer targets, made by the store itself, so no
// binary seeds live in the repository. Usage: fuzz_seeds <out>; creates <out>/<target>/seed-*.
// scripts/test-fuzz runs it before each fuzzing run.
#include <zstd.h>

#include <filesystem>
#include <string>

#include "fuzz_common.hpp"

using namespace twincache;
using namespace twincache::fuzz;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& dir, const std::string& name, std::string_view bytes) {
  fs::create_directories(dir);
  if (!write_file((dir / name).string(), bytes)) fuzz_fail("cannot write a seed", name);
}

std::string zstd(std::string_view plain) {
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), plain.data(), plain.size(), 1));
  return out;
}

// A literal with its embedded NULs.
template <std::size_t N>
std::string lit(const char (&s)[N]) {
  return {s, N - 1};
}

std::string u16(std::uint16_t v) { return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)}; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds <out>\n");
    return 2;
  }
  const fs::path out = argv[1];
  const std::string dir = make_fuzz_dir("fuzz-seeds");
  std::size_t n = 0;
  const seed_entry* seeds = seed_entries(n);
  {
    std::unique_ptr<disk::disk_store> s;
    if (!disk::disk_store::open(fuzz_options(dir), s).ok()) fuzz_fail("open");
    for (std::size_t i = 0; i < n; ++i) {
      if (!s->set(seeds[i].key, seeds[i].codec, seeds[i].value).ok()) fuzz_fail("set");
    }
    // One entry that expires (a wall time in the past once read).
    if (!s->set("expiring", disk::codec_raw, "soon", 1).ok()) fuzz_fail("set");
    side_db side(dir);
    const std::string blob = side.file_of("file"), zblob = side.file_of("zfile");
    if (blob.empty() || zblob.empty()) fuzz_fail("seed values not in blobs/");
    const std::string plain = read_file(dir + "/blobs/" + blob);
    const std::string packed = read_file(dir + "/blobs/" + zblob);
    put(out / "fuzz_disk_blob", "seed-plain", std::string(1, '\0') + plain);
    put(out / "fuzz_disk_blob", "seed-zstd", std::string(1, '\1') + packed);
    put(out / "fuzz_disk_blob", "seed-zstd-half", std::string(1, '\1') + packed.substr(0, packed.size() / 2));
  }  // closing the last connection checkpoints the WAL into cache.db
  const std::string db = read_file(dir + "/cache.db");
  if (db.size() < 100 || db.compare(0, 15, "SQLite format 3") != 0) fuzz_fail("no database");
  put(out / "fuzz_disk_open", "seed-valid.db", db);
  put(out / "fuzz_disk_open", "seed-half.db", std::string_view(db).substr(0, db.size() / 2));
  put(out / "fuzz_disk_open", "seed-header.db", std::string_view(db).substr(0, 100));

  // Envelopes: flags, codec (u16 LE), stored bytes.
  const std::string text = repeated("envelope text ", 300);
  put(out / "fuzz_envelope", "seed-plain", std::string("\x00", 1) + u16(disk::codec_json) + "[1,2]");
  put(out / "fuzz_envelope", "seed-zstd",
      std::string("\x00", 1) + u16(disk::codec_zstd | disk::codec_pickle) + zstd(text));
  put(out / "fuzz_envelope", "seed-zstd-file",
      std::string("\x01", 1) + u16(disk::codec_zstd | disk::codec_v8) + zstd(text));
  put(out / "fuzz_envelope", "seed-file", std::string("\x01", 1) + u16(disk::codec_raw) + text);

  // Key-builder programs (any bytes are a program; these reach containers and strings early).
  put(out / "fuzz_key_builder", "seed-list", lit("\x0a\x03\x07\x05hello\x03\x01\x02\x0b\x02"));
  put(out / "fuzz_key_builder", "seed-map", lit("\x0b\x04\x07\x01a\x03\x05\x07\x01b\x08\x02xy"));
  put(out / "fuzz_key_builder", "seed-buffer", lit("\x09\x01\x00\x02\x02\x03\x10" "abcdefghijklmnop"));
  return 0;
}
