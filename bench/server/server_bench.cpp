// server_bench.cpp: a closed-loop gRPC load generator for twincache-server (bench/server/run.py
// drives it next to redis-benchmark). N threads, each with its own channel and connection, call
// Get or Set with `--value-bytes` values over `--keys` keys for `--seconds`; prints one JSON
// line: throughput and the p50/p99 of the per-call latency.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "twincache/v1/cache.grpc.pb.h"

namespace {
struct args {
  std::string target = "127.0.0.1:7070";
  std::string op = "get";
  int concurrency = 1;
  double seconds = 3;
  int value_bytes = 100;
  int keys = 10000;
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
    else {
      std::fprintf(stderr, "server_bench: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  const std::string value(static_cast<std::size_t>(a.value_bytes), 'x');
  {  // every key present, so Get measures hits
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
  std::vector<std::vector<std::uint32_t>> lat(static_cast<std::size_t>(a.concurrency));
  std::atomic<bool> go{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  const auto dur = std::chrono::duration<double>(a.seconds);
  for (int t = 0; t < a.concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto s = stub_for(a.target);
      auto& mine = lat[static_cast<std::size_t>(t)];
      mine.reserve(1 << 20);
      unsigned k = static_cast<unsigned>(t) * 7919u;
      while (!go.load()) std::this_thread::yield();
      const auto end = std::chrono::steady_clock::now() + dur;
      twincache::v1::GetRequest greq;
      twincache::v1::GetResponse gresp;
      twincache::v1::SetRequest sreq;
      twincache::v1::SetResponse sresp;
      sreq.set_value(value);
      for (;;) {
        const auto t0 = std::chrono::steady_clock::now();
        if (t0 >= end) break;
        k = k * 1103515245u + 12345u;
        const std::string key = key_of(static_cast<int>(k % static_cast<unsigned>(a.keys)));
        grpc::ClientContext ctx;
        grpc::Status st;
        if (a.op == "get") {
          greq.set_key(key);
          st = s->Get(&ctx, greq, &gresp);
        } else {
          sreq.set_key(key);
          st = s->Set(&ctx, sreq, &sresp);
        }
        if (!st.ok()) errors.fetch_add(1);
        mine.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                 t0)
                .count()));
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
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
