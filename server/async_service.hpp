// async_service.hpp: --api async: the Cache service on gRPC's completion-queue (async) API.
// N completion queues (--io-threads), each polled by one thread that runs the handlers of the
// calls it takes inline (the shared bodies of service.hpp), so a call is read, handled and
// answered on one thread without a hand-off. Measured cheaper per call than the callback API
// (docs/benchmarks.md, "Server (issue 19)"). The per-call state machine is in
// async_service.cpp.
#pragma once

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "service.hpp"

namespace twincache::server {

class async_cache_server {
 public:
  // Adds the async Cache service and `threads` completion queues to `b`; call before
  // b.BuildAndStart().
  async_cache_server(cache_service& core, grpc::ServerBuilder& b, unsigned threads);
  ~async_cache_server();  // stop() if not done
  async_cache_server(const async_cache_server&) = delete;
  async_cache_server& operator=(const async_cache_server&) = delete;

  // After BuildAndStart() succeeded: requests the first calls of every method on every queue
  // and starts one polling thread per queue.
  void start();
  // After grpc::Server::Shutdown() has returned (or when BuildAndStart() failed): shuts the
  // queues down, drains them (every pending call object is deleted) and joins the pollers.
  // Idempotent.
  void stop();

  // One completion queue and its polling thread. Public for the call objects
  // (async_service.cpp).
  struct queue {
    std::unique_ptr<grpc::ServerCompletionQueue> cq;
    // Guards `accepting` and orders "request a new call on cq" before "cq->Shutdown()": a
    // poller requests the next call of a method only while accepting, and stop() clears it
    // and shuts the queue down under the same lock, so nothing is queued on a shut-down cq.
    std::mutex mu;
    bool accepting = true;
    std::thread poller;
  };

 private:
  cache_service& core_;
  ::twincache::v1::Cache::AsyncService service_;
  std::vector<std::unique_ptr<queue>> queues_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace twincache::server
