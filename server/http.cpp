// http.cpp: the probe and scrape responder (see http.hpp), on plain POSIX sockets.
#include "http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace twincache::server {
namespace {
constexpr std::size_t max_head = 8192;
constexpr int io_timeout_ms = 2000;

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    pollfd pf{fd, POLLOUT, 0};
    if (::poll(&pf, 1, io_timeout_ms) <= 0) return false;
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
}  // namespace

bool parse_request_line(const std::string& head, std::string& method, std::string& path) {
  const auto eol = head.find("\r\n");
  const std::string line = head.substr(0, eol);
  const auto sp1 = line.find(' ');
  if (sp1 == std::string::npos || sp1 == 0) return false;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || sp2 == sp1 + 1) return false;
  const std::string version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  method = line.substr(0, sp1);
  path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (path.empty() || path[0] != '/') return false;
  if (const auto q = path.find('?'); q != std::string::npos) path.resize(q);
  return true;
}

std::string http_server::bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string p = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), p.c_str(), &hints, &res); rc != 0) {
    return "cannot resolve " + host + ": " + gai_strerror(rc);
  }
  std::string err = "no address for " + host;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 64) == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      listen_fd_ = fd;
      err.clear();
      break;
    }
    err = std::string("cannot bind ") + host + ":" + p + ": " + std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (err.empty() && ::pipe2(wake_, O_CLOEXEC) != 0) err = "pipe: " + std::string(strerror(errno));
  return err;
}

void http_server::start(handler h) {
  handler_ = std::move(h);
  thread_ = std::thread([this] { loop(); });
}

void http_server::stop() {
  if (thread_.joinable()) {
    const char b = 1;
    [[maybe_unused]] ssize_t w = ::write(wake_[1], &b, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_[0], &wake_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void http_server::loop() {
  for (;;) {
    pollfd pf[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (pf[1].revents != 0) return;
    if ((pf[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve_one(fd);
    ::close(fd);
  }
}

void http_server::serve_one(int fd) {
  std::string head;
  char buf[2048];
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() > max_head) return;
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, io_timeout_ms) <= 0) return;
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return;
    head.append(buf, static_cast<std::size_t>(r));
  }
  std::string method, path;
  http_response resp;
  if (!parse_request_line(head, method, path)) {
    resp = {400, "text/plain; charset=utf-8", "bad request\n"};
  } else if (method != "GET" && method != "HEAD") {
    resp = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
  } else {
    try {
      resp = handler_(path);
    } catch (...) {
      resp = {500, "text/plain; charset=utf-8", "internal error\n"};
    }
  }
  std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) +
                    "\r\nContent-Type: " + resp.content_type +
                    "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                    "\r\nConnection: close\r\n";
  if (resp.status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (method != "HEAD") out += resp.body;
  write_all(fd, out.data(), out.size());
}

}  // namespace twincache::server
