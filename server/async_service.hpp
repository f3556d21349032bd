// async_service.hpp: --api async: the Cache service on gRPC's completion-queue (async) API.
// N completion queues (--io-threads), each polled by one thread that runs the handlers of the
// calls it takes inline (the shared bodies of service.hpp), so a call is read, handled and
// answered on one thread without a hand-off. Measured cheaper per call than the callback API
// (docs/benchmarks.md, "Server (issue 19)"). The per-call state machine is in
// async_service.cpp.
#pragma once

#include <atomic>
#include <chrono>
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
  // Server::Shutdown(deadline) for this mode: no new calls, calls in flight finish until the
  // deadline. One gRPC 1.51 race is worked around: a call whose stream arrives as the
  // shutdown begins can be left queued in gRPC's core with no requested call to match it
  // (the shutdown failed them all) and then holds the shutdown until the deadline. So while
  // Shutdown waits, a watcher cancels what remains (grpc_server_cancel_all_calls, what
  // Shutdown itself does at the deadline) once none of our calls has been running for
  // `idle_grace`: nothing of ours is left to drain, only such strays.
  void shutdown_server(grpc::Server& server, std::chrono::system_clock::time_point deadline);
  static constexpr std::chrono::milliseconds idle_grace{250};

  // Calls taken from a queue and not yet finished (their Finish not yet completed).
  int running() const noexcept { return running_.load(std::memory_order_relaxed); }

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
    std::atomic<int>* running = nullptr;  // the server's running_
  };

 private:
  cache_service& core_;
  ::twincache::v1::Cache::AsyncService service_;
  std::vector<std::unique_ptr<queue>> queues_;
  std::atomic<int> running_{0};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace twincache::server
