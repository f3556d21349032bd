// policy_lru.hpp: exact LRU over dense slot ids (policy.hpp's contract), and no_slot. Its own
// header so that tinylfu_policy's LRU duel can run one over the keys it samples.
#pragma once

#include <cstdint>
#include <vector>

namespace twincache {

inline constexpr std::uint32_t no_slot = 0xFFFFFFFFu;

// Exact LRU: an intrusive doubly linked list over slot ids. O(1) everything, 8 bytes per slot.
class lru_policy {
 public:
  void resize(std::uint32_t n) {
    if (n > prev_.size()) {
      prev_.resize(n, no_slot);
      next_.resize(n, no_slot);
    }
  }
  void set_capacity(std::uint64_t) noexcept {}

  void on_insert(std::uint32_t s, std::uint64_t, std::uint64_t) noexcept {
    push_front(s);
    ++size_;
  }
  // Hot path under policy=lru: two unlink/link steps on 4-byte arrays.
  void on_access(std::uint32_t s, std::uint64_t) noexcept {
    if (head_ == s) return;
    unlink(s);
    push_front(s);
  }
  void on_weight_change(std::uint32_t s, std::uint64_t, std::uint64_t) noexcept {
    on_access(s, 0);
  }
  void on_remove(std::uint32_t s) noexcept {
    unlink(s);
    --size_;
  }
  std::uint32_t victim() const noexcept { return tail_; }
  void clear() noexcept {
    head_ = tail_ = no_slot;
    size_ = 0;
  }
  std::uint64_t size() const noexcept { return size_; }

  // Most to least recently used; for tests and debugging.
  template <class F>
  void for_each_mru(F&& f) const {
    for (std::uint32_t s = head_; s != no_slot; s = next_[s]) f(s);
  }

 private:
  void unlink(std::uint32_t s) noexcept {
    const std::uint32_t p = prev_[s], n = next_[s];
    (p == no_slot ? head_ : next_[p]) = n;
    (n == no_slot ? tail_ : prev_[n]) = p;
    prev_[s] = next_[s] = no_slot;
  }
  void push_front(std::uint32_t s) noexcept {
    prev_[s] = no_slot;
    next_[s] = head_;
    (head_ == no_slot ? tail_ : prev_[head_]) = s;
    head_ = s;
  }

  std::vector<std::uint32_t> prev_, next_;
  std::uint32_t head_ = no_slot, tail_ = no_slot;
  std::uint64_t size_ = 0;
};

}  // namespace twincache
