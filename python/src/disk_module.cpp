// disk_module.cpp: twincache._disk_native, the persistent tier (core/include/twincache/
// disk_store.hpp) for Python. A module of its own, apart from twincache._native, so that the
// memory cache never depends on libsqlite3/libzstd/libcrypto: if this module cannot load, only
// DiskCache falls back to its pure-Python twin (python/twincache/_disk_pure.py).
//
// Serialization (pickle, json) stays in Python; this module moves bytes. Every disk call drops the
// GIL while SQLite works; nothing here calls back into Python. Core statuses become Python
// exceptions in one place, raise_status() below.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>  // pause

#include "twincache/disk/hmac.hpp"
#include "twincache/disk_store.hpp"

namespace py = pybind11;
namespace tc = twincache;
namespace td = twincache::disk;

namespace {

// The one translation of core statuses for this module.
void raise_status(const tc::status& st) {
  if (st.ok()) return;
  switch (st.code()) {
    case tc::status_code::invalid_argument:
      throw py::type_error(st.message());
    case tc::status_code::out_of_range:
    case tc::status_code::value_too_large:
      throw py::value_error(st.message());
    default:
      PyErr_SetString(PyExc_OSError, st.message().c_str());
      throw py::error_already_set();
  }
}

// The clock this module's stores read (tests switch it to manual wall time).
std::shared_ptr<tc::clock> module_clock() {
  static const std::shared_ptr<tc::clock> c = std::make_shared<tc::clock>();
  return c;
}

// Releases the GIL for a store call (as py::gil_scoped_release). Taking it back in a daemon
// thread (a refresh worker, say) once the interpreter is finalizing makes CPython end the thread
// with pthread_exit. Its forced unwinding aborted the process when it met gil_scoped_release's
// noexcept destructor ("terminate called without an active exception"). Here the destructor
// lets it pass (noexcept(false); pybind11 rethrows abi::__forced_unwind), so the thread ends as
// a C extension's would. A thread that finds the interpreter finalizing before it asks for the
// GIL is parked instead, for good, as Python 3.14 parks them. Either way it holds no lock of the
// store (its call has returned), and a finalizing interpreter does not wait for daemon threads.
class released_gil {
 public:
  released_gil() : state_(PyEval_SaveThread()) {}
  ~released_gil() noexcept(false) {
#if PY_VERSION_HEX >= 0x030D0000
    const bool finalizing = Py_IsFinalizing() != 0;
#else
    const bool finalizing = _Py_IsFinalizing() != 0;
#endif
    if (finalizing) {
      for (;;) ::pause();
    }
    PyEval_RestoreThread(state_);
  }
  released_gil(const released_gil&) = delete;
  released_gil& operator=(const released_gil&) = delete;

 private:
  PyThreadState* state_;
};

std::string_view view(const py::bytes& b) {
  char* data = nullptr;
  Py_ssize_t n = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &data, &n) != 0) throw py::error_already_set();
  return {data, static_cast<std::size_t>(n)};
}

class py_disk_store {
 public:
  py_disk_store(const std::string& path, std::optional<std::uint64_t> max_bytes,
                std::optional<tc::time_ns> ttl_ns, std::uint64_t l1_max_bytes,
                std::uint64_t compress_threshold, int busy_timeout_ms) {
    td::options o;
    o.busy_timeout_ms = busy_timeout_ms;
    o.path = path;
    if (max_bytes) o.max_bytes = *max_bytes;
    o.default_ttl = ttl_ns;
    o.l1_max_bytes = l1_max_bytes;
    o.compress_threshold = compress_threshold;
    o.clock = module_clock();
    tc::status st;
    {
      released_gil nogil;
      st = td::disk_store::open_or_memory(o, s_, warning_);
    }
    raise_status(st);
  }

  // Raises st's error, after showing the store's pending warning (a damaged cache.db it moved
  // aside, docs/persistence.md) as a RuntimeWarning.
  void done(const tc::status& st) {
    if (s_->has_warning()) {
      const std::string w = s_->take_warning();
      if (PyErr_WarnEx(PyExc_RuntimeWarning, w.c_str(), 1) != 0) throw py::error_already_set();
    }
    raise_status(st);
  }

  // (codec, bytes, expiry), or None; with files=True an array kept in a side file of its own is
  // not read: (codec, path, expiry, hmac) instead, for the caller to read or map and verify().
  // use=False: a peek (disk_store::get's use): not counted or touched, expired rows found too.
  py::object get(const py::bytes& key, bool files, bool use) {
    const std::string_view k = view(key);
    bool found = false;
    std::uint32_t codec = 0;
    // One buffer per thread, kept between reads: a large value read into fresh memory each time
    // cost more in page faults (1.2 ms per MiB here) than its HMAC check. At most 16 MiB kept.
    thread_local std::string value;
    tc::time_ns expiry = 0;
    std::string file;
    tc::status st;
    {
      released_gil nogil;
      st = s_->get(k, found, codec, value, &expiry, files ? &file : nullptr, use);
    }
    py::object out = py::none();
    if (st.ok() && found && !file.empty()) {
      out = py::make_tuple(codec, file, expiry, py::bytes(value.data(), value.size()));
    } else if (st.ok() && found) {
      out = py::make_tuple(codec, py::bytes(value.data(), value.size()), expiry);
    }
    if (value.capacity() > (16u << 20)) std::string().swap(value);
    done(st);
    return out;
  }

  static std::optional<td::tag_set> tag_set_of(std::optional<std::vector<std::string>> tags,
                                               std::optional<std::string> meta) {
    if (!tags && !meta) return std::nullopt;
    td::tag_set t;
    if (tags) t.tags = std::move(*tags);
    if (meta) t.meta = std::move(*meta);
    return t;
  }

  // Returns the generation change (before, after) of the write.
  // tags / meta (a JSON text), when given: written with the row, in its transaction.
  py::tuple set(const py::bytes& key, std::uint32_t codec, const py::bytes& value,
                std::optional<tc::time_ns> ttl_ns, std::optional<std::vector<std::string>> tags,
                std::optional<std::string> meta) {
    const std::string_view k = view(key), v = view(value);
    const std::optional<td::tag_set> tagged = tag_set_of(std::move(tags), std::move(meta));
    td::generation_change gen;
    tc::status st;
    {
      released_gil nogil;
      st = s_->set(k, codec, v, ttl_ns, &gen, tagged ? &*tagged : nullptr);
    }
    done(st);
    return py::make_tuple(gen.before, gen.after);
  }

  // set() for a value in two pieces: a small header (bytes) and a body, any C-contiguous buffer
  // (a numpy array's memory): a large body goes to its file without a copy.
  py::tuple set_parts(const py::bytes& key, std::uint32_t codec, const py::bytes& head,
                      const py::object& body, std::optional<tc::time_ns> ttl_ns,
                      std::optional<std::vector<std::string>> tags,
                      std::optional<std::string> meta) {
    const std::string_view k = view(key), h = view(head);
    const std::optional<td::tag_set> tagged = tag_set_of(std::move(tags), std::move(meta));
    Py_buffer buf;
    if (PyObject_GetBuffer(body.ptr(), &buf, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    const std::string_view b(static_cast<const char*>(buf.buf), static_cast<std::size_t>(buf.len));
    td::generation_change gen;
    tc::status st;
    {
      released_gil nogil;
      st = s_->set_parts(k, codec, h, b, ttl_ns, &gen, tagged ? &*tagged : nullptr);
    }
    PyBuffer_Release(&buf);
    done(st);
    return py::make_tuple(gen.before, gen.after);
  }

  // Whether head + body (any buffers: the header read, then the elements read into an array
  // or a read-only mapping of the file) carry this HMAC.
  bool verify(const py::bytes& key, std::uint32_t codec, const py::object& head,
              const py::object& body, const py::bytes& mac) {
    const std::string_view k = view(key), m = view(mac);
    Py_buffer hb, bb;
    if (PyObject_GetBuffer(head.ptr(), &hb, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    if (PyObject_GetBuffer(body.ptr(), &bb, PyBUF_SIMPLE) != 0) {
      PyBuffer_Release(&hb);
      throw py::error_already_set();
    }
    const std::string_view h(static_cast<const char*>(hb.buf), static_cast<std::size_t>(hb.len));
    const std::string_view b(static_cast<const char*>(bb.buf), static_cast<std::size_t>(bb.len));
    bool ok = false;
    {
      released_gil nogil;
      ok = s_->verify(k, codec, h, b, m);
    }
    PyBuffer_Release(&bb);
    PyBuffer_Release(&hb);
    return ok;
  }

  bool erase(const py::bytes& key) {
    bool existed = false;
    const std::string_view k = view(key);
    tc::status st;
    {
      released_gil nogil;
      st = s_->erase(k, existed);
    }
    done(st);
    return existed;
  }

  bool contains(const py::bytes& key) {
    bool found = false;
    const std::string_view k = view(key);
    tc::status st;
    {
      released_gil nogil;
      st = s_->contains(k, found);
    }
    done(st);
    return found;
  }

  std::uint64_t clear() {
    std::uint64_t n = 0;
    tc::status st;
    {
      released_gil nogil;
      st = s_->clear(n);
    }
    done(st);
    return n;
  }

  std::uint64_t prune() {
    std::uint64_t n = 0;
    tc::status st;
    {
      released_gil nogil;
      st = s_->prune(n);
    }
    done(st);
    return n;
  }

  py::list keys(bool expired) {
    std::vector<std::string> out;
    tc::status st;
    {
      released_gil nogil;
      st = s_->keys(out, expired);
    }
    done(st);
    py::list result;
    for (const auto& k : out) result.append(py::bytes(k));
    return result;
  }

  std::uint64_t count() {
    std::uint64_t n = 0;
    tc::status st;
    {
      released_gil nogil;
      st = s_->count(n);
    }
    done(st);
    return n;
  }

  py::dict stats() {
    td::disk_stats s;
    raise_status(s_->stats(s));
    py::dict d;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["l1_hits"] = s.l1_hits;
    d["sets"] = s.sets;
    d["rejected"] = s.rejected;
    d["evicted"] = s.evicted;
    d["expired"] = s.expired;
    d["deleted"] = s.deleted;
    d["cleared"] = s.cleared;
    d["corrupt"] = s.corrupt;
    d["write_errors"] = s.write_errors;
    d["items"] = s.items;
    d["bytes"] = s.bytes;
    return d;
  }

  py::dict info() {
    td::directory_info i;
    raise_status(s_->info(i));
    py::dict d;
    d["path"] = i.path;
    d["items"] = i.items;
    d["bytes"] = i.bytes;
    d["file_bytes"] = i.file_bytes;
    d["hits"] = i.hits;
    d["misses"] = i.misses;
    d["sets"] = i.sets;
    d["evicted"] = i.evicted;
    d["expired"] = i.expired;
    d["corrupt"] = i.corrupt;
    d["deleted"] = i.deleted;
    return d;
  }

  void reset_stats() { s_->reset_stats(); }
  void note_hits(std::uint64_t n) { s_->note_hits(n); }
  // Hot path of Python's memory tier: lock-free, no GIL release.
  std::uint64_t l1_epoch() { return s_->l1_epoch(); }
  void flush() {
    tc::status st;
    {
      released_gil nogil;
      st = s_->flush();
    }
    done(st);
  }
  // Removal reports (disk_store::report_removals): what DiskCache's on_evict is told of the
  // entries a write or prune() culled ('evicted') or reclaimed ('expired').
  void report_removals(bool on, bool values) { s_->report_removals(on, values); }
  bool has_removals() const { return s_->has_removals(); }
  // [(key, reason, codec, value or None)], each removal once.
  py::list take_removals() {
    py::list out;
    if (!s_->has_removals()) return out;
    std::vector<td::removal> got = s_->take_removals();
    for (const td::removal& r : got) {
      py::object value = py::none();
      if (r.has_value) value = py::bytes(r.value.data(), r.value.size());
      out.append(py::make_tuple(py::bytes(r.key.data(), r.key.size()),
                                r.reason == td::removal::why::evicted ? "evicted" : "expired",
                                r.codec, std::move(value)));
    }
    return out;
  }
  std::uint64_t generation() const { return s_->generation(); }
  void drop_l1() { s_->drop_l1(); }
  bool persistent() const { return s_->persistent(); }
  const std::string& path() const { return s_->path(); }
  const std::string& warning() const { return warning_; }

 private:
  std::unique_ptr<td::disk_store> s_;
  std::string warning_;
};

// A bytes-like argument read in place: bytes directly, anything else through the buffer
// protocol (a C-contiguous buffer), released when this goes out of scope. Nothing runs Python
// code while it is held.
class bytes_in {
 public:
  explicit bytes_in(py::handle h) {
    if (PyBytes_CheckExact(h.ptr())) {
      data_ = PyBytes_AS_STRING(h.ptr());
      size_ = static_cast<std::size_t>(PyBytes_GET_SIZE(h.ptr()));
      return;
    }
    if (PyObject_GetBuffer(h.ptr(), &buf_, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    held_ = true;
    data_ = static_cast<const char*>(buf_.buf);
    size_ = static_cast<std::size_t>(buf_.len);
  }
  ~bytes_in() {
    if (held_) PyBuffer_Release(&buf_);
  }
  bytes_in(const bytes_in&) = delete;
  bytes_in& operator=(const bytes_in&) = delete;
  std::string_view view() const { return {data_, size_}; }

 private:
  Py_buffer buf_{};
  bool held_ = false;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// The Redis envelope's HMAC-SHA256 under one secret (docs/redis.md, "The value envelope"):
// HMAC(secret, domain || len(name) u32 LE || name || body). The key's pads are hashed once, here
// (disk/hmac.hpp, hmac_sha256_key), the body is read in place and verify() compares in constant
// time: twincache._redis_envelope keeps one per secret. node/src/redis_mac.cpp is its twin.
class py_redis_mac {
 public:
  static constexpr std::size_t mac_size = 32;

  py_redis_mac(const py::bytes& secret, const py::bytes& domain)
      : key_(view(secret)), domain_(view(domain)) {}

  // The 32-byte MAC of `body` for entry `name`.
  py::bytes sign(py::handle name, py::handle body) const {
    const bytes_in b(body);
    const td::digest256 d = mac(name, b.view());
    return py::bytes(reinterpret_cast<const char*>(d.data()), d.size());
  }

  // Whether the envelope's last 32 bytes are the MAC of what precedes them (false when it is
  // shorter than a MAC).
  bool verify(py::handle name, py::handle envelope) const {
    const bytes_in e(envelope);
    const std::string_view v = e.view();
    if (v.size() < mac_size) return false;
    const std::size_t end = v.size() - mac_size;
    const td::digest256 d = mac(name, v.substr(0, end));
    return td::digest_equal(d.data(), reinterpret_cast<const std::uint8_t*>(v.data() + end),
                            mac_size);
  }

 private:
  // Entry names are ASCII (docs/redis.md, "Entry names"): their characters are their bytes, read in
  // place. Another name raises what name.encode("ascii") raises, as the pure-Python MAC does.
  td::digest256 mac(py::handle name, std::string_view body) const {
    if (!PyUnicode_Check(name.ptr())) throw py::type_error("RedisMac: name must be a str");
    Py_ssize_t n = 0;
    const char* text = PyUnicode_AsUTF8AndSize(name.ptr(), &n);
    if (text == nullptr) throw py::error_already_set();
    if (!PyUnicode_IS_ASCII(name.ptr())) {
      Py_XDECREF(PyUnicode_AsASCIIString(name.ptr()));  // sets UnicodeEncodeError
      throw py::error_already_set();
    }
    const auto len = static_cast<std::uint32_t>(n);
    const char len_le[4] = {static_cast<char>(len), static_cast<char>(len >> 8),
                            static_cast<char>(len >> 16), static_cast<char>(len >> 24)};
    return key_.sign({domain_, std::string_view(len_le, 4),
                      std::string_view(text, static_cast<std::size_t>(n)), body});
  }

  const td::hmac_sha256_key key_;
  const std::string domain_;
};

}  // namespace

PYBIND11_MODULE(_disk_native, m) {
  m.doc() = "twincache's persistent tier for Python (private: use twincache.DiskCache).";
  m.def("default_directory", &td::default_directory);
  m.def("clock_set_manual", [](tc::time_ns start) { module_clock()->set_manual(start); });
  m.def("clock_advance", [](tc::time_ns delta) { module_clock()->advance(delta); });
  m.def("clock_set_real", [] { module_clock()->set_manual(-1); });
  m.def("wall_now", [] { return td::wall_now(module_clock().get()); });
  // HMAC-SHA256(key, prefix || body) by the core's SHA-256 (the CPU's SHA extensions where
  // present): the Redis tier's envelope MAC (docs/redis.md; twincache._redis_envelope).
  m.def("hmac_sha256", [](const py::bytes& key, const py::bytes& prefix, const py::buffer& body) {
    char* k = nullptr;
    char* p = nullptr;
    Py_ssize_t kn = 0, pn = 0;
    if (PyBytes_AsStringAndSize(key.ptr(), &k, &kn) < 0 ||
        PyBytes_AsStringAndSize(prefix.ptr(), &p, &pn) < 0) {
      throw py::error_already_set();
    }
    const py::buffer_info b = body.request();
    const auto d = td::hmac_sha256(
        std::string_view(k, static_cast<std::size_t>(kn)),
        {std::string_view(p, static_cast<std::size_t>(pn)),
         std::string_view(static_cast<const char*>(b.ptr),
                          static_cast<std::size_t>(b.size * b.itemsize))});
    return py::bytes(reinterpret_cast<const char*>(d.data()), d.size());
  });
  py::class_<py_redis_mac>(m, "RedisMac")
      .def(py::init<const py::bytes&, const py::bytes&>(), py::arg("secret"), py::arg("domain"))
      .def("sign", &py_redis_mac::sign, py::arg("name"), py::arg("body"))
      .def("verify", &py_redis_mac::verify, py::arg("name"), py::arg("envelope"));
  py::class_<py_disk_store>(m, "DiskStore")
      .def(py::init<const std::string&, std::optional<std::uint64_t>, std::optional<tc::time_ns>,
                    std::uint64_t, std::uint64_t, int>(),
           py::arg("path"), py::arg("max_bytes"), py::arg("ttl_ns"), py::arg("l1_max_bytes"),
           py::arg("compress_threshold"), py::arg("busy_timeout_ms") = 30000)
      .def("get", &py_disk_store::get, py::arg("key"), py::arg("files") = false,
           py::arg("use") = true)
      .def("set", &py_disk_store::set, py::arg("key"), py::arg("codec"), py::arg("value"),
           py::arg("ttl_ns") = py::none(), py::kw_only(), py::arg("tags") = py::none(),
           py::arg("meta") = py::none())
      .def("set_parts", &py_disk_store::set_parts, py::arg("key"), py::arg("codec"),
           py::arg("head"), py::arg("body"), py::arg("ttl_ns") = py::none(), py::kw_only(),
           py::arg("tags") = py::none(), py::arg("meta") = py::none())
      .def("verify", &py_disk_store::verify)
      .def("erase", &py_disk_store::erase)
      .def("contains", &py_disk_store::contains)
      .def("clear", &py_disk_store::clear)
      .def("prune", &py_disk_store::prune)
      .def("keys", &py_disk_store::keys, py::arg("expired") = false)
      .def("count", &py_disk_store::count)
      .def("stats", &py_disk_store::stats)
      .def("info", &py_disk_store::info)
      .def("reset_stats", &py_disk_store::reset_stats)
      .def("note_hits", &py_disk_store::note_hits)
      .def("l1_epoch", &py_disk_store::l1_epoch)
      .def("flush", &py_disk_store::flush)
      .def("report_removals", &py_disk_store::report_removals, py::arg("on"),
           py::arg("values") = true)
      .def("has_removals", &py_disk_store::has_removals)
      .def("take_removals", &py_disk_store::take_removals)
      .def("generation", &py_disk_store::generation)
      .def("drop_l1", &py_disk_store::drop_l1)
      .def_property_readonly("persistent", &py_disk_store::persistent)
      .def_property_readonly("path", &py_disk_store::path)
      .def_property_readonly("warning", &py_disk_store::warning);
}
