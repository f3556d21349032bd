// bench_core.cpp: the core store's speed and memory against two common baselines.
//
//   get_hit / get_miss / set_evict  x  {1k, 1M entries}  x  {uniform, zipf 0.99}  x  {1, 2 threads}
//   for  tc_lru, tc_tinylfu (store<uint64_t>), absl_mutex (absl::flat_hash_map + std::mutex),
//        stl_lru (std::unordered_map + std::list + std::mutex, the textbook LRU cache).
//
// Keys are 9-12 byte strings ("item:" + number); values 8-byte integers. The store is handed the
// key's hash64 as the bindings do, and the hash is computed inside the timed loop (the baselines
// hash internally too). set_evict draws keys from twice the capacity, so about half the sets
// insert and evict. items_per_second is the throughput of all threads together (wall clock).
// The `memory` benchmark reports allocator bytes per entry at 1M entries and the overhead beyond
// the key and value bytes. bench/core/run runs everything and prints the summary tables.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "twincache/store.hpp"

// ---- Allocation accounting (for the memory benchmark): live bytes as the allocator sees them.
namespace {
std::atomic<std::int64_t> g_live_bytes{0};
}
void* operator new(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
  return p;
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  const std::size_t align = static_cast<std::size_t>(a);
  void* p = std::aligned_alloc(align, (n + align - 1) & ~(align - 1));
  if (!p) throw std::bad_alloc();
  g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
  return p;
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return operator new(n, a);
}
void operator delete(void* p) noexcept {
  if (!p) return;
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
  std::free(p);
}
void operator delete[](void* p) noexcept {
  operator delete(p);
}
void operator delete(void* p, std::size_t) noexcept {
  operator delete(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  operator delete(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  operator delete(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  operator delete(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  operator delete(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  operator delete(p);
}

namespace {

using twincache::hash64;
using twincache::policy_kind;
using twincache::store;

// ---- Workload: keys and access sequences.

std::string make_key(std::uint64_t i) {
  return "item:" + std::to_string(1000 + i);
}

// One access: the key bytes inline, so the timed loop reads its keys sequentially (the hardware
// prefetches them) and the cache misses measured are the cache's own, not the harness's.
struct access {
  char key[16];
  std::uint32_t len;
  std::uint32_t index;
  std::string_view view() const noexcept { return {key, len}; }
};

constexpr std::size_t sequence_length = 1 << 20;

struct workload {
  std::vector<std::string> keys;  // 2N keys; the first N are stored
  std::vector<access> uniform_hit, zipf_hit, uniform_set, zipf_set, uniform_miss;
};

std::vector<std::uint32_t> uniform_indices(std::uint64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint32_t> out(sequence_length);
  for (auto& x : out) x = static_cast<std::uint32_t>(rng() % n);
  return out;
}

// Zipf(s) over n ranks by inverse CDF; rank r is mapped through a fixed shuffle so hot keys are
// not the first ones inserted.
std::vector<std::uint32_t> zipf_indices(std::uint64_t n, double s, std::uint64_t seed) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (std::uint64_t i = 0; i < n; ++i) cdf[i] = (sum += 1.0 / std::pow(double(i + 1), s));
  std::vector<std::uint32_t> perm(n);
  for (std::uint64_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
  std::mt19937_64 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<std::uint32_t> out(sequence_length);
  for (auto& x : out) {
    const auto it = std::lower_bound(cdf.begin(), cdf.end(), u(rng));
    x = perm[std::min<std::uint64_t>(it - cdf.begin(), n - 1)];
  }
  return out;
}

std::vector<access> packed(const std::vector<std::uint32_t>& idx,
                           const std::vector<std::string>& keys) {
  std::vector<access> out(idx.size());
  for (std::size_t i = 0; i < idx.size(); ++i) {
    const std::string& k = keys[idx[i]];
    std::memcpy(out[i].key, k.data(), k.size());
    out[i].len = static_cast<std::uint32_t>(k.size());
    out[i].index = idx[i];
  }
  return out;
}

const workload& get_workload(std::uint64_t n) {
  static std::unique_ptr<workload> w;
  static std::uint64_t w_n = 0;
  if (!w || w_n != n) {
    w.reset();
    w = std::make_unique<workload>();
    w_n = n;
    for (std::uint64_t i = 0; i < 2 * n; ++i) w->keys.push_back(make_key(i));
    std::vector<std::string> missing;
    for (std::uint64_t i = 0; i < n; ++i) missing.push_back("miss:" + std::to_string(1000 + i));
    w->uniform_hit = packed(uniform_indices(n, 1), w->keys);
    w->zipf_hit = packed(zipf_indices(n, 0.99, 2), w->keys);
    w->uniform_set = packed(uniform_indices(2 * n, 3), w->keys);
    w->zipf_set = packed(zipf_indices(2 * n, 0.99, 4), w->keys);
    w->uniform_miss = packed(uniform_indices(n, 5), missing);
  }
  return *w;
}

// ---- The caches under test, behind one small interface each (no virtual calls).

struct tc_cache {
  store<std::uint64_t> s;
  tc_cache(std::uint64_t n, policy_kind p) : s(opts(n, p)) {}
  static twincache::store_options opts(std::uint64_t n, policy_kind p) {
    twincache::store_options o;
    o.limits.max_items = n;
    o.policy = p;
    return o;
  }
  bool get(std::string_view k, std::uint64_t& out) { return s.get(k, hash64(k), out); }
  void set(std::string_view k, std::uint64_t v) { (void)s.set(k, hash64(k), v, 8); }
};

// Mutex-guarded absl::flat_hash_map. It has no eviction: set_evict evicts first-in first-out
// through a ring of the keys it inserted, the cheapest bounded scheme.
struct absl_cache {
  std::mutex mu;
  absl::flat_hash_map<std::string, std::uint64_t> map;
  std::vector<std::string> ring;
  std::size_t next = 0, cap;
  explicit absl_cache(std::uint64_t n) : cap(n) { map.reserve(n); }
  bool get(std::string_view k, std::uint64_t& out) {
    std::lock_guard g(mu);
    auto it = map.find(absl::string_view(k.data(), k.size()));  // heterogeneous: no copy
    if (it == map.end()) return false;
    out = it->second;
    return true;
  }
  void set(std::string_view k, std::uint64_t v) {
    std::lock_guard g(mu);
    auto [it, inserted] = map.insert_or_assign(std::string(k), v);
    if (!inserted) return;
    if (ring.size() < cap) {
      ring.emplace_back(k);
      return;
    }
    map.erase(ring[next]);
    ring[next] = std::string(k);
    next = (next + 1) % cap;
  }
};

// The textbook LRU: hash map to list iterators, most recent at the front, one mutex.
struct stl_lru_cache {
  std::mutex mu;
  std::list<std::pair<std::string, std::uint64_t>> order;
  std::unordered_map<std::string, decltype(order)::iterator> map;
  std::size_t cap;
  explicit stl_lru_cache(std::uint64_t n) : cap(n) { map.reserve(n); }
  bool get(std::string_view k, std::uint64_t& out) {
    std::lock_guard g(mu);
    auto it = map.find(std::string(k));  // short keys: no allocation (SSO)
    if (it == map.end()) return false;
    order.splice(order.begin(), order, it->second);
    out = it->second->second;
    return true;
  }
  void set(std::string_view k, std::uint64_t v) {
    std::lock_guard g(mu);
    auto it = map.find(std::string(k));
    if (it != map.end()) {
      it->second->second = v;
      order.splice(order.begin(), order, it->second);
      return;
    }
    order.emplace_front(std::string(k), v);
    map.emplace(std::string(k), order.begin());
    if (map.size() > cap) {
      map.erase(order.back().first);
      order.pop_back();
    }
  }
};

enum class impl { tc_lru, tc_tinylfu, absl_mutex, stl_lru };
const char* impl_name(impl i) {
  switch (i) {
    case impl::tc_lru:
      return "tc_lru";
    case impl::tc_tinylfu:
      return "tc_tinylfu";
    case impl::absl_mutex:
      return "absl_mutex";
    case impl::stl_lru:
      return "stl_lru";
  }
  return "?";
}

// One cache instance at a time, filled with keys[0, N), shared by the benchmark's threads.
struct fixture {
  impl which;
  std::uint64_t n;
  std::unique_ptr<tc_cache> tc;
  std::unique_ptr<absl_cache> ab;
  std::unique_ptr<stl_lru_cache> lru;
  template <class F>
  decltype(auto) with(F&& f) {
    if (tc) return f(*tc);
    if (ab) return f(*ab);
    return f(*lru);
  }
};
std::unique_ptr<fixture> g_fixture;

fixture& get_fixture(impl which, std::uint64_t n) {
  if (!g_fixture || g_fixture->which != which || g_fixture->n != n) {
    g_fixture.reset();
    auto f = std::make_unique<fixture>();
    f->which = which;
    f->n = n;
    switch (which) {
      case impl::tc_lru:
        f->tc = std::make_unique<tc_cache>(n, policy_kind::lru);
        break;
      case impl::tc_tinylfu:
        f->tc = std::make_unique<tc_cache>(n, policy_kind::tinylfu);
        break;
      case impl::absl_mutex:
        f->ab = std::make_unique<absl_cache>(n);
        break;
      case impl::stl_lru:
        f->lru = std::make_unique<stl_lru_cache>(n);
        break;
    }
    const workload& w = get_workload(n);
    f->with([&](auto& c) {
      for (std::uint64_t i = 0; i < n; ++i) c.set(w.keys[i], i);
    });
    g_fixture = std::move(f);
  }
  return *g_fixture;
}

enum class op { get_hit, get_miss, set_evict };
const char* op_name(op o) {
  switch (o) {
    case op::get_hit:
      return "get_hit";
    case op::get_miss:
      return "get_miss";
    case op::set_evict:
      return "set_evict";
  }
  return "?";
}

void run(benchmark::State& state, impl which, op what, std::uint64_t n, bool zipf) {
  // Thread 0 prepares the shared fixture; all threads start the timed loop together.
  // Other threads only read what it prepared inside the loop, after the start barrier.
  static fixture* shared = nullptr;
  static const workload* shared_w = nullptr;
  if (state.thread_index() == 0) {
    shared = &get_fixture(which, n);
    shared_w = &get_workload(n);
  }
  const std::vector<access>* seq = nullptr;
  std::size_t pos = static_cast<std::size_t>(state.thread_index()) * (sequence_length / 2 + 7);
  std::uint64_t found = 0, out = 0;
  for (auto _ : state) {
    if (seq == nullptr) {
      const workload* w = shared_w;
      seq = what == op::set_evict  ? (zipf ? &w->zipf_set : &w->uniform_set)
            : what == op::get_miss ? &w->uniform_miss
                                   : (zipf ? &w->zipf_hit : &w->uniform_hit);
    }
    const access& a = (*seq)[pos++ & (sequence_length - 1)];
    shared->with([&](auto& c) {
      if (what == op::set_evict) {
        c.set(a.view(), a.index);
      } else {
        found += c.get(a.view(), out);
      }
    });
  }
  benchmark::DoNotOptimize(out);
  state.SetItemsProcessed(state.iterations());
  if (what != op::set_evict) {
    state.counters["found"] =
        benchmark::Counter(static_cast<double>(found) / static_cast<double>(state.iterations()));
  }
}

// ---- Memory: allocator bytes per entry at 1M entries, minus the key and value bytes.

std::int64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::int64_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * 4096;
}

void memory(benchmark::State& state, impl which) {
  const std::uint64_t n = static_cast<std::uint64_t>(state.range(0));
  const workload& w = get_workload(n);
  double key_bytes = 0;
  for (std::uint64_t i = 0; i < n; ++i) key_bytes += static_cast<double>(w.keys[i].size());
  g_fixture.reset();
  double per_entry = 0, rss_per_entry = 0;
  for (auto _ : state) {
    malloc_trim(0);
    const std::int64_t before = g_live_bytes.load();
    const std::int64_t rss_before = rss_bytes();
    fixture& f = get_fixture(which, n);
    per_entry = static_cast<double>(g_live_bytes.load() - before) / static_cast<double>(n);
    rss_per_entry = static_cast<double>(rss_bytes() - rss_before) / static_cast<double>(n);
    benchmark::DoNotOptimize(&f);
    state.PauseTiming();
    g_fixture.reset();
    state.ResumeTiming();
  }
  const double payload = key_bytes / static_cast<double>(n) + 8.0;
  state.counters["alloc_bytes_per_entry"] = per_entry;
  state.counters["overhead_bytes_per_entry"] = per_entry - payload;
  state.counters["rss_bytes_per_entry"] = rss_per_entry;
  state.counters["key_plus_value_bytes"] = payload;
}

// ---- The cleaner: one sweep over a 1M-entry store whose entries all carry a TTL, with none or
// all of them due. Reports the time per shard-lock hold (a batch of <= 1024 slot checks and
// <= 64 removals), the longest a reader can wait behind the cleaner. Fails unless the sweep
// reclaims every entry that is due.

void cleaner_sweep(benchmark::State& state) {
  const std::uint64_t n = static_cast<std::uint64_t>(state.range(0));
  const bool all_due = state.range(1) != 0;
  g_fixture.reset();
  auto clk = std::make_shared<twincache::clock>();
  clk->set_manual(0);
  twincache::store_options o;
  o.clock = clk;
  double holds = 0;
  std::uint64_t reclaimed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto s = std::make_unique<store<std::uint64_t>>(o);
    clk->set_manual(0);  // every iteration's entries expire at 1 s
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::string k = make_key(i);
      (void)s->set(k, hash64(k), i, 8, 1'000'000'000);
    }
    clk->set_manual(all_due ? 2'000'000'000 : 0);
    const std::uint64_t due = all_due ? s->size() : 0;
    holds = 0;
    for (unsigned sh = 0; sh < s->shard_count(); ++sh) {
      holds += std::ceil(double(n) / s->shard_count() / double(twincache::cleaner::batch_scans));
    }
    if (all_due) holds = std::max(holds, double(n) / double(twincache::cleaner::batch_removals));
    state.ResumeTiming();
    reclaimed = s->reclaim_expired();
    state.PauseTiming();
    s.reset();
    state.ResumeTiming();
    if (reclaimed != due) {
      const std::string why = "one sweep reclaimed " + std::to_string(reclaimed) + " of " +
                              std::to_string(due) + " entries due";
      state.SkipWithError(why.c_str());
      break;
    }
  }
  state.counters["reclaimed"] = static_cast<double>(reclaimed);
  state.counters["lock_holds"] = holds;
  state.counters["us_per_lock_hold"] =
      benchmark::Counter(holds * double(state.iterations()) / 1e6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void register_all() {
  const std::uint64_t sizes[] = {1000, 1000000};
  const impl impls[] = {impl::tc_lru, impl::tc_tinylfu, impl::absl_mutex, impl::stl_lru};
  for (std::uint64_t n : sizes) {
    for (impl which : impls) {
      for (op what : {op::get_hit, op::get_miss, op::set_evict}) {
        for (bool zipf : {false, true}) {
          if (what == op::get_miss && zipf) continue;  // misses are misses: uniform only
          const std::string name = std::string(op_name(what)) + "/" + impl_name(which) + "/" +
                                   (n == 1000 ? "1k" : "1M") + "/" + (zipf ? "zipf" : "uniform");
          benchmark::RegisterBenchmark(name.c_str(),
                                       [=](benchmark::State& s) { run(s, which, what, n, zipf); })
              ->Threads(1)
              ->Threads(2)
              ->UseRealTime();
        }
      }
    }
  }
  benchmark::RegisterBenchmark("cleaner_sweep", cleaner_sweep)
      ->Args({1000000, 0})
      ->Args({1000000, 1})
      ->ArgNames({"entries", "all_due"})
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond);
  for (impl which : impls) {
    benchmark::RegisterBenchmark((std::string("memory/") + impl_name(which)).c_str(),
                                 [=](benchmark::State& s) { memory(s, which); })
        ->Arg(1000000)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
