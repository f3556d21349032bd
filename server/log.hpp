// log.hpp: structured logs, one JSON object per line on stderr:
//   {"ts":"2026-12-03T22:40:01.123Z","level":"info","event":"listening","grpc_port":7070,...}
// Nothing is logged before main() configures the level; lines are written whole under one mutex.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config.hpp"

namespace twincache::server {

// A log line under construction: fields are appended in order and written by emit().
class log_line {
 public:
  log_line(log_level level, std::string_view event);
  log_line& str(std::string_view key, std::string_view value);
  log_line& num(std::string_view key, std::int64_t value);
  log_line& num(std::string_view key, double value);
  log_line& boolean(std::string_view key, bool value);
  void emit();  // no-op when the level is below the configured one

 private:
  bool on_;
  std::string buf_;
};

void set_log_level(log_level level);
bool log_enabled(log_level level);

// Appends s to out as JSON string contents (quotes, backslashes, control bytes escaped; bytes
// that are not valid UTF-8 become \ufffd).
void json_escape(std::string& out, std::string_view s);

}  // namespace twincache::server
