// policy.hpp: eviction policies over dense slot ids, and the one seam (`any_policy`) the store
// calls them through. Policies know nothing of keys or values: a slot is an entry's index in its
// shard, a hash is the key's 64-bit hash (for frequency sketches), a weight is its budget units.
//
// Contract for every policy. A policy is single-threaded: its owner (a store shard, an
// entry_table, the replay tool) calls it with that owner's exclusive lock held.
//   resize(n)                     slot ids < n may be used from now on; never shrinks
//   set_capacity(c)               the budget, in weight units, the policy sizes its regions for
//   on_insert(s, hash, w)         s became resident with weight w (counts as its first access)
//   on_access(s, hash)            s was hit
//   on_weight_change(s, old, new) s's value was replaced in place with one of another weight
//   on_remove(s)                  s left for any reason (victim, expiry, erase); s may be reused
//   victim()                      the resident slot to evict next; never no_slot while size() > 0.
//                                 The caller removes that entry and then calls on_remove(s).
//   clear()                       forget every slot
//   size()                        resident slots
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>
#include <variant>

#include "twincache/policy_lru.hpp"
#include "twincache/policy_tinylfu.hpp"
#include "twincache/status.hpp"

namespace twincache {

enum class policy_kind : std::uint8_t {
  lru = 0,      // exact least-recently-used: what functools.lru_cache promises
  tinylfu = 1,  // adaptive W-TinyLFU (scan resistant); see docs/hit-ratio.md
};

// The public name of a policy ("lru", "tinylfu").
constexpr std::string_view policy_name(policy_kind kind) noexcept {
  return kind == policy_kind::lru ? "lru" : "tinylfu";
}

// The seam: one policy chosen at run time, dispatched with a switch (no virtual calls). Stores
// call it only under their exclusive lock; hits under the default policy reach it in batches,
// drained from a read buffer.
class any_policy {
 public:
  explicit any_policy(policy_kind kind = policy_kind::lru) { reset(kind); }

  // Runs f on the active policy (a switch over the variant's index, no virtual call).
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), impl_);
  }


  void reset(policy_kind kind) {
    kind_ = kind;
    switch (kind) {
      case policy_kind::lru: impl_.emplace<lru_policy>(); break;
      case policy_kind::tinylfu: impl_.emplace<tinylfu_policy>(); break;
    }
  }
  // tinylfu with other constants than the defaults (experiments, the replay tool).
  void reset(const tinylfu_config& cfg) {
    kind_ = policy_kind::tinylfu;
    impl_.emplace<tinylfu_policy>(cfg);
  }
  policy_kind kind() const noexcept { return kind_; }

  void resize(std::uint32_t n) { visit([&](auto& p) { p.resize(n); }); }
  // Where tinylfu reads slot s's hash: base + s x stride bytes (the owner's records).
  void bind_hashes(const std::uint64_t* base, std::size_t stride) {
    if (auto* t = std::get_if<tinylfu_policy>(&impl_)) t->bind_hashes(base, stride);
  }
  // The active tinylfu policy, or nullptr.
  tinylfu_policy* tinylfu() noexcept { return std::get_if<tinylfu_policy>(&impl_); }
  void set_capacity(std::uint64_t c) { visit([&](auto& p) { p.set_capacity(c); }); }
  // tinylfu: size the frequency sketch, ghosts and duel for about n entries now (lru: nothing).
  void expect_entries(std::uint64_t n) {
    if (auto* t = std::get_if<tinylfu_policy>(&impl_)) t->expect_entries(n);
  }
  void on_insert(std::uint32_t s, std::uint64_t h, std::uint64_t w) {
    visit([&](auto& p) { p.on_insert(s, h, w); });
  }
  void on_access(std::uint32_t s, std::uint64_t h) {
    visit([&](auto& p) { p.on_access(s, h); });
  }
  void on_weight_change(std::uint32_t s, std::uint64_t o, std::uint64_t n) {
    visit([&](auto& p) { p.on_weight_change(s, o, n); });
  }
  void on_remove(std::uint32_t s) { visit([&](auto& p) { p.on_remove(s); }); }
  std::uint32_t victim() { return visit([&](auto& p) { return p.victim(); }); }
  void clear() { visit([&](auto& p) { p.clear(); }); }
  std::uint64_t size() const {
    return std::visit([](const auto& p) { return p.size(); }, impl_);
  }

  template <class T>
  T* get_if() noexcept { return std::get_if<T>(&impl_); }

 private:
  policy_kind kind_ = policy_kind::lru;
  std::variant<lru_policy, tinylfu_policy> impl_;
};

// Parses a policy's public name; "" means the default. Error names the parameter.
status parse_policy(std::string_view name, std::string_view value, policy_kind& out);

// The policy a cache gets when none is named.
policy_kind default_policy() noexcept;

}  // namespace twincache
