// http.hpp: a small HTTP/1.1 responder for probes and scrapes (/health, /ready, /live,
// /metrics). One thread, one connection at a time, "Connection: close" on every reply; requests
// over 8 KiB or slower than 2 s are dropped. It serves GET and HEAD only and reads no body.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace twincache::server {

struct http_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Parses the request line of `head` ("GET /metrics?x HTTP/1.1"): method and path without the
// query. False when it is not an HTTP/1.x request line.
bool parse_request_line(const std::string& head, std::string& method, std::string& path);

class http_server {
 public:
  using handler = std::function<http_response(const std::string& path)>;

  http_server() = default;
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;
  ~http_server() { stop(); }

  // Binds host:port (port 0: any free port). Returns an error message, empty on success.
  std::string bind(const std::string& host, int port);
  int port() const noexcept { return port_; }
  // Serves on a thread until stop().
  void start(handler h);
  void stop();

 private:
  void loop();
  void serve_one(int fd);

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // stop() writes to wake_[1]; the loop polls wake_[0]
  int port_ = 0;
  handler handler_;
  std::thread thread_;
};

}  // namespace twincache::server
