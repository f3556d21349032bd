// service.hpp: the twincache.v1.Cache gRPC service over one core store<std::string>. Handlers
// run on gRPC's threads (callback API) or on the completion-queue pollers (async API,
// async_service.hpp) and do one store call each (a batch: one per key), so no thread ever
// waits on a store lock for longer than one operation. The error contract (key
// rules, TTL range, size limits) is here and in docs/server.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "config.hpp"
#include "metrics.hpp"
#include "twincache/store.hpp"
#include "twincache/v1/cache.grpc.pb.h"

namespace twincache::server {

using byte_store = ::twincache::store<std::string>;

// Keys: 1 to max_key_bytes arbitrary bytes (no charset rule: keys are opaque bytes).
inline constexpr std::size_t max_key_bytes = 4096;
// GetMany / SetMany: at most this many keys or entries per call.
inline constexpr std::size_t max_batch = 10000;

// The store options main builds from the configuration.
store_options store_options_from(const config& c);

// The Cache service's handler bodies, shared by both serving modes (--api): the callback
// service below and the completion-queue server in async_service.hpp call the same methods,
// so validation, the error contract, the request id, the x-request-id reply header, the
// hidden-exception rule, JSON logs and metrics are one code path. Each method runs the whole
// call on the calling thread and returns the status to finish it with (resp is filled on OK).
class cache_service {
 public:
  cache_service(byte_store& store, request_metrics& metrics,
                std::optional<std::int64_t> default_ttl_ms)
      : store_(store), metrics_(metrics), default_ttl_ms_(default_ttl_ms) {}

  grpc::Status get(grpc::ServerContextBase& ctx, const v1::GetRequest& req,
                   v1::GetResponse& resp);
  grpc::Status set(grpc::ServerContextBase& ctx, const v1::SetRequest& req,
                   v1::SetResponse& resp);
  grpc::Status del(grpc::ServerContextBase& ctx, const v1::DeleteRequest& req,
                   v1::DeleteResponse& resp);
  grpc::Status stats(grpc::ServerContextBase& ctx, const v1::StatsRequest& req,
                     v1::StatsResponse& resp);
  grpc::Status get_many(grpc::ServerContextBase& ctx, const v1::GetManyRequest& req,
                        v1::GetManyResponse& resp);
  grpc::Status set_many(grpc::ServerContextBase& ctx, const v1::SetManyRequest& req,
                        v1::SetManyResponse& resp);

  // Test seam: runs at the start of every handler body (a hook that throws checks that clients
  // see INTERNAL and no text; one that blocks holds a call in flight). Set it only while no
  // call runs.
  void set_hook_for_tests(std::function<void()> hook) { hook_ = std::move(hook); }

 private:
  template <class Body>
  grpc::Status serve(grpc::ServerContextBase& ctx, method m, Body&& body);
  grpc::Status check_key(const std::string& key, const char* field) const;
  grpc::Status check_entry(const v1::SetRequest& e, const char* field,
                           std::optional<time_ns>& ttl) const;

  byte_store& store_;
  request_metrics& metrics_;
  std::optional<std::int64_t> default_ttl_ms_;
  std::function<void()> hook_;  // tests only; empty in production
};

// --api callback: the Cache service on gRPC's callback API. Handlers run on gRPC's callback
// threads and finish inline (DefaultReactor).
class callback_cache_service final : public ::twincache::v1::Cache::CallbackService {
 public:
  explicit callback_cache_service(cache_service& core) : core_(core) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                v1::GetResponse* resp) override;
  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* ctx, const v1::SetRequest* req,
                                v1::SetResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const v1::DeleteRequest* req,
                                   v1::DeleteResponse* resp) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* ctx, const v1::StatsRequest* req,
                                  v1::StatsResponse* resp) override;
  grpc::ServerUnaryReactor* GetMany(grpc::CallbackServerContext* ctx,
                                    const v1::GetManyRequest* req,
                                    v1::GetManyResponse* resp) override;
  grpc::ServerUnaryReactor* SetMany(grpc::CallbackServerContext* ctx,
                                    const v1::SetManyRequest* req,
                                    v1::SetManyResponse* resp) override;

 private:
  cache_service& core_;
};

// The request id of a call: the client's x-request-id when it is 1 to 128 printable ASCII
// characters, else a new one ("<8 hex of this process>-<counter>").
std::string request_id_for(const grpc::ServerContextBase& ctx);
std::string new_request_id();

}  // namespace twincache::server
