// metrics.cpp: Prometheus text exposition (format 0.0.4) of the server's metrics.
#include "metrics.hpp"

#include <cstdio>

namespace twincache::server {
namespace {
const char* const method_names[method_count] = {"Get", "Set", "Delete", "Stats", "GetMany",
                                                "SetMany"};
const char* const code_names[code_count] = {
    "OK",        "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL",     "UNAVAILABLE",       "DATA_LOSS",
    "UNAUTHENTICATED"};

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

std::string label_value(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

void sample(std::string& out, const char* name, const std::string& labels, std::uint64_t v) {
  out += name;
  out += '{';
  out += labels;
  out += "} ";
  out += std::to_string(v);
  out += '\n';
}

std::string fmt_double(double d) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", d);
  return b;
}
}  // namespace

const char* method_name(method m) { return method_names[static_cast<std::size_t>(m)]; }
const char* code_name(int code) {
  return code >= 0 && code < static_cast<int>(code_count) ? code_names[code] : "UNKNOWN";
}

void request_metrics::record(method m, int code, std::uint64_t duration_ns) noexcept {
  per_method& p = m_[static_cast<std::size_t>(m)];
  if (code < 0 || code >= static_cast<int>(code_count)) code = 2;  // UNKNOWN
  p.codes[static_cast<std::size_t>(code)].fetch_add(1, std::memory_order_relaxed);
  const double secs = static_cast<double>(duration_ns) / 1e9;
  for (std::size_t i = 0; i < duration_buckets.size(); ++i) {
    if (secs <= duration_buckets[i]) {
      p.buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  p.sum_ns.fetch_add(duration_ns, std::memory_order_relaxed);
  p.total.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t request_metrics::count(method m, int code) const noexcept {
  return m_[static_cast<std::size_t>(m)].codes[static_cast<std::size_t>(code)].load(
      std::memory_order_relaxed);
}

void request_metrics::render(std::string& out) const {
  family(out, "twincache_requests_total", "counter", "gRPC calls finished, by method and code.");
  for (std::size_t mi = 0; mi < method_count; ++mi) {
    for (std::size_t c = 0; c < code_count; ++c) {
      const std::uint64_t v = m_[mi].codes[c].load(std::memory_order_relaxed);
      if (v == 0 && c != 0) continue;  // OK always; other codes once seen
      sample(out, "twincache_requests_total",
             std::string("method=\"") + method_names[mi] + "\",code=\"" + code_names[c] + "\"", v);
    }
  }
  family(out, "twincache_request_duration_seconds", "histogram",
         "Time from receipt of a gRPC call to its reply, by method.");
  for (std::size_t mi = 0; mi < method_count; ++mi) {
    const per_method& p = m_[mi];
    // Read the total first: the buckets then sum to at least... at most it; clamp so the
    // exposition stays monotonic even while calls finish during the scrape.
    const std::uint64_t total = p.total.load(std::memory_order_relaxed);
    const std::uint64_t sum_ns = p.sum_ns.load(std::memory_order_relaxed);
    std::uint64_t cum = 0;
    const std::string m = std::string("method=\"") + method_names[mi] + "\"";
    for (std::size_t i = 0; i < duration_buckets.size(); ++i) {
      cum += p.buckets[i].load(std::memory_order_relaxed);
      if (cum > total) cum = total;
      sample(out, "twincache_request_duration_seconds_bucket",
             m + ",le=\"" + fmt_double(duration_buckets[i]) + "\"", cum);
    }
    sample(out, "twincache_request_duration_seconds_bucket", m + ",le=\"+Inf\"", total);
    out += "twincache_request_duration_seconds_sum{" + m + "} " +
           fmt_double(static_cast<double>(sum_ns) / 1e9) + "\n";
    sample(out, "twincache_request_duration_seconds_count", m, total);
  }
}

std::string render_metrics(const std::string& cache, const store_snapshot& s,
                           const request_metrics& requests) {
  std::string out;
  out.reserve(8192);
  const std::string c = "cache=\"" + label_value(cache) + "\"";
  const ::twincache::stats& st = s.stats;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    family(out, name, "counter", help);
    sample(out, name, c, v);
  };
  counter("twincache_hits_total", "Lookups that returned a value.", st.hits);
  counter("twincache_misses_total", "Lookups that found nothing live.", st.misses);
  counter("twincache_sets_total", "Values stored.", st.inserts + st.updates);
  counter("twincache_rejected_total", "Sets refused by a size limit.", st.rejected);
  counter("twincache_deletes_total", "Explicit deletions of a live key.", st.deleted);
  family(out, "twincache_evictions_total", "counter", "Removals to stay within a limit.");
  sample(out, "twincache_evictions_total", c + ",reason=\"max_items\"", st.evicted_items);
  sample(out, "twincache_evictions_total", c + ",reason=\"max_bytes\"", st.evicted_bytes);
  counter("twincache_expirations_total", "Removals because the TTL passed.", st.expired);
  counter("twincache_cleared_total", "Entries removed by clear().", st.cleared);
  auto gauge = [&](const char* name, const char* help, std::uint64_t v) {
    family(out, name, "gauge", help);
    if (v != unlimited) sample(out, name, c, v);  // no sample when unlimited
  };
  gauge("twincache_items", "Live entries now.", st.items);
  gauge("twincache_bytes", "Weight of the live entries in bytes.", st.bytes);
  gauge("twincache_max_items", "The item limit.", s.limits.max_items);
  gauge("twincache_max_bytes", "The byte limit.", s.limits.max_bytes);
  gauge("twincache_max_value_bytes", "The per-value limit.", s.limits.max_value_bytes);
  requests.render(out);
  return out;
}

}  // namespace twincache::server
