// detail/small_vector.hpp: a vector of trivially copyable values whose first N elements live
// inline (on the stack, for a local), spilling to the heap only past N. The bindings collect the
// entries one core call removed in one (usually zero or one: an eviction), so the hot path never
// allocates. Only what they use: push_back, size, empty, operator[], clear. Replaces
// absl::InlinedVector, so that no build needs Abseil.
#pragma once

#include <cstddef>
#include <type_traits>
#include <vector>

namespace twincache::detail {

template <typename T, std::size_t N>
class small_vector {
  static_assert(std::is_trivially_copyable_v<T>, "small_vector holds trivially copyable values");
  static_assert(N > 0, "small_vector needs at least one inline element");

 public:
  small_vector() = default;
  small_vector(const small_vector&) = delete;  // a local collector: never copied
  small_vector& operator=(const small_vector&) = delete;

  void push_back(const T& v) {
    if (size_ < N) {
      inline_[size_] = v;
    } else {
      spill_.push_back(v);
    }
    ++size_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return i < N ? inline_[i] : spill_[i - N]; }
  const T& operator[](std::size_t i) const noexcept { return i < N ? inline_[i] : spill_[i - N]; }
  void clear() noexcept {
    size_ = 0;
    spill_.clear();
  }

 private:
  T inline_[N];
  std::vector<T> spill_;  // elements N and later
  std::size_t size_ = 0;
};

}  // namespace twincache::detail
