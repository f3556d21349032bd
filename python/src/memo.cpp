// memo.cpp: twincache._native.Memo, the object every decorator returns, written against the
// CPython API because its call is the hot path: vectorcall, keys built like functools' _make_key
// (a lone int or str argument is its own key, typed or not; otherwise a tuple of the arguments, a
// marker and the keyword items, plus the types when typed), one dict lookup, one entry_table
// check. Misses that need coordination (async functions, single_flight) go to a Python hook
// (twincache._api).
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "objects.hpp"
#include "table.hpp"
#include "twincache/clock.hpp"

namespace twincache::python {

shared_objects shared;

namespace {

// ---- The awaitable a hit of an async function returns: already complete. -------------------

struct ready_object {
  PyObject_HEAD
  PyObject* value;
};

PyTypeObject ready_type_object{PyVarObject_HEAD_INIT(nullptr, 0)};

// Hot path (async hits): no coroutine frame, the value comes back through am_send.
PyObject* make_ready(PyObject* value /* stolen */) {
  auto* r = PyObject_New(ready_object, &ready_type_object);
  if (r == nullptr) {
    Py_DECREF(value);
    return nullptr;
  }
  r->value = value;
  return reinterpret_cast<PyObject*>(r);
}

void ready_dealloc(PyObject* self) {
  Py_XDECREF(reinterpret_cast<ready_object*>(self)->value);
  PyObject_Free(self);
}

PyObject* ready_await(PyObject* self) { return Py_NewRef(self); }

PySendResult ready_send(PyObject* self, PyObject*, PyObject** result) {
  *result = Py_NewRef(reinterpret_cast<ready_object*>(self)->value);
  return PYGEN_RETURN;
}

PyObject* ready_next(PyObject* self) {
  PyObject* value = reinterpret_cast<ready_object*>(self)->value;
  PyObject* stop = PyObject_CallOneArg(PyExc_StopIteration, value);
  if (stop != nullptr) {
    PyErr_SetObject(PyExc_StopIteration, stop);
    Py_DECREF(stop);
  }
  return nullptr;
}

PyObject* ready_send_method(PyObject* self, PyObject*) { return ready_next(self); }
PyObject* ready_close(PyObject*, PyObject*) { Py_RETURN_NONE; }

PyMethodDef ready_methods[] = {
    {"send", ready_send_method, METH_O, nullptr},
    {"close", ready_close, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyAsyncMethods ready_async = {ready_await, nullptr, nullptr, ready_send};

// ---- Memo ----------------------------------------------------------------------------------

struct memo_object {
  PyObject_HEAD
  vectorcallfunc vectorcall;
  PyObject* func;
  PyObject* dict;
  PyObject* weakreflist;
  PyObject* key_fn;
  PyObject* content_key;
  PyObject* miss_hook;
  PyObject* watch_hook;
  PyObject* fresh_hook;  // freshness options (twincache._fresh): every stored value is a record
  PyObject* parameters;
  py_table* table;
  bool typed;
  bool is_async;
  bool weak_self;
  bool no_cache;
};

PyTypeObject memo_type_object{PyVarObject_HEAD_INIT(nullptr, 0)};

memo_object* as_memo(PyObject* o) { return reinterpret_cast<memo_object*>(o); }

// The first argument, held weakly when it can be (a method's instance), else as is. The type
// says whether it hashes (calling its __hash__ here would call it once more per call).
PyObject* weak_first(PyObject* a) {
  PyTypeObject* t = Py_TYPE(a);
  if (t == &PyLong_Type || t == &PyUnicode_Type || !PyType_SUPPORTS_WEAKREFS(t) ||
      t->tp_hash == PyObject_HashNotImplemented) {  // unhashable: the content-key path decides
    return Py_NewRef(a);
  }
  PyObject* ref = PyWeakref_NewRef(a, nullptr);
  if (ref == nullptr) {
    PyErr_Clear();
    return Py_NewRef(a);
  }
  return ref;
}

PyObject* args_tuple(memo_object* self, PyObject* const* args, Py_ssize_t nargs, bool weak) {
  PyObject* t = PyTuple_New(nargs);
  if (t == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    PyTuple_SET_ITEM(t, i, (i == 0 && weak && self->weak_self) ? weak_first(args[i])
                                                                : Py_NewRef(args[i]));
  }
  return t;
}

PyObject* kwargs_dict(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* d = PyDict_New();
  if (d == nullptr || kwnames == nullptr) return d;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
    if (PyDict_SetItem(d, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
      Py_DECREF(d);
      return nullptr;
    }
  }
  return d;
}

// The content key (twincache._api) for a call whose key does not hash.
PyObject* content_key(memo_object* self, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames) {
  PyObject* t = args_tuple(self, args, nargs, true);
  if (t == nullptr) return nullptr;
  PyObject* d = kwargs_dict(args, nargs, kwnames);
  if (d == nullptr) {
    Py_DECREF(t);
    return nullptr;
  }
  PyObject* key = PyObject_CallFunctionObjArgs(self->content_key, t, d, nullptr);
  Py_DECREF(t);
  Py_DECREF(d);
  return key;
}

// Hot path: the key of a call, a new reference (not hashed yet: see resolve_key).
PyObject* make_key(memo_object* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  if (self->key_fn != nullptr) return PyObject_Vectorcall(self->key_fn, args, nargs, kwnames);
  // Typed too: any other typed key is a tuple, so a lone exact int or str cannot collide.
  if (nkw == 0 && nargs == 1) {
    PyObject* a = args[0];
    if (PyLong_CheckExact(a) || PyUnicode_CheckExact(a)) return Py_NewRef(a);
  }
  const Py_ssize_t size = nargs + (nkw ? 1 + 2 * nkw : 0) + (self->typed ? nargs + nkw : 0);
  PyObject* key = PyTuple_New(size);
  if (key == nullptr) return nullptr;
  Py_ssize_t i = 0;
  for (Py_ssize_t j = 0; j < nargs; ++j) {
    PyTuple_SET_ITEM(key, i++, (j == 0 && self->weak_self) ? weak_first(args[0])
                                                            : Py_NewRef(args[j]));
  }
  if (nkw) {
    PyTuple_SET_ITEM(key, i++, Py_NewRef(shared.kwd_mark));
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      PyTuple_SET_ITEM(key, i++, Py_NewRef(PyTuple_GET_ITEM(kwnames, k)));
      PyTuple_SET_ITEM(key, i++, Py_NewRef(args[nargs + k]));
    }
  }
  if (self->typed) {
    for (Py_ssize_t j = 0; j < nargs + nkw; ++j) {
      PyTuple_SET_ITEM(key, i++, Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(args[j]))));
    }
  }
  return key;
}

// Hot path: the key of a call and its hash, computed once (functools hashes a key once per
// call: each argument's __hash__ runs once, however many dict operations follow). A key that
// does not hash is replaced by its content key in the configured form (the user key function's
// result, or the arguments). 0 with *key (a new reference) and *hash set, or -1.
int resolve_key(memo_object* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                PyObject** key, Py_hash_t* hash) {
  *key = make_key(self, args, nargs, kwnames);
  if (*key == nullptr) return -1;
  *hash = PyObject_Hash(*key);
  if (*hash != -1) return 0;
  if (self->content_key == nullptr || !PyErr_ExceptionMatches(PyExc_TypeError)) {
    Py_CLEAR(*key);
    return -1;
  }
  PyErr_Clear();
  PyObject* content = nullptr;
  if (self->key_fn != nullptr) {
    PyObject* one = PyTuple_Pack(1, *key);
    PyObject* empty = one ? PyDict_New() : nullptr;
    content = empty ? PyObject_CallFunctionObjArgs(self->content_key, one, empty, nullptr)
                    : nullptr;
    Py_XDECREF(one);
    Py_XDECREF(empty);
  } else {
    content = content_key(self, args, nargs, kwnames);
  }
  Py_SETREF(*key, content);
  if (*key == nullptr) return -1;
  *hash = PyObject_Hash(*key);
  if (*hash != -1) return 0;
  Py_CLEAR(*key);
  return -1;
}

// Looks the call up. Returns 1 (hit, *value set), 0 (miss), -1 (error); on 0 and 1 *key and
// *hash hold the key used (a new reference).
int lookup_call(memo_object* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                PyObject** key, Py_hash_t* hash, PyObject** value) {
  if (resolve_key(self, args, nargs, kwnames, key, hash) < 0) return -1;
  const int found = self->table->find(*key, *hash, value, true);
  if (found < 0) Py_CLEAR(*key);
  return found;
}

// `absent_at`: py_table::adds() when the call found key absent (or unknown_adds). `ttl` and
// `replace` as py_table::store (the freshness records of twincache._fresh pass both). Returns
// py_table::store's answer (1 stored, 0 refused; 0 too without a cache), -1 on error.
int store_result(memo_object* self, PyObject* key, Py_hash_t hash, PyObject* value,
                 std::uint64_t absent_at = py_table::unknown_adds,
                 std::optional<time_ns> ttl = std::nullopt, bool replace = false) {
  if (self->no_cache) return 0;
  const int rc = self->table->store(key, hash, value, ttl, replace, absent_at);
  if (rc < 0) return -1;
  if (self->weak_self && self->watch_hook != nullptr && PyTuple_CheckExact(key) &&
      PyTuple_GET_SIZE(key) > 0 && PyWeakref_CheckRefExact(PyTuple_GET_ITEM(key, 0))) {
    PyObject* r = PyObject_CallOneArg(self->watch_hook, key);
    if (r == nullptr) return -1;
    Py_DECREF(r);
  }
  return rc;
}

// Hot path: the decorated function's call.
PyObject* memo_vectorcall(PyObject* callable, PyObject* const* args, size_t nargsf,
                          PyObject* kwnames) {
  memo_object* self = as_memo(callable);
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (self->no_cache) {
    self->table->record_miss();
    return PyObject_Vectorcall(self->func, args, nargsf, kwnames);
  }
  PyObject* key;
  Py_hash_t hash;
  PyObject* value;
  const int found = lookup_call(self, args, nargs, kwnames, &key, &hash, &value);
  if (found != 0) {
    if (found < 0) return nullptr;
    Py_DECREF(key);
    return self->is_async ? make_ready(value) : value;
  }
  if (self->miss_hook != nullptr) {
    PyObject* t = args_tuple(self, args, nargs, false);
    PyObject* d = t ? kwargs_dict(args, nargs, kwnames) : nullptr;
    PyObject* result =
        d ? PyObject_CallFunctionObjArgs(self->miss_hook, key, t, d, nullptr) : nullptr;
    Py_XDECREF(t);
    Py_XDECREF(d);
    Py_DECREF(key);
    return result;
  }
  const std::uint64_t absent_at = self->table->adds();
  PyObject* result = PyObject_Vectorcall(self->func, args, nargsf, kwnames);
  if (result != nullptr && store_result(self, key, hash, result, absent_at) < 0) {
    Py_CLEAR(result);
  }
  Py_DECREF(key);
  return result;
}

// The call of a function with freshness options (stale, ttl_jitter, early_refresh,
// cache_errors: twincache._fresh). Its entries hold records, tuples whose item 0 is the value and
// item 1 the clock time (ns) from which a hit needs the hook (the end of the fresh period, or
// at once for a cached failure or under early refresh). A hit before that time returns the value
// as memo_vectorcall does; any other call (a miss, a stale or failure hit) goes to
// fresh_hook(key, args, kwargs, record or None, now_ns), which returns the call's result.
PyObject* memo_fresh_vectorcall(PyObject* callable, PyObject* const* args, size_t nargsf,
                                PyObject* kwnames) {
  // The tables' clock (tests drive it).
  static twincache::clock* const time_line = twincache::clock::real().get();
  memo_object* self = as_memo(callable);
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (self->no_cache) return memo_vectorcall(callable, args, nargsf, kwnames);
  PyObject* key;
  Py_hash_t hash;
  PyObject* record = nullptr;
  if (resolve_key(self, args, nargs, kwnames, &key, &hash) < 0) return nullptr;
  const time_ns now = time_line->now();  // read once: for the entry's TTL and for check_at
  const int found = self->table->find(key, hash, &record, true, now);
  if (found < 0) {
    Py_DECREF(key);
    return nullptr;
  }
  if (found > 0 && PyTuple_CheckExact(record) && PyTuple_GET_SIZE(record) >= 2) {
    // PyLong_AsLong where long has 64 bits: 3.11's PyLong_AsLongLong goes through a byte
    // array for ints past one digit, which a clock time always is.
#if LONG_MAX >= INT64_MAX
    const long check_at = PyLong_AsLong(PyTuple_GET_ITEM(record, 1));
#else
    const long long check_at = PyLong_AsLongLong(PyTuple_GET_ITEM(record, 1));
#endif
    if (check_at == -1 && PyErr_Occurred()) {
      Py_DECREF(record);
      Py_DECREF(key);
      return nullptr;
    }
    if (now < check_at) {
      PyObject* value = Py_NewRef(PyTuple_GET_ITEM(record, 0));
      Py_DECREF(record);
      Py_DECREF(key);
      return self->is_async ? make_ready(value) : value;
    }
  }
  PyObject* t = args_tuple(self, args, nargs, false);
  PyObject* d = t ? kwargs_dict(args, nargs, kwnames) : nullptr;
  PyObject* when = d ? PyLong_FromLongLong(now) : nullptr;
  PyObject* result = when ? PyObject_CallFunctionObjArgs(self->fresh_hook, key, t, d,
                                                         record ? record : Py_None, when, nullptr)
                          : nullptr;
  Py_XDECREF(t);
  Py_XDECREF(d);
  Py_XDECREF(when);
  Py_XDECREF(record);
  Py_DECREF(key);
  return result;
}

// ---- construction ----

std::optional<std::uint64_t> optional_u64(PyObject* o, bool& error) {
  if (o == nullptr || o == Py_None) return std::nullopt;
  const unsigned long long v = PyLong_AsUnsignedLongLong(o);
  if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) error = true;
  return v;
}

}  // namespace

// Builds a table from the arguments twincache._api passes (already validated there and by the
// core's parse_* functions). Shared with cache.cpp.
py_table* new_table(PyObject* max_items, PyObject* max_bytes, PyObject* ttl_ns, PyObject* policy,
                    PyObject* weigh, bool& no_cache) {
  bool error = false;
  const auto items = optional_u64(max_items, error);
  const auto bytes = optional_u64(max_bytes, error);
  const auto ttl = optional_u64(ttl_ns, error);
  if (error) return nullptr;
  Py_ssize_t len = 0;
  const char* name = PyUnicode_AsUTF8AndSize(policy, &len);
  if (name == nullptr) return nullptr;
  policy_kind kind;
  if (status st = parse_policy("policy", std::string_view(name, len), kind); !st.ok()) {
    raise_status(st);
    return nullptr;
  }
  no_cache = items && *items == 0;
  limits l;
  if (items && *items > 0) l.max_items = *items;
  if (bytes) l.max_bytes = *bytes;
  std::optional<time_ns> ttl_value;
  if (ttl) ttl_value = static_cast<time_ns>(*ttl);
  if (status st = validate_table_options(l, ttl_value); !st.ok()) {
    raise_status(st);
    return nullptr;
  }
  return new py_table(l, kind, ttl_value, weigh == Py_None ? nullptr : weigh);
}

namespace {

int memo_init(PyObject* o, PyObject* args, PyObject* kwargs) {
  static const char* names[] = {"func", "max_items", "max_bytes", "ttl_ns", "policy", "typed",
                                "weigh", "key_fn", "content_key", "miss_hook", "is_async",
                                "weak_self", "parameters", nullptr};
  memo_object* self = as_memo(o);
  PyObject *func, *max_items, *max_bytes, *ttl_ns, *policy, *weigh, *key_fn, *content, *hook,
      *parameters;
  int typed, is_async, weak_self;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OOOUpOOOOppO!", const_cast<char**>(names),
                                   &func, &max_items, &max_bytes, &ttl_ns, &policy, &typed,
                                   &weigh, &key_fn, &content, &hook, &is_async, &weak_self,
                                   &PyDict_Type, &parameters)) {
    return -1;
  }
  bool no_cache = false;
  py_table* table = new_table(max_items, max_bytes, ttl_ns, policy, weigh, no_cache);
  if (table == nullptr) return -1;
  delete self->table;
  self->table = table;
  auto set = [](PyObject*& field, PyObject* v) {
    Py_XSETREF(field, v == Py_None ? nullptr : Py_NewRef(v));
  };
  set(self->func, func);
  set(self->key_fn, key_fn);
  set(self->content_key, content);
  set(self->miss_hook, hook);
  set(self->parameters, parameters);
  self->typed = typed;
  self->is_async = is_async;
  self->weak_self = weak_self;
  self->no_cache = no_cache;
  self->vectorcall = memo_vectorcall;
  return 0;
}

PyObject* memo_new(PyTypeObject* type, PyObject*, PyObject*) {
  PyObject* o = type->tp_alloc(type, 0);
  if (o != nullptr) as_memo(o)->vectorcall = memo_vectorcall;
  return o;
}

int memo_traverse(PyObject* o, visitproc visit, void* arg) {
  memo_object* self = as_memo(o);
  Py_VISIT(self->func);
  Py_VISIT(self->dict);
  Py_VISIT(self->key_fn);
  Py_VISIT(self->content_key);
  Py_VISIT(self->miss_hook);
  Py_VISIT(self->watch_hook);
  Py_VISIT(self->fresh_hook);
  Py_VISIT(self->parameters);
  return self->table ? self->table->traverse(visit, arg) : 0;
}

int memo_clear(PyObject* o) {
  memo_object* self = as_memo(o);
  Py_CLEAR(self->func);
  Py_CLEAR(self->dict);
  Py_CLEAR(self->key_fn);
  Py_CLEAR(self->content_key);
  Py_CLEAR(self->miss_hook);
  Py_CLEAR(self->watch_hook);
  Py_CLEAR(self->fresh_hook);
  Py_CLEAR(self->parameters);
  if (self->table) {
    self->table->set_on_evict(nullptr);  // a dying decorator reports nothing
    self->table->clear();
  }
  return 0;
}

void memo_dealloc(PyObject* o) {
  memo_object* self = as_memo(o);
  PyObject_GC_UnTrack(o);
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(o);
  memo_clear(o);
  delete self->table;
  self->table = nullptr;
  PyTypeObject* type = Py_TYPE(o);
  type->tp_free(o);
}

PyObject* memo_descr_get(PyObject* self, PyObject* obj, PyObject*) {
  if (obj == nullptr || obj == Py_None) return Py_NewRef(self);
  return PyMethod_New(self, obj);
}

bool check_table(memo_object* self) {
  if (self->table != nullptr) return true;
  PyErr_SetString(PyExc_RuntimeError, "twincache: Memo used before __init__");
  return false;
}

PyObject* memo_peek(PyObject* o, PyObject* key) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  PyObject* value;
  const int found = self->table->find(key, &value, false);
  if (found < 0) return nullptr;
  return found ? value : Py_NewRef(shared.missing);
}

// _set_eviction(on_evict, getsizeof): the decorator's on_evict= and getsizeof= (twincache._api
// checked them; None for either leaves it unset).
PyObject* memo_set_eviction(PyObject* o, PyObject* const* args, Py_ssize_t nargs) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_set_eviction(on_evict, getsizeof)");
    return nullptr;
  }
  self->table->set_on_evict(args[0] == Py_None ? nullptr : args[0]);
  self->table->set_value_weigher(args[1] == Py_None ? nullptr : args[1]);
  Py_RETURN_NONE;
}

PyObject* memo_store(PyObject* o, PyObject* const* args, Py_ssize_t nargs) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_store(key, value)");
    return nullptr;
  }
  const Py_hash_t hash = PyObject_Hash(args[0]);
  if (hash == -1 || store_result(self, args[0], hash, args[1]) < 0) return nullptr;
  Py_RETURN_NONE;
}

// m._put(key, value, ttl_ns): stores value for key, replacing a live entry, with its own TTL (None:
// the table's). The Redis tier's L1 (twincache._redis_function: an entry never outlives Redis's)
// and the freshness records (twincache._fresh). True when stored, False when refused (heavier
// than max_bytes, or a no-cache decorator).
PyObject* memo_put(PyObject* o, PyObject* const* args, Py_ssize_t nargs) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "_put(key, value, ttl_ns)");
    return nullptr;
  }
  bool error = false;
  const auto ttl = optional_u64(args[2], error);
  if (error) return nullptr;
  std::optional<time_ns> ttl_value;
  if (ttl) ttl_value = static_cast<time_ns>(*ttl);
  const Py_hash_t hash = PyObject_Hash(args[0]);
  if (hash == -1) return nullptr;
  const int rc =
      store_result(self, args[0], hash, args[1], py_table::unknown_adds, ttl_value, true);
  if (rc < 0) return nullptr;
  return PyBool_FromLong(rc);
}

PyObject* memo_discard(PyObject* o, PyObject* key) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  const int rc = self->table->erase(key, nullptr);
  if (rc < 0) return nullptr;
  return PyBool_FromLong(rc);
}

PyObject* memo_invalidate(PyObject* o, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  PyObject* key;
  Py_hash_t hash;
  if (resolve_key(self, args, PyVectorcall_NARGS(nargsf), kwnames, &key, &hash) < 0) {
    return nullptr;
  }
  const int rc = self->table->erase(key, hash, nullptr);
  Py_DECREF(key);
  if (rc < 0) return nullptr;
  return PyBool_FromLong(rc);
}

// m._key(*args, **kwargs): the key of a call, its content key when that is unhashable (the entry
// invalidate() drops). twincache._api uses it to forget the call's in-flight computation.
PyObject* memo_key(PyObject* o, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  memo_object* self = as_memo(o);
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  PyObject* key = make_key(self, args, nargs, kwnames);
  if (key == nullptr || self->content_key == nullptr || PyObject_Hash(key) != -1) return key;
  Py_DECREF(key);
  if (!PyErr_ExceptionMatches(PyExc_TypeError)) return nullptr;
  PyErr_Clear();
  return content_key(self, args, nargs, kwnames);
}

PyObject* memo_cache_info(PyObject* o, PyObject*) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  PyObject* stats = self->table->stats_dict();
  if (stats == nullptr) return nullptr;
  PyObject* maxsize =
      self->parameters ? PyDict_GetItemString(self->parameters, "maxsize") : nullptr;
  PyObject* info = PyObject_CallFunction(
      shared.cache_info, "OOOn", PyDict_GetItemString(stats, "hits"),
      PyDict_GetItemString(stats, "misses"), maxsize ? maxsize : Py_None, self->table->size());
  Py_DECREF(stats);
  return info;
}

PyObject* memo_cache_clear(PyObject* o, PyObject*) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  self->table->clear();
  self->table->reset_stats();
  Py_RETURN_NONE;
}

// m._clear(): drops every entry, counters kept (cache_clear() resets them, as functools does).
// The Redis tier empties a function's L1 so when an invalidation flush comes.
PyObject* memo_clear_entries(PyObject* o, PyObject*) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  self->table->clear();
  Py_RETURN_NONE;
}

PyObject* memo_cache_parameters(PyObject* o, PyObject*) {
  memo_object* self = as_memo(o);
  return self->parameters ? PyDict_Copy(self->parameters) : PyDict_New();
}

PyObject* memo_stats(PyObject* o, PyObject*) {
  memo_object* self = as_memo(o);
  if (!check_table(self)) return nullptr;
  return self->table->stats_dict();
}

PyObject* memo_reduce(PyObject* o, PyObject*) { return PyObject_GetAttrString(o, "__qualname__"); }
PyObject* memo_copy(PyObject* o, PyObject*) { return Py_NewRef(o); }
PyObject* memo_deepcopy(PyObject* o, PyObject*) { return Py_NewRef(o); }

PyObject* memo_repr(PyObject* o) {
  memo_object* self = as_memo(o);
  return PyUnicode_FromFormat("<twincache wrapper of %R>", self->func ? self->func : Py_None);
}

// `which`: 0 miss_hook, 1 watch_hook, 2 fresh_hook.
PyObject*& hook_field(PyObject* o, void* which) {
  memo_object* self = as_memo(o);
  const auto n = reinterpret_cast<std::uintptr_t>(which);
  return n == 0 ? self->miss_hook : n == 1 ? self->watch_hook : self->fresh_hook;
}

PyObject* get_hook(PyObject* o, void* which) {
  PyObject* v = hook_field(o, which);
  return Py_NewRef(v ? v : Py_None);
}

int set_hook(PyObject* o, PyObject* v, void* which) {
  PyObject*& field = hook_field(o, which);
  Py_XSETREF(field, (v == nullptr || v == Py_None) ? nullptr : Py_NewRef(v));
  // A fresh hook switches the call to the freshness path; the plain path never looks for it.
  memo_object* self = as_memo(o);
  self->vectorcall = self->fresh_hook ? memo_fresh_vectorcall : memo_vectorcall;
  return 0;
}

PyMethodDef memo_methods[] = {
    {"_peek", memo_peek, METH_O, "The live value for key or _MISSING, not counted."},
    {"_store", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(memo_store)),
     METH_FASTCALL, "Caches value for key unless key is live."},
    {"_put", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(memo_put)),
     METH_FASTCALL, "Stores value for key (replacing it) with its own TTL in ns (None: default)."},
    {"_discard", memo_discard, METH_O, "Drops key; True if it was live."},
    {"_set_eviction",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(memo_set_eviction)),
     METH_FASTCALL, "Sets on_evict and getsizeof (None: unset)."},
    {"_key", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(memo_key)),
     METH_FASTCALL | METH_KEYWORDS, "The key of a call (the entry invalidate() drops)."},
    {"invalidate", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(memo_invalidate)),
     METH_FASTCALL | METH_KEYWORDS, "Drops the entry of these arguments; True if it was live."},
    {"cache_info", memo_cache_info, METH_NOARGS,
     "functools.CacheInfo(hits, misses, maxsize, currsize)"},
    {"cache_clear", memo_cache_clear, METH_NOARGS, "Drops every entry and resets the counters."},
    {"_clear", memo_clear_entries, METH_NOARGS, "Drops every entry; counters are kept."},
    {"cache_parameters", memo_cache_parameters, METH_NOARGS, "The decorator's parameters."},
    {"stats", memo_stats, METH_NOARGS, "Counters and sizes."},
    {"__reduce__", memo_reduce, METH_NOARGS, nullptr},
    {"__copy__", memo_copy, METH_NOARGS, nullptr},
    {"__deepcopy__", memo_deepcopy, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef memo_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, nullptr, nullptr},
    {"_miss_hook", get_hook, set_hook, nullptr, nullptr},
    {"_watch_hook", get_hook, set_hook, nullptr, reinterpret_cast<void*>(1)},
    {"_fresh_hook", get_hook, set_hook, nullptr, reinterpret_cast<void*>(2)},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

}  // namespace

bool ready_memo_types() {
  PyTypeObject& r = ready_type_object;
  r.tp_name = "twincache._native._Ready";
  r.tp_basicsize = sizeof(ready_object);
  r.tp_dealloc = ready_dealloc;
  r.tp_flags = Py_TPFLAGS_DEFAULT;
  r.tp_doc = "A completed awaitable: the cached result of an async function.";
  r.tp_as_async = &ready_async;
  r.tp_iter = PyObject_SelfIter;
  r.tp_iternext = ready_next;
  r.tp_methods = ready_methods;
  if (PyType_Ready(&r) < 0) return false;

  PyTypeObject& t = memo_type_object;
  t.tp_name = "twincache._native.Memo";
  t.tp_basicsize = sizeof(memo_object);
  t.tp_dealloc = memo_dealloc;
  t.tp_vectorcall_offset = offsetof(memo_object, vectorcall);
  t.tp_call = PyVectorcall_Call;
  t.tp_repr = memo_repr;
  t.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
               Py_TPFLAGS_METHOD_DESCRIPTOR;
  t.tp_doc = "A memoized function (the object twincache's decorators return).";
  t.tp_traverse = memo_traverse;
  t.tp_clear = memo_clear;
  t.tp_weaklistoffset = offsetof(memo_object, weakreflist);
  t.tp_dictoffset = offsetof(memo_object, dict);
  t.tp_methods = memo_methods;
  t.tp_getset = memo_getset;
  t.tp_descr_get = memo_descr_get;
  t.tp_init = memo_init;
  t.tp_new = memo_new;
  return PyType_Ready(&t) == 0 && ready_entry_type();
}

PyTypeObject* memo_type() { return &memo_type_object; }

}  // namespace twincache::python
