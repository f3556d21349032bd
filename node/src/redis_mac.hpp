// redis_mac.hpp: the RedisMac class of the Node addon (redis_mac.cpp), registered by addon.cpp.
#pragma once

#include <napi.h>

// The RedisMac constructor: the Redis envelope's HMAC-SHA256 over the core's SHA-256.
Napi::Function define_redis_mac(Napi::Env env);
