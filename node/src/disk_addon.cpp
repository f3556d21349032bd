// disk_addon.cpp: twincache_disk.napi.node, the persistent tier (core/include/twincache/
// disk_store.hpp) for Node. A second, small addon next to twincache.napi.node: node/lib/disk.js
// loads it lazily, the first time a DiskCache (or a disk-backed memoize) is made, so a machine
// without libsqlite3/libzstd/libcrypto loses only the disk tier, never the native memory cache.
//
// The API is synchronous, like SQLite itself: each call runs on the calling thread (a get that
// the memory tier answers costs a few microseconds; one that reads the database, tens).
// Statuses go back to JavaScript as thrown errors carrying `statusName`; node/lib/disk.js turns
// them into the package's one kind of error (errors.js makeError). Serialization (JSON, v8) stays
// in JavaScript: this addon moves bytes.
#include <napi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twincache/disk/zstd_frame.hpp"
#include "twincache/disk_store.hpp"

namespace {

namespace tc = twincache;
namespace td = twincache::disk;

// 2: set() takes tags and meta (a stale addon would drop them: node/lib/disk.js refuses it).
constexpr std::uint32_t disk_abi = 2;

std::shared_ptr<tc::clock> module_clock() {
  static const std::shared_ptr<tc::clock> c = std::make_shared<tc::clock>();
  return c;
}

[[noreturn]] void throw_status(Napi::Env env, const tc::status& st) {
  Napi::Error err = Napi::Error::New(env, st.message());
  err.Set("statusName", Napi::String::New(env, std::string(tc::status_code_name(st.code()))));
  throw err;
}

void check(Napi::Env env, const tc::status& st) {
  if (!st.ok()) throw_status(env, st);
}

std::string_view bytes_of(const Napi::Value& v) {
  if (!v.IsBuffer()) {
    throw Napi::TypeError::New(v.Env(), "expected a Buffer");
  }
  auto b = v.As<Napi::Buffer<char>>();
  return {b.Data(), b.Length()};
}

std::optional<tc::time_ns> optional_ns(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d <= 0) return std::nullopt;
  return static_cast<tc::time_ns>(d);
}

Napi::Value u64(Napi::Env env, std::uint64_t v) {
  return Napi::Number::New(env, static_cast<double>(v));
}

class DiskStore : public Napi::ObjectWrap<DiskStore> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "DiskStore",
        {
            InstanceMethod("get", &DiskStore::get),
            InstanceMethod("set", &DiskStore::set),
            InstanceMethod("erase", &DiskStore::erase),
            InstanceMethod("contains", &DiskStore::contains),
            InstanceMethod("clear", &DiskStore::clear),
            InstanceMethod("prune", &DiskStore::prune),
            InstanceMethod("keys", &DiskStore::keys),
            InstanceMethod("count", &DiskStore::count),
            InstanceMethod("stats", &DiskStore::stats),
            InstanceMethod("info", &DiskStore::info),
            InstanceMethod("dropL1", &DiskStore::drop_l1),
            InstanceMethod("flush", &DiskStore::flush),
            InstanceMethod("tag", &DiskStore::tag),
            InstanceMethod("query", &DiskStore::query),
            InstanceMethod("evictTag", &DiskStore::evict_tag),
            InstanceMethod("reportRemovals", &DiskStore::report_removals),
            InstanceMethod("hasRemovals", &DiskStore::has_removals),
            InstanceMethod("takeRemovals", &DiskStore::take_removals),
            InstanceAccessor("persistent", &DiskStore::persistent, nullptr),
            InstanceAccessor("path", &DiskStore::path, nullptr),
            InstanceAccessor("warning", &DiskStore::warning, nullptr),
        });
  }

  // new DiskStore(path, maxBytes (0: none), ttlNs (0: none), l1MaxBytes, compressThreshold)
  explicit DiskStore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DiskStore>(info) {
    Napi::Env env = info.Env();
    td::options o;
    o.path = info[0].As<Napi::String>().Utf8Value();
    const double max_bytes = info[1].As<Napi::Number>().DoubleValue();
    if (max_bytes > 0) o.max_bytes = static_cast<std::uint64_t>(max_bytes);
    o.default_ttl = optional_ns(info[2]);
    o.l1_max_bytes = static_cast<std::uint64_t>(info[3].As<Napi::Number>().DoubleValue());
    o.compress_threshold = static_cast<std::uint64_t>(info[4].As<Napi::Number>().DoubleValue());
    o.clock = module_clock();
    check(env, td::disk_store::open_or_memory(o, store_, warning_));
  }

 private:
  // Throws st's error, after showing the store's pending warning (a damaged cache.db it moved
  // aside, docs/persistence.md) with process.emitWarning, code TWINCACHE_DISK_DAMAGED.
  void done(Napi::Env env, const tc::status& st) {
    if (store_->has_warning()) {
      const std::string w = store_->take_warning();
      Napi::Object process = env.Global().Get("process").As<Napi::Object>();
      Napi::Object opts = Napi::Object::New(env);
      opts.Set("code", "TWINCACHE_DISK_DAMAGED");
      process.Get("emitWarning")
          .As<Napi::Function>()
          .Call(process, {Napi::String::New(env, w), opts});
    }
    check(env, st);
  }
  // get(key) -> [codec, Buffer] | undefined
  Napi::Value get(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bool found = false;
    std::uint32_t codec = 0;
    // One buffer per thread, kept between reads: a large value read into fresh memory each time
    // cost more in page faults than its HMAC check (python/src/disk_module.cpp does the same).
    thread_local std::string value;
    // get(key, use = true): use false is a peek (disk_store::get): [codec, bytes, expiryNs],
    // not counted or touched, expired rows found too.
    const bool use = info.Length() < 2 || !info[1].IsBoolean() || info[1].As<Napi::Boolean>();
    tc::time_ns expiry = 0;
    done(env, store_->get(bytes_of(info[0]), found, codec, value, use ? nullptr : &expiry,
                          nullptr, use));
    Napi::Value out = env.Undefined();
    if (found) {
      auto pair = Napi::Array::New(env, use ? 2 : 3);
      pair.Set(0u, Napi::Number::New(env, codec));
      pair.Set(1u, Napi::Buffer<char>::Copy(env, value.data(), value.size()));
      if (!use) pair.Set(2u, Napi::Number::New(env, static_cast<double>(expiry)));
      out = pair;
    }
    if (value.capacity() > (16u << 20)) std::string().swap(value);
    return out;
  }
  // set(key, codec, valueBuffer, ttlNs (0 / undefined: the default)[, [tags], metaJson ('' :
  // none)]): with tags, the value, its tags and meta are written in one transaction (the
  // writer's batch: its error comes with the next flush()); docs/persistence.md, "Tags,
  // metadata and queries".
  Napi::Value set(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto codec = info[1].As<Napi::Number>().Uint32Value();
    std::optional<td::tag_set> tagged;
    if (info.Length() > 4 && info[4].IsArray()) {
      tagged.emplace();
      tagged->tags = strings_of(info[4]);
      tagged->meta = info[5].As<Napi::String>().Utf8Value();
    }
    done(env, store_->set(bytes_of(info[0]), codec, bytes_of(info[2]), optional_ns(info[3]),
                          nullptr, tagged ? &*tagged : nullptr));
    return env.Undefined();
  }
  static std::vector<std::string> strings_of(const Napi::Value& v) {
    std::vector<std::string> out;
    const auto arr = v.As<Napi::Array>();
    for (std::uint32_t i = 0; i < arr.Length(); ++i) {
      out.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
    }
    return out;
  }
  // tag(key, [tags], metaJson ('' : none)): docs/persistence.md, "Tags, metadata and queries"
  Napi::Value tag(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    done(env, store_->tag(bytes_of(info[0]), strings_of(info[1]),
                          info[2].As<Napi::String>().Utf8Value()));
    return env.Undefined();
  }
  // query(tag ('' : any), [[jsonPath, jsonValue]...]) -> [[key, size, created, expiry, meta,
  // [tags]]...] (times in wall ns as Numbers; meta JSON text or '')
  Napi::Value query(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<std::pair<std::string, std::string>> where;
    const auto arr = info[1].As<Napi::Array>();
    for (std::uint32_t i = 0; i < arr.Length(); ++i) {
      const auto pair = arr.Get(i).As<Napi::Array>();
      where.emplace_back(pair.Get(0u).As<Napi::String>().Utf8Value(),
                         pair.Get(1u).As<Napi::String>().Utf8Value());
    }
    std::vector<td::entry_listing> rows;
    done(env, store_->query(info[0].As<Napi::String>().Utf8Value(), where, rows));
    auto out = Napi::Array::New(env, rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      auto row = Napi::Array::New(env, 6);
      row.Set(0u, Napi::Buffer<char>::Copy(env, r.key.data(), r.key.size()));
      row.Set(1u, u64(env, r.size));
      row.Set(2u, Napi::Number::New(env, static_cast<double>(r.created)));
      row.Set(3u, Napi::Number::New(env, static_cast<double>(r.expiry)));
      row.Set(4u, Napi::String::New(env, r.meta));
      auto tags = Napi::Array::New(env, r.tags.size());
      for (std::size_t j = 0; j < r.tags.size(); ++j) {
        tags.Set(static_cast<uint32_t>(j), Napi::String::New(env, r.tags[j]));
      }
      row.Set(5u, tags);
      out.Set(static_cast<uint32_t>(i), row);
    }
    return out;
  }
  Napi::Value evict_tag(const Napi::CallbackInfo& info) {
    std::uint64_t n = 0;
    done(info.Env(), store_->evict_tag(info[0].As<Napi::String>().Utf8Value(), n));
    return u64(info.Env(), n);
  }
  Napi::Value erase(const Napi::CallbackInfo& info) {
    bool existed = false;
    done(info.Env(), store_->erase(bytes_of(info[0]), existed));
    return Napi::Boolean::New(info.Env(), existed);
  }
  Napi::Value contains(const Napi::CallbackInfo& info) {
    bool found = false;
    done(info.Env(), store_->contains(bytes_of(info[0]), found));
    return Napi::Boolean::New(info.Env(), found);
  }
  Napi::Value clear(const Napi::CallbackInfo& info) {
    std::uint64_t n = 0;
    done(info.Env(), store_->clear(n));
    return u64(info.Env(), n);
  }
  Napi::Value prune(const Napi::CallbackInfo& info) {
    std::uint64_t n = 0;
    done(info.Env(), store_->prune(n));
    return u64(info.Env(), n);
  }
  // Removal reports (disk_store::report_removals), for dispose: reportRemovals(on, values),
  // hasRemovals() (one atomic load), takeRemovals() -> [[keyBuffer, reason, codec,
  // Buffer | undefined]], each removal once ('evicted': culled to maxBytes; 'expired').
  Napi::Value report_removals(const Napi::CallbackInfo& info) {
    const bool on = info.Length() > 0 && info[0].ToBoolean();
    const bool values = info.Length() < 2 || info[1].ToBoolean();
    store_->report_removals(on, values);
    return info.Env().Undefined();
  }
  Napi::Value has_removals(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), store_->has_removals());
  }
  Napi::Value take_removals(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<td::removal> got = store_->take_removals();
    auto out = Napi::Array::New(env, got.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      const td::removal& r = got[i];
      auto row = Napi::Array::New(env, 4);
      row.Set(0u, Napi::Buffer<char>::Copy(env, r.key.data(), r.key.size()));
      row.Set(1u, r.reason == td::removal::why::evicted ? "evicted" : "expired");
      row.Set(2u, Napi::Number::New(env, r.codec));
      if (r.has_value) {
        row.Set(3u, Napi::Buffer<char>::Copy(env, r.value.data(), r.value.size()));
      } else {
        row.Set(3u, env.Undefined());
      }
      out.Set(static_cast<uint32_t>(i), row);
    }
    return out;
  }
  Napi::Value keys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<std::string> ks;
    const bool expired = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>();
    done(env, store_->keys(ks, expired));  // keys(expired = false)
    auto out = Napi::Array::New(env, ks.size());
    for (std::size_t i = 0; i < ks.size(); ++i) {
      out.Set(static_cast<uint32_t>(i), Napi::Buffer<char>::Copy(env, ks[i].data(), ks[i].size()));
    }
    return out;
  }
  Napi::Value count(const Napi::CallbackInfo& info) {
    std::uint64_t n = 0;
    done(info.Env(), store_->count(n));
    return u64(info.Env(), n);
  }
  Napi::Value stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    td::disk_stats s;
    done(env, store_->stats(s));
    auto o = Napi::Object::New(env);
    o.Set("hits", u64(env, s.hits));
    o.Set("misses", u64(env, s.misses));
    o.Set("l1Hits", u64(env, s.l1_hits));
    o.Set("sets", u64(env, s.sets));
    o.Set("rejected", u64(env, s.rejected));
    o.Set("evicted", u64(env, s.evicted));
    o.Set("expired", u64(env, s.expired));
    o.Set("deleted", u64(env, s.deleted));
    o.Set("cleared", u64(env, s.cleared));
    o.Set("corrupt", u64(env, s.corrupt));
    o.Set("writeErrors", u64(env, s.write_errors));
    o.Set("items", u64(env, s.items));
    o.Set("bytes", u64(env, s.bytes));
    return o;
  }
  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    td::directory_info d;
    done(env, store_->info(d));
    auto o = Napi::Object::New(env);
    o.Set("path", Napi::String::New(env, d.path));
    o.Set("items", u64(env, d.items));
    o.Set("bytes", u64(env, d.bytes));
    o.Set("fileBytes", u64(env, d.file_bytes));
    o.Set("hits", u64(env, d.hits));
    o.Set("misses", u64(env, d.misses));
    o.Set("sets", u64(env, d.sets));
    o.Set("evicted", u64(env, d.evicted));
    o.Set("expired", u64(env, d.expired));
    o.Set("corrupt", u64(env, d.corrupt));
    o.Set("deleted", u64(env, d.deleted));
    return o;
  }
  // Waits until every set() so far is committed (the store commits in the background).
  Napi::Value flush(const Napi::CallbackInfo& info) {
    done(info.Env(), store_->flush());
    return info.Env().Undefined();
  }
  Napi::Value drop_l1(const Napi::CallbackInfo& info) {
    store_->drop_l1();
    return info.Env().Undefined();
  }
  Napi::Value persistent(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), store_->persistent());
  }
  Napi::Value path(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), store_->path());
  }
  Napi::Value warning(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), warning_);
  }

  std::unique_ptr<td::disk_store> store_;
  std::string warning_;
};

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("abi", Napi::Number::New(env, disk_abi));
  exports.Set("DiskStore", DiskStore::define(env));
  exports.Set("defaultDirectory", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::String::New(info.Env(), td::default_directory());
              }));
  // Test hooks: the wall clock (ns) this addon's stores read for expiry.
  exports.Set("clockSetManual", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                module_clock()->set_manual(
                    static_cast<tc::time_ns>(info[0].As<Napi::Number>().DoubleValue()));
              }));
  exports.Set("clockAdvance", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                module_clock()->advance(
                    static_cast<tc::time_ns>(info[0].As<Napi::Number>().DoubleValue()));
              }));
  exports.Set("clockSetReal", Napi::Function::New(env, [](const Napi::CallbackInfo&) {
                module_clock()->set_manual(-1);
              }));
  // zstd for the Redis tier's envelopes (node/lib/redis_envelope.js): Node 20's zlib has none.
  // zstdCompress(buffer, level) and zstdDecompress(buffer, maxSize): a Buffer, or null.
  exports.Set("zstdCompress", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                const auto out = td::zstd_compress(bytes_of(info[0]),
                                                   info[1].As<Napi::Number>().Int32Value());
                if (!out) return info.Env().Null();
                return Napi::Buffer<char>::Copy(info.Env(), out->data(), out->size())
                    .As<Napi::Value>();
              }));
  exports.Set("zstdDecompress", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                const auto out = td::zstd_decompress(
                    bytes_of(info[0]),
                    static_cast<std::uint64_t>(info[1].As<Napi::Number>().DoubleValue()));
                if (!out) return info.Env().Null();
                return Napi::Buffer<char>::Copy(info.Env(), out->data(), out->size())
                    .As<Napi::Value>();
              }));
  return exports;
}

}  // namespace

NODE_API_MODULE(twincache_disk, init)
