// demo.cpp: the C++ core at work, for a human reading scripts/demo's output. It shows hits and
// misses, TTL expiry on a manual clock (no waiting), eviction at capacity under both policies,
// an oversize value refused, the release queue, and the stats that count all of it.
#include <cstdio>
#include <memory>
#include <string>

#include "twincache/cleaner.hpp"
#include "twincache/store.hpp"

namespace {

using namespace twincache;

constexpr time_ns sec = 1'000'000'000;

void print_stats(const char* label, const stats& s) {
  std::printf(
      "  %-22s hits=%llu misses=%llu inserts=%llu updates=%llu rejected=%llu\n"
      "  %-22s evicted_items=%llu evicted_bytes=%llu expired=%llu deleted=%llu cleared=%llu\n"
      "  %-22s items=%llu bytes=%llu\n",
      label, (unsigned long long)s.hits, (unsigned long long)s.misses,
      (unsigned long long)s.inserts, (unsigned long long)s.updates, (unsigned long long)s.rejected,
      "", (unsigned long long)s.evicted_items, (unsigned long long)s.evicted_bytes,
      (unsigned long long)s.expired, (unsigned long long)s.deleted, (unsigned long long)s.cleared,
      "", (unsigned long long)s.items, (unsigned long long)s.bytes);
}

template <class V>
void show_get(store<V>& s, const std::string& key) {
  V out{};
  if (s.get(key, hash64(key), out)) {
    std::printf("  get %-8s -> hit  \"%s\"\n", key.c_str(), std::string(out).c_str());
  } else {
    std::printf("  get %-8s -> miss\n", key.c_str());
  }
}

status put(store<std::string>& s, const std::string& key, const std::string& value,
           std::optional<time_ns> ttl = std::nullopt) {
  return s.set(key, hash64(key), value, value.size(), ttl);
}

void hits_and_misses() {
  std::printf("\n-- 1. hits and misses (policy %s, the default)\n",
              std::string(policy_name(default_policy())).c_str());
  store<std::string> s;
  (void)put(s, "alice", "admin");
  (void)put(s, "bob", "viewer");
  show_get(s, "alice");
  show_get(s, "bob");
  show_get(s, "carol");
  (void)put(s, "bob", "editor");  // an update, not a second entry
  show_get(s, "bob");
  print_stats("stats:", s.stats());
}

void ttl_expiry() {
  std::printf("\n-- 2. TTL expiry on a manual clock (no sleeping)\n");
  auto clk = std::make_shared<twincache::clock>();
  clk->set_manual(0);
  store_options o;
  o.clock = clk;
  o.default_ttl = 60 * sec;
  store<std::string> s(o);
  (void)put(s, "session", "token-1", 5 * sec);  // per-entry TTL overrides the default
  (void)put(s, "profile", "cached");            // default TTL: 60 s
  std::printf("  set session (ttl 5 s) and profile (default ttl 60 s) at t=0\n");
  clk->advance(5 * sec - 1);
  std::printf("  t=4.999999999 s\n");
  show_get(s, "session");
  clk->advance(1);
  std::printf("  t=5 s (expired when now >= set time + ttl)\n");
  show_get(s, "session");
  show_get(s, "profile");
  clk->advance(55 * sec);
  std::printf("  t=60 s: the cleaner reclaims what nobody asked for\n");
  const std::uint64_t reclaimed = cleaner::instance().run_once();
  std::printf("  cleaner reclaimed %llu entries; %llu values wait in the release queue\n",
              (unsigned long long)reclaimed, (unsigned long long)s.released_pending());
  std::printf("  drain_released() destroyed %llu of them on this thread\n",
              (unsigned long long)s.drain_released());
  print_stats("stats:", s.stats());
}

void eviction(policy_kind p) {
  std::printf("\n-- 3%s. eviction at capacity: max_items=3, policy %s\n",
              p == policy_kind::lru ? "a" : "b", std::string(policy_name(p)).c_str());
  store_options o;
  o.limits.max_items = 3;
  o.policy = p;
  store<std::string> s(o);
  for (const char* k : {"a", "b", "c"}) (void)put(s, k, std::string("value-") + k);
  std::printf("  set a, b, c (exactly full); read a twice\n");
  show_get(s, "a");
  show_get(s, "a");
  std::printf("  set d: one entry must go\n");
  (void)put(s, "d", "value-d");
  std::string kept;
  s.for_each([&](std::string_view k, const std::string&) { kept.append(k).append(" "); });
  std::printf("  kept: %s\n", kept.c_str());
  print_stats("stats:", s.stats());
}

void limits_and_bytes() {
  std::printf("\n-- 4. byte budget and an oversize value\n");
  store_options o;
  o.limits.max_bytes = 400;
  o.limits.max_value_bytes = 100;
  store<std::string> s(o);
  std::printf("  max_bytes=400, max_value_bytes=100; an entry weighs key + value + %llu bytes\n",
              (unsigned long long)entry_overhead_bytes);
  for (int i = 0; i < 5; ++i) {
    const std::string k = "k" + std::to_string(i);
    (void)put(s, k, std::string(50, 'x'));
    std::printf("  set %s (50-byte value): items=%llu bytes=%llu\n", k.c_str(),
                (unsigned long long)s.size(), (unsigned long long)s.bytes());
  }
  const status st = put(s, "big", std::string(150, 'y'));
  std::printf("  set big (150-byte value) -> %s: %s\n",
              std::string(status_code_name(st.code())).c_str(), st.message().c_str());
  print_stats("stats:", s.stats());
  std::printf("  clear() removed %llu entries; counters are kept:\n",
              (unsigned long long)s.clear());
  print_stats("stats:", s.stats());
}

void scan_resistance(policy_kind p) {
  store_options o;
  o.limits.max_items = 100;
  o.policy = p;
  store<std::string> s(o);
  auto key = [](const char* prefix, int i) { return std::string(prefix) + std::to_string(i); };
  // 50 hot keys, each read 10 times, then a scan of 1000 keys read once.
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 50; ++i) {
      std::string out;
      const std::string k = key("hot", i);
      if (!s.get(k, hash64(k), out)) (void)put(s, k, "hot value");
    }
  }
  for (int i = 0; i < 1000; ++i) (void)put(s, key("scan", i), "scanned once");
  int kept = 0;
  for (int i = 0; i < 50; ++i) kept += s.contains(key("hot", i), hash64(key("hot", i)));
  std::printf("  %-8s hot keys still cached after the scan: %2d of 50\n",
              std::string(policy_name(p)).c_str(), kept);
}

}  // namespace

int main() {
  std::printf("twincache C++ core demo\n");
  hits_and_misses();
  ttl_expiry();
  eviction(policy_kind::lru);
  eviction(policy_kind::tinylfu);
  limits_and_bytes();
  std::printf(
      "\n-- 5. scan resistance: max_items=100, 50 hot keys read 10 times, then 1000 keys "
      "read once\n");
  scan_resistance(policy_kind::lru);
  scan_resistance(policy_kind::tinylfu);
  return 0;
}
