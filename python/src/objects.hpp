// objects.hpp: the Python types the extension defines with the CPython API (the hot paths), and
// the few module-wide objects they share. module.cpp (pybind11) registers them.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace twincache::python {

// Module-wide objects, set once by module.cpp before any type is used.
struct shared_objects {
  PyObject* missing = nullptr;     // the "no value" sentinel of _peek (twincache._native._MISSING)
  PyObject* kwd_mark = nullptr;    // separates positional arguments from keyword items in keys
  PyObject* cache_info = nullptr;  // functools._CacheInfo
  // twincache._api's option checks, set by _set_hooks when the package is imported:
  PyObject* cache_options = nullptr;  // (maxsize, ttl, max_bytes, policy) -> table arguments
  PyObject* ttl_option = nullptr;     // ttl in seconds -> nanoseconds
};
extern shared_objects shared;

// Returns false with a Python exception set.
bool ready_memo_types();   // Memo and the ready awaitable
bool ready_cache_type();   // Cache
PyTypeObject* memo_type();
// twincache._native.encode_key (keys.cpp).
PyObject* new_encode_key_function(PyObject* module);
PyTypeObject* cache_type();

}  // namespace twincache::python
