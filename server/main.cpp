// main.cpp: twincache-server's entry point. Reads the configuration (flags over TWINCACHE_*
// variables; a bad value exits 2), owns the sidecar (store, services, ports), waits for SIGTERM
// or SIGINT and stops gracefully within --shutdown-timeout. Exit codes: 0 after a clean stop,
// 1 when the server cannot start (address in use...), 2 for a bad configuration.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.hpp"
#include "log.hpp"
#include "sidecar.hpp"

namespace {
std::string limit_text(std::uint64_t v) {
  return v == twincache::unlimited ? "unlimited" : std::to_string(v);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace twincache::server;
  const std::vector<std::string> args(argv + 1, argv + argc);
  const parse_result p = parse_config(args, [](const char* n) { return std::getenv(n); });
  if (p.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (p.version) {
    std::printf("twincache-server %s\n", TWINCACHE_VERSION);
    return 0;
  }
  if (!p.error.empty()) {
    std::fprintf(stderr, "twincache-server: %s\n", p.error.c_str());
    return 2;
  }
  set_log_level(p.cfg.level);

  // Signals are taken by sigwait() on this thread: block them before any thread starts, so
  // every gRPC and HTTP thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  sidecar s(p.cfg);
  if (std::string e = s.start(); !e.empty()) {
    log_line(log_level::error, "start_failed").str("error", e).emit();
    return 1;
  }
  std::string host;
  int port = 0;
  const bool loop_grpc = split_host_port(p.cfg.listen, host, port) && is_loopback_host(host);
  if (!loop_grpc && p.cfg.tls_cert.empty()) {
    log_line(log_level::warn, "plaintext_non_loopback")
        .str("listen", p.cfg.listen)
        .str("hint", "anyone who reaches this address can read and write the cache; use TLS/mTLS")
        .emit();
  }
  log_line(log_level::info, "listening")
      .str("listen", p.cfg.listen)
      .num("grpc_port", static_cast<std::int64_t>(s.grpc_port()))
      .str("http", p.cfg.http)
      .num("http_port", static_cast<std::int64_t>(p.cfg.http == "off" ? 0 : s.http_port()))
      .boolean("tls", !p.cfg.tls_cert.empty())
      .boolean("mtls", !p.cfg.tls_client_ca.empty())
      .str("api", serving_api_name(p.cfg.api))
      .num("io_threads",
           static_cast<std::int64_t>(p.cfg.api == serving_api::async ? p.cfg.io_threads : 0))
      .str("policy", std::string(twincache::policy_name(p.cfg.policy)))
      .str("max_items", limit_text(p.cfg.max_items))
      .str("max_bytes", limit_text(p.cfg.max_bytes))
      .str("max_value_bytes", limit_text(p.cfg.max_value_bytes))
      .num("pid", static_cast<std::int64_t>(getpid()))
      .emit();

  int sig = 0;
  while (sigwait(&sigs, &sig) != 0) {
  }
  log_line(log_level::info, "stopping")
      .str("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT")
      .num("shutdown_timeout_s", p.cfg.shutdown_timeout_s)
      .emit();
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(p.cfg.shutdown_timeout_s));
  const bool drained = s.stop(deadline);
  log_line(log_level::info, "stopped").boolean("drained", drained).emit();
  return 0;
}
