// module.cpp: twincache._native. pybind11 serves the cold surface (option parsing through the
// core's checks, the clock hooks for tests); the hot types (Memo, CacheBase) are CPython-API
// types from memo.cpp and cache.cpp, registered here.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "objects.hpp"
#include "table.hpp"
#include "twincache/clock.hpp"
#include "twincache/options.hpp"
#include "twincache/policy.hpp"

namespace py = pybind11;
namespace tc = twincache;

namespace {

// Core status -> Python exception, through the binding's one translation (raise_status).
void check(const tc::status& st) {
  if (st.ok()) return;
  tc::python::raise_status(st);
  throw py::error_already_set();
}

void add_type(py::module_& m, const char* name, PyTypeObject* type) {
  Py_INCREF(type);
  if (PyModule_AddObject(m.ptr(), name, reinterpret_cast<PyObject*>(type)) < 0) {
    Py_DECREF(type);
    throw py::error_already_set();
  }
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "twincache's C++ core for Python (private: use the twincache package).";

  m.def(
      "parse_limit",
      [](const std::string& name, std::int64_t value) {
        std::uint64_t out = 0;
        check(tc::parse_limit(name, value, out));
        return out;
      },
      py::arg("name"), py::arg("value"));
  m.def(
      "parse_ttl",
      [](const std::string& name, double seconds) {
        tc::time_ns out = 0;
        check(tc::parse_ttl(name, seconds, 1e9, "seconds", out));
        return out;
      },
      py::arg("name"), py::arg("seconds"));
  m.def(
      "parse_policy",
      [](const std::string& name, const std::string& value) {
        tc::policy_kind kind;
        check(tc::parse_policy(name, value, kind));
        return std::string(tc::policy_name(kind));
      },
      py::arg("name"), py::arg("value"));
  m.def("default_policy", [] { return std::string(tc::policy_name(tc::default_policy())); });

  // The process-wide clock every table reads (tests switch it to manual time).
  m.def("clock_now", [] { return tc::clock::real()->now(); });
  m.def("clock_set_manual", [](tc::time_ns start) { tc::clock::real()->set_manual(start); });
  m.def("clock_advance", [](tc::time_ns delta) { tc::clock::real()->advance(delta); });
  m.def("clock_set_real", [] { tc::clock::real()->set_manual(-1); });

  m.attr("entry_overhead_bytes") = tc::entry_overhead_bytes;

  auto& shared = tc::python::shared;
  py::object object_type = py::module_::import("builtins").attr("object");
  shared.missing = object_type().release().ptr();
  shared.kwd_mark = object_type().release().ptr();
  py::object cache_info = py::module_::import("functools").attr("_CacheInfo");
  shared.cache_info = cache_info.release().ptr();
  m.attr("_MISSING") = py::handle(shared.missing);

  if (!tc::python::ready_memo_types() || !tc::python::ready_cache_type()) {
    throw py::error_already_set();
  }
  PyObject* encode_key = tc::python::new_encode_key_function(m.ptr());
  if (encode_key == nullptr || PyModule_AddObject(m.ptr(), "encode_key", encode_key) < 0) {
    Py_XDECREF(encode_key);
    throw py::error_already_set();
  }
  add_type(m, "Memo", tc::python::memo_type());
  add_type(m, "Cache", tc::python::cache_type());
  m.def(
      "_set_hooks",
      [](py::object cache_options, py::object ttl_option) {
        auto& s = tc::python::shared;
        Py_XSETREF(s.cache_options, cache_options.release().ptr());
        Py_XSETREF(s.ttl_option, ttl_option.release().ptr());
      },
      "Installs twincache._api's option checks for Cache (called once, at import).");
}
