// directory.cpp: the cache directory (default location, creation with mode 0700, ownership and
// permission checks) and its secret file (32 random bytes, mode 0600), see disk_store.hpp.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "twincache/disk/hmac.hpp"
#include "twincache/disk_store.hpp"

namespace twincache::disk {
namespace {

constexpr std::size_t secret_bytes = 32;

status io_error(const std::string& what, int err) {
  std::string msg = what;
  if (err != 0) msg.append(": ").append(std::strerror(err));
  return {status_code::io_error, std::move(msg)};
}

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0%03o", static_cast<unsigned>(m & 0777));
  return buf;
}

// mkdir -p, every created level with mode 0700.
status make_dirs(const std::string& dir) {
  if (dir.empty()) return io_error("cache directory is empty", 0);
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return io_error("cannot create cache directory " + partial, errno);
    }
  }
  return {};
}

status read_secret(int fd, const std::string& file, std::string& secret) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return io_error("cannot stat " + file, errno);
  if (!S_ISREG(st.st_mode)) return io_error(file + " is not a regular file", 0);
  if (st.st_uid != ::geteuid()) return io_error(file + " is owned by another user", 0);
  if ((st.st_mode & 077) != 0) {
    return io_error(file + " is readable or writable by others (mode " +
                        octal_mode(st.st_mode) + "); it must be 0600",
                    0);
  }
  std::string buf(secret_bytes + 1, '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t r = ::read(fd, buf.data() + got, buf.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read " + file, errno);
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  if (got != secret_bytes) {
    return io_error(file + " has " + std::to_string(got) + " bytes, expected " +
                        std::to_string(secret_bytes),
                    0);
  }
  buf.resize(secret_bytes);
  secret = std::move(buf);
  return {};
}

}  // namespace

std::string default_directory() {
  if (const char* d = std::getenv("TWINCACHE_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/') {
    return std::string(x) + "/twincache";
  }
  const char* home = std::getenv("HOME");
  std::string h = home != nullptr ? home : "";
  if (h.empty()) {
    if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_dir != nullptr) {
      h = pw->pw_dir;
    }
  }
  if (h.empty()) h = "/tmp";
  return h + "/.cache/twincache";
}

status prepare_directory(const std::string& dir, std::string& secret) {
  if (status st = make_dirs(dir); !st.ok()) return st;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return io_error("cannot stat cache directory " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return io_error(dir + " is not a directory", 0);
  if (st.st_uid != ::geteuid()) {
    return io_error("cache directory " + dir + " is owned by another user", 0);
  }
  if ((st.st_mode & 022) != 0) {
    return io_error("cache directory " + dir + " is group- or world-writable (mode " +
                        octal_mode(st.st_mode) + "); use a directory with mode 0700",
                    0);
  }
  if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    return io_error("cache directory " + dir + " is not writable", errno);
  }
  const std::string file = dir + "/secret";
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      status r = read_secret(fd, file, secret);
      ::close(fd);
      return r;
    }
    if (errno != ENOENT) return io_error("cannot open " + file, errno);
    // Create it under a unique name, then link it into place: concurrent creators agree on
    // whichever link() won, and no reader ever sees a partly written secret.
    std::uint8_t bytes[secret_bytes];
    if (!random_bytes(bytes, secret_bytes)) return io_error("getrandom failed", errno);
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    const std::string tmp = file + ".tmp." + std::to_string(::getpid()) + "." +
                            std::to_string(static_cast<unsigned long long>(stamp));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("cannot create " + tmp, errno);
    const bool written = ::write(fd, bytes, secret_bytes) == static_cast<ssize_t>(secret_bytes) &&
                         ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
      ::unlink(tmp.c_str());
      return io_error("cannot write " + tmp, errno);
    }
    const int linked = ::link(tmp.c_str(), file.c_str());
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    if (linked != 0 && link_errno != EEXIST) return io_error("cannot create " + file, link_errno);
  }
  return io_error("cannot create " + file + " (it keeps disappearing)", 0);
}

}  // namespace twincache::disk
