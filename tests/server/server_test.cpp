// server_test.cpp: twincache-server in process (GoogleTest): the Cache service over a real gRPC
// channel with a manual clock for expiry, the hidden-exception contract, configuration parsing,
// the Prometheus rendering, the HTTP request line, JSON escaping and the ordered stop.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "http.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "sidecar.hpp"
#include "twincache/v1/cache.grpc.pb.h"

namespace ts = twincache::server;
namespace v1 = twincache::v1;
using twincache::time_ns;

namespace {
constexpr time_ns ms = 1000000;

struct running {
  std::shared_ptr<twincache::clock> clock = std::make_shared<twincache::clock>();
  std::unique_ptr<ts::sidecar> server;
  std::unique_ptr<v1::Cache::Stub> stub;

  explicit running(ts::config c) {
    clock->set_manual(1000000 * ms);
    c.listen = "127.0.0.1:0";
    c.http = "127.0.0.1:0";
    server = std::make_unique<ts::sidecar>(c, clock);
    const std::string err = server->start();
    EXPECT_EQ(err, "");
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->grpc_port()),
                                  grpc::InsecureChannelCredentials());
    stub = v1::Cache::NewStub(ch);
  }
  grpc::Status set(const std::string& k, const std::string& v, std::optional<std::int64_t> ttl) {
    grpc::ClientContext ctx;
    v1::SetRequest req;
    req.set_key(k);
    req.set_value(v);
    if (ttl) req.set_ttl_ms(*ttl);
    v1::SetResponse resp;
    return stub->Set(&ctx, req, &resp);
  }
  bool found(const std::string& k) {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_key(k);
    v1::GetResponse resp;
    EXPECT_TRUE(stub->Get(&ctx, req, &resp).ok());
    return resp.found();
  }
  v1::StatsResponse stats() {
    grpc::ClientContext ctx;
    v1::StatsResponse resp;
    EXPECT_TRUE(stub->Stats(&ctx, v1::StatsRequest(), &resp).ok());
    return resp;
  }
};

ts::parse_result parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  return ts::parse_config(args, [&env](const char* n) -> const char* {
    const auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}
}  // namespace

// Every ServerService test runs once per serving API (--api async and callback): the handler
// bodies are shared, the threading, finishing and shutdown paths are not.
class ServerService : public ::testing::TestWithParam<ts::serving_api> {
 protected:
  static ts::config cfg() {
    ts::config c;
    c.api = GetParam();
    return c;
  }
};
INSTANTIATE_TEST_SUITE_P(Api, ServerService,
                         ::testing::Values(ts::serving_api::async, ts::serving_api::callback),
                         [](const ::testing::TestParamInfo<ts::serving_api>& i) {
                           return std::string(ts::serving_api_name(i.param));
                         });

TEST_P(ServerService, TtlExpiresOnTheStoreClock) {
  running r(cfg());
  ASSERT_TRUE(r.set("k", "v", 1000).ok());
  r.clock->advance(999 * ms);
  EXPECT_TRUE(r.found("k"));
  r.clock->advance(1 * ms);
  EXPECT_FALSE(r.found("k"));
  EXPECT_EQ(r.stats().expired(), 1u);
}

TEST_P(ServerService, DefaultTtlAppliesWhenAbsentOnly) {
  ts::config c = cfg();
  c.default_ttl_ms = 500;
  running r(c);
  ASSERT_TRUE(r.set("short", "v", std::nullopt).ok());
  ASSERT_TRUE(r.set("long", "v", 5000).ok());
  r.clock->advance(500 * ms);
  EXPECT_FALSE(r.found("short"));
  EXPECT_TRUE(r.found("long"));
  EXPECT_EQ(r.stats().default_ttl_ms(), 500);
}

TEST_P(ServerService, ByteBudgetEvictsAndRejectsWhatCannotFit) {
  ts::config c = cfg();
  c.max_bytes = 1000;
  c.max_value_bytes = ts::config{}.max_value_bytes;
  running r(c);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(r.set("k" + std::to_string(i), std::string(100, 'x'), {}).ok());
  }
  const v1::StatsResponse s = r.stats();
  EXPECT_LE(s.bytes(), 1000u);
  EXPECT_GT(s.evicted_bytes(), 0u);
  const grpc::Status st = r.set("big", std::string(1000, 'x'), {});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message(),
            "key + value + 64 bytes must be at most 1000 (--max-bytes) (got 1067)");
}

TEST_P(ServerService, ExceptionTextNeverReachesTheClient) {
  running r(cfg());
  r.server->service().set_hook_for_tests([] { throw std::logic_error("secret detail"); });
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-request-id", "rid-1");
  v1::GetRequest req;
  req.set_key("k");
  v1::GetResponse resp;
  const grpc::Status st = r.stub->Get(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(st.error_message(), "internal error (request id rid-1)");
  EXPECT_EQ(r.server->metrics().count(ts::method::get, 13), 1u);
}

TEST_P(ServerService, StopMakesItNotReadyAndRefusesCalls) {
  running r(cfg());
  EXPECT_EQ(r.server->handle_http("/ready").status, 200);
  EXPECT_TRUE(r.server->stop(std::chrono::system_clock::now() + std::chrono::seconds(2)));
  EXPECT_EQ(r.server->handle_http("/ready").status, 503);
  EXPECT_EQ(r.server->handle_http("/ready").body, "{\"status\":\"draining\"}\n");
  EXPECT_EQ(r.server->handle_http("/live").status, 200);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::GetResponse resp;
  v1::GetRequest req;
  req.set_key("k");
  EXPECT_FALSE(r.stub->Get(&ctx, req, &resp).ok());
}

TEST_P(ServerService, StopDrainsACallInFlight) {
  running r(cfg());
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  r.server->service().set_hook_for_tests([&entered, released] {
    entered.set_value();
    released.wait();
  });
  grpc::Status call_status;
  std::thread client([&] {
    grpc::ClientContext ctx;
    v1::SetRequest req;
    req.set_key("k");
    req.set_value("v");
    v1::SetResponse resp;
    call_status = r.stub->Set(&ctx, req, &resp);
  });
  entered.get_future().wait();  // the call is inside its handler
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    drained = r.server->stop(std::chrono::system_clock::now() + std::chrono::seconds(30));
  });
  while (r.server->ready()) std::this_thread::yield();  // stop() has begun: not ready
  EXPECT_EQ(r.server->handle_http("/ready").status, 503);
  release.set_value();  // let the call finish within the deadline
  client.join();
  stopper.join();
  EXPECT_TRUE(call_status.ok()) << call_status.error_message();
  EXPECT_TRUE(drained.load());
  EXPECT_EQ(r.server->metrics().count(ts::method::set, 0), 1u);
}

TEST_P(ServerService, StopReportsACallThatOutlivesTheDeadline) {
  running r(cfg());
  std::promise<void> entered;
  std::atomic<bool> go{false};
  r.server->service().set_hook_for_tests([&] {
    entered.set_value();
    while (!go.load()) std::this_thread::yield();
  });
  std::thread client([&] {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_key("k");
    v1::GetResponse resp;
    (void)r.stub->Get(&ctx, req, &resp);
  });
  entered.get_future().wait();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(100);
  std::thread releaser([&] {  // the handler returns only after the deadline has passed
    while (std::chrono::system_clock::now() <= deadline) std::this_thread::yield();
    go = true;
  });
  EXPECT_FALSE(r.server->stop(deadline));
  releaser.join();
  client.join();
}

TEST_P(ServerService, ClientThatGoesAwayMidCallLeavesTheServerServing) {
  running r(cfg());
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  r.server->service().set_hook_for_tests([&entered, released, &calls] {
    if (calls.fetch_add(1) == 0) {  // the first call only: held until the client has gone
      entered.set_value();
      released.wait();
    }
  });
  grpc::ClientContext ctx;
  grpc::Status gone;
  std::thread client([&] {
    v1::SetRequest req;
    req.set_key("k");
    req.set_value("v");
    v1::SetResponse resp;
    gone = r.stub->Set(&ctx, req, &resp);
  });
  entered.get_future().wait();
  ctx.TryCancel();  // the client abandons the call while its handler runs
  client.join();
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::CANCELLED);
  release.set_value();  // the handler finishes into a call nobody waits for
  // The handler still runs to the end (recorded OK; the store has the entry) and the server
  // keeps serving.
  while (r.server->metrics().count(ts::method::set, 0) == 0) std::this_thread::yield();
  EXPECT_TRUE(r.found("k"));
  EXPECT_EQ(r.stats().inserts(), 1u);
  EXPECT_EQ(r.server->metrics().count(ts::method::set, 0), 1u);
  EXPECT_TRUE(r.server->stop(std::chrono::system_clock::now() + std::chrono::seconds(10)));
}

TEST_P(ServerService, StopWithManyCallsInFlightAnswersOrRefusesEach) {
  ts::config c = cfg();
  c.io_threads = 2;
  running r(c);
  constexpr int clients = 8;
  std::atomic<int> ok{0}, other{0};
  std::atomic<bool> stopping{false};
  std::vector<std::thread> ts_;
  for (int t = 0; t < clients; ++t) {
    ts_.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        v1::SetRequest req;
        req.set_key("k" + std::to_string(t) + "-" + std::to_string(i % 50));
        req.set_value("v");
        v1::SetResponse resp;
        const grpc::Status st = r.stub->Set(&ctx, req, &resp);
        if (st.ok()) {
          ok.fetch_add(1);
          continue;
        }
        // Refused once the server is going (UNAVAILABLE, or CANCELLED for a stream the
        // server's GOAWAY overtook; both modes alike): never an error of the handler's.
        EXPECT_TRUE(stopping.load()) << st.error_message();
        EXPECT_TRUE(st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    st.error_code() == grpc::StatusCode::CANCELLED)
            << st.error_code() << " " << st.error_message();
        other.fetch_add(1);
        return;
      }
    });
  }
  while (ok.load() < 400) std::this_thread::yield();
  stopping = true;
  EXPECT_TRUE(r.server->stop(std::chrono::system_clock::now() + std::chrono::seconds(10)));
  for (auto& t : ts_) t.join();
  EXPECT_EQ(other.load(), clients);  // each client's loop ended on a refusal
  // Every call a handler answered OK reached its client, and none other did.
  EXPECT_EQ(r.server->metrics().count(ts::method::set, 0), static_cast<std::uint64_t>(ok.load()));
}

TEST(ServerConfig, ApiAndIoThreads) {
  ts::parse_result p = parse({});
  EXPECT_EQ(p.cfg.api, ts::serving_api::async);
  EXPECT_EQ(p.cfg.io_threads, 1u);
  p = parse({"--io-threads", "4"}, {{"TWINCACHE_API", "callback"}, {"TWINCACHE_IO_THREADS", "2"}});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.cfg.api, ts::serving_api::callback);
  EXPECT_EQ(p.cfg.io_threads, 4u);
  EXPECT_EQ(parse({"--io-threads", "0"}).error,
            "--io-threads must be an integer in [1, 64] (got '0')");
  EXPECT_EQ(parse({}, {{"TWINCACHE_IO_THREADS", "65"}}).error,
            "TWINCACHE_IO_THREADS must be an integer in [1, 64] (got '65')");
  EXPECT_EQ(parse({"--api=sync"}).error, "--api must be one of 'async', 'callback' (got 'sync')");
}

TEST(ServerConfig, DefaultsAreLoopbackAndBounded) {
  const ts::parse_result p = parse({});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.cfg.listen, "127.0.0.1:7070");
  EXPECT_EQ(p.cfg.http, "127.0.0.1:7071");
  EXPECT_EQ(p.cfg.max_bytes, 256u << 20);
  EXPECT_EQ(p.cfg.max_value_bytes, 1u << 20);
  EXPECT_FALSE(p.cfg.default_ttl_ms.has_value());
}

TEST(ServerConfig, FlagsWinOverVariables) {
  const ts::parse_result p =
      parse({"--max-items=9", "--default-ttl", "0.0001"},
            {{"TWINCACHE_MAX_ITEMS", "3"}, {"TWINCACHE_POLICY", "lru"}, {"TWINCACHE_NAME", "a.b"}});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.cfg.max_items, 9u);
  EXPECT_EQ(p.cfg.policy, twincache::policy_kind::lru);
  EXPECT_EQ(p.cfg.name, "a.b");
  EXPECT_EQ(p.cfg.default_ttl_ms, 1);  // rounded up to the 1 ms resolution
}

TEST(ServerConfig, ErrorsNameTheSourceAndTheRange) {
  EXPECT_EQ(parse({}, {{"TWINCACHE_MAX_ITEMS", "0"}}).error,
            "TWINCACHE_MAX_ITEMS must be an integer in [1, 9223372036854775807] or 'unlimited' "
            "(got '0')");
  EXPECT_EQ(parse({"--max-bytes", "9223372036854775808"}).error,
            "--max-bytes must be an integer in [1, 9223372036854775807] or 'unlimited' (got "
            "'9223372036854775808')");
  EXPECT_EQ(parse({"--default-ttl", "nan"}).error,
            "--default-ttl must be a number of seconds > 0 and <= 315360000, or 'none' (got "
            "'nan')");
  EXPECT_EQ(parse({"--policy"}).error, "--policy needs a value: one of 'lru', 'tinylfu'");
}

TEST(ServerConfig, HostPort) {
  std::string h;
  int p = 0;
  EXPECT_TRUE(ts::split_host_port("[::1]:80", h, p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 80);
  EXPECT_TRUE(ts::split_host_port("0.0.0.0:0", h, p));
  EXPECT_FALSE(ts::split_host_port("::1:80", h, p));
  EXPECT_FALSE(ts::split_host_port(":80", h, p));
  EXPECT_FALSE(ts::split_host_port("h:65536", h, p));
  EXPECT_FALSE(ts::split_host_port("h:8a", h, p));
  EXPECT_TRUE(ts::is_loopback_host("127.0.0.2"));
  EXPECT_FALSE(ts::is_loopback_host("0.0.0.0"));
}

TEST(ServerMetrics, RenderingFollowsTheSpec) {
  ts::request_metrics rm;
  rm.record(ts::method::get, 0, 50000);       // 50 us: first bucket
  rm.record(ts::method::get, 0, 2000000);     // 2 ms: le=0.0025
  rm.record(ts::method::get, 3, 5000000000);  // 5 s: only +Inf
  ts::store_snapshot s;
  s.stats.hits = 4;
  s.stats.inserts = 2;
  s.stats.updates = 1;
  s.stats.evicted_bytes = 7;
  s.limits.max_bytes = 100;
  const std::string text = ts::render_metrics("a\"b", s, rm);
  for (const char* line : {
           "twincache_hits_total{cache=\"a\\\"b\"} 4\n",
           "twincache_sets_total{cache=\"a\\\"b\"} 3\n",
           "twincache_evictions_total{cache=\"a\\\"b\",reason=\"max_bytes\"} 7\n",
           "twincache_max_bytes{cache=\"a\\\"b\"} 100\n",
           "twincache_requests_total{method=\"Get\",code=\"OK\"} 2\n",
           "twincache_requests_total{method=\"Get\",code=\"INVALID_ARGUMENT\"} 1\n",
           "twincache_requests_total{method=\"Set\",code=\"OK\"} 0\n",
           "twincache_request_duration_seconds_bucket{method=\"Get\",le=\"0.0001\"} 1\n",
           "twincache_request_duration_seconds_bucket{method=\"Get\",le=\"0.001\"} 1\n",
           "twincache_request_duration_seconds_bucket{method=\"Get\",le=\"0.0025\"} 2\n",
           "twincache_request_duration_seconds_bucket{method=\"Get\",le=\"1\"} 2\n",
           "twincache_request_duration_seconds_bucket{method=\"Get\",le=\"+Inf\"} 3\n",
           "twincache_request_duration_seconds_sum{method=\"Get\"} 5.00205\n",
           "twincache_request_duration_seconds_count{method=\"Get\"} 3\n",
           "# TYPE twincache_request_duration_seconds histogram\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(text.find("twincache_max_items{"), std::string::npos);  // unlimited: no sample
  EXPECT_EQ(text.find("code=\"NOT_FOUND\""), std::string::npos);    // never seen: no sample
}

TEST(ServerHttp, RequestLine) {
  std::string m, p;
  EXPECT_TRUE(ts::parse_request_line("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", m, p));
  EXPECT_EQ(m, "GET");
  EXPECT_EQ(p, "/metrics");
  EXPECT_FALSE(ts::parse_request_line("GET /x HTTP/2\r\n\r\n", m, p));
  EXPECT_FALSE(ts::parse_request_line("GET x HTTP/1.1\r\n\r\n", m, p));
  EXPECT_FALSE(ts::parse_request_line("GET\r\n\r\n", m, p));
}

TEST(ServerLog, JsonEscapingKeepsLinesValid) {
  std::string out;
  ts::json_escape(out, std::string("a\"\\\n\x01\xff\xc3\xa9", 8));
  EXPECT_EQ(out, "a\\\"\\\\\\n\\u0001\\ufffd\xc3\xa9");
}
