// async_service.cpp: the completion-queue serving mode (see async_service.hpp).
//
// One `unary_call` object is one call of one method, from being requested to being answered.
// Exactly one operation of it is pending on its queue at a time, with the object as the tag,
// so the poller that takes the tag owns it. Its states:
//
//   requested  -- tag, ok=true: a call arrived --> the poller asks for the next call of the same
//                 method on this queue (while accepting), runs the shared handler body inline
//                 (cache_service: request id, checks, store, metrics, log) and posts Finish
//                 --> finishing
//   requested  -- tag, ok=false: the server is shutting down (or the queue is) --> deleted
//   finishing  -- tag, ok=true: status and reply sent --> deleted
//   finishing  -- tag, ok=false: not sent (client gone, call cancelled at the shutdown
//                 deadline) --> deleted
//
// A client that disconnects mid-call therefore costs nothing special: its Finish completes
// with ok=false and the object goes. Between "arrived" and "deleted" a call counts in
// running_. Shutdown: sidecar::stop() calls shutdown_server() (Server::Shutdown(deadline): no
// new calls; pending requests complete with ok=false; calls still running at the deadline are
// cancelled; plus the stray-call watcher, async_service.hpp) and then stop() here, which shuts the queues down, lets the pollers drain them
// (deleting every object still queued) and joins them.
#include "async_service.hpp"

#include <condition_variable>

namespace twincache::server {
namespace {
namespace v1 = ::twincache::v1;

struct call_base {
  virtual ~call_base() = default;
  virtual void proceed(bool ok) = 0;
};

// How many calls of each method are requested ahead on each queue: the most calls of that
// method a queue can take in one burst before the poller requests more.
constexpr int ahead_hot = 16;  // Get, Set
constexpr int ahead_cold = 4;  // Delete, Stats, GetMany, SetMany

template <class Req, class Resp, class RequestFn>
class unary_call final : public call_base {
 public:
  using handler_fn = grpc::Status (cache_service::*)(grpc::ServerContextBase&, const Req&, Resp&);

  // Requests the next call of this method on q (no-op once q no longer accepts).
  static void request(cache_service& core, v1::Cache::AsyncService& svc,
                      async_cache_server::queue& q, RequestFn rq, handler_fn h) {
    std::lock_guard<std::mutex> lock(q.mu);
    if (!q.accepting) return;
    auto* c = new unary_call(core, svc, q, rq, h);
    (svc.*rq)(&c->ctx_, &c->req_, &c->writer_, q.cq.get(), q.cq.get(), c);
  }

  void proceed(bool ok) override {
    if (state_ == state::requested && ok) {
      q_.running->fetch_add(1, std::memory_order_relaxed);
      request(core_, svc_, q_, rq_, handler_);
      state_ = state::finishing;
      const grpc::Status st = (core_.*handler_)(ctx_, req_, resp_);
      writer_.Finish(resp_, st, this);
      return;
    }
    if (state_ == state::finishing) q_.running->fetch_sub(1, std::memory_order_relaxed);
    delete this;  // requested and refused, or finished (sent or not)
  }

 private:
  enum class state { requested, finishing };

  unary_call(cache_service& core, v1::Cache::AsyncService& svc, async_cache_server::queue& q,
             RequestFn rq, handler_fn h)
      : core_(core), svc_(svc), q_(q), rq_(rq), handler_(h), writer_(&ctx_) {}

  cache_service& core_;
  v1::Cache::AsyncService& svc_;
  async_cache_server::queue& q_;
  RequestFn rq_;
  handler_fn handler_;
  state state_ = state::requested;
  grpc::ServerContext ctx_;
  Req req_;
  Resp resp_;
  grpc::ServerAsyncResponseWriter<Resp> writer_;
};

template <class Req, class Resp, class RequestFn>
void request_ahead(cache_service& core, v1::Cache::AsyncService& svc,
                   async_cache_server::queue& q, int n, RequestFn rq,
                   grpc::Status (cache_service::*h)(grpc::ServerContextBase&, const Req&, Resp&)) {
  for (int i = 0; i < n; ++i) unary_call<Req, Resp, RequestFn>::request(core, svc, q, rq, h);
}
}  // namespace

async_cache_server::async_cache_server(cache_service& core, grpc::ServerBuilder& b,
                                       unsigned threads)
    : core_(core) {
  b.RegisterService(&service_);
  for (unsigned i = 0; i < threads; ++i) {
    auto q = std::make_unique<queue>();
    q->cq = b.AddCompletionQueue();
    q->running = &running_;
    queues_.push_back(std::move(q));
  }
}

async_cache_server::~async_cache_server() { stop(); }

void async_cache_server::start() {
  using S = v1::Cache::AsyncService;
  started_ = true;
  for (auto& qp : queues_) {
    queue& q = *qp;
    request_ahead(core_, service_, q, ahead_hot, &S::RequestGet, &cache_service::get);
    request_ahead(core_, service_, q, ahead_hot, &S::RequestSet, &cache_service::set);
    request_ahead(core_, service_, q, ahead_cold, &S::RequestDelete, &cache_service::del);
    request_ahead(core_, service_, q, ahead_cold, &S::RequestStats, &cache_service::stats);
    request_ahead(core_, service_, q, ahead_cold, &S::RequestGetMany, &cache_service::get_many);
    request_ahead(core_, service_, q, ahead_cold, &S::RequestSetMany, &cache_service::set_many);
    q.poller = std::thread([&q] {
      void* tag = nullptr;
      bool ok = false;
      while (q.cq->Next(&tag, &ok)) static_cast<call_base*>(tag)->proceed(ok);
    });
  }
}

void async_cache_server::shutdown_server(grpc::Server& server,
                                         std::chrono::system_clock::time_point deadline) {
  std::mutex mu;  // guards `done` (the watcher's stop signal)
  std::condition_variable cv;
  bool done = false;
  std::thread watcher([&] {
    constexpr auto step = std::chrono::milliseconds(10);
    auto idle_since = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, step, [&] { return done; })) {
      if (std::chrono::system_clock::now() >= deadline) return;  // Shutdown cancels now
      const auto now = std::chrono::steady_clock::now();
      if (running() > 0) {
        idle_since = now;
      } else if (now - idle_since >= idle_grace) {
        grpc_server_cancel_all_calls(server.c_server());
        return;
      }
    }
  });
  server.Shutdown(deadline);
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_one();
  watcher.join();
}

void async_cache_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& q : queues_) {
    std::lock_guard<std::mutex> lock(q->mu);
    q->accepting = false;
    q->cq->Shutdown();
  }
  for (auto& q : queues_) {
    if (q->poller.joinable()) {
      q->poller.join();  // it drains the queue: Next() returns false once it is empty
    } else {             // never started (BuildAndStart failed): drain here
      void* tag = nullptr;
      bool ok = false;
      while (q->cq->Next(&tag, &ok)) static_cast<call_base*>(tag)->proceed(ok);
    }
  }
}

}  // namespace twincache::server
