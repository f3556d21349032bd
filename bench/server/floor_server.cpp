// floor_server.cpp: the floor under twincache-server's benchmark. A Cache service that does
// nothing (Get answers a fixed 100-byte value, Set answers updated=true; no store, no metrics,
// no logs, no request id), served with the same gRPC build and flags, so that server_bench
// against it measures what gRPC itself costs per call on this machine. bench/server/run.py
// --floor runs it next to twincache-server and redis-server.
//   floor_server --listen 127.0.0.1:PORT [--api callback|async] [--threads N]
// --api callback: gRPC's callback API, Finish() inline (as twincache-server); async: completion
// queues, one polling thread each (--threads, default 2),
// handlers run on the thread that took the event. --health 1: gRPC's default health service
// too (a callback service: its polling threads come back with it).
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "twincache/v1/cache.grpc.pb.h"

namespace {
namespace v1 = twincache::v1;

const std::string& fixed_value() {
  static const std::string v(100, 'x');
  return v;
}

class callback_service final : public v1::Cache::CallbackService {
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest*,
                                v1::GetResponse* resp) override {
    resp->set_found(true);
    resp->set_value(fixed_value());
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* ctx, const v1::SetRequest*,
                                v1::SetResponse* resp) override {
    resp->set_updated(true);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

// One pending call of the async API: requested, then answered, then deleted.
struct call_base {
  virtual ~call_base() = default;
  virtual void proceed(bool ok) = 0;
};

template <class Req, class Resp, class Request, class Answer>
struct async_call final : call_base {
  async_call(v1::Cache::AsyncService* s, grpc::ServerCompletionQueue* cq, Request rq, Answer an)
      : svc(s), cq(cq), request(rq), answer(an), writer(&ctx) {
    (svc->*request)(&ctx, &req, &writer, cq, cq, this);
  }
  void proceed(bool ok) override {
    if (done || !ok) {
      delete this;
      return;
    }
    new async_call(svc, cq, request, answer);  // the next call of this method
    answer(req, resp);
    done = true;
    writer.Finish(resp, grpc::Status::OK, this);
  }
  v1::Cache::AsyncService* svc;
  grpc::ServerCompletionQueue* cq;
  Request request;
  Answer answer;
  grpc::ServerContext ctx;
  Req req;
  Resp resp;
  grpc::ServerAsyncResponseWriter<Resp> writer;
  bool done = false;
};

template <class Req, class Resp, class Request, class Answer>
void start(v1::Cache::AsyncService* s, grpc::ServerCompletionQueue* cq, Request rq, Answer an) {
  new async_call<Req, Resp, Request, Answer>(s, cq, rq, an);
}
}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:7090", api = "callback";
  int threads = 2;
  bool lean = false;
  std::vector<std::pair<std::string, int>> chargs;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--listen") listen = v;
    else if (f == "--api") api = v;
    else if (f == "--threads") threads = std::atoi(v.c_str());
    else if (f == "--lean") lean = v != "0";
    else if (f == "--health") grpc::EnableDefaultHealthCheckService(v != "0");
    else if (f == "--arg")  // --arg grpc.some_int_arg=VALUE
      chargs.emplace_back(v.substr(0, v.find('=')), std::atoi(v.substr(v.find('=') + 1).c_str()));
    else {
      std::fprintf(stderr, "floor_server: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  if (lean) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::ServerBuilder b;
  for (auto& [k, v] : chargs) b.AddChannelArgument(k, v);
  b.AddListeningPort(listen, grpc::InsecureServerCredentials());
  b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  callback_service cb;
  v1::Cache::AsyncService as;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  if (api == "callback") {
    b.RegisterService(&cb);
  } else if (api == "async") {
    b.RegisterService(&as);
    for (int t = 0; t < threads; ++t) cqs.push_back(b.AddCompletionQueue());
  } else {
    std::fprintf(stderr, "floor_server: --api callback|async\n");
    return 2;
  }
  auto server = b.BuildAndStart();
  if (!server) return 1;
  std::vector<std::thread> pollers;
  for (auto& cq : cqs) {
    auto* q = cq.get();
    for (int k = 0; k < 16; ++k) {  // a few calls requested ahead per method and queue
      start<v1::GetRequest, v1::GetResponse>(
          &as, q, &v1::Cache::AsyncService::RequestGet,
          [](const v1::GetRequest&, v1::GetResponse& r) {
            r.set_found(true);
            r.set_value(fixed_value());
          });
      start<v1::SetRequest, v1::SetResponse>(
          &as, q, &v1::Cache::AsyncService::RequestSet,
          [](const v1::SetRequest&, v1::SetResponse& r) { r.set_updated(true); });
    }
    pollers.emplace_back([q] {
      void* tag = nullptr;
      bool ok = false;
      while (q->Next(&tag, &ok)) static_cast<call_base*>(tag)->proceed(ok);
    });
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  for (auto& cq : cqs) cq->Shutdown();
  for (auto& t : pollers) t.join();
  return 0;
}
