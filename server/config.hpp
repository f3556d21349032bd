// config.hpp: twincache-server's configuration: every flag, its TWINCACHE_* environment
// variable, its default and its allowed range, parsed and checked in one place (config.cpp).
// A bad value is reported as "<--flag or VARIABLE> must be <range> (got '<value>')" and main
// exits 2 with it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "twincache/clock.hpp"
#include "twincache/options.hpp"
#include "twincache/policy.hpp"

namespace twincache::server {

// The largest TTL a request or --default-ttl may ask for: 10 years.
inline constexpr std::int64_t max_ttl_ms = 315360000000;

// How the Cache service is served (--api): gRPC's completion-queue API on --io-threads polling
// threads, or its callback API on gRPC's own threads.
enum class serving_api : std::uint8_t { async, callback };

enum class log_level : std::uint8_t { debug = 0, info = 1, warn = 2, error = 3 };

struct config {
  std::string listen = "127.0.0.1:7070";  // gRPC HOST:PORT (port 0: any free port)
  std::string http = "127.0.0.1:7071";    // probes and /metrics HOST:PORT; "off": no HTTP port
  std::uint64_t max_items = unlimited;
  std::uint64_t max_bytes = 256ull << 20;
  std::uint64_t max_value_bytes = 1ull << 20;
  std::optional<std::int64_t> default_ttl_ms;  // none: entries without a TTL never expire
  policy_kind policy = policy_kind::tinylfu;
  std::string tls_cert, tls_key, tls_client_ca;  // PEM file paths; empty: not used
  std::string name = "server";                   // the `cache` label of /metrics
  double shutdown_timeout_s = 5.0;               // SIGTERM: how long in-flight calls may run on
  std::uint64_t max_message_bytes = 4ull << 20;  // largest gRPC request accepted
  log_level level = log_level::info;
  serving_api api = serving_api::async;
  unsigned io_threads = 1;  // --api async: completion queues, one polling thread each
};

struct parse_result {
  config cfg;
  std::string error;  // non-empty: exit 2 with it
  bool help = false;  // --help: print usage() and exit 0
  bool version = false;
};

// Parses argv-style arguments (without the program name) over the environment that `getenv`
// reads (flags win over variables). Never throws, never exits.
parse_result parse_config(const std::vector<std::string>& args,
                          const std::function<const char*(const char*)>& getenv);

// The --help text: every flag, its variable, default and range.
std::string usage();

// Splits "HOST:PORT" ("[v6]:PORT" too). False when it is not one.
bool split_host_port(const std::string& s, std::string& host, int& port);
// Whether HOST is a loopback name or address (localhost, 127.0.0.0/8, ::1).
bool is_loopback_host(const std::string& host);

const char* log_level_name(log_level l);
const char* serving_api_name(serving_api a);

}  // namespace twincache::server
