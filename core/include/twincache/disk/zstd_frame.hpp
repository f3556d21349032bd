// disk/zstd_frame.hpp: one-shot zstd frames, as the disk tier stores compressed values and the
// Redis tier's envelopes carry them (docs/redis.md, "Compression"): a single frame that records
// its content size (ZSTD_compress), and decoding that refuses a frame whose declared size is
// implausible before allocating it. Part of twincache_disk (it links libzstd); the Node disk
// addon exposes these to JavaScript for the Redis tier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace twincache::disk {

// Whether a zstd frame of `stored` bytes that declares `declared` bytes of content can be
// decoded: at most 4 GiB, and no more than the frame can hold (every block has a 3-byte header
// and at least one byte, and yields at most 128 KiB). A signed but bogus frame (found by
// fuzz_envelope: 35 bytes declaring 2.7 GB) is refused before its declared size is allocated.
bool plausible_zstd_size(unsigned long long declared, std::size_t stored);

// The frame of `data` at `level`, or nullopt when zstd fails.
std::optional<std::string> zstd_compress(std::string_view data, int level);

// The content of a single frame of at most `max_size` bytes, or nullopt (not a frame, a size
// not recorded, implausible or above max_size, or the content does not match its size).
std::optional<std::string> zstd_decompress(std::string_view frame, std::uint64_t max_size);

}  // namespace twincache::disk
