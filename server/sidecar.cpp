// sidecar.cpp: assembling and stopping one server (see sidecar.hpp).
#include "sidecar.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include "log.hpp"
#include "twincache/cleaner.hpp"

namespace twincache::server {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

sidecar::sidecar(config cfg, std::shared_ptr<::twincache::clock> clock)
    : cfg_(std::move(cfg)), clock_(std::move(clock)) {}

sidecar::~sidecar() { stop(std::chrono::system_clock::now()); }

std::string sidecar::start() {
  store_options opts = store_options_from(cfg_);
  opts.clock = clock_;
  if (status st = byte_store::validate(opts); !st.ok()) return st.message();
  store_ = std::make_unique<byte_store>(opts);
  service_ = std::make_unique<cache_service>(*store_, metrics_, cfg_.default_ttl_ms);

  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!cfg_.tls_cert.empty()) {
    grpc::SslServerCredentialsOptions o(
        cfg_.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                   : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (!read_file(cfg_.tls_key, pair.private_key)) return "cannot read --tls-key " + cfg_.tls_key;
    if (!read_file(cfg_.tls_cert, pair.cert_chain)) {
      return "cannot read --tls-cert " + cfg_.tls_cert;
    }
    if (!cfg_.tls_client_ca.empty() && !read_file(cfg_.tls_client_ca, o.pem_root_certs)) {
      return "cannot read --tls-client-ca " + cfg_.tls_client_ca;
    }
    o.pem_key_cert_pairs.push_back(std::move(pair));
    creds = grpc::SslServerCredentials(o);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder b;
  b.AddListeningPort(cfg_.listen, creds, &grpc_port_);
  if (cfg_.api == serving_api::callback) {
    callback_ = std::make_unique<callback_cache_service>(*service_);
    b.RegisterService(callback_.get());
  } else {
    async_ = std::make_unique<async_cache_server>(*service_, b, cfg_.io_threads);
  }
  // gRPC sets SO_REUSEPORT by default: a second server on a busy port would then share it
  // silently instead of failing to start.
  b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  b.SetMaxReceiveMessageSize(static_cast<int>(cfg_.max_message_bytes));
  b.SetMaxSendMessageSize(static_cast<int>(cfg_.max_message_bytes));
  server_ = b.BuildAndStart();
  if (!server_ || grpc_port_ == 0) {
    if (server_) server_->Shutdown();
    if (async_) async_->stop();
    server_.reset();
    return "cannot serve gRPC on " + cfg_.listen +
           " (address in use or not local, or TLS files that are not a PEM key and certificate)";
  }
  if (async_) async_->start();
  if (cfg_.http != "off") {
    std::string host;
    int port = 0;
    split_host_port(cfg_.http, host, port);
    if (std::string e = http_.bind(host, port); !e.empty()) {
      server_->Shutdown();
      if (async_) async_->stop();
      server_.reset();
      return "--http " + cfg_.http + ": " + e;
    }
    http_.start([this](const std::string& path) { return handle_http(path); });
  }
  if (auto* h = server_->GetHealthCheckService()) {
    h->SetServingStatus(true);  // "": the whole server
    h->SetServingStatus(::twincache::v1::Cache::service_full_name(), true);
  }
  ready_.store(true);
  return {};
}

bool sidecar::stop(std::chrono::system_clock::time_point deadline) {
  if (stopped_.exchange(true)) return true;
  ready_.store(false);
  bool drained = true;
  if (server_) {
    if (auto* h = server_->GetHealthCheckService()) h->SetServingStatus(false);  // all of them
    // Shutdown(deadline) stops accepting at once, lets calls in flight finish until the
    // deadline, then cancels those still running.
    if (async_) {
      async_->shutdown_server(*server_, deadline);
    } else {
      server_->Shutdown(deadline);
    }
    server_->Wait();
    drained = std::chrono::system_clock::now() < deadline;
    // --api async: the queues go after the server (gRPC's rule), drained, pollers joined.
    if (async_) async_->stop();
  }
  http_.stop();
  // The store's cleaner thread: stopped now so that it is not inside the store as it goes.
  ::twincache::cleaner::instance().stop();
  return drained;
}

http_response sidecar::handle_http(const std::string& path) const {
  const char* json = "application/json";
  if (path == "/live") return {200, json, "{\"status\":\"live\"}\n"};
  if (path == "/ready" || path == "/health") {
    const bool r = ready_.load();
    std::ostringstream o;
    o << "{\"status\":\"" << (r ? "ready" : "draining") << "\"";
    if (path == "/health" && store_) {
      o << ",\"items\":" << store_->size() << ",\"bytes\":" << store_->bytes();
    }
    o << "}\n";
    return {r ? 200 : 503, json, o.str()};
  }
  if (path == "/metrics") {
    store_snapshot s{store_->stats(), store_->limits()};
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            render_metrics(cfg_.name, s, metrics_)};
  }
  return {404, "text/plain; charset=utf-8", "not found: try /health, /ready, /live, /metrics\n"};
}

}  // namespace twincache::server
