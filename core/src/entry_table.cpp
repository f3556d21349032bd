// entry_table.cpp: the cold checks behind entry_table.hpp (entry sizes, TTLs, table options).
// Messages follow options.hpp's form "<name> must be <range> (got <value>)".
#include "twincache/entry_table.hpp"

#include <string>

namespace twincache {

status check_entry_size(const limits& l, std::uint64_t key_bytes, std::uint64_t value_weight,
                        std::uint64_t& weight) {
  if (value_weight > l.max_value_bytes) {
    return {status_code::value_too_large,
            "value size must be at most max_value_bytes = " + std::to_string(l.max_value_bytes) +
                " bytes (got " + std::to_string(value_weight) + " bytes)"};
  }
  // Saturating sum: a key or value near 2^64 must not wrap around to a small weight.
  std::uint64_t w = key_bytes;
  const bool wrapped = __builtin_add_overflow(w, value_weight, &w) ||
                       __builtin_add_overflow(w, entry_overhead_bytes, &w);
  const std::uint64_t cap = std::min(l.max_bytes, max_entry_weight);
  if (wrapped || w > cap) {
    const std::string got = wrapped ? std::string("more than 2^64") : std::to_string(w);
    const std::string limit = l.max_bytes <= max_entry_weight
                                  ? "max_bytes = " + std::to_string(l.max_bytes) + " bytes"
                                  : std::to_string(max_entry_weight) + " bytes";
    return {status_code::value_too_large,
            "entry size (key " + std::to_string(key_bytes) + " + value " +
                std::to_string(value_weight) + " + overhead " +
                std::to_string(entry_overhead_bytes) + " bytes) must be at most " + limit +
                " (got " + got + " bytes)"};
  }
  weight = w;
  return {};
}

status check_ttl_ns(std::string_view name, time_ns ttl) {
  if (ttl > 0) return {};
  std::string msg(name);
  msg.append(" must be > 0 nanoseconds (got ").append(std::to_string(ttl)).append(")");
  return {status_code::out_of_range, std::move(msg)};
}

status validate_table_options(const limits& l, std::optional<time_ns> default_ttl) {
  if (status st = validate(l); !st.ok()) return st;
  if (default_ttl) return check_ttl_ns("default_ttl", *default_ttl);
  return {};
}

}  // namespace twincache
