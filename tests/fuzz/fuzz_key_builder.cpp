// fuzz_key_builder: libFuzzer target for key_builder (core/include/twincache/key_builder.hpp).
// The input is read as a program that builds a tree of typed key parts (ints, big ints, floats,
// strings with arbitrary bytes, bytes, numpy-style buffers with arbitrary dtypes, lists, maps and
// sets nested past max_depth). The tree is added to three builders, and these must hold:
//   - a failed call (bad UTF-8, bad dtype or shape, too deep) leaves the builder's bytes unchanged;
//   - maps and sets are order-free: adding their elements in reverse gives the same bytes;
//   - a reused builder (reset()) gives the same bytes as a fresh one, and hash() is the hash of
//     bytes();
//   - the bytes parse back per docs/keys.md: version 1, one value per added part, minimal
//     integers, sorted unique map/set elements, nothing left over;
//   - an integral float encodes as that integer; add_big_int and add_big_int_words agree.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "twincache/key_builder.hpp"

using twincache::key_builder;
using twincache::key_tag;

namespace {

[[noreturn]] void fail(const char* what, std::string_view bytes = {}) {
  std::fprintf(stderr, "fuzz_key_builder invariant failed: %s %s\n", what,
               twincache::bytes_to_hex(bytes).c_str());
  std::abort();
}

enum class kind { null, undef, boolean, i64, u64, big, flt, str, bytes, buffer, list, map, set };

struct node {
  kind k = kind::null;
  bool flag = false;             // bool value; big int sign
  std::int64_t i = 0;            // i64; count hint for containers
  std::uint64_t u = 0;
  double f = 0;
  std::string s;                 // string, bytes, big-int magnitude, buffer data
  std::string dtype;             // buffer
  std::vector<std::int64_t> shape;
  std::vector<node> kids;        // list/set elements; map: key, value, key, value...
};

const char* const dtypes[] = {"<f8", "|u1", "<i4", "<M8[ns]", "|b1", "<c16", "<U3", "|S5",
                              "<m8[10s]", ">f8", "<f", "|V0", "<S05"};

node gen(FuzzedDataProvider& p, int depth, int& budget) {
  node n;
  if (--budget <= 0 || p.remaining_bytes() == 0) return n;
  const int op = p.ConsumeIntegralInRange(0, depth > 70 ? 9 : 12);
  switch (op) {
    case 0: n.k = kind::null; break;
    case 1: n.k = kind::undef; break;
    case 2: n.k = kind::boolean; n.flag = p.ConsumeBool(); break;
    case 3: n.k = kind::i64; n.i = p.ConsumeIntegral<std::int64_t>(); break;
    case 4: n.k = kind::u64; n.u = p.ConsumeIntegral<std::uint64_t>(); break;
    case 5:
      n.k = kind::big;
      n.flag = p.ConsumeBool();
      n.s = p.ConsumeBytesAsString(p.ConsumeIntegralInRange<std::size_t>(0, 40));
      break;
    case 6: {
      n.k = kind::flt;
      // Either any bit pattern or an integral value (the int-equivalence path).
      if (p.ConsumeBool()) {
        n.f = p.ConsumeFloatingPoint<double>();
      } else {
        n.f = std::ldexp(static_cast<double>(p.ConsumeIntegral<std::int32_t>()),
                         p.ConsumeIntegralInRange(0, 80));
      }
      break;
    }
    case 7: n.k = kind::str; n.s = p.ConsumeRandomLengthString(64); break;
    case 8: n.k = kind::bytes; n.s = p.ConsumeRandomLengthString(64); break;
    case 9: {
      n.k = kind::buffer;
      n.dtype = p.ConsumeBool() ? std::string(dtypes[p.ConsumeIntegralInRange<std::size_t>(
                                      0, sizeof dtypes / sizeof dtypes[0] - 1)])
                                : p.ConsumeRandomLengthString(12);
      const int ndim = p.ConsumeIntegralInRange(0, 4);
      for (int d = 0; d < ndim; ++d) n.shape.push_back(p.ConsumeIntegralInRange<std::int64_t>(-1, 5));
      n.s = p.ConsumeRandomLengthString(256);
      break;
    }
    default: {
      n.k = op == 10 ? kind::list : op == 11 ? kind::map : kind::set;
      const int count = p.ConsumeIntegralInRange(0, 6);
      n.i = p.ConsumeBool() ? count : p.ConsumeIntegralInRange(0, 300);
      for (int c = 0; c < count * (n.k == kind::map ? 2 : 1); ++c) {
        n.kids.push_back(gen(p, depth + 1, budget));
      }
      break;
    }
  }
  return n;
}

std::uint64_t big_word(const std::string& mag, std::size_t w) {
  // Word w (little-endian words) of a big-endian magnitude.
  std::uint64_t out = 0;
  for (std::size_t b = 0; b < 8; ++b) {
    const std::size_t from_end = w * 8 + b;
    if (from_end >= mag.size()) break;
    out |= static_cast<std::uint64_t>(static_cast<unsigned char>(mag[mag.size() - 1 - from_end]))
           << (8 * b);
  }
  return out;
}

// Adds n; reverse: unordered containers' elements in reverse order. False if it was refused.
bool emit(key_builder& b, const node& n, bool reverse) {
  const std::string before(b.bytes());
  const std::size_t depth = b.depth();
  auto unchanged = [&](const char* what) {
    if (b.bytes() != before || b.depth() != depth) fail(what);
  };
  switch (n.k) {
    case kind::null: b.add_null(); break;
    case kind::undef: b.add_undefined(); break;
    case kind::boolean: b.add_bool(n.flag); break;
    case kind::i64: b.add_int(n.i); break;
    case kind::u64: b.add_uint(n.u); break;
    case kind::big:
      b.add_big_int(n.flag, {reinterpret_cast<const std::uint8_t*>(n.s.data()), n.s.size()});
      break;
    case kind::flt: b.add_float(n.f); break;
    case kind::str:
      if (!b.add_string(n.s).ok()) {
        unchanged("failed add_string changed the builder");
        return false;
      }
      break;
    case kind::bytes: b.add_bytes(n.s.data(), n.s.size()); break;
    case kind::buffer:
      if (!b.add_buffer(n.dtype, n.shape,
                        {reinterpret_cast<const std::byte*>(n.s.data()), n.s.size()})
               .ok()) {
        unchanged("failed add_buffer changed the builder");
        return false;
      }
      break;
    case kind::list:
    case kind::map:
    case kind::set: {
      const auto hint = static_cast<std::size_t>(n.i);
      const twincache::status st = n.k == kind::list  ? b.begin_list(hint)
                                   : n.k == kind::map ? b.begin_map(hint)
                                                      : b.begin_set(hint);
      if (!st.ok()) {
        unchanged("failed begin_* changed the builder");
        if (depth < key_builder::max_depth) fail("begin_* failed below max_depth");
        return false;
      }
      const std::size_t per = n.k == kind::map ? 2 : 1;
      const std::size_t elements = n.kids.size() / per;
      for (std::size_t e = 0; e < elements; ++e) {
        const std::size_t idx = (reverse && n.k != kind::list) ? elements - 1 - e : e;
        // A refused part aborts the whole key, as in the bindings (which reset() for the next).
        for (std::size_t v = 0; v < per; ++v) {
          if (!emit(b, n.kids[idx * per + v], reverse)) return false;
        }
      }
      if (n.k == kind::list) b.end_list();
      else if (n.k == kind::map) b.end_map();
      else b.end_set();
      break;
    }
  }
  return true;
}

// ---- a reader of docs/keys.md encodings ------------------------------------------------------
struct reader {
  std::string_view in;
  std::size_t pos = 0;
  bool ok = true;

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= in.size()) return ok = false, 0;
      const auto c = static_cast<unsigned char>(in[pos++]);
      v |= static_cast<std::uint64_t>(c & 0x7F) << shift;
      if ((c & 0x80) == 0) return v;
    }
    return ok = false, 0;
  }
  std::string_view take(std::uint64_t n) {
    if (n > in.size() - pos) return ok = false, std::string_view();
    const std::string_view s = in.substr(pos, n);
    pos += n;
    return s;
  }
  // One value; returns its bytes.
  std::string_view value() {
    const std::size_t start = pos;
    if (pos >= in.size()) return ok = false, std::string_view();
    const auto tag = static_cast<key_tag>(in[pos++]);
    switch (tag) {
      case key_tag::null: case key_tag::false_: case key_tag::true_: case key_tag::undefined:
        break;
      case key_tag::int_nonnegative:
      case key_tag::int_negative: {
        const std::string_view m = take(varint());
        if (!m.empty() && m[0] == 0) fail("integer magnitude not minimal");
        if (ok && tag == key_tag::int_negative && m.empty()) fail("negative zero");
        break;
      }
      case key_tag::float64: {
        const std::string_view b = take(8);
        if (!ok) break;
        double d;
        std::memcpy(&d, b.data(), 8);
        if (std::isfinite(d) && d == std::floor(d)) fail("integral float stored as float64");
        break;
      }
      case key_tag::string: case key_tag::bytes: take(varint()); break;
      case key_tag::list: {
        const std::uint64_t n = varint();
        for (std::uint64_t i = 0; i < n && ok; ++i) value();
        break;
      }
      case key_tag::map:
      case key_tag::set: {
        const std::uint64_t n = varint();
        std::string prev;
        for (std::uint64_t i = 0; i < n && ok; ++i) {
          const std::size_t s = pos;
          value();
          if (tag == key_tag::map) value();
          std::string cur(in.substr(s, pos - s));
          if (i > 0 && !(prev < cur)) fail("map/set elements not sorted and unique");
          prev = std::move(cur);
        }
        break;
      }
      case key_tag::buffer: {  // dtype, ndim, dims, then the data with its length
        take(varint());
        const std::uint64_t ndim = varint();
        for (std::uint64_t d = 0; d < ndim && ok; ++d) varint();
        take(varint());
        break;
      }
      default: ok = false; break;
    }
    return in.substr(start, pos - start);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider p(data, size);
  std::vector<node> parts;
  int budget = 400;
  while (p.remaining_bytes() > 0 && budget > 0 && parts.size() < 16) {
    parts.push_back(gen(p, 0, budget));
  }
  static key_builder reused;  // reset() between inputs: must behave as a fresh builder
  reused.reset();
  key_builder fresh, reversed;
  std::size_t accepted = 0;
  for (const node& n : parts) {
    const bool ok = emit(fresh, n, false);
    emit(reused, n, false);
    // A refused part ends the key; `reused` stays dirty (open containers): the next input's
    // reset() must clean it up.
    if (!ok) return 0;
    emit(reversed, n, true);
    ++accepted;
  }
  if (fresh.depth() != 0) fail("containers left open");
  if (fresh.bytes() != reversed.bytes()) fail("unordered containers depend on insertion order");
  if (fresh.bytes() != reused.bytes()) fail("a reset builder differs from a fresh one");
  const twincache::hash128 h = fresh.hash();
  const twincache::hash128 want = twincache::hash128_of(fresh.bytes());
  if (h.high != want.high || h.low != want.low || fresh.hash64() != twincache::hash64(fresh.bytes())) {
    fail("hash() is not the hash of bytes()");
  }
  reader r{fresh.bytes()};
  if (r.in.empty() || static_cast<unsigned char>(r.in[0]) != key_builder::version) {
    fail("missing version byte");
  }
  r.pos = 1;
  std::size_t values = 0;
  while (r.ok && r.pos < r.in.size()) {
    r.value();
    ++values;
  }
  if (!r.ok) fail("encoding does not parse", fresh.bytes());
  // Every part that was accepted is one top-level value (refused ones add nothing).
  if (values != accepted) fail("top-level values differ from the parts accepted");
  // Cross-checks of equivalent spellings of one number.
  for (const node& n : parts) {
    if (n.k == kind::flt && std::isfinite(n.f) && n.f == std::floor(n.f) &&
        std::fabs(n.f) < 9.2e18) {
      key_builder a, b;
      a.add_float(n.f);
      b.add_int(static_cast<std::int64_t>(n.f));
      if (a.bytes() != b.bytes()) fail("integral float differs from the integer");
    }
    if (n.k == kind::big) {
      std::vector<std::uint64_t> words((n.s.size() + 7) / 8);
      for (std::size_t w = 0; w < words.size(); ++w) words[w] = big_word(n.s, w);
      key_builder a, b;
      a.add_big_int(n.flag, {reinterpret_cast<const std::uint8_t*>(n.s.data()), n.s.size()});
      b.add_big_int_words(n.flag, words);
      if (a.bytes() != b.bytes()) fail("add_big_int and add_big_int_words differ");
    }
  }
  return 0;
}
