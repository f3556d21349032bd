// sqlite_util.hpp: small SQLite helpers shared by the disk store's translation units
// (disk_store*.cpp, tags.cpp). Internal: not installed.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "twincache/hash.hpp"

namespace twincache::disk {

// Resets a statement when it goes out of scope (so no read transaction stays open).
struct reset_guard {
  sqlite3_stmt* s;
  ~reset_guard() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

inline std::array<std::uint8_t, 16> key_hash_of(std::string_view key) {
  const hash128 h = hash128_of(key);
  std::array<std::uint8_t, 16> out{};
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<std::uint8_t>(h.high >> (56 - 8 * i));
    out[8 + i] = static_cast<std::uint8_t>(h.low >> (56 - 8 * i));
  }
  return out;
}

inline void bind_blob(sqlite3_stmt* s, int i, const void* p, std::size_t n) {
  // A zero-length blob must still be a blob (not NULL): give SQLite a valid pointer.
  static const char empty = 0;
  sqlite3_bind_blob64(s, i, n == 0 ? &empty : p, n, SQLITE_STATIC);
}

inline std::string_view column_blob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  const int n = sqlite3_column_bytes(s, i);
  return {static_cast<const char*>(p), static_cast<std::size_t>(n)};
}

}  // namespace twincache::disk
