// key_builder.hpp: builds the canonical binary encoding of a key (docs/keys.md) and its stable
// hashes. Python and Node bindings call it to key arguments by content (lists, dicts, sets,
// buffers) and to name entries of the disk tier; the pure-language encoders
// (python/twincache/_keys.py, node/lib/keys.js) produce the same bytes, frozen by
// tests/vectors/keys.json.
//
// Usage: add values in order; containers are bracketed by begin_*/end_*. The encoding is
//   version byte (1), then every top-level value added since reset().
//
// Hot path: this sits on the Python and Node call paths for content keys. One builder is meant to
// be reused (reset() keeps every buffer), so after warm-up building a key allocates nothing; the
// common cases (small ints, short strings, small lists) are a few byte stores each, and only
// unordered containers (maps, sets) with two or more elements sort anything.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "twincache/hash.hpp"
#include "twincache/status.hpp"

namespace twincache {

// The one-byte tags of docs/keys.md. Values are frozen: they are part of every stored key.
enum class key_tag : std::uint8_t {
  null = 0x00,
  false_ = 0x01,
  true_ = 0x02,
  int_nonnegative = 0x03,  // varint n, n bytes of magnitude, big-endian, minimal (0: n == 0)
  int_negative = 0x04,     // as above, magnitude of the value (>= 1)
  float64 = 0x05,          // 8 bytes, IEEE 754 binary64, little-endian
  string = 0x06,           // varint n, n bytes of UTF-8
  bytes = 0x07,            // varint n, n bytes
  list = 0x08,             // varint count, count values
  map = 0x09,              // varint count, count (key, value) pairs sorted bytewise, unique
  set = 0x0A,              // varint count, count values sorted bytewise, unique
  buffer = 0x0B,           // dtype (varint n + ASCII), varint ndim, ndim varint dims, data
  undefined = 0x0C,        // JavaScript's undefined (never produced by Python)
};

class key_builder {
 public:
  static constexpr std::uint8_t version = 1;
  // Containers nested deeper than this are refused (a cycle in a Python or JS object graph
  // reaches it instead of recursing forever).
  static constexpr std::size_t max_depth = 64;

  key_builder() {
    frames_.reserve(max_depth);
    offsets_.reserve(64);
    reset();
  }

  // Forgets the key being built, keeps the memory (allocates only the first time).
  void reset() {
    len_ = 0;
    ensure(64);
    buf_[len_++] = version;
    frames_.clear();
    offsets_.clear();
  }

  // ---- scalars -------------------------------------------------------------------------------
  void add_null() { put_tag(key_tag::null); }
  void add_undefined() { put_tag(key_tag::undefined); }
  void add_bool(bool v) { put_tag(v ? key_tag::true_ : key_tag::false_); }
  // Hot path: small integers are 3 bytes (tag, length, one magnitude byte).
  void add_int(std::int64_t v) {
    if (v < 0) {
      put_magnitude(key_tag::int_negative, 0 - static_cast<std::uint64_t>(v));
    } else {
      put_magnitude(key_tag::int_nonnegative, static_cast<std::uint64_t>(v));
    }
  }
  void add_uint(std::uint64_t v) { put_magnitude(key_tag::int_nonnegative, v); }
  // Any integer: sign and magnitude (big-endian, leading zero bytes allowed and dropped).
  // A zero magnitude is 0 whatever `negative` says.
  void add_big_int(bool negative, std::span<const std::uint8_t> magnitude_big_endian);
  // The same from 64-bit words, least significant first (N-API's napi_get_value_bigint_words).
  void add_big_int_words(bool negative, std::span<const std::uint64_t> words_little_endian);
  // Integral finite values encode as that integer (1.0 == 1, -0.0 == 0); NaN has one encoding;
  // the rest as float64.
  void add_float(double v);
  // Fails (out_of_range, message naming `what`) on invalid UTF-8, including encoded surrogates.
  status add_string(std::string_view utf8, std::string_view what = "key string");
  void add_bytes(std::span<const std::byte> data) {
    put_blob(key_tag::bytes, data.data(), data.size());
  }
  void add_bytes(const void* data, std::size_t size) { put_blob(key_tag::bytes, data, size); }

  // An n-dimensional array: a normalized numpy dtype string ('<f8', '|u1', '<M8[ns]'; byte order
  // '<' or '|', see docs/keys.md), its shape, and its bytes in C order. Checks that the dtype is
  // canonical and that data.size() == product(shape) * itemsize.
  status add_buffer(std::string_view dtype, std::span<const std::int64_t> shape,
                    std::span<const std::byte> data, std::string_view what = "key buffer");

  // ---- containers ----------------------------------------------------------------------------
  // Each begin_* counts as one value of the enclosing container. They fail (out_of_range) past
  // max_depth; the builder is then unchanged. `count` is the expected number of elements: if the
  // container ends with another count, end_* rewrites the header (correct, just slower).
  status begin_list(std::size_t count) { return begin(key_tag::list, count); }
  void end_list() {
    const frame& f = frames_.back();
    if (f.count != f.expected) rewrite_count(f, f.count);
    frames_.pop_back();
  }
  // Maps: add key, value, key, value... Pairs are sorted by their encodings at end_map().
  status begin_map(std::size_t count = 0) { return begin(key_tag::map, count); }
  void end_map() { end_unordered(2); }
  status begin_set(std::size_t count = 0) { return begin(key_tag::set, count); }
  void end_set() { end_unordered(1); }

  // ---- result --------------------------------------------------------------------------------
  // The encoding so far (complete when every container is closed). Valid until the next call.
  std::string_view bytes() const noexcept {
    return {reinterpret_cast<const char*>(buf_.data()), len_};
  }
  std::size_t depth() const noexcept { return frames_.size(); }
  hash128 hash() const noexcept { return hash128_of(bytes()); }
  std::uint64_t hash64() const noexcept { return twincache::hash64(bytes()); }

 private:
  struct frame {
    std::size_t start;     // offset of the tag
    std::size_t body;      // offset of the first element
    std::size_t count;     // elements so far (lists only)
    std::size_t expected;  // count written in the header
    std::size_t first;     // index of this container's first entry in offsets_ (unordered only)
    key_tag tag;
  };

  // Makes room for n more bytes.
  void ensure(std::size_t n) {
    if (len_ + n > buf_.size()) grow(len_ + n);
  }
  void grow(std::size_t need);

  // Called before each value is written: lists count it, unordered containers record where it
  // starts (an append to a vector whose capacity survives reset()).
  void note_value() {
    if (frames_.empty()) return;
    frame& f = frames_.back();
    if (f.tag == key_tag::list) {
      ++f.count;
      return;
    }
    offsets_.push_back(len_);
  }

  // The writers below work through a local pointer and update len_ once: stores through a byte
  // pointer could alias len_ and buf_, which would force a reload after every byte.
  void put_tag(key_tag t) {
    note_value();
    ensure(1);
    buf_[len_++] = static_cast<std::uint8_t>(t);
  }

  static std::size_t varint_size(std::uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 0x80) {
      v >>= 7;
      ++n;
    }
    return n;
  }
  // Writes v as LEB128 at p (room for 10 bytes); returns the end.
  static std::uint8_t* put_varint(std::uint8_t* p, std::uint64_t v) noexcept {
    while (v >= 0x80) {
      *p++ = static_cast<std::uint8_t>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<std::uint8_t>(v);
    return p;
  }
  void put_varint_unchecked(std::uint64_t v) noexcept {
    len_ = static_cast<std::size_t>(put_varint(buf_.data() + len_, v) - buf_.data());
  }

  // Hot path: tag, length byte, and the magnitude's n bytes as one 8-byte store.
  void put_magnitude(key_tag t, std::uint64_t m) {
    note_value();
    ensure(10);
    std::uint8_t* p = buf_.data() + len_;
    const unsigned n = m == 0 ? 0u : (71u - static_cast<unsigned>(__builtin_clzll(m))) / 8u;
    p[0] = static_cast<std::uint8_t>(t);
    p[1] = static_cast<std::uint8_t>(n);
    if (n != 0) {
      if constexpr (std::endian::native == std::endian::little) {
        const std::uint64_t be = __builtin_bswap64(m << (8 * (8 - n)));
        std::memcpy(p + 2, &be, 8);  // the bytes past n are scratch, overwritten later
      } else {
        for (unsigned i = 0; i < n; ++i) {
          p[2 + i] = static_cast<std::uint8_t>(m >> (8 * (n - 1 - i)));
        }
      }
    }
    len_ += 2 + n;
  }

  // Hot path for strings and bytes: tag, LEB128 length, one memcpy.
  void put_blob(key_tag t, const void* data, std::size_t size) {
    note_value();
    ensure(11 + size);
    std::uint8_t* p = buf_.data() + len_;
    *p++ = static_cast<std::uint8_t>(t);
    p = put_varint(p, size);
    if (size != 0) std::memcpy(p, data, size);
    len_ = static_cast<std::size_t>(p + size - buf_.data());
  }
  status begin(key_tag t, std::size_t count);
  void end_unordered(std::size_t values_per_element);
  // Rewrites the count of the container starting at f.start to `count`, moving the body if the
  // varint's length changes.
  void rewrite_count(const frame& f, std::size_t count);

  std::vector<std::uint8_t> buf_;     // sized to capacity; len_ bytes are in use
  std::size_t len_ = 0;
  std::vector<frame> frames_;         // open containers
  std::vector<std::size_t> offsets_;  // start offsets of the values of open unordered containers
  // Scratch for end_unordered (kept across keys).
  struct span_ref {
    std::size_t start, size;
  };
  std::vector<span_ref> spans_;
  std::vector<std::uint8_t> scratch_;
};

// Lowercase hex of raw bytes (tests, tools, error messages).
inline std::string bytes_to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xF]);
  }
  return out;
}

}  // namespace twincache
