// cache.cpp: twincache.Cache in native mode, a type written against the CPython API because its
// item access (c[k], c[k] = v, k in c, c.get) is the mapping's hot path: as a C type of its own
// (not a Python subclass of one) a method call like c.get(k) costs ~15 ns less. It is a heap type
// so that twincache._api can attach the MutableMapping mixin methods (keys, items, values,
// update, setdefault, popitem, __eq__) and register it as a MutableMapping; option checks go
// through a Python hook (twincache._api._cache_options) so that they have one home.
#include <initializer_list>
#include <optional>

#include "objects.hpp"
#include "structmember.h"
#include "table.hpp"

namespace twincache::python {

py_table* new_table(PyObject* max_items, PyObject* max_bytes, PyObject* ttl_ns, PyObject* policy,
                    PyObject* weigh, bool& no_cache);

namespace {

struct cache_object {
  PyObject_HEAD
  py_table* table;
  PyObject* parameters;  // what the cache was built with (for repr)
  PyObject* weakreflist;
};

PyTypeObject* cache_type_object = nullptr;

py_table* table_of(PyObject* o) {
  py_table* t = reinterpret_cast<cache_object*>(o)->table;
  if (t == nullptr) PyErr_SetString(PyExc_RuntimeError, "twincache: Cache used before __init__");
  return t;
}

// A keyword naming no parameter of `method` raises TypeError in CPython's words for a Python
// method, "Cache.set() got an unexpected keyword argument 'tll'", as the pure Cache's (a Python
// class) does. Returns false, with the error set, when one of `names` is none of `params`.
bool check_keywords(const char* method, PyObject* names, std::initializer_list<const char*> params) {
  const Py_ssize_t n = names ? PyTuple_GET_SIZE(names) : 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* name = PyTuple_GET_ITEM(names, i);
    bool known = false;
    for (const char* p : params) known = known || PyUnicode_CompareWithASCIIString(name, p) == 0;
    if (!known) {
      PyErr_Format(PyExc_TypeError, "Cache.%s() got an unexpected keyword argument '%U'", method,
                   name);
      return false;
    }
  }
  return true;
}

// Cache(maxsize=None, ttl=None, max_bytes=None, policy=None, on_evict=None, getsizeof=None)
int cache_init(PyObject* o, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"maxsize",  "ttl",      "max_bytes", "policy",
                                "on_evict", "getsizeof", nullptr};
  PyObject *maxsize = Py_None, *ttl = Py_None, *max_bytes = Py_None, *policy = Py_None;
  PyObject *on_evict = Py_None, *getsizeof = Py_None;
  if (kwargs != nullptr) {
    PyObject* given = PyDict_Keys(kwargs);
    if (given == nullptr) return -1;
    PyObject* tuple = PyList_AsTuple(given);
    Py_DECREF(given);
    if (tuple == nullptr) return -1;
    const bool ok = check_keywords("__init__", tuple,
                                   {"maxsize", "ttl", "max_bytes", "policy", "on_evict", "getsizeof"});
    Py_DECREF(tuple);
    if (!ok) return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOOOO:Cache", const_cast<char**>(names),
                                   &maxsize, &ttl, &max_bytes, &policy, &on_evict, &getsizeof)) {
    return -1;
  }
  if (shared.cache_options == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "twincache: import twincache, not twincache._native");
    return -1;
  }
  // (max_items, max_bytes, ttl_ns, policy, weigh, parameters), checked by twincache._options.
  PyObject* opts = PyObject_CallFunctionObjArgs(shared.cache_options, maxsize, ttl, max_bytes,
                                                policy, on_evict, getsizeof, nullptr);
  if (opts == nullptr) return -1;
  if (!PyTuple_Check(opts) || PyTuple_GET_SIZE(opts) != 6) {
    Py_DECREF(opts);
    PyErr_SetString(PyExc_RuntimeError, "twincache: bad cache options hook");
    return -1;
  }
  bool no_cache = false;
  py_table* table =
      new_table(PyTuple_GET_ITEM(opts, 0), PyTuple_GET_ITEM(opts, 1), PyTuple_GET_ITEM(opts, 2),
                PyTuple_GET_ITEM(opts, 3), PyTuple_GET_ITEM(opts, 4), no_cache);
  if (table == nullptr) {
    Py_DECREF(opts);
    return -1;
  }
  table->set_on_evict(on_evict == Py_None ? nullptr : on_evict);  // checked by the hook
  table->set_value_weigher(getsizeof == Py_None ? nullptr : getsizeof);
  auto* self = reinterpret_cast<cache_object*>(o);
  delete self->table;
  self->table = table;
  Py_XSETREF(self->parameters, Py_NewRef(PyTuple_GET_ITEM(opts, 5)));
  Py_DECREF(opts);
  return 0;
}

int cache_traverse(PyObject* o, visitproc visit, void* arg) {
  auto* self = reinterpret_cast<cache_object*>(o);
  Py_VISIT(Py_TYPE(o));  // a heap type's instances own a reference to it
  Py_VISIT(self->parameters);
  return self->table ? self->table->traverse(visit, arg) : 0;
}

int cache_clear_gc(PyObject* o) {
  auto* self = reinterpret_cast<cache_object*>(o);
  Py_CLEAR(self->parameters);
  if (self->table) {
    self->table->set_on_evict(nullptr);  // a dying cache reports nothing
    self->table->clear();
  }
  return 0;
}

void cache_dealloc(PyObject* o) {
  PyObject_GC_UnTrack(o);
  auto* self = reinterpret_cast<cache_object*>(o);
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(o);
  Py_CLEAR(self->parameters);
  delete self->table;
  self->table = nullptr;
  PyTypeObject* type = Py_TYPE(o);
  type->tp_free(o);
  Py_DECREF(type);
}

// Hot path: c[key].
PyObject* cache_subscript(PyObject* o, PyObject* key) {
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyObject* value;
  const int found = t->find(key, &value, true);
  if (found > 0) return value;
  if (found == 0) PyErr_SetObject(PyExc_KeyError, key);
  return nullptr;
}

PyObject* refuse(py_table* t) {
  PyErr_SetString(PyExc_ValueError, t->last_error().c_str());
  return nullptr;
}

// c[key] = value, del c[key].
int cache_ass_subscript(PyObject* o, PyObject* key, PyObject* value) {
  py_table* t = table_of(o);
  if (t == nullptr) return -1;
  if (value == nullptr) {
    const int rc = t->erase(key, nullptr);
    if (rc == 0) PyErr_SetObject(PyExc_KeyError, key);
    return rc > 0 ? 0 : -1;
  }
  const int rc = t->store(key, value, std::nullopt, true);
  if (rc == 0) refuse(t);
  return rc > 0 ? 0 : -1;
}

int cache_contains(PyObject* o, PyObject* key) {
  py_table* t = table_of(o);
  if (t == nullptr) return -1;
  const int rc = t->contains(key);
  if (rc < 0 && PyErr_ExceptionMatches(PyExc_TypeError)) {  // unhashable: never a member
    PyErr_Clear();
    return 0;
  }
  return rc;
}

Py_ssize_t cache_length(PyObject* o) {
  py_table* t = table_of(o);
  if (t == nullptr) return -1;
  t->expire(true);
  return t->size();
}

PyObject* cache_iter(PyObject* o) {
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyObject* keys = t->live_keys();  // a snapshot: the cache may change while it is iterated
  if (keys == nullptr) return nullptr;
  PyObject* it = PyObject_GetIter(keys);
  Py_DECREF(keys);
  return it;
}

// The arguments of get and pop: a key, then an optional default given by position or as the
// keyword `default` (as collections.abc.Mapping.get/pop take it). Sets *dflt to the default, or
// to nullptr when none was given; false, with a TypeError set, on any other call.
bool key_and_default(const char* method, const char* usage, PyObject* const* args,
                     Py_ssize_t nargs, PyObject* kwnames, PyObject** dflt) {
  if (!check_keywords(method, kwnames, {"key", "default"})) return false;
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs < 1 || nargs + nkw > 2 ||
      (nkw == 1 &&
       PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "default") != 0)) {
    PyErr_Format(PyExc_TypeError, "%s takes a key and an optional default", usage);
    return false;
  }
  *dflt = nargs + nkw == 2 ? args[1] : nullptr;  // a keyword's value follows the positionals
  return true;
}

// Hot path: c.get(key, default=None).
PyObject* cache_get(PyObject* o, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* dflt = nullptr;
  if ((kwnames != nullptr || nargs != 1) &&
      !key_and_default("get", "get(key, default=None)", args, nargs, kwnames, &dflt)) {
    return nullptr;
  }
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyObject* value;
  const int found = t->find(args[0], &value, true);
  if (found > 0) return value;
  if (found < 0) return nullptr;
  return Py_NewRef(dflt != nullptr ? dflt : Py_None);
}

// c.set(key, value, ttl=None): ttl (seconds) overrides the cache's default for this entry.
PyObject* cache_set(PyObject* o, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* usage = "set(key, value, ttl=None)";
  PyObject* ttl_arg = nargs == 3 ? args[2] : Py_None;
  if (kwnames != nullptr && !check_keywords("set", kwnames, {"key", "value", "ttl"})) {
    return nullptr;
  }
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs < 2 || nargs + nkw > 3 ||
      (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "ttl") != 0)) {
    PyErr_Format(PyExc_TypeError, "%s takes a key, a value and an optional ttl", usage);
    return nullptr;
  }
  if (nkw == 1) ttl_arg = args[nargs];
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  std::optional<time_ns> ttl;
  if (ttl_arg != Py_None) {
    // Type and range checks have one home: twincache._options.ttl (the core's parse_ttl).
    PyObject* ns = PyObject_CallOneArg(shared.ttl_option, ttl_arg);
    if (ns == nullptr) return nullptr;
    const long long v = PyLong_AsLongLong(ns);
    Py_DECREF(ns);
    if (v == -1 && PyErr_Occurred()) return nullptr;
    ttl = v;
  }
  const int rc = t->store(args[0], args[1], ttl, true);
  if (rc < 0) return nullptr;
  if (rc == 0) return refuse(t);
  Py_RETURN_NONE;
}

// c._set(key, value, ttl_ns): set() with the TTL already in ns (None: the default), checked by
// the caller; True when stored, False when refused for its weight (nothing raised). For callers
// that store per entry on a hot path (the Redis tier's L1): no conversion hook per call.
PyObject* cache_set_ns(PyObject* o, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "_set(key, value, ttl_ns)");
    return nullptr;
  }
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  std::optional<time_ns> ttl;
  if (args[2] != Py_None) {
    const long long v = PyLong_AsLongLong(args[2]);
    if (v == -1 && PyErr_Occurred()) return nullptr;
    if (v <= 0) {
      PyErr_SetString(PyExc_ValueError, "_set: ttl_ns must be > 0");
      return nullptr;
    }
    ttl = v;
  }
  const int rc = t->store(args[0], args[1], ttl, true);
  if (rc < 0) return nullptr;
  return PyBool_FromLong(rc);
}

// c.pop(key[, default])
PyObject* cache_pop(PyObject* o, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* dflt = nullptr;
  if (!key_and_default("pop", "pop(key[, default])", args, nargs, kwnames, &dflt)) {
    return nullptr;
  }
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyObject* value = nullptr;
  const int rc = t->erase(args[0], &value);
  if (rc < 0) return nullptr;
  if (rc > 0) return value;
  if (dflt != nullptr) return Py_NewRef(dflt);
  PyErr_SetObject(PyExc_KeyError, args[0]);
  return nullptr;
}

PyObject* cache_clear(PyObject* o, PyObject*) {
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  t->clear();
  Py_RETURN_NONE;
}

// c.peek(key, default=None): the live value, counting nothing and moving nothing.
PyObject* cache_peek(PyObject* o, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* dflt = nullptr;
  if (!key_and_default("peek", "peek(key, default=None)", args, nargs, kwnames, &dflt)) {
    return nullptr;
  }
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyObject* value;
  const int found = t->peek(args[0], &value);
  if (found > 0) return value;
  if (found < 0) return nullptr;
  return Py_NewRef(dflt != nullptr ? dflt : Py_None);
}

// c.ttl_of(key): seconds left, math.inf without a TTL, None when absent or expired.
PyObject* cache_ttl_of(PyObject* o, PyObject* key) {
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  double seconds = 0;
  const int found = t->ttl_of(key, &seconds);
  if (found < 0) return nullptr;
  if (found == 0) Py_RETURN_NONE;
  return PyFloat_FromDouble(seconds);
}

// c.expire(): drops every expired entry now; the (key, value) pairs dropped.
PyObject* cache_expire(PyObject* o, PyObject*) {
  py_table* t = table_of(o);
  return t ? t->expire_items() : nullptr;
}

PyObject* cache_stats(PyObject* o, PyObject*) {
  py_table* t = table_of(o);
  return t ? t->stats_dict() : nullptr;
}

PyObject* cache_parameters(PyObject* o, void*) {
  PyObject* p = reinterpret_cast<cache_object*>(o)->parameters;
  return p ? PyDict_Copy(p) : PyDict_New();
}

template <class F>
PyCFunction fastcall(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

PyMethodDef cache_methods[] = {
    {"get", fastcall(cache_get), METH_FASTCALL | METH_KEYWORDS, "get(key, default=None): the value or default."},
    {"_set", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(cache_set_ns)),
     METH_FASTCALL, "_set(key, value, ttl_ns): set with a TTL in ns; False when refused."},
    {"set", fastcall(cache_set), METH_FASTCALL | METH_KEYWORDS,
     "set(key, value, ttl=None): stores value; ttl (seconds) overrides the default TTL."},
    {"pop", fastcall(cache_pop), METH_FASTCALL | METH_KEYWORDS, "pop(key[, default]): removes and returns."},
    {"clear", cache_clear, METH_NOARGS, "Removes every entry (counters are kept)."},
    {"stats", cache_stats, METH_NOARGS, "Counters and sizes."},
    {"peek", fastcall(cache_peek), METH_FASTCALL | METH_KEYWORDS,
     "peek(key, default=None): the value or default; no hit, miss or recency counted."},
    {"ttl_of", cache_ttl_of, METH_O,
     "ttl_of(key): seconds left (math.inf without a TTL), None when absent."},
    {"expire", cache_expire, METH_NOARGS,
     "Drops every expired entry now; returns the (key, value) pairs dropped."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef cache_getset[] = {
    {"_parameters", cache_parameters, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef cache_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(cache_object, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot cache_slots[] = {
    {Py_tp_doc, const_cast<char*>(
                    "Cache(maxsize=None, ttl=None, max_bytes=None, policy=None): a MutableMapping "
                    "with limits, TTL (a default and per entry), a policy and counters.")},
    {Py_tp_dealloc, reinterpret_cast<void*>(cache_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(cache_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(cache_clear_gc)},
    {Py_tp_init, reinterpret_cast<void*>(cache_init)},
    {Py_tp_new, reinterpret_cast<void*>(PyType_GenericNew)},
    {Py_tp_iter, reinterpret_cast<void*>(cache_iter)},
    {Py_tp_methods, cache_methods},
    {Py_tp_getset, cache_getset},
    {Py_tp_members, cache_members},
    {Py_mp_length, reinterpret_cast<void*>(cache_length)},
    {Py_mp_subscript, reinterpret_cast<void*>(cache_subscript)},
    {Py_mp_ass_subscript, reinterpret_cast<void*>(cache_ass_subscript)},
    {Py_sq_contains, reinterpret_cast<void*>(cache_contains)},
    {0, nullptr},
};

PyType_Spec cache_spec = {
    "twincache.Cache",
    sizeof(cache_object),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    cache_slots,
};

}  // namespace

bool ready_cache_type() {
  cache_type_object = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&cache_spec));
  return cache_type_object != nullptr;
}

PyTypeObject* cache_type() { return cache_type_object; }

}  // namespace twincache::python
