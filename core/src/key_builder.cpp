// key_builder.cpp: the parts of key_builder (key_builder.hpp) that are too large to inline or off
// the hot path: floats that are huge integers, UTF-8 and dtype validation, unordered containers.
// The byte layout is specified in docs/keys.md.
#include "twincache/key_builder.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <string>

namespace twincache {
namespace {

// Offset of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF), or s.size() when valid. Hot path: ASCII is checked 8 bytes at a time.
std::size_t utf8_error_offset(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates U+D800..U+DFFF
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return n;
}

// Parses a normalized numpy dtype string; returns its item size in bytes or -1 when it is not one
// of the forms docs/keys.md allows.
std::int64_t dtype_itemsize(std::string_view d) noexcept {
  if (d.size() < 3) return -1;
  const char order = d[0], kind = d[1];
  if (order != '<' && order != '|') return -1;
  if (std::string_view("biufcmMSUV").find(kind) == std::string_view::npos) return -1;
  std::size_t i = 2;
  std::int64_t digits = 0;
  const std::size_t digits_start = i;
  while (i < d.size() && d[i] >= '0' && d[i] <= '9') {
    if (digits > 100'000'000'000LL) return -1;
    digits = digits * 10 + (d[i] - '0');
    ++i;
  }
  const std::size_t ndigits = i - digits_start;
  if (ndigits == 0 || (ndigits > 1 && d[digits_start] == '0')) return -1;
  if (i < d.size()) {  // a datetime unit: "[ns]", "[10s]"
    if ((kind != 'm' && kind != 'M') || d[i] != '[' || d.back() != ']' || d.size() - i < 3) {
      return -1;
    }
    for (std::size_t k = i + 1; k + 1 < d.size(); ++k) {
      const char c = d[k];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return -1;
    }
  }
  const std::int64_t itemsize = kind == 'U' ? digits * 4 : digits;
  auto one_of = [&](std::initializer_list<std::int64_t> sizes) {
    return std::find(sizes.begin(), sizes.end(), digits) != sizes.end();
  };
  switch (kind) {
    case 'b': if (digits != 1) return -1; break;
    case 'i': case 'u': if (!one_of({1, 2, 4, 8})) return -1; break;
    case 'f': if (!one_of({2, 4, 8, 12, 16})) return -1; break;
    case 'c': if (!one_of({8, 16, 24, 32})) return -1; break;
    case 'm': case 'M': if (digits != 8) return -1; break;
    default: break;  // S, U, V: any size
  }
  // numpy writes '|' exactly for types without a byte order.
  const bool order_free = kind == 'S' || kind == 'V' || itemsize == 1;
  if ((order == '|') != order_free) return -1;
  return itemsize;
}

}  // namespace

void key_builder::grow(std::size_t need) {
  buf_.resize(std::max(need, buf_.size() * 2));
}

void key_builder::add_big_int(bool negative, std::span<const std::uint8_t> magnitude_big_endian) {
  std::size_t skip = 0;
  while (skip < magnitude_big_endian.size() && magnitude_big_endian[skip] == 0) ++skip;
  const auto m = magnitude_big_endian.subspan(skip);
  put_blob(m.empty() || !negative ? key_tag::int_nonnegative : key_tag::int_negative, m.data(),
           m.size());
}

void key_builder::add_big_int_words(bool negative,
                                    std::span<const std::uint64_t> words_little_endian) {
  std::size_t words = words_little_endian.size();
  while (words > 0 && words_little_endian[words - 1] == 0) --words;
  if (words <= 1) {
    const std::uint64_t m = words == 0 ? 0 : words_little_endian[0];
    put_magnitude(m == 0 || !negative ? key_tag::int_nonnegative : key_tag::int_negative, m);
    return;
  }
  const std::uint64_t top = words_little_endian[words - 1];
  const std::size_t top_bytes = (71 - static_cast<std::size_t>(__builtin_clzll(top))) / 8;
  const std::size_t n = top_bytes + 8 * (words - 1);
  note_value();
  ensure(11 + n);
  std::uint8_t* p = buf_.data() + len_;
  *p++ = static_cast<std::uint8_t>(negative ? key_tag::int_negative : key_tag::int_nonnegative);
  p = put_varint(p, n);
  for (std::size_t b = top_bytes; b > 0; --b) {
    *p++ = static_cast<std::uint8_t>(top >> (8 * (b - 1)));
  }
  for (std::size_t w = words - 1; w > 0; --w) {
    const std::uint64_t x = words_little_endian[w - 1];
    for (int b = 7; b >= 0; --b) *p++ = static_cast<std::uint8_t>(x >> (8 * b));
  }
  len_ = static_cast<std::size_t>(p - buf_.data());
}

void key_builder::add_float(double v) {
  std::uint64_t bits;
  if (std::isnan(v)) {
    bits = 0x7FF8000000000000ull;  // the one NaN
  } else if (std::isfinite(v) && std::trunc(v) == v) {
    // Integral: the integer's encoding. -0.0 lands here too and becomes 0.
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
      add_int(static_cast<std::int64_t>(v));
      return;
    }
    // |v| >= 2^63: mantissa * 2^shift with shift >= 11, at most 1024 bits.
    bits = std::bit_cast<std::uint64_t>(v);
    const int exponent = static_cast<int>((bits >> 52) & 0x7FF);
    const std::uint64_t mantissa = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    const int shift = exponent - 1075;
    std::uint8_t le[136] = {};
    const std::uint64_t shifted = mantissa << (shift % 8);  // < 2^60
    for (int k = 0; k < 8; ++k) le[shift / 8 + k] = static_cast<std::uint8_t>(shifted >> (8 * k));
    const std::size_t n = static_cast<std::size_t>(shift / 8 + 8);
    std::uint8_t be[136];
    for (std::size_t k = 0; k < n; ++k) be[k] = le[n - 1 - k];
    add_big_int((bits >> 63) != 0, std::span<const std::uint8_t>(be, n));
    return;
  } else {
    bits = std::bit_cast<std::uint64_t>(v);
  }
  note_value();
  ensure(9);
  std::uint8_t* p = buf_.data() + len_;
  p[0] = static_cast<std::uint8_t>(key_tag::float64);
  for (int k = 0; k < 8; ++k) p[1 + k] = static_cast<std::uint8_t>(bits >> (8 * k));
  len_ += 9;
}

status key_builder::add_string(std::string_view utf8, std::string_view what) {
  const std::size_t bad = utf8_error_offset(utf8);
  if (bad != utf8.size()) {
    static constexpr char digits[] = "0123456789abcdef";
    const auto c = static_cast<unsigned char>(utf8[bad]);
    std::string msg(what);
    msg.append(" must be valid UTF-8 (invalid sequence starting with byte 0x")
        .append(1, digits[c >> 4])
        .append(1, digits[c & 0xF])
        .append(" at offset ")
        .append(std::to_string(bad))
        .append(")");
    return {status_code::out_of_range, std::move(msg)};
  }
  put_blob(key_tag::string, utf8.data(), utf8.size());
  return {};
}

status key_builder::add_buffer(std::string_view dtype, std::span<const std::int64_t> shape,
                               std::span<const std::byte> data, std::string_view what) {
  const std::int64_t itemsize = dtype_itemsize(dtype);
  if (itemsize < 0) {
    std::string msg(what);
    msg.append(" dtype must be a normalized numpy dtype string: '<' or '|', a kind in "
               "\"biufcmMSUV\" and an item size, such as '<f8' or '|u1' (got '")
        .append(dtype)
        .append("')");
    return {status_code::invalid_argument, std::move(msg)};
  }
  if (shape.size() > max_depth) {
    std::string msg(what);
    msg.append(" shape must have at most 64 dimensions (got ")
        .append(std::to_string(shape.size()))
        .append(")");
    return {status_code::out_of_range, std::move(msg)};
  }
  auto shape_text = [&] {  // error path only
    std::string t = "(";
    for (std::size_t k = 0; k < shape.size(); ++k) {
      if (k) t.append(", ");
      t.append(std::to_string(shape[k]));
    }
    return t.append(shape.size() == 1 ? ",)" : ")");
  };
  // Product of the shape times the item size. An overflow matches no real buffer unless some
  // dimension is 0.
  std::uint64_t expected = static_cast<std::uint64_t>(itemsize);
  bool overflow = false, empty = false;
  for (const std::int64_t d : shape) {
    if (d < 0) {
      std::string msg(what);
      msg.append(" shape must have dimensions >= 0 (got ").append(shape_text()).append(")");
      return {status_code::out_of_range, std::move(msg)};
    }
    empty = empty || d == 0;
    overflow = __builtin_mul_overflow(expected, static_cast<std::uint64_t>(d), &expected) ||
               overflow;
  }
  if (empty) expected = 0;
  if ((overflow && !empty) || expected != data.size()) {
    std::string msg(what);
    msg.append(" data must be product(shape) * itemsize bytes for dtype '")
        .append(dtype)
        .append("' and shape ")
        .append(shape_text())
        .append(" (got ")
        .append(std::to_string(data.size()))
        .append(" bytes)");
    return {status_code::out_of_range, std::move(msg)};
  }
  note_value();
  ensure(1 + 10 + dtype.size() + 10 + 10 * shape.size() + 10 + data.size());
  buf_[len_++] = static_cast<std::uint8_t>(key_tag::buffer);
  put_varint_unchecked(dtype.size());
  std::memcpy(buf_.data() + len_, dtype.data(), dtype.size());
  len_ += dtype.size();
  put_varint_unchecked(shape.size());
  for (const std::int64_t d : shape) put_varint_unchecked(static_cast<std::uint64_t>(d));
  put_varint_unchecked(data.size());
  if (!data.empty()) std::memcpy(buf_.data() + len_, data.data(), data.size());
  len_ += data.size();
  return {};
}

status key_builder::begin(key_tag t, std::size_t count) {
  if (frames_.size() >= max_depth) {
    return {status_code::out_of_range,
            "key nesting depth must be at most 64 containers (got deeper: a cyclic or too deeply "
            "nested argument)"};
  }
  note_value();
  ensure(11);
  const std::size_t start = len_;
  std::uint8_t* p = buf_.data() + start;
  *p++ = static_cast<std::uint8_t>(t);
  len_ = static_cast<std::size_t>(put_varint(p, count) - buf_.data());
  frames_.push_back(frame{start, len_, 0, count, offsets_.size(), t});
  return {};
}

void key_builder::rewrite_count(const frame& f, std::size_t count) {
  const std::size_t old_size = f.body - f.start - 1;
  const std::size_t new_size = varint_size(count);
  if (new_size != old_size) {
    if (new_size > old_size) ensure(new_size - old_size);
    std::memmove(buf_.data() + f.start + 1 + new_size, buf_.data() + f.body, len_ - f.body);
    len_ = len_ + new_size - old_size;
  }
  const std::size_t end = len_;
  len_ = f.start + 1;
  put_varint_unchecked(count);
  len_ = end;
}

void key_builder::end_unordered(std::size_t values_per_element) {
  assert(!frames_.empty() && frames_.back().tag != key_tag::list);
  const frame f = frames_.back();
  frames_.pop_back();
  const std::size_t values = offsets_.size() - f.first;
  assert(values % values_per_element == 0 && "a map needs a value for every key");
  const std::size_t elements = values / values_per_element;
  if (elements <= 1) {  // fast path: nothing to sort
    offsets_.resize(f.first);
    if (elements != f.expected) rewrite_count(f, elements);
    return;
  }
  spans_.clear();
  for (std::size_t i = 0; i < elements; ++i) {
    const std::size_t start = offsets_[f.first + i * values_per_element];
    const std::size_t end =
        i + 1 < elements ? offsets_[f.first + (i + 1) * values_per_element] : len_;
    spans_.push_back({start, end - start});
  }
  offsets_.resize(f.first);
  const std::uint8_t* base = buf_.data();
  auto less = [base](const span_ref& x, const span_ref& y) {
    const int c = std::memcmp(base + x.start, base + y.start, std::min(x.size, y.size));
    return c != 0 ? c < 0 : x.size < y.size;
  };
  auto same = [base](const span_ref& x, const span_ref& y) {
    return x.size == y.size && std::memcmp(base + x.start, base + y.start, x.size) == 0;
  };
  if (spans_.size() <= 16) {  // small containers (the usual kwargs dict): insertion sort
    for (std::size_t i = 1; i < spans_.size(); ++i) {
      const span_ref cur = spans_[i];
      std::size_t j = i;
      for (; j > 0 && less(cur, spans_[j - 1]); --j) spans_[j] = spans_[j - 1];
      spans_[j] = cur;
    }
  } else {
    std::sort(spans_.begin(), spans_.end(), less);
  }
  spans_.erase(std::unique(spans_.begin(), spans_.end(), same), spans_.end());
  // Copy the sorted, unique elements out, then back over the container's old body. scratch_ only
  // grows (no zero-filling on the hot path).
  const std::size_t body = len_ - f.body;
  if (scratch_.size() < body) scratch_.resize(std::max(body, 2 * scratch_.size()));
  std::uint8_t* out = scratch_.data();
  for (const span_ref& sp : spans_) {
    std::memcpy(out, base + sp.start, sp.size);
    out += sp.size;
  }
  const std::size_t total = static_cast<std::size_t>(out - scratch_.data());
  len_ = f.start + 1;
  ensure(10 + total);
  std::uint8_t* p = put_varint(buf_.data() + len_, spans_.size());
  std::memcpy(p, scratch_.data(), total);
  len_ = static_cast<std::size_t>(p + total - buf_.data());
}

}  // namespace twincache
