// service.cpp: the Cache service's handlers and their error contract (see service.hpp and
// docs/server.md).
#include "service.hpp"

#include <execinfo.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <typeinfo>

#include "log.hpp"

namespace twincache::server {
namespace {
constexpr std::int64_t ns_per_ms = 1000000;

std::string make_prefix() {
  std::random_device rd;
  char b[16];
  std::snprintf(b, sizeof b, "%08x", static_cast<unsigned>(rd()));
  return b;
}
const std::string& process_prefix() {
  static const std::string p = make_prefix();
  return p;
}
std::atomic<std::uint64_t> g_next_id{1};

// The stack of the handler that caught an unexpected exception, one "module(+offset) [address]"
// frame per line (addr2line resolves them); innermost first.
std::string handler_stack() {
  void* frames[32];
  const int n = ::backtrace(frames, 32);
  std::string out;
  if (char** names = ::backtrace_symbols(frames, n)) {
    for (int i = 0; i < n; ++i) out.append(names[i]).append("\n");
    std::free(names);
  }
  return out;
}

std::string ordinal(const char* field, int i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}
}  // namespace

std::string new_request_id() {
  char b[32];
  std::snprintf(b, sizeof b, "-%llx",
                static_cast<unsigned long long>(g_next_id.fetch_add(1, std::memory_order_relaxed)));
  return process_prefix() + b;
}

std::string request_id_for(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  const auto it = md.find("x-request-id");
  if (it != md.end()) {
    const grpc::string_ref v = it->second;
    bool ok = !v.empty() && v.size() <= 128;
    for (char c : v) ok = ok && c > 0x20 && c < 0x7f;
    if (ok) return std::string(v.data(), v.size());
  }
  return new_request_id();
}

store_options store_options_from(const config& c) {
  store_options o;
  o.limits.max_items = c.max_items;
  o.limits.max_bytes = c.max_bytes;
  o.limits.max_value_bytes = c.max_value_bytes;
  o.policy = c.policy;
  if (c.default_ttl_ms) o.default_ttl = *c.default_ttl_ms * ns_per_ms;
  return o;
}

template <class Body>
grpc::Status cache_service::serve(grpc::ServerContextBase& ctx, method m, Body&& body) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string rid = request_id_for(ctx);
  ctx.AddInitialMetadata("x-request-id", rid);
  grpc::Status st;
  try {
    if (hook_) hook_();
    st = body();
  } catch (const std::exception& e) {
    // The text stays in the log; the client gets the code and the request id only.
    log_line(log_level::error, "unexpected_error")
        .str("request_id", rid)
        .str("method", method_name(m))
        .str("exception", typeid(e).name())
        .str("what", e.what())
        .str("stack", handler_stack())
        .emit();
    st = grpc::Status(grpc::StatusCode::INTERNAL, "internal error (request id " + rid + ")");
  } catch (...) {
    log_line(log_level::error, "unexpected_error")
        .str("request_id", rid)
        .str("method", method_name(m))
        .str("exception", "unknown")
        .str("stack", handler_stack())
        .emit();
    st = grpc::Status(grpc::StatusCode::INTERNAL, "internal error (request id " + rid + ")");
  }
  const int code = static_cast<int>(st.error_code());
  const auto ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  metrics_.record(m, code, ns);
  const log_level lvl = (code == 0 || code == 3 || code == 8) ? log_level::debug
                        : code == 13                          ? log_level::error
                                                              : log_level::info;
  if (log_enabled(lvl)) {
    log_line(lvl, "request")
        .str("request_id", rid)
        .str("method", method_name(m))
        .str("code", code_name(code))
        .str("message", st.error_message())
        .num("duration_s", static_cast<double>(ns) / 1e9)
        .str("peer", ctx.peer())
        .emit();
  }
  return st;
}

grpc::Status cache_service::check_key(const std::string& key, const char* field) const {
  if (key.empty() || key.size() > max_key_bytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            std::string(field) + " must be 1 to " + std::to_string(max_key_bytes) +
                " bytes (got " + std::to_string(key.size()) + ")"};
  }
  return grpc::Status::OK;
}

grpc::Status cache_service::check_entry(const v1::SetRequest& e, const char* field,
                                        std::optional<time_ns>& ttl) const {
  const std::string key_field = std::string(field) + "key";
  if (auto st = check_key(e.key(), key_field.c_str()); !st.ok()) return st;
  ttl.reset();
  if (e.has_ttl_ms()) {
    const std::int64_t t = e.ttl_ms();
    if (t <= 0 || t > max_ttl_ms) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              std::string(field) + "ttl_ms must be 1 to " + std::to_string(max_ttl_ms) +
                  " when present (absent: the server's default) (got " + std::to_string(t) + ")"};
    }
    ttl = t * ns_per_ms;
  }
  const limits& l = store_.limits();
  const std::uint64_t vsize = e.value().size();
  if (vsize > l.max_value_bytes) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED,
            std::string(field) + "value must be at most " + std::to_string(l.max_value_bytes) +
                " bytes (--max-value-bytes) (got " + std::to_string(vsize) + ")"};
  }
  const std::uint64_t weight = e.key().size() + vsize + entry_overhead_bytes;
  if (weight > l.max_bytes) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED,
            std::string(field) + "key + value + " + std::to_string(entry_overhead_bytes) +
                " bytes must be at most " + std::to_string(l.max_bytes) +
                " (--max-bytes) (got " + std::to_string(weight) + ")"};
  }
  return grpc::Status::OK;
}

grpc::Status cache_service::get(grpc::ServerContextBase& ctx, const v1::GetRequest& req,
                                v1::GetResponse& resp) {
  return serve(ctx, method::get, [&] {
    if (auto st = check_key(req.key(), "key"); !st.ok()) return st;
    resp.set_found(store_.get(req.key(), *resp.mutable_value()));
    return grpc::Status::OK;
  });
}

grpc::Status cache_service::set(grpc::ServerContextBase& ctx, const v1::SetRequest& req,
                                v1::SetResponse& resp) {
  return serve(ctx, method::set, [&] {
    std::optional<time_ns> ttl;
    if (auto st = check_entry(req, "", ttl); !st.ok()) return st;
    set_result r{};
    const std::uint64_t w = req.value().size();
    const status s = store_.set(req.key(), hash64(req.key()), req.value(), w, ttl, &r);
    if (!s.ok()) {  // a limit the checks above did not foresee: still the client's size
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, s.message());
    }
    resp.set_updated(r == set_result::updated);
    return grpc::Status::OK;
  });
}

grpc::Status cache_service::del(grpc::ServerContextBase& ctx, const v1::DeleteRequest& req,
                                v1::DeleteResponse& resp) {
  return serve(ctx, method::del, [&] {
    if (auto st = check_key(req.key(), "key"); !st.ok()) return st;
    resp.set_deleted(store_.erase(req.key()));
    return grpc::Status::OK;
  });
}

grpc::Status cache_service::stats(grpc::ServerContextBase& ctx, const v1::StatsRequest&,
                                  v1::StatsResponse& resp) {
  return serve(ctx, method::stats, [&] {
    const ::twincache::stats s = store_.stats();
    resp.set_hits(s.hits);
    resp.set_misses(s.misses);
    resp.set_inserts(s.inserts);
    resp.set_updates(s.updates);
    resp.set_rejected(s.rejected);
    resp.set_evicted_items(s.evicted_items);
    resp.set_evicted_bytes(s.evicted_bytes);
    resp.set_expired(s.expired);
    resp.set_deleted(s.deleted);
    resp.set_cleared(s.cleared);
    resp.set_items(s.items);
    resp.set_bytes(s.bytes);
    const limits& l = store_.limits();
    auto lim = [](std::uint64_t v) { return v == unlimited ? 0 : v; };
    resp.set_max_items(lim(l.max_items));
    resp.set_max_bytes(lim(l.max_bytes));
    resp.set_max_value_bytes(lim(l.max_value_bytes));
    resp.set_default_ttl_ms(default_ttl_ms_.value_or(0));
    resp.set_policy(std::string(policy_name(store_.policy())));
    return grpc::Status::OK;
  });
}

grpc::Status cache_service::get_many(grpc::ServerContextBase& ctx,
                                     const v1::GetManyRequest& req, v1::GetManyResponse& resp) {
  return serve(ctx, method::get_many, [&] {
    const int n = req.keys_size();
    if (static_cast<std::size_t>(n) > max_batch) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "keys must hold at most " + std::to_string(max_batch) + " keys (got " +
                              std::to_string(n) + ")");
    }
    for (int i = 0; i < n; ++i) {
      const std::string f = ordinal("keys", i);
      if (auto st = check_key(req.keys(i), f.c_str()); !st.ok()) return st;
    }
    resp.mutable_results()->Reserve(n);
    for (int i = 0; i < n; ++i) {
      v1::GetResponse* r = resp.add_results();
      r->set_found(store_.get(req.keys(i), *r->mutable_value()));
    }
    return grpc::Status::OK;
  });
}

grpc::Status cache_service::set_many(grpc::ServerContextBase& ctx,
                                     const v1::SetManyRequest& req, v1::SetManyResponse& resp) {
  return serve(ctx, method::set_many, [&] {
    const int n = req.entries_size();
    if (static_cast<std::size_t>(n) > max_batch) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "entries must hold at most " + std::to_string(max_batch) +
                              " entries (got " + std::to_string(n) + ")");
    }
    std::vector<std::optional<time_ns>> ttls(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {  // all checked before anything is stored
      const std::string f = ordinal("entries", i) + ".";
      if (auto st = check_entry(req.entries(i), f.c_str(), ttls[static_cast<std::size_t>(i)]);
          !st.ok()) {
        return st;
      }
    }
    resp.mutable_results()->Reserve(n);
    for (int i = 0; i < n; ++i) {
      const v1::SetRequest& e = req.entries(i);
      set_result r{};
      const status s = store_.set(e.key(), hash64(e.key()), e.value(), e.value().size(),
                                  ttls[static_cast<std::size_t>(i)], &r);
      if (!s.ok()) return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, s.message());
      resp.add_results()->set_updated(r == set_result::updated);
    }
    return grpc::Status::OK;
  });
}

// The callback API: each handler runs the shared body and finishes inline.
namespace {
template <class Req, class Resp>
grpc::ServerUnaryReactor* finish_inline(
    grpc::CallbackServerContext* ctx, cache_service& core, const Req* req, Resp* resp,
    grpc::Status (cache_service::*handler)(grpc::ServerContextBase&, const Req&, Resp&)) {
  const grpc::Status st = (core.*handler)(*ctx, *req, *resp);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(st);
  return reactor;
}
}  // namespace

grpc::ServerUnaryReactor* callback_cache_service::Get(grpc::CallbackServerContext* ctx,
                                                      const v1::GetRequest* req,
                                                      v1::GetResponse* resp) {
  return finish_inline(ctx, core_, req, resp, &cache_service::get);
}
grpc::ServerUnaryReactor* callback_cache_service::Set(grpc::CallbackServerContext* ctx,
                                                      const v1::SetRequest* req,
                                                      v1::SetResponse* resp) {
  return finish_inline(ctx, core_, req, resp, &cache_service::set);
}
grpc::ServerUnaryReactor* callback_cache_service::Delete(grpc::CallbackServerContext* ctx,
                                                         const v1::DeleteRequest* req,
                                                         v1::DeleteResponse* resp) {
  return finish_inline(ctx, core_, req, resp, &cache_service::del);
}
grpc::ServerUnaryReactor* callback_cache_service::Stats(grpc::CallbackServerContext* ctx,
                                                        const v1::StatsRequest* req,
                                                        v1::StatsResponse* resp) {
  return finish_inline(ctx, core_, req, resp, &cache_service::stats);
}
grpc::ServerUnaryReactor* callback_cache_service::GetMany(grpc::CallbackServerContext* ctx,
                                                          const v1::GetManyRequest* req,
                                                          v1::GetManyResponse* resp) {
  return finish_inline(ctx, core_, req, resp, &cache_service::get_many);
}
grpc::ServerUnaryReactor* callback_cache_service::SetMany(grpc::CallbackServerContext* ctx,
                                                          const v1::SetManyRequest* req,
                                                          v1::SetManyResponse* resp) {
  return finish_inline(ctx, core_, req, resp, &cache_service::set_many);
}

}  // namespace twincache::server
