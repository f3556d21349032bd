// options.cpp: the checks behind options.hpp and policy.hpp's parse_policy. Every message has the
// form "<name> must be <range> (got <value>)" so bindings can pass it through unchanged.
#include "twincache/options.hpp"

#include <charconv>
#include <cmath>
#include <string>

#include "twincache/policy.hpp"

namespace twincache {
namespace {

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

status range_error(std::string_view name, std::string_view range, const std::string& got) {
  std::string msg;
  msg.append(name).append(" must be ").append(range).append(" (got ").append(got).append(")");
  return {status_code::out_of_range, std::move(msg)};
}

constexpr double max_safe_integer = 9007199254740991.0;  // 2^53 - 1

}  // namespace

status parse_limit(std::string_view name, std::int64_t value, std::uint64_t& out) {
  if (value < 1) {
    return range_error(name, "an integer in [1, 9223372036854775807]", std::to_string(value));
  }
  out = static_cast<std::uint64_t>(value);
  return {};
}

status parse_limit(std::string_view name, double value, std::uint64_t& out) {
  if (std::isinf(value) && value > 0) {
    out = unlimited;
    return {};
  }
  if (!(value >= 1) || value > max_safe_integer || std::trunc(value) != value) {
    return range_error(name, "an integer in [1, 9007199254740991] or Infinity",
                       format_double(value));
  }
  out = static_cast<std::uint64_t>(value);
  return {};
}

status parse_ttl(std::string_view name, double value, double unit_ns, std::string_view unit,
                 time_ns& out) {
  // The largest TTL whose nanoseconds still fit a signed 64-bit clock, with headroom for `now`.
  const double max_units = 4.0e18 / unit_ns;
  if (!(value > 0) || !std::isfinite(value) || value > max_units) {
    std::string range = "a finite number of ";
    range.append(unit).append(" > 0 and <= ").append(format_double(max_units));
    return range_error(name, range, format_double(value));
  }
  const double ns = value * unit_ns;
  out = ns < 1.0 ? 1 : static_cast<time_ns>(ns);
  return {};
}

status validate(const limits& l) {
  if (l.max_items == 0) return range_error("max_items", "an integer >= 1", "0");
  if (l.max_bytes == 0) return range_error("max_bytes", "an integer >= 1", "0");
  if (l.max_value_bytes == 0) return range_error("max_value_bytes", "an integer >= 1", "0");
  return {};
}

policy_kind default_policy() noexcept { return policy_kind::tinylfu; }

status parse_policy(std::string_view name, std::string_view value, policy_kind& out) {
  if (value.empty()) {
    out = default_policy();
    return {};
  }
  if (value == "lru") {
    out = policy_kind::lru;
    return {};
  }
  if (value == "tinylfu") {
    out = policy_kind::tinylfu;
    return {};
  }
  std::string got = "'";
  got.append(value).append("'");
  return range_error(name, "one of 'lru', 'tinylfu'", got);
}

}  // namespace twincache
