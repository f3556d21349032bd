// metrics.hpp: the server's request counters and latency histograms, and the Prometheus text
// rendering of /metrics with the names of docs/metrics.md. Store counters are not copied here:
// render() reads the store's stats() at scrape time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "twincache/options.hpp"
#include "twincache/stats.hpp"

namespace twincache::server {

enum class method : std::uint8_t { get = 0, set, del, stats, get_many, set_many };
inline constexpr std::size_t method_count = 6;
const char* method_name(method m);  // "Get", "Set", "Delete", "Stats", "GetMany", "SetMany"

// grpc::StatusCode values 0..16 and their names ("OK", "INVALID_ARGUMENT", ...).
inline constexpr std::size_t code_count = 17;
const char* code_name(int code);

// Bucket upper bounds of twincache_request_duration_seconds (docs/metrics.md).
inline constexpr std::array<double, 13> duration_buckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};

// Lock-free: every finished call adds with relaxed atomics; a scrape reads them.
class request_metrics {
 public:
  void record(method m, int code, std::uint64_t duration_ns) noexcept;
  std::uint64_t count(method m, int code) const noexcept;

  // Appends the request families (requests_total, request_duration_seconds) to out.
  void render(std::string& out) const;

 private:
  struct alignas(64) per_method {
    std::array<std::atomic<std::uint64_t>, code_count> codes{};
    std::array<std::atomic<std::uint64_t>, duration_buckets.size()> buckets{};  // not cumulative
    std::atomic<std::uint64_t> total{0};
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::array<per_method, method_count> m_{};
};

struct store_snapshot {
  ::twincache::stats stats;
  ::twincache::limits limits;
};

// The whole /metrics body: store families for `cache`, then the request families.
std::string render_metrics(const std::string& cache, const store_snapshot& s,
                           const request_metrics& requests);

}  // namespace twincache::server
