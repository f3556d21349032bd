// config.cpp: the one place twincache-server's flags and TWINCACHE_* variables are read and
// range-checked (see config.hpp).
#include "config.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

namespace twincache::server {
namespace {

struct option_spec {
  const char* flag;    // "--max-items"
  const char* env;     // "TWINCACHE_MAX_ITEMS"
  const char* range;   // the allowed values, as printed in errors and --help
  const char* deflt;   // the default, for --help
  const char* help;    // one line
};

// Every option, in --help order.
const option_spec specs[] = {
    {"--listen", "TWINCACHE_LISTEN", "HOST:PORT with PORT in [0, 65535]", "127.0.0.1:7070",
     "gRPC address (port 0: any free port, printed in the 'listening' log line)"},
    {"--http", "TWINCACHE_HTTP", "HOST:PORT with PORT in [0, 65535], or 'off'", "127.0.0.1:7071",
     "HTTP address of /health, /ready, /live and /metrics"},
    {"--max-items", "TWINCACHE_MAX_ITEMS", "an integer in [1, 9223372036854775807] or 'unlimited'",
     "unlimited", "entry limit"},
    {"--max-bytes", "TWINCACHE_MAX_BYTES", "an integer in [1, 9223372036854775807] or 'unlimited'",
     "268435456", "byte budget (key + value + 64 bytes per entry)"},
    {"--max-value-bytes", "TWINCACHE_MAX_VALUE_BYTES",
     "an integer in [1, 9223372036854775807] or 'unlimited'", "1048576",
     "largest value accepted by Set"},
    {"--default-ttl", "TWINCACHE_DEFAULT_TTL",
     "a number of seconds > 0 and <= 315360000, or 'none'",
     "none", "TTL of a Set without ttl_ms"},
    {"--policy", "TWINCACHE_POLICY", "one of 'lru', 'tinylfu'", "tinylfu", "eviction policy"},
    {"--tls-cert", "TWINCACHE_TLS_CERT", "a readable PEM file", "(none: plaintext)",
     "server certificate chain (needs --tls-key)"},
    {"--tls-key", "TWINCACHE_TLS_KEY", "a readable PEM file", "(none)",
     "server private key (needs --tls-cert)"},
    {"--tls-client-ca", "TWINCACHE_TLS_CLIENT_CA", "a readable PEM file", "(none: no mTLS)",
     "CA bundle; when given, clients must present a certificate it signed (mTLS)"},
    {"--name", "TWINCACHE_NAME", "1 to 64 characters of [A-Za-z0-9_.:-]", "server",
     "the `cache` label on /metrics"},
    {"--shutdown-timeout", "TWINCACHE_SHUTDOWN_TIMEOUT", "a number of seconds in [0, 3600]", "5",
     "on SIGTERM/SIGINT, how long in-flight calls may finish before they are cancelled"},
    {"--max-message-bytes", "TWINCACHE_MAX_MESSAGE_BYTES",
     "an integer in [1024, 2147483647]", "4194304", "largest gRPC request message"},
    {"--log-level", "TWINCACHE_LOG_LEVEL", "one of 'debug', 'info', 'warn', 'error'", "info",
     "JSON log lines on stderr at or above this level (debug: one per request)"},
    {"--api", "TWINCACHE_API", "one of 'async', 'callback'", "async",
     "gRPC serving API of the Cache service: completion queues polled by --io-threads threads "
     "(async), or gRPC's callback threads (callback)"},
    {"--io-threads", "TWINCACHE_IO_THREADS", "an integer in [1, 64]", "1",
     "--api async: completion queues, each polled by one thread that runs its calls' handlers"},
};

const option_spec* find_spec(const std::string& flag) {
  for (const auto& s : specs) {
    if (flag == s.flag) return &s;
  }
  return nullptr;
}

std::string range_error(const std::string& who, const option_spec& s, const std::string& got) {
  return who + " must be " + s.range + " (got '" + got + "')";
}

bool parse_u64(const std::string& v, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
  if (v.empty() || v.size() > 20) return false;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || x < lo || x > hi) return false;
  out = x;
  return true;
}

bool parse_seconds(const std::string& v, double lo_excl, bool allow_lo, double hi, double& out) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(v.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(x) || x > hi) return false;
  if (allow_lo ? x < lo_excl : x <= lo_excl) return false;
  out = x;
  return true;
}

// A file we can read that holds at least one PEM block (key or certificate).
bool readable_pem(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return f.good() || f.eof() ? text.find("-----BEGIN ") != std::string::npos : false;
}

// Applies one option's value; `who` is the flag or the variable, for the message.
std::string apply(config& c, const option_spec& s, const std::string& who, const std::string& v) {
  const std::string flag = s.flag;
  constexpr std::uint64_t i64max = 9223372036854775807ull;
  auto limit = [&](std::uint64_t& out) -> std::string {
    if (v == "unlimited") {
      out = unlimited;
      return {};
    }
    return parse_u64(v, 1, i64max, out) ? std::string() : range_error(who, s, v);
  };
  if (flag == "--listen" || flag == "--http") {
    std::string host;
    int port = 0;
    if (flag == "--http" && v == "off") {
      c.http = v;
      return {};
    }
    if (!split_host_port(v, host, port)) return range_error(who, s, v);
    (flag == "--listen" ? c.listen : c.http) = v;
    return {};
  }
  if (flag == "--max-items") return limit(c.max_items);
  if (flag == "--max-bytes") return limit(c.max_bytes);
  if (flag == "--max-value-bytes") return limit(c.max_value_bytes);
  if (flag == "--default-ttl") {
    if (v == "none") {
      c.default_ttl_ms.reset();
      return {};
    }
    double secs = 0;
    if (!parse_seconds(v, 0.0, false, static_cast<double>(max_ttl_ms) / 1000.0, secs)) {
      return range_error(who, s, v);
    }
    const auto ms = static_cast<std::int64_t>(std::llround(secs * 1000.0));
    c.default_ttl_ms = ms < 1 ? 1 : ms;
    return {};
  }
  if (flag == "--policy") {
    if (v == "lru") c.policy = policy_kind::lru;
    else if (v == "tinylfu") c.policy = policy_kind::tinylfu;
    else return range_error(who, s, v);
    return {};
  }
  if (flag == "--tls-cert" || flag == "--tls-key" || flag == "--tls-client-ca") {
    if (v.empty() || !readable_pem(v)) return range_error(who, s, v);
    (flag == "--tls-cert" ? c.tls_cert : flag == "--tls-key" ? c.tls_key : c.tls_client_ca) = v;
    return {};
  }
  if (flag == "--name") {
    if (v.empty() || v.size() > 64) return range_error(who, s, v);
    for (char ch : v) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == ':' || ch == '-';
      if (!ok) return range_error(who, s, v);
    }
    c.name = v;
    return {};
  }
  if (flag == "--shutdown-timeout") {
    return parse_seconds(v, 0.0, true, 3600.0, c.shutdown_timeout_s) ? std::string()
                                                                      : range_error(who, s, v);
  }
  if (flag == "--max-message-bytes") {
    return parse_u64(v, 1024, 2147483647ull, c.max_message_bytes) ? std::string()
                                                                   : range_error(who, s, v);
  }
  if (flag == "--log-level") {
    if (v == "debug") c.level = log_level::debug;
    else if (v == "info") c.level = log_level::info;
    else if (v == "warn") c.level = log_level::warn;
    else if (v == "error") c.level = log_level::error;
    else return range_error(who, s, v);
    return {};
  }
  if (flag == "--api") {
    if (v == "async") c.api = serving_api::async;
    else if (v == "callback") c.api = serving_api::callback;
    else return range_error(who, s, v);
    return {};
  }
  if (flag == "--io-threads") {
    std::uint64_t n = 0;
    if (!parse_u64(v, 1, 64, n)) return range_error(who, s, v);
    c.io_threads = static_cast<unsigned>(n);
    return {};
  }
  return "internal: unhandled option " + flag;
}

}  // namespace

bool split_host_port(const std::string& s, std::string& host, int& port) {
  std::string p;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    host = s.substr(1, close - 1);
    p = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    host = s.substr(0, colon);
    p = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) return false;  // v6 needs brackets
  }
  if (host.empty()) return false;
  for (char ch : host) {
    if (static_cast<unsigned char>(ch) <= ' ' || ch == '/' || ch == '"' || ch == '\\') return false;
  }
  std::uint64_t n = 0;
  if (!parse_u64(p, 0, 65535, n)) return false;
  port = static_cast<int>(n);
  return true;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

const char* log_level_name(log_level l) {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

const char* serving_api_name(serving_api a) {
  return a == serving_api::async ? "async" : "callback";
}

parse_result parse_config(const std::vector<std::string>& args,
                          const std::function<const char*(const char*)>& getenv) {
  parse_result r;
  // Variables first, then flags over them.
  for (const auto& s : specs) {
    const char* v = getenv(s.env);
    if (v == nullptr || *v == '\0') continue;
    if (std::string e = apply(r.cfg, s, s.env, v); !e.empty()) {
      r.error = std::move(e);
      return r;
    }
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      r.help = true;
      return r;
    }
    if (a == "--version") {
      r.version = true;
      return r;
    }
    std::string flag = a, value;
    bool has_value = false;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    const option_spec* s = find_spec(flag);
    if (s == nullptr) {
      r.error = "unknown argument '" + a + "' (see --help)";
      return r;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        r.error = std::string(s->flag) + " needs a value: " + s->range;
        return r;
      }
      value = args[++i];
    }
    if (std::string e = apply(r.cfg, *s, s->flag, value); !e.empty()) {
      r.error = std::move(e);
      return r;
    }
  }
  const config& c = r.cfg;
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    r.error = "--tls-cert and --tls-key (TWINCACHE_TLS_CERT, TWINCACHE_TLS_KEY) must be given "
              "together";
  } else if (!c.tls_client_ca.empty() && c.tls_cert.empty()) {
    r.error = "--tls-client-ca (TWINCACHE_TLS_CLIENT_CA) needs --tls-cert and --tls-key";
  }
  return r;
}

std::string usage() {
  std::ostringstream o;
  o << "usage: twincache-server [--flag VALUE | --flag=VALUE]...\n"
       "The twincache core store as a gRPC sidecar (docs/server.md). Each flag has an environment\n"
       "variable; the flag wins. A bad value exits 2.\n\n";
  for (const auto& s : specs) {
    o << "  " << s.flag << " (" << s.env << ")\n      " << s.help << "\n      allowed: " << s.range
      << "; default: " << s.deflt << "\n";
  }
  o << "  --help, --version\n";
  return o.str();
}

}  // namespace twincache::server
