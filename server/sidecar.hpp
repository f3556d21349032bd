// sidecar.hpp: one running twincache-server: the core store (its limits from the config), the
// Cache and grpc.health.v1.Health services, the HTTP probe/metrics port, and their ordered
// start and graceful stop. The Cache service is served by gRPC's callback API or by completion
// queues (--api, async_service.hpp); the health service is gRPC's default one either way.
// main() owns one; the C++ tests run one in process.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "config.hpp"
#include "async_service.hpp"
#include "http.hpp"
#include "metrics.hpp"
#include "service.hpp"

namespace twincache::server {

class sidecar {
 public:
  // clock: the store's (tests pass a manual one; null: the real clock).
  explicit sidecar(config cfg, std::shared_ptr<::twincache::clock> clock = nullptr);
  ~sidecar();
  sidecar(const sidecar&) = delete;
  sidecar& operator=(const sidecar&) = delete;

  // Builds the store, binds both ports and starts serving. Returns an error message (empty on
  // success); on error nothing is left running.
  std::string start();
  // Graceful stop: not ready (HTTP 503, health NOT_SERVING), no new calls, in-flight calls
  // get until `deadline` before they are cancelled; then the HTTP port and the cleaner stop.
  // Returns whether every call finished before the deadline. Idempotent.
  bool stop(std::chrono::system_clock::time_point deadline);

  int grpc_port() const noexcept { return grpc_port_; }
  int http_port() const noexcept { return http_.port(); }
  bool ready() const noexcept { return ready_.load(); }
  byte_store& store() { return *store_; }
  cache_service& service() { return *service_; }
  const request_metrics& metrics() const { return metrics_; }
  const config& cfg() const { return cfg_; }

  // The body of each HTTP path (the responder calls it; tests too).
  http_response handle_http(const std::string& path) const;

 private:
  config cfg_;
  std::shared_ptr<::twincache::clock> clock_;
  std::unique_ptr<byte_store> store_;
  request_metrics metrics_;
  std::unique_ptr<cache_service> service_;  // the handler bodies, both APIs
  std::unique_ptr<callback_cache_service> callback_;  // --api callback
  std::unique_ptr<async_cache_server> async_;         // --api async
  std::unique_ptr<grpc::Server> server_;
  http_server http_;
  int grpc_port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopped_{false};
};

// Reads a whole file; false when it cannot.
bool read_file(const std::string& path, std::string& out);

}  // namespace twincache::server
