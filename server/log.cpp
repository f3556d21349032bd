// log.cpp: JSON log lines on stderr (see log.hpp).
#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace twincache::server {
namespace {
std::atomic<int> g_level{static_cast<int>(log_level::info)};
std::mutex g_write;  // guards writes to stderr, so lines never interleave

// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}
}  // namespace

void set_log_level(log_level level) { g_level.store(static_cast<int>(level)); }
bool log_enabled(log_level level) { return static_cast<int>(level) >= g_level.load(); }

void json_escape(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else if (c >= 0x80) {
      const std::size_t n = utf8_len(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      out.append(s.substr(i, n));
      i += n;
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
}

log_line::log_line(log_level level, std::string_view event) : on_(log_enabled(level)) {
  if (!on_) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  buf_.reserve(160);
  buf_ += "{\"ts\":\"";
  buf_ += ts;
  buf_ += "\",\"level\":\"";
  buf_ += log_level_name(level);
  buf_ += "\"";
  str("event", event);
}

log_line& log_line::str(std::string_view key, std::string_view value) {
  if (!on_) return *this;
  buf_ += ",\"";
  json_escape(buf_, key);
  buf_ += "\":\"";
  json_escape(buf_, value);
  buf_ += '"';
  return *this;
}

log_line& log_line::num(std::string_view key, std::int64_t value) {
  if (!on_) return *this;
  buf_ += ",\"";
  json_escape(buf_, key);
  buf_ += "\":";
  buf_ += std::to_string(value);
  return *this;
}

log_line& log_line::num(std::string_view key, double value) {
  if (!on_) return *this;
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", value);
  buf_ += ",\"";
  json_escape(buf_, key);
  buf_ += "\":";
  buf_ += b;
  return *this;
}

log_line& log_line::boolean(std::string_view key, bool value) {
  if (!on_) return *this;
  buf_ += ",\"";
  json_escape(buf_, key);
  buf_ += value ? "\":true" : "\":false";
  return *this;
}

void log_line::emit() {
  if (!on_) return;
  buf_ += "}\n";
  std::lock_guard g(g_write);
  std::fwrite(buf_.data(), 1, buf_.size(), stderr);
  std::fflush(stderr);
}

}  // namespace twincache::server
