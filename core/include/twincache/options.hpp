// options.hpp: the limits a cache is built with, and the one place their values are checked.
// Bindings do type checks (is it a number?) and then call these, passing the parameter's public
// name (`maxsize`, `max_bytes`, `maxBytes`, `ttl`), so both languages report the same rule in the
// same words: "<name> must be <range> (got <value>)".
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

#include "twincache/clock.hpp"
#include "twincache/status.hpp"

namespace twincache {

// "No limit" for any budget.
inline constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

// The fixed, documented cost of one entry that max_bytes charges on top of its key bytes and its
// value weight: index slot, hash, expiry, weight, policy links. The core benchmark measures the
// real figure and docs/architecture.md records both.
inline constexpr std::uint64_t entry_overhead_bytes = 64;

struct limits {
  std::uint64_t max_items = unlimited;        // entries; >= 1
  std::uint64_t max_bytes = unlimited;        // sum of entry weights; >= 1
  std::uint64_t max_value_bytes = unlimited;  // one value's weight; >= 1
};

// A count or byte budget from an integer (Python ints, C++). Range [1, 2^63-1].
status parse_limit(std::string_view name, std::int64_t value, std::uint64_t& out);
// A count or byte budget from a double (JS numbers). Integral, in [1, 2^53-1]; +Infinity means
// unlimited.
status parse_limit(std::string_view name, double value, std::uint64_t& out);

// A TTL in `unit_ns` nanoseconds per unit (1e9 for seconds, 1e6 for milliseconds), named `unit`
// in messages. Must be finite and > 0; 0, negatives, NaN and infinities are errors. Values so
// large that they overflow the nanosecond clock (~292 years) are errors too.
status parse_ttl(std::string_view name, double value, double unit_ns, std::string_view unit,
                 time_ns& out);

// Checks a whole set of limits at once (e.g. max_value_bytes <= max_bytes is allowed to be
// stated, never required). Returns the first problem.
status validate(const limits& l);

}  // namespace twincache
