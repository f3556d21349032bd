// cache.cpp: twincache._native.CacheBase, the storage behind twincache.Cache. Its item access
// (c[k], c[k] = v, k in c, c.get) is written against the CPython API because it is the hot path
// of the mapping; twincache._api.Cache subclasses it and adds the MutableMapping surface.
#include <optional>

#include "objects.hpp"
#include "table.hpp"

namespace twincache::python {

py_table* new_table(PyObject* max_items, PyObject* max_bytes, PyObject* ttl_ns, PyObject* policy,
                    PyObject* weigh, bool& no_cache);

namespace {

struct cache_object {
  PyObject_HEAD
  py_table* table;
};

PyTypeObject cache_type_object{PyVarObject_HEAD_INIT(nullptr, 0)};

py_table* table_of(PyObject* o) {
  py_table* t = reinterpret_cast<cache_object*>(o)->table;
  if (t == nullptr) PyErr_SetString(PyExc_RuntimeError, "twincache: Cache used before __init__");
  return t;
}

int cache_init(PyObject* o, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"max_items", "max_bytes", "ttl_ns", "policy", "weigh", nullptr};
  PyObject *max_items, *max_bytes, *ttl_ns, *policy, *weigh;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOUO", const_cast<char**>(names), &max_items,
                                   &max_bytes, &ttl_ns, &policy, &weigh)) {
    return -1;
  }
  bool no_cache = false;
  py_table* table = new_table(max_items, max_bytes, ttl_ns, policy, weigh, no_cache);
  if (table == nullptr) return -1;
  auto* self = reinterpret_cast<cache_object*>(o);
  delete self->table;
  self->table = table;
  return 0;
}

int cache_traverse(PyObject* o, visitproc visit, void* arg) {
  py_table* t = reinterpret_cast<cache_object*>(o)->table;
  return t ? t->traverse(visit, arg) : 0;
}

int cache_clear_gc(PyObject* o) {
  py_table* t = reinterpret_cast<cache_object*>(o)->table;
  if (t) t->clear();
  return 0;
}

void cache_dealloc(PyObject* o) {
  PyObject_GC_UnTrack(o);
  auto* self = reinterpret_cast<cache_object*>(o);
  delete self->table;
  self->table = nullptr;
  PyTypeObject* type = Py_TYPE(o);
  type->tp_free(o);  // a Python subclass's type reference is dropped by its subtype_dealloc
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
  if (rc == 0) PyErr_SetString(PyExc_ValueError, t->last_error().c_str());
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

// Hot path: c.get(key, default=None).
PyObject* cache_get(PyObject* o, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "get(key, default=None) takes 1 or 2 arguments");
    return nullptr;
  }
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyObject* value;
  const int found = t->find(args[0], &value, true);
  if (found > 0) return value;
  if (found < 0) return nullptr;
  return Py_NewRef(nargs == 2 ? args[1] : Py_None);
}

// _set(key, value, ttl_ns) -> bool (False: refused for its size; _refuse raises why).
PyObject* cache_set(PyObject* o, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "_set(key, value, ttl_ns)");
    return nullptr;
  }
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  std::optional<time_ns> ttl;
  if (args[2] != Py_None) {
    const long long ns = PyLong_AsLongLong(args[2]);
    if (ns == -1 && PyErr_Occurred()) return nullptr;
    ttl = ns;
  }
  const int rc = t->store(args[0], args[1], ttl, true);
  if (rc < 0) return nullptr;
  return PyBool_FromLong(rc);
}

PyObject* cache_refuse(PyObject* o, PyObject* const*, Py_ssize_t) {
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyErr_SetString(PyExc_ValueError, t->last_error().c_str());
  return nullptr;
}

PyObject* cache_pop(PyObject* o, PyObject* key) {
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  PyObject* value = nullptr;
  const int rc = t->erase(key, &value);
  if (rc < 0) return nullptr;
  return rc ? value : Py_NewRef(shared.missing);
}

PyObject* cache_keys(PyObject* o, PyObject*) {
  py_table* t = table_of(o);
  return t ? t->live_keys() : nullptr;
}

PyObject* cache_clear(PyObject* o, PyObject*) {
  py_table* t = table_of(o);
  if (t == nullptr) return nullptr;
  t->clear();
  Py_RETURN_NONE;
}

PyObject* cache_stats(PyObject* o, PyObject*) {
  py_table* t = table_of(o);
  return t ? t->stats_dict() : nullptr;
}

template <class F>
PyCFunction fastcall(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

PyMethodDef cache_methods[] = {
    {"get", fastcall(cache_get), METH_FASTCALL, "The value for key, or default."},
    {"_set", fastcall(cache_set), METH_FASTCALL, nullptr},
    {"_refuse", fastcall(cache_refuse), METH_FASTCALL, nullptr},
    {"_pop", cache_pop, METH_O, nullptr},
    {"_keys", cache_keys, METH_NOARGS, nullptr},
    {"clear", cache_clear, METH_NOARGS, "Removes every entry (counters are kept)."},
    {"stats", cache_stats, METH_NOARGS, "Counters and sizes."},
    {nullptr, nullptr, 0, nullptr},
};

PyMappingMethods cache_mapping = {cache_length, cache_subscript, cache_ass_subscript};
PySequenceMethods cache_sequence = {};

}  // namespace

bool ready_cache_type() {
  cache_sequence.sq_contains = cache_contains;
  PyTypeObject& t = cache_type_object;
  t.tp_name = "twincache._native.CacheBase";
  t.tp_basicsize = sizeof(cache_object);
  t.tp_dealloc = cache_dealloc;
  t.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC;
  t.tp_doc = "The storage behind twincache.Cache.";
  t.tp_traverse = cache_traverse;
  t.tp_clear = cache_clear_gc;
  t.tp_as_mapping = &cache_mapping;
  t.tp_as_sequence = &cache_sequence;
  t.tp_methods = cache_methods;
  t.tp_init = cache_init;
  t.tp_new = PyType_GenericNew;
  return PyType_Ready(&t) == 0;
}

PyTypeObject* cache_type() { return &cache_type_object; }

}  // namespace twincache::python
