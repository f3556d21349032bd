// server_bench.cpp: a closed-loop gRPC load generator for twincache-server (bench/server/run.py
// drives it next to redis-benchmark). N closed loops, each on its own channel and connection,
// call Get or Set with `--value-bytes` values over `--keys` keys for `--seconds`; prints one
// JSON line: throughput and the p50/p99 of the per-call latency. --channels N: the loops share
// N connections instead (HTTP/2 streams multiplexed, as gRPC clients usually share a channel).
// --lean 1: abseil's mutex deadlock detection off (Debian's abseil is built with it on).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "twincache/v1/cache.grpc.pb.h"

namespace {
struct args {
  std::string target = "127.0.0.1:7070";
  std::string op = "get";
  int concurrency = 1;
  double seconds = 3;
  int value_bytes = 100;
  int keys = 10000;
  bool prefill = true;  // --prefill 0: the keys are there already
  int channels = 0;     // connections the loops share round-robin; 0: one per loop
};

std::unique_ptr<twincache::v1::Cache::Stub> stub_for(const std::string& target) {
  grpc::ChannelArguments a;
  a.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per thread, as redis-benchmark
  return twincache::v1::Cache::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), a));
}

std::string key_of(int i) { return "key:" + std::to_string(i); }
}  // namespace

int main(int argc, char** argv) {
  args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--target") a.target = v;
    else if (f == "--op") a.op = v;
    else if (f == "--concurrency") a.concurrency = std::atoi(v.c_str());
    else if (f == "--seconds") a.seconds = std::atof(v.c_str());
    else if (f == "--value-bytes") a.value_bytes = std::atoi(v.c_str());
    else if (f == "--keys") a.keys = std::atoi(v.c_str());
    else if (f == "--prefill") a.prefill = v != "0";
    else if (f == "--channels") a.channels = std::atoi(v.c_str());
    else if (f == "--lean") {  // (measured: no gain beyond noise)
      if (v != "0") absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    }
    else {
      std::fprintf(stderr, "server_bench: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  const std::string value(static_cast<std::size_t>(a.value_bytes), 'x');
  if (a.prefill) {  // every key present, so Get measures hits
    auto s = stub_for(a.target);
    for (int k = 0; k < a.keys; ++k) {
      grpc::ClientContext ctx;
      twincache::v1::SetRequest req;
      req.set_key(key_of(k));
      req.set_value(value);
      twincache::v1::SetResponse resp;
      if (!s->Set(&ctx, req, &resp).ok()) {
        std::fprintf(stderr, "server_bench: prefill failed\n");
        return 1;
      }
    }
  }
  // One closed loop per connection, driven by gRPC's callback API: a loop's next call starts
  // in the previous one's completion, so the client spends no thread per connection (as
  // redis-benchmark, one event loop over its connections).
  struct loop {
    twincache::v1::Cache::Stub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> ctx;
    twincache::v1::GetRequest greq;
    twincache::v1::GetResponse gresp;
    twincache::v1::SetRequest sreq;
    twincache::v1::SetResponse sresp;
    std::chrono::steady_clock::time_point t0;
    std::vector<std::uint32_t> lat;
    unsigned k = 0;
  };
  std::vector<loop> loops(static_cast<std::size_t>(a.concurrency));
  std::atomic<int> errors{0};
  std::mutex mu;  // guards running (the loops still going) for cv
  std::condition_variable cv;
  int running = a.concurrency;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration_cast<
      std::chrono::steady_clock::duration>(std::chrono::duration<double>(a.seconds));
  std::function<void(loop&)> issue = [&](loop& l) {
    l.k = l.k * 1103515245u + 12345u;
    const std::string key = key_of(static_cast<int>(l.k % static_cast<unsigned>(a.keys)));
    l.ctx = std::make_unique<grpc::ClientContext>();
    l.t0 = std::chrono::steady_clock::now();
    auto done = [&, lp = &l](grpc::Status st) {
      const auto now = std::chrono::steady_clock::now();
      if (!st.ok()) errors.fetch_add(1);
      lp->lat.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - lp->t0).count()));
      if (now < end) {
        issue(*lp);
        return;
      }
      std::lock_guard g(mu);
      if (--running == 0) cv.notify_all();
    };
    if (a.op == "get") {
      l.greq.set_key(key);
      l.stub->async()->Get(l.ctx.get(), &l.greq, &l.gresp, done);
    } else {
      l.sreq.set_key(key);
      l.stub->async()->Set(l.ctx.get(), &l.sreq, &l.sresp, done);
    }
  };
  const int nch = a.channels > 0 ? std::min(a.channels, a.concurrency) : a.concurrency;
  std::vector<std::unique_ptr<twincache::v1::Cache::Stub>> stubs;
  for (int t = 0; t < nch; ++t) stubs.push_back(stub_for(a.target));
  for (int t = 0; t < a.concurrency; ++t) {
    loop& l = loops[static_cast<std::size_t>(t)];
    l.stub = stubs[static_cast<std::size_t>(t % nch)].get();
    l.sreq.set_value(value);
    l.k = static_cast<unsigned>(t) * 7919u;
    l.lat.reserve(1 << 20);
  }
  for (auto& l : loops) issue(l);
  {
    std::unique_lock g(mu);
    cv.wait(g, [&] { return running == 0; });
  }
  std::vector<std::vector<std::uint32_t>> lat;
  for (auto& l : loops) lat.push_back(std::move(l.lat));
  std::vector<std::uint32_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    if (all.empty()) return 0.0;
    return all[static_cast<std::size_t>(p * static_cast<double>(all.size() - 1))] / 1000.0;
  };
  std::printf(
      "{\"op\":\"%s\",\"concurrency\":%d,\"calls\":%zu,\"ops_per_s\":%.0f,\"p50_us\":%.1f,"
      "\"p99_us\":%.1f,\"errors\":%d}\n",
      a.op.c_str(), a.concurrency, all.size(), static_cast<double>(all.size()) / a.seconds,
      pct(0.50), pct(0.99), errors.load());
  return errors.load() == 0 ? 0 : 1;
}
