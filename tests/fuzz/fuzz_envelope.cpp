// fuzz_envelope: libFuzzer target for the value envelope the disk store reads back: the codec
// word (serializer tag | zstd bit), the stored bytes (zstd frame or plain) and where they live
// (the row or a blobs/ file). The harness signs what the input says with the directory's secret
// (as a buggy or hostile holder of the secret could), writes it into the row with a second
// SQLite connection and reads it through a cold memory tier, so the input reaches the zstd
// decoding and the codec checks behind the HMAC. What must hold: no crash, no sanitizer report,
// no allocation beyond what the frame's checked size allows; get() returns ok; a codec word
// outside [0, 0x1FF] is a counted corrupt miss; a plain value comes back byte for byte with its
// tag; a zstd value is a hit only if it decodes to exactly its declared size, else a corrupt miss.
#include <fuzzer/FuzzedDataProvider.h>
#include <zstd.h>

#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "twincache/disk/hmac.hpp"

using namespace twincache;
using namespace twincache::fuzz;

namespace {
std::string g_dir;
std::unique_ptr<disk::disk_store> g_store;
std::unique_ptr<side_db> g_side;
constexpr std::string_view key = "envelope";

// docs/persistence.md: HMAC-SHA256 over "twincache/1", codec (u32 LE), key length (u64 LE), key,
// stored bytes.
std::string sign(std::uint32_t codec, std::string_view stored) {
  char head[11 + 4 + 8];
  std::memcpy(head, "twincache/1", 11);
  for (int i = 0; i < 4; ++i) head[11 + i] = static_cast<char>(codec >> (8 * i));
  const std::uint64_t n = key.size();
  for (int i = 0; i < 8; ++i) head[15 + i] = static_cast<char>(n >> (8 * i));
  const disk::digest256 d =
      disk::hmac_sha256(fixed_secret, {std::string_view(head, sizeof head), key, stored});
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_dir = make_fuzz_dir("fuzz-envelope");
  if (!disk::disk_store::open(fuzz_options(g_dir), g_store).ok()) fuzz_fail("open");
  g_side = std::make_unique<side_db>(g_dir);
  std::atexit([] {
    g_side.reset();
    g_store.reset();
  });
  return 0;
}

// Input: flags byte (bit 0: store in a blob file; bit 1: any 64-bit codec word), codec, stored.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider p(data, size);
  const std::uint8_t flags = p.ConsumeIntegral<std::uint8_t>();
  const std::int64_t codec = (flags & 2) != 0 ? p.ConsumeIntegral<std::int64_t>()
                                              : p.ConsumeIntegral<std::uint16_t>() & 0x1FF;
  const std::string stored = p.ConsumeRemainingBytesAsString();
  if (!g_store->set(key, disk::codec_raw, "placeholder").ok()) fuzz_fail("set");
  const std::string mac = sign(static_cast<std::uint32_t>(codec), stored);
  std::string file;
  if ((flags & 1) != 0) {
    file = "0123456789abcdef0123456789abcdef.bin";
    if (!write_file(g_dir + "/blobs/" + file, stored)) fuzz_fail("cannot write the blob");
    g_side->rewrite(key, codec, {}, mac, file);
  } else {
    g_side->rewrite(key, codec, stored, mac, file);
  }
  g_store->drop_l1();
  disk::disk_stats before, after;
  (void)g_store->stats(before);
  bool found = false;
  std::uint32_t out_codec = 0;
  std::string value;
  const status st = g_store->get(key, found, out_codec, value);
  if (!st.ok()) fuzz_fail("get failed", st.message());
  (void)g_store->stats(after);
  const bool in_range = codec >= 0 && codec <= 0x1FF;
  if (found) {
    if (!in_range) fuzz_fail("a codec word out of range was accepted");
    if (out_codec != (static_cast<std::uint32_t>(codec) & disk::codec_max)) {
      fuzz_fail("the codec tag changed");
    }
    if ((codec & disk::codec_zstd) == 0) {
      if (value != stored) fuzz_fail("a plain value changed");
    } else if (ZSTD_getFrameContentSize(stored.data(), stored.size()) != value.size()) {
      fuzz_fail("a zstd value is not its declared size");
    }
  } else {
    if (in_range && (codec & disk::codec_zstd) == 0) fuzz_fail("a signed plain value missed");
    if (after.corrupt != before.corrupt + 1) fuzz_fail("a refused envelope is not counted corrupt");
  }
  return 0;
}
