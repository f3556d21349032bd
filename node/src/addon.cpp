// addon.cpp: the Node-API face of the twincache core (node-addon-api, NAPI_VERSION pinned by
// node/CMakeLists.txt). Three things cross here, none of them on a cache hit:
//
//   1. the core's checks (parse_limit, parse_ttl, parse_policy, check_entry_size) and its clock,
//      so both modes of the package say the same thing and tests inject time into the core;
//   2. SlotEngine, an entry_table for the object-mode Cache (node/lib/native.js). JavaScript keeps
//      the key -> slot Map and the values; a hit only appends its slot to `ring` (a Uint32Array
//      shared with this object), and every engine call first replays the ring into the policy,
//      then inserts, updates or removes, reporting the slots it evicted through `out`;
//   3. ByteStore, the byte mode: keys and values (strings, bytes) live here, outside the V8 heap,
//      so a million entries put no load on the garbage collector;
//   4. RedisMac (redis_mac.cpp), the Redis envelope's HMAC on the core's SHA-256: on an L2 hit,
//      one call that verifies the envelope in place.
//
// Statuses never become exceptions here: they go back to JavaScript as [codeName, message]
// and node/lib/errors.js makes the one kind of error the package throws.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis_mac.hpp"
#include "twincache/clock.hpp"
#include "twincache/detail/flat_index.hpp"
#include "twincache/entry_table.hpp"
#include "twincache/hash.hpp"
#include "twincache/options.hpp"
#include "twincache/policy.hpp"
#include "twincache/stats.hpp"
#include "twincache/status.hpp"

namespace {

using twincache::status;

// Bumped when the JavaScript <-> addon interface changes (node/lib/binding.js checks it).
constexpr std::uint32_t addon_abi = 2;

Napi::Value status_value(Napi::Env env, const status& st) {
  if (st.ok()) return env.Null();
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::String::New(env, std::string(twincache::status_code_name(st.code()))));
  a.Set(1u, Napi::String::New(env, st.message()));
  return a;
}

std::string string_arg(const Napi::Value& v) { return v.As<Napi::String>().Utf8Value(); }

// ---- 1. checks and clock ------------------------------------------------------------------

Napi::Value check_limit(const Napi::CallbackInfo& info) {
  std::uint64_t out = 0;
  return status_value(info.Env(), twincache::parse_limit(string_arg(info[0]),
                                                         info[1].As<Napi::Number>().DoubleValue(),
                                                         out));
}

Napi::Value check_ttl(const Napi::CallbackInfo& info) {
  twincache::time_ns out = 0;
  return status_value(info.Env(),
                      twincache::parse_ttl(string_arg(info[0]),
                                           info[1].As<Napi::Number>().DoubleValue(), 1e6,
                                           "milliseconds", out));
}

Napi::Value check_policy(const Napi::CallbackInfo& info) {
  twincache::policy_kind kind{};
  return status_value(info.Env(),
                      twincache::parse_policy(string_arg(info[0]), string_arg(info[1]), kind));
}

std::uint64_t limit_arg(const Napi::Value& v) {
  std::uint64_t out = twincache::unlimited;
  (void)twincache::parse_limit("limit", v.As<Napi::Number>().DoubleValue(), out);
  return out;
}

Napi::Value check_entry_size(const Napi::CallbackInfo& info) {
  twincache::limits l;
  l.max_bytes = limit_arg(info[0]);
  std::uint64_t w = 0;
  const auto key_bytes = static_cast<std::uint64_t>(info[1].As<Napi::Number>().DoubleValue());
  const auto value_weight = static_cast<std::uint64_t>(info[2].As<Napi::Number>().DoubleValue());
  return status_value(info.Env(), twincache::check_entry_size(l, key_bytes, value_weight, w));
}

Napi::Value default_policy(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(),
                           std::string(twincache::policy_name(twincache::default_policy())));
}

twincache::policy_kind policy_arg(const Napi::Value& v) {
  twincache::policy_kind kind = twincache::default_policy();
  (void)twincache::parse_policy("policy", string_arg(v), kind);
  return kind;
}

// A TTL in milliseconds (already checked by JavaScript); 0 means none.
std::optional<twincache::time_ns> ttl_arg(const Napi::Value& v) {
  const double ms = v.As<Napi::Number>().DoubleValue();
  if (ms == 0) return std::nullopt;
  twincache::time_ns ns = 0;
  if (!twincache::parse_ttl("ttl", ms, 1e6, "milliseconds", ns).ok()) return std::nullopt;
  return ns;
}

// The process-wide clock every table here reads (entry_table's default).
Napi::Value clock_set_manual(const Napi::CallbackInfo& info) {
  twincache::clock::real()->set_manual(
      static_cast<twincache::time_ns>(info[0].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}
Napi::Value clock_advance(const Napi::CallbackInfo& info) {
  twincache::clock::real()->advance(
      static_cast<twincache::time_ns>(info[0].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}
Napi::Value clock_set_real(const Napi::CallbackInfo& info) {
  twincache::clock::real()->set_manual(-1);  // -1: back to real time (clock.hpp)
  return info.Env().Undefined();
}

Napi::Object stats_object(Napi::Env env, const twincache::stats& s) {
  Napi::Object o = Napi::Object::New(env);
  auto n = [&](const char* name, std::uint64_t v) {
    o.Set(name, Napi::Number::New(env, static_cast<double>(v)));
  };
  n("hits", s.hits);
  n("misses", s.misses);
  n("inserts", s.inserts);
  n("updates", s.updates);
  n("rejected", s.rejected);
  n("evictions", s.evictions());
  n("evictedItems", s.evicted_items);
  n("evictedBytes", s.evicted_bytes);
  n("expirations", s.expired);
  n("deleted", s.deleted);
  n("cleared", s.cleared);
  n("items", s.items);
  n("bytes", s.bytes);
  return o;
}

// The policy's hash of a key hash from JavaScript (a number: a 32-bit string hash, or the key
// itself when it is a number). Integers go through hash64_int as the replay tool and Python hash
// integer keys, so the same trace makes the same decisions; other numbers hash their bits.
std::uint64_t mix_hash(double h) {
  if (std::trunc(h) == h && h >= -9.2e18 && h <= 9.2e18) {
    return twincache::hash64_int(static_cast<std::uint64_t>(static_cast<std::int64_t>(h)));
  }
  std::uint64_t x = 0;
  std::memcpy(&x, &h, sizeof x);
  return twincache::hash64_int(x);
}

// ---- 2. SlotEngine: the object-mode Cache's policy, limits and slot ids --------------------

// Bit 31 of a reported slot: evicted for max_bytes (else for max_items).
constexpr std::uint32_t bytes_reason_bit = 0x80000000u;

class SlotEngine : public Napi::ObjectWrap<SlotEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SlotEngine",
                       {
                           InstanceMethod<&SlotEngine::js_insert>("insert"),
                           InstanceMethod<&SlotEngine::js_update>("update"),
                           InstanceMethod<&SlotEngine::js_remove>("remove"),
                           InstanceMethod<&SlotEngine::js_drain>("drain"),
                           InstanceMethod<&SlotEngine::js_clear>("clear"),
                           InstanceMethod<&SlotEngine::js_order>("order"),
                           InstanceMethod<&SlotEngine::js_evicted>("evicted"),
                           InstanceMethod<&SlotEngine::js_last_error>("lastError"),
                       });
  }

  // new SlotEngine(maxItems, maxBytes, policy, ring: Uint32Array, out: Uint32Array)
  explicit SlotEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SlotEngine>(info) {
    twincache::limits l;
    l.max_items = limit_arg(info[0]);
    l.max_bytes = limit_arg(info[1]);
    table_.emplace(l, policy_arg(info[2]));
    // Weak references: the arrays belong to the JavaScript Cache, which also holds this engine,
    // so they are alive whenever a method runs; a strong reference would keep them until this
    // object's finalizer runs (after an event loop turn), which a busy loop never reaches.
    ring_ref_ = Napi::Weak(info[3].As<Napi::Object>());
    out_ref_ = Napi::Weak(info[4].As<Napi::Object>());
  }

 private:
  // Replays the hits JavaScript recorded since the last call, in order (exact LRU stays exact).
  void drain(const Napi::Value& n) {
    const auto count = static_cast<std::size_t>(n.As<Napi::Number>().Uint32Value());
    if (count == 0) return;
    auto ring = ring_ref_.Value().As<Napi::Uint32Array>();
    const std::uint32_t* slots = ring.Data();
    const std::size_t cap = ring.ElementLength();
    for (std::size_t i = 0; i < count && i < cap; ++i) table_->touch(slots[i]);
  }

  auto recorder() {
    evicted_.clear();
    return [this](std::uint32_t slot, twincache::removal_reason why) {
      if (why == twincache::removal_reason::evicted_items) {
        evicted_.push_back(slot);
      } else if (why == twincache::removal_reason::evicted_bytes) {
        evicted_.push_back(slot | bytes_reason_bit);
      }
    };
  }

  // out[0] = evicted count; out[1..] = the slots when they fit (else JavaScript calls evicted()).
  void report() {
    auto out = out_ref_.Value().As<Napi::Uint32Array>();
    std::uint32_t* dst = out.Data();
    dst[0] = static_cast<std::uint32_t>(evicted_.size());
    if (evicted_.size() < out.ElementLength()) {
      std::memcpy(dst + 1, evicted_.data(), evicted_.size() * sizeof(std::uint32_t));
    }
  }

  // insert(ringCount, weight, keyHash) -> slot, or -1 (then lastError()).
  Napi::Value js_insert(const Napi::CallbackInfo& info) {
    drain(info[0]);
    const auto w = static_cast<std::uint64_t>(info[1].As<Napi::Number>().DoubleValue());
    std::uint32_t slot = twincache::no_slot;
    // JavaScript weighs the whole entry; the core adds entry_overhead_bytes to key + value.
    const std::uint64_t value_weight =
        w >= twincache::entry_overhead_bytes ? w - twincache::entry_overhead_bytes : 0;
    const std::uint64_t hash = mix_hash(info[2].As<Napi::Number>().DoubleValue());
    last_ = table_->insert(hash, 0, value_weight, std::nullopt, slot, recorder());
    report();
    if (!last_.ok()) return Napi::Number::New(info.Env(), -1);
    return Napi::Number::New(info.Env(), slot);
  }

  // update(ringCount, slot, weight) -> 0, or -1 (then lastError()).
  Napi::Value js_update(const Napi::CallbackInfo& info) {
    drain(info[0]);
    const std::uint32_t slot = info[1].As<Napi::Number>().Uint32Value();
    const auto w = static_cast<std::uint64_t>(info[2].As<Napi::Number>().DoubleValue());
    const std::uint64_t value_weight =
        w >= twincache::entry_overhead_bytes ? w - twincache::entry_overhead_bytes : 0;
    last_ = table_->update(slot, 0, value_weight, std::nullopt, recorder());
    report();
    return Napi::Number::New(info.Env(), last_.ok() ? 0 : -1);
  }

  // remove(ringCount, slot)
  Napi::Value js_remove(const Napi::CallbackInfo& info) {
    drain(info[0]);
    const std::uint32_t slot = info[1].As<Napi::Number>().Uint32Value();
    if (table_->is_resident(slot)) table_->erase(slot, [](std::uint32_t, auto) {});
    return info.Env().Undefined();
  }

  Napi::Value js_drain(const Napi::CallbackInfo& info) {
    drain(info[0]);
    return info.Env().Undefined();
  }

  Napi::Value js_clear(const Napi::CallbackInfo& info) {
    table_->clear([](std::uint32_t, auto) {});
    return info.Env().Undefined();
  }

  // order(ringCount) -> Uint32Array of slots, most recently used first, or null when the
  // policy keeps no such order.
  Napi::Value js_order(const Napi::CallbackInfo& info) {
    drain(info[0]);
    auto* lru = table_->policy_impl().get_if<twincache::lru_policy>();
    if (lru == nullptr) return info.Env().Null();
    std::vector<std::uint32_t> slots;
    slots.reserve(table_->size());
    lru->for_each_mru([&](std::uint32_t s) { slots.push_back(s); });
    auto arr = Napi::Uint32Array::New(info.Env(), slots.size());
    std::memcpy(arr.Data(), slots.data(), slots.size() * sizeof(std::uint32_t));
    return arr;
  }

  // The last call's evicted slots, when they did not fit `out`.
  Napi::Value js_evicted(const Napi::CallbackInfo& info) {
    auto arr = Napi::Uint32Array::New(info.Env(), evicted_.size());
    std::memcpy(arr.Data(), evicted_.data(), evicted_.size() * sizeof(std::uint32_t));
    return arr;
  }

  Napi::Value js_last_error(const Napi::CallbackInfo& info) { return status_value(info.Env(), last_); }

  std::optional<twincache::entry_table> table_;
  Napi::ObjectReference ring_ref_, out_ref_;  // weak: the shared Uint32Arrays
  std::vector<std::uint32_t> evicted_;
  status last_;
};

// ---- 3. ByteStore: byte mode, keys and values outside the V8 heap ---------------------------

enum class value_kind : std::uint8_t {
  ascii,   // a string of ASCII only: returned with napi_create_string_latin1 (a plain copy)
  utf8,    // any other string
  binary,  // bytes, returned as a Buffer
};

struct byte_entry {
  std::string key;
  std::string value;
  value_kind kind = value_kind::ascii;
};

bool is_ascii(const std::string& s) noexcept {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

class ByteStore : public Napi::ObjectWrap<ByteStore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ByteStore",
                       {
                           InstanceMethod<&ByteStore::js_get>("get"),
                           InstanceMethod<&ByteStore::js_has>("has"),
                           InstanceMethod<&ByteStore::js_set>("set"),
                           InstanceMethod<&ByteStore::js_delete>("delete"),
                           InstanceMethod<&ByteStore::js_clear>("clear"),
                           InstanceMethod<&ByteStore::js_size>("size"),
                           InstanceMethod<&ByteStore::js_stats>("stats"),
                           InstanceMethod<&ByteStore::js_reset_stats>("resetStats"),
                           InstanceMethod<&ByteStore::js_entries>("entries"),
                           InstanceMethod<&ByteStore::js_prune>("prune"),
                       });
  }

  // new ByteStore(maxItems, maxBytes, ttlMs (0: none), policy)
  explicit ByteStore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ByteStore>(info) {
    twincache::limits l;
    l.max_items = limit_arg(info[0]);
    l.max_bytes = limit_arg(info[1]);
    table_.emplace(l, policy_arg(info[3]), nullptr, ttl_arg(info[2]));
  }

 private:
  using table_t = twincache::basic_entry_table<byte_entry>;

  // Reads a string key into the reused buffer (no allocation once warm).
  // Hot path: one N-API call for keys under 252 bytes (a second one only for longer keys).
  // napi_get_value_string_utf8 writes whole characters only: when the next one (up to 4 bytes)
  // does not fit, it stops short and says nothing, so a result within 4 bytes of the buffer's end
  // may have been cut (two keys differing after the cut would meet as one) and is read again at
  // its full length. Lone surrogates come out as U+FFFD: ByteCache (bytecache.js) refuses such
  // keys before they get here.
  std::string_view key_arg(const Napi::Value& v) {
    napi_env env = v.Env();
    std::size_t len = 0;
    if (key_.size() < 256) key_.resize(256);
    napi_get_value_string_utf8(env, v, key_.data(), key_.size(), &len);
    if (len + 4 >= key_.size()) {  // may have been cut: ask for the length, then copy it all
      napi_get_value_string_utf8(env, v, nullptr, 0, &len);
      key_.resize(len + 1);
      napi_get_value_string_utf8(env, v, key_.data(), len + 1, &len);
    }
    return std::string_view(key_.data(), len);
  }

  auto remover() {
    return [this](std::uint32_t slot, twincache::removal_reason) {
      auto& rec = table_->at(slot);
      index_.erase(rec.meta.hash, slot);
      rec.payload = byte_entry{};
    };
  }

  // The live slot of `key`, or no_slot (an expired entry is reclaimed and counted as a miss).
  std::uint32_t find(std::string_view key, bool count) {
    const std::uint32_t slot = index_.find(
        twincache::hash64(key), [&](std::uint32_t s) { return table_->at(s).payload.key == key; });
    if (slot == twincache::detail::flat_index::npos) {
      if (count) table_->record_miss();
      return twincache::no_slot;
    }
    // No entry has an expiry: no clock read (0 is before every expiry, `never` included).
    const twincache::time_ns now = table_->ttl_items() == 0 ? 0 : table_->now();
    if (count) return table_->lookup(slot, now, remover()) ? slot : twincache::no_slot;
    if (table_->is_live(slot, now)) return slot;
    table_->remove(slot, twincache::removal_reason::expired, remover());
    return twincache::no_slot;
  }

  Napi::Value value_of(Napi::Env env, const byte_entry& e) {
    napi_value out = nullptr;
    switch (e.kind) {
      case value_kind::ascii:
        napi_create_string_latin1(env, e.value.data(), e.value.size(), &out);
        return Napi::Value(env, out);
      case value_kind::utf8:
        return Napi::String::New(env, e.value.data(), e.value.size());
      case value_kind::binary:
        break;
    }
    return Napi::Buffer<char>::Copy(env, e.value.data(), e.value.size());
  }

  Napi::Value js_get(const Napi::CallbackInfo& info) {
    const std::uint32_t slot = find(key_arg(info[0]), true);
    if (slot == twincache::no_slot) return info.Env().Undefined();
    return value_of(info.Env(), table_->at(slot).payload);
  }

  Napi::Value js_has(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), find(key_arg(info[0]), false) != twincache::no_slot);
  }

  // set(key, value: string | Uint8Array, ttlMs (0: the default)) -> null or [code, message]
  Napi::Value js_set(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string key(key_arg(info[0]));
    byte_entry e;
    if (info[1].IsString()) {
      e.value = info[1].As<Napi::String>().Utf8Value();
      e.kind = is_ascii(e.value) ? value_kind::ascii : value_kind::utf8;
    } else {
      auto bytes = info[1].As<Napi::Uint8Array>();
      e.value.assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
      e.kind = value_kind::binary;
    }
    const std::optional<twincache::time_ns> ttl = ttl_arg(info[2]);
    const std::uint32_t existing = find(key, false);
    if (existing != twincache::no_slot) {
      status st = table_->update(existing, key.size(), e.value.size(), ttl, remover());
      if (st.ok()) {
        table_->at(existing).payload.value = std::move(e.value);
        table_->at(existing).payload.kind = e.kind;
      }
      return status_value(env, st);
    }
    std::uint32_t slot = twincache::no_slot;
    const std::uint64_t hash = twincache::hash64(key);
    status st = table_->insert(hash, key.size(), e.value.size(), ttl, slot, remover());
    if (!st.ok()) return status_value(env, st);
    e.key = std::move(key);
    table_->at(slot).payload = std::move(e);
    index_.insert(hash, slot);
    return env.Null();
  }

  Napi::Value js_delete(const Napi::CallbackInfo& info) {
    const std::uint32_t slot = find(key_arg(info[0]), false);
    if (slot == twincache::no_slot) return Napi::Boolean::New(info.Env(), false);
    table_->erase(slot, remover());
    return Napi::Boolean::New(info.Env(), true);
  }

  Napi::Value js_clear(const Napi::CallbackInfo& info) {
    table_->clear(remover());
    index_.clear();
    return info.Env().Undefined();
  }

  Napi::Value js_size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(table_->size()));
  }

  Napi::Value js_stats(const Napi::CallbackInfo& info) {
    return stats_object(info.Env(), table_->stats());
  }

  Napi::Value js_reset_stats(const Napi::CallbackInfo& info) {
    table_->reset_stats();
    return info.Env().Undefined();
  }

  // entries(withValues) -> [[key, value], ...] of live entries (most recently used first under
  // 'lru'), or [key, ...] when withValues is false.
  Napi::Value js_entries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const bool with_values = info[0].ToBoolean();
    const twincache::time_ns now = table_->now();
    std::vector<std::uint32_t> slots;
    slots.reserve(table_->size());
    if (auto* lru = table_->policy_impl().get_if<twincache::lru_policy>()) {
      lru->for_each_mru([&](std::uint32_t s) { slots.push_back(s); });
    } else {
      for (std::uint32_t s = 0; s < table_->slot_count(); ++s) {
        if (table_->is_resident(s)) slots.push_back(s);
      }
    }
    Napi::Array out = Napi::Array::New(env);
    std::uint32_t i = 0;
    for (std::uint32_t s : slots) {
      if (!table_->is_live(s, now)) continue;
      const byte_entry& e = table_->at(s).payload;
      Napi::String k = Napi::String::New(env, e.key);
      if (with_values) {
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, k);
        pair.Set(1u, value_of(env, e));
        out.Set(i++, pair);
      } else {
        out.Set(i++, k);
      }
    }
    return out;
  }

  Napi::Value js_prune(const Napi::CallbackInfo& info) {
    const std::uint64_t n =
        table_->expire_batch(table_->now(), UINT64_MAX, table_->slot_count(), remover());
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  std::optional<table_t> table_;
  twincache::detail::flat_index index_;  // hash -> slot; keys compared in the records
  std::string key_;
};

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("abi", Napi::Number::New(env, addon_abi));
  exports.Set("checkLimit", Napi::Function::New<check_limit>(env, "checkLimit"));
  exports.Set("checkTtl", Napi::Function::New<check_ttl>(env, "checkTtl"));
  exports.Set("checkPolicy", Napi::Function::New<check_policy>(env, "checkPolicy"));
  exports.Set("checkEntrySize", Napi::Function::New<check_entry_size>(env, "checkEntrySize"));
  exports.Set("defaultPolicy", Napi::Function::New<default_policy>(env, "defaultPolicy"));
  exports.Set("clockSetManual", Napi::Function::New<clock_set_manual>(env, "clockSetManual"));
  exports.Set("clockAdvance", Napi::Function::New<clock_advance>(env, "clockAdvance"));
  exports.Set("clockSetReal", Napi::Function::New<clock_set_real>(env, "clockSetReal"));
  exports.Set("SlotEngine", SlotEngine::Define(env));
  exports.Set("ByteStore", ByteStore::Define(env));
  exports.Set("RedisMac", define_redis_mac(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(twincache, init)
