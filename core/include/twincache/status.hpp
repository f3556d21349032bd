// status.hpp: the core's one error model. Every fallible core call returns a `status` (a code and
// a message that names the parameter and its allowed range); each binding translates it in exactly
// one place (Python: ValueError/TypeError, JS: TypeError/RangeError with `code`).
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace twincache {

enum class status_code : unsigned char {
  ok = 0,
  invalid_argument,  // a parameter of the wrong kind (bindings: TypeError)
  out_of_range,      // a parameter outside its allowed range (bindings: ValueError / RangeError)
  value_too_large,   // a value (or key) exceeds max_value_bytes or max_bytes; cache unchanged
  not_found,         // lookups that must find something (rare; most lookups return bool)
  io_error,          // persistent tier: the file system or SQLite said no
  corrupt,           // persistent tier: an entry failed its integrity check
};

// The stable, language-neutral name of a code ("out_of_range"), used as the JS error `code`
// suffix and in messages.
constexpr std::string_view status_code_name(status_code code) noexcept {
  switch (code) {
    case status_code::ok: return "ok";
    case status_code::invalid_argument: return "invalid_argument";
    case status_code::out_of_range: return "out_of_range";
    case status_code::value_too_large: return "value_too_large";
    case status_code::not_found: return "not_found";
    case status_code::io_error: return "io_error";
    case status_code::corrupt: return "corrupt";
  }
  return "unknown";
}

class [[nodiscard]] status {
 public:
  status() noexcept = default;
  status(status_code code, std::string message) : code_(code), message_(std::move(message)) {}

  static status success() noexcept { return {}; }
  bool ok() const noexcept { return code_ == status_code::ok; }
  explicit operator bool() const noexcept { return ok(); }
  status_code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  status_code code_ = status_code::ok;
  std::string message_;
};

}  // namespace twincache
