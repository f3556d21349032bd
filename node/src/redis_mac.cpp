// redis_mac.cpp: the Redis envelope's HMAC-SHA256 (docs/redis.md, "The envelope") for the Node
// addon, over the core's SHA-256 (disk/hmac.hpp: the CPU's SHA extensions where it has them).
// node/lib/redis_envelope.js uses it when the addon loads, and its own JavaScript HMAC otherwise
// (TWINCACHE_PURE=1, no binary); tests/node/redis_vectors.test.js checks both against the shared
// vectors.
//
//   new RedisMac(secret, domain)   one per secret Buffer: the key's pads are hashed once
//   mac.sign(name, buf, end)       writes the MAC of buf[0, end) for entry `name` into
//                                  buf[end, end + 32)
//   mac.verify(name, envelope)     whether the envelope's last 32 bytes are the MAC of the rest
//                                  (compared in constant time)
//
// The MAC is HMAC-SHA256(secret, domain || len(name) u32 LE || name || body). Nothing is copied:
// the name's latin1 bytes go to a stack buffer, the body is read in place from the Buffer.
#include "redis_mac.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "twincache/disk/hmac.hpp"

namespace {

namespace td = twincache::disk;

constexpr std::size_t mac_size = 32;
constexpr std::size_t name_stack = 256;  // entry names are at most ~120 characters

class RedisMac : public Napi::ObjectWrap<RedisMac> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RedisMac",
                       {InstanceMethod<&RedisMac::js_sign>("sign"),
                        InstanceMethod<&RedisMac::js_verify>("verify")});
  }

  explicit RedisMac(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<RedisMac>(info),
        key_(bytes_of(info[0], "secret")),
        domain_(bytes_of(info[1], "domain")) {}

 private:
  static std::string_view bytes_of(const Napi::Value& v, const char* what) {
    if (!v.IsBuffer()) {
      throw Napi::TypeError::New(v.Env(), std::string("RedisMac: ") + what + " must be a Buffer");
    }
    auto b = v.As<Napi::Buffer<char>>();
    return {b.Data(), b.Length()};
  }

  // The MAC of body under entry `name` (a latin1 string).
  td::digest256 mac(Napi::Env env, napi_value name, std::string_view body) const {
    char stack[name_stack];
    std::string heap;
    char* text = stack;
    std::size_t n = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_value_string_latin1(env, name, stack, name_stack, &n),
                         td::digest256{});
    if (n + 1 >= name_stack) {  // possibly cut: ask for its length, then read it whole
      NAPI_THROW_IF_FAILED(env, napi_get_value_string_latin1(env, name, nullptr, 0, &n),
                           td::digest256{});
      heap.resize(n + 1);
      NAPI_THROW_IF_FAILED(env, napi_get_value_string_latin1(env, name, heap.data(), n + 1, &n),
                           td::digest256{});
      text = heap.data();
    }
    const auto len = static_cast<std::uint32_t>(n);
    const char len_le[4] = {static_cast<char>(len), static_cast<char>(len >> 8),
                            static_cast<char>(len >> 16), static_cast<char>(len >> 24)};
    return key_.sign({domain_, std::string_view(len_le, 4), std::string_view(text, n), body});
  }

  // sign(name, buf, end): the MAC of buf[0, end) into buf[end, end + 32).
  Napi::Value js_sign(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buf = info[1].As<Napi::Buffer<char>>();
    const double end = info[2].As<Napi::Number>().DoubleValue();
    if (!(end >= 0 && end + mac_size <= static_cast<double>(buf.Length()))) {
      throw Napi::RangeError::New(env, "RedisMac.sign: end leaves no room for the MAC");
    }
    const auto e = static_cast<std::size_t>(end);
    const td::digest256 d = mac(env, info[0], std::string_view(buf.Data(), e));
    std::memcpy(buf.Data() + e, d.data(), mac_size);
    return env.Undefined();
  }

  // verify(name, envelope): true when its last 32 bytes are the MAC of what precedes them.
  Napi::Value js_verify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buf = info[1].As<Napi::Buffer<char>>();
    if (buf.Length() < mac_size) return Napi::Boolean::New(env, false);
    const std::size_t end = buf.Length() - mac_size;
    const td::digest256 d = mac(env, info[0], std::string_view(buf.Data(), end));
    const auto* stored = reinterpret_cast<const std::uint8_t*>(buf.Data() + end);
    return Napi::Boolean::New(env, td::digest_equal(d.data(), stored, mac_size));
  }

  const td::hmac_sha256_key key_;
  const std::string domain_;
};

}  // namespace

Napi::Function define_redis_mac(Napi::Env env) { return RedisMac::Define(env); }
