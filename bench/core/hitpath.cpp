// A fixed hit workload for instruction-level measurements (bench/core/hitpath-counts runs it
// under cachegrind): a store of n entries, all resident, then `gets` hits drawn uniformly or
// Zipf(~1) from a precomputed sequence; prints the ns per get of that loop. Wall-clock timing
// on a shared VM moves by 15% and more between runs; instruction, L1-miss and mispredict counts
// do not, so two builds can be compared exactly.
//   twincache_hitpath lru|tinylfu uniform|zipf entries gets
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "twincache/hash.hpp"
#include "twincache/store.hpp"

int main(int argc, char** argv) {
  const auto usage = [&] {
    std::fprintf(stderr, "usage: %s lru|tinylfu uniform|zipf entries gets\n", argv[0]);
    return 2;
  };
  if (argc != 5) return usage();
  const std::string policy = argv[1], shape = argv[2];
  const std::uint64_t n = std::strtoull(argv[3], nullptr, 10);
  const std::uint64_t gets = std::strtoull(argv[4], nullptr, 10);
  if ((policy != "lru" && policy != "tinylfu") || (shape != "uniform" && shape != "zipf") ||
      n == 0) {
    return usage();
  }
  twincache::store_options o;
  o.limits.max_items = n;
  o.policy = policy == "lru" ? twincache::policy_kind::lru : twincache::policy_kind::tinylfu;
  twincache::store<std::uint64_t> s(o);
  std::vector<std::string> keys;
  std::vector<std::uint64_t> hashes;
  for (std::uint64_t i = 0; i < n; ++i) {
    keys.push_back("item:" + std::to_string(1000 + i));
    hashes.push_back(twincache::hash64(keys.back()));
    (void)s.set(keys.back(), hashes.back(), i, 8);
  }
  constexpr std::uint64_t sequence = 1 << 20;
  std::mt19937_64 rng(7);
  std::vector<std::uint32_t> order(sequence);
  for (auto& k : order) {
    if (shape == "zipf") {
      const double u = double(rng() >> 11) * 0x1.0p-53;
      k = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(n - 1, std::uint64_t(std::pow(double(n) + 1, u)) - 1));
    } else {
      k = static_cast<std::uint32_t>(rng() % n);
    }
  }
  std::uint64_t found = 0, value = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < gets; ++i) {
    const std::uint32_t k = order[i & (sequence - 1)];
    found += s.get(keys[k], hashes[k], value);
  }
  const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  std::printf("%llu of %llu found, %.2f ns per get\n", static_cast<unsigned long long>(found),
              static_cast<unsigned long long>(gets), took.count() / double(gets ? gets : 1));
  return found == gets ? 0 : 1;
}
