// zstd_frame.cpp: one-shot zstd frames (disk/zstd_frame.hpp), over the libzstd the disk tier
// links.
#include "twincache/disk/zstd_frame.hpp"

#include <zstd.h>

namespace twincache::disk {

bool plausible_zstd_size(unsigned long long declared, std::size_t stored) {
  return declared != ZSTD_CONTENTSIZE_ERROR && declared != ZSTD_CONTENTSIZE_UNKNOWN &&
         declared <= (1ull << 32) && declared <= (stored / 4 + 1) * (128ull << 10);
}

std::optional<std::string> zstd_compress(std::string_view data, int level) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) return std::nullopt;
  out.resize(n);
  return out;
}

std::optional<std::string> zstd_decompress(std::string_view frame, std::uint64_t max_size) {
  const unsigned long long n = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (!plausible_zstd_size(n, frame.size()) || n > max_size) return std::nullopt;
  std::string out(static_cast<std::size_t>(n), '\0');
  const std::size_t r = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(r) || r != n) return std::nullopt;
  return out;
}

}  // namespace twincache::disk
