// table.cpp: the cold parts of py_table (stores, removals, stats) and the entry type.
#include "table.hpp"

#include <utility>

#include "twincache/hash.hpp"

namespace twincache::python {
namespace {

// Hot path (every miss that stores, every eviction): entries are recycled through a small free
// list instead of going back to the allocator. GIL-protected like everything else here.
constexpr std::size_t free_entries_max = 256;
entry_object* free_entries[free_entries_max];
std::size_t free_entries_count = 0;

void entry_dealloc(PyObject* self) {
  auto* e = reinterpret_cast<entry_object*>(self);
  PyObject* key = e->key;
  PyObject* value = e->value;
  if (free_entries_count < free_entries_max) {
    free_entries[free_entries_count++] = e;
  } else {
    PyObject_Free(self);
  }
  Py_XDECREF(key);
  Py_XDECREF(value);  // a destructor may run here: the entry is already recycled
}

PyTypeObject entry_type = [] {
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "twincache._native._Entry";
  t.tp_basicsize = sizeof(entry_object);
  t.tp_dealloc = entry_dealloc;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "An entry of a twincache table (internal).";
  return t;
}();

entry_object* new_entry(PyObject* key, PyObject* value, Py_hash_t hash) {
  entry_object* e;
  if (free_entries_count > 0) {
    e = free_entries[--free_entries_count];
    (void)PyObject_Init(reinterpret_cast<PyObject*>(e), &entry_type);
  } else {
    e = PyObject_New(entry_object, &entry_type);
    if (e == nullptr) return nullptr;
  }
  e->key = Py_NewRef(key);
  e->value = Py_NewRef(value);
  e->hash = hash;
  e->slot = no_slot;
  e->reason = not_removed;
  return e;
}

// The policy's hash of a key: Python's hash (ints hash to themselves) through hash64_int, as
// the replay tool and Node hash integer keys, so the same trace makes the same decisions.
std::uint64_t mix(Py_hash_t h) { return hash64_int(static_cast<std::uint64_t>(h)); }

// Deletes e's key from dict only if it still maps to e; the key is not hashed again. Errors (a
// raising __eq__) are swallowed: the entry is already out of the table, a stale dict item is
// harmless (dead).
void delete_if(PyObject* dict, entry_object* e) {
  PyObject* current = dict_get(dict, e->key, e->hash);
  if (current == reinterpret_cast<PyObject*>(e) && dict_del(dict, e->key, e->hash) == 0) return;
  PyErr_Clear();
}

}  // namespace

bool ready_entry_type() { return PyType_Ready(&entry_type) == 0; }

PyObject* raise_status(const status& st) {
  PyObject* type = st.code() == status_code::invalid_argument ? PyExc_TypeError : PyExc_ValueError;
  PyErr_SetString(type, st.message().c_str());
  return nullptr;
}

py_table::py_table(const limits& l, policy_kind kind, std::optional<time_ns> ttl,
                   PyObject* weigh)
    : table_(l, kind, nullptr, ttl), index_(PyDict_New()), weigh_(Py_XNewRef(weigh)) {}

py_table::~py_table() {
  for (entry_object*& e : slots_) Py_CLEAR(e);
  Py_XDECREF(index_);
  Py_XDECREF(weigh_);
  Py_XDECREF(weigh_value_);
  Py_XDECREF(on_evict_);
}

void py_table::release(removed_entries& removed) {
  if (removed.empty()) return;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  const bool pending_error = PyErr_Occurred() != nullptr;
  if (pending_error) PyErr_Fetch(&type, &value, &traceback);
  // By index: a destructor may re-enter this table, but never this list (it is ours alone).
  for (std::size_t i = 0; i < removed.size(); ++i) {
    entry_object* e = removed[i];
    delete_if(index_, e);
    if (on_evict_ != nullptr && e->reason != not_removed) {
      const auto why = static_cast<removal_reason>(e->reason);
      notify(e->key, e->value,
             why == removal_reason::evicted_items || why == removal_reason::evicted_bytes
                 ? "evicted"
                 : removal_reason_name(why).data());
    }
    Py_DECREF(e);  // the value's destructor may run here
  }
  removed.clear();
  if (pending_error) PyErr_Restore(type, value, traceback);
}

void py_table::notify(PyObject* key, PyObject* value, const char* reason) {
  PyObject* callback = Py_NewRef(on_evict_);  // the callback may replace or drop it
  PyObject* why = PyUnicode_FromString(reason);
  PyObject* rc = why ? PyObject_CallFunctionObjArgs(callback, key, value, why, nullptr) : nullptr;
  if (rc == nullptr) PyErr_WriteUnraisable(callback);
  Py_XDECREF(rc);
  Py_XDECREF(why);
  Py_DECREF(callback);
}

int py_table::weigh_into(PyObject* obj, std::uint64_t& out, PyObject* weigher) {
  PyObject* w = PyObject_CallOneArg(weigher != nullptr ? weigher : weigh_, obj);
  if (w == nullptr) return -1;
  if (weigher != nullptr && (!PyLong_Check(w) || PyLong_AsDouble(w) < 0)) {  // getsizeof
    if (!PyErr_Occurred()) {
      PyErr_Format(PyLong_Check(w) ? PyExc_ValueError : PyExc_TypeError,
                   "getsizeof result must be an integer >= 0 (got %R)", w);
    }
    Py_DECREF(w);
    return -1;
  }
  const unsigned long long n = PyLong_AsUnsignedLongLong(w);
  Py_DECREF(w);
  if (n == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return -1;
  out = n;
  return 0;
}

int py_table::contains(PyObject* key) {
  PyObject* found = PyDict_GetItemWithError(index_, key);
  if (found == nullptr) return PyErr_Occurred() ? -1 : 0;
  const std::uint32_t slot = reinterpret_cast<entry_object*>(found)->slot;
  if (slot == no_slot) return 0;
  return table_.is_live(slot, now_if_ttl()) ? 1 : 0;
}

int py_table::store(PyObject* key, Py_hash_t hash, PyObject* value, std::optional<time_ns> ttl,
                    bool replace, std::uint64_t absent_at) {
  // Weighing runs Python code: it comes first.
  std::uint64_t key_bytes = 0, value_bytes = 0;
  if (weigh_ != nullptr &&
      (weigh_into(key, key_bytes) < 0 || weigh_into(value, value_bytes, weigh_value_) < 0)) {
    return -1;
  }
  removed_entries removed;
  // Absent since the caller looked (no entry added since): at most a dead entry is there, which
  // the new one replaces. Otherwise look again (may run __eq__).
  PyObject* found = nullptr;
  entry_object* e = nullptr;  // the new entry, once it is in the dict
  if (absent_at != adds_) {
    if (PyLong_CheckExact(key) || PyUnicode_CheckExact(key)) {
      // Hashing and comparing an exact int or str runs no Python code, so one probe can both
      // look the key up and put a new entry in (a set of a new key is the common case: the
      // lookup and the insert had been two probes). A key already there keeps its entry.
      e = new_entry(key, value, hash);
      if (e == nullptr) return -1;
      ++adds_;
      found = PyDict_SetDefault(index_, key, reinterpret_cast<PyObject*>(e));
      if (found == nullptr) {
        Py_DECREF(e);
        return -1;
      }
      if (found == reinterpret_cast<PyObject*>(e)) {
        found = nullptr;
      } else {
        Py_DECREF(e);  // back to the free list; the caller holds key and value
        e = nullptr;
      }
    } else {
      found = dict_get(index_, key, hash);
      if (found == nullptr && PyErr_Occurred()) return -1;
    }
  }
  if (found != nullptr) {
    auto* old = reinterpret_cast<entry_object*>(found);
    if (old->slot != no_slot && table_.is_live(old->slot, now_if_ttl())) {
      // Live: a memoized function keeps the first result (functools does; the function may
      // have stored this key itself, recursively or from another thread).
      if (!replace) return 1;
      // Updates (Cache.set of a live key) change the entry in place: no allocation.
      const status st = table_.update(old->slot, key_bytes, value_bytes, ttl, collect(removed));
      if (!st.ok()) {
        last_error_ = st.message();
        return 0;
      }
      PyObject* previous = old->value;
      old->value = Py_NewRef(value);
      release(removed);
      if (on_evict_ != nullptr && previous != value) notify(key, previous, "replaced");
      Py_DECREF(previous);  // its destructor may run: the table is consistent
      return 1;
    }
    // A dead or expired entry holds the key's place: retire it, the new entry replaces it in
    // the dict below (`removed` keeps it alive until then).
    if (old->slot != no_slot) {
      table_.remove(old->slot, removal_reason::expired, collect(removed));
    }
  }
  if (e == nullptr) {
    e = new_entry(key, value, hash);
    if (e == nullptr) {
      release(removed);
      return -1;
    }
    // May run __eq__ (colliding keys). Should another thread store this key meanwhile, this
    // entry replaces its entry in the dict; that one stays in the table, unreachable, until
    // evicted.
    ++adds_;  // before dict_set: its __eq__ calls may re-enter this table
    if (dict_set(index_, key, reinterpret_cast<PyObject*>(e), hash) < 0) {
      Py_DECREF(e);
      release(removed);
      return -1;
    }
  }
  // `e` is in the dict with no slot (a lookup treats it as a miss) until the insert below; no
  // Python code runs in between.
  std::uint32_t slot = no_slot;
  const status st = table_.insert(mix(hash), key_bytes, value_bytes, ttl, slot, collect(removed));
  if (!st.ok()) {
    last_error_ = st.message();
    removed.push_back(e);  // drops it from the dict and releases it
    release(removed);
    return 0;
  }
  if (slot >= slots_.size()) slots_.resize(table_.slot_count(), nullptr);
  e->slot = slot;
  slots_[slot] = e;  // the dict holds one reference, the slot the one from new_entry
  release(removed);
  // Reclaim a few expired entries on the way (the cleaner thread never touches Python objects).
  if (table_.ttl_items()) expire(false);
  return 1;
}

int py_table::erase(PyObject* key, Py_hash_t hash, PyObject** value) {
  PyObject* found = dict_get(index_, key, hash);
  if (found == nullptr) return PyErr_Occurred() ? -1 : 0;
  auto* e = reinterpret_cast<entry_object*>(found);
  if (e->slot == no_slot) return 0;
  removed_entries removed;
  const bool live = table_.is_live(e->slot, now_if_ttl());
  if (live && value != nullptr) *value = Py_NewRef(e->value);
  table_.remove(e->slot, live ? removal_reason::deleted : removal_reason::expired,
                collect(removed));
  release(removed);
  return live ? 1 : 0;
}

void py_table::clear() {
  removed_entries removed;
  table_.clear(collect(removed));
  release(removed);
}

void py_table::expire(bool all) {
  if (!table_.ttl_items()) return;
  removed_entries removed;
  const std::uint64_t scan = all ? table_.slot_count() : 16;
  table_.expire_batch(table_.now(), all ? scan : 4, scan, collect(removed));
  release(removed);
}

int py_table::peek(PyObject* key, PyObject** value) {
  PyObject* found = PyDict_GetItemWithError(index_, key);
  if (found == nullptr) return PyErr_Occurred() ? -1 : 0;
  auto* e = reinterpret_cast<entry_object*>(found);
  if (e->slot == no_slot || !table_.is_live(e->slot, now_if_ttl())) return 0;
  *value = Py_NewRef(e->value);
  return 1;
}

int py_table::ttl_of(PyObject* key, double* seconds) {
  PyObject* found = PyDict_GetItemWithError(index_, key);
  if (found == nullptr) return PyErr_Occurred() ? -1 : 0;
  const std::uint32_t slot = reinterpret_cast<entry_object*>(found)->slot;
  if (slot == no_slot) return 0;
  const time_ns expiry = table_.meta(slot).expiry;
  if (expiry == never) {
    *seconds = Py_HUGE_VAL;
    return 1;
  }
  const time_ns now = table_.now();
  if (now >= expiry) return 0;
  *seconds = static_cast<double>(expiry - now) / 1e9;
  return 1;
}

PyObject* py_table::expire_items() {
  PyObject* list = PyList_New(0);
  if (list == nullptr || !table_.ttl_items()) return list;
  removed_entries removed;
  table_.expire_batch(table_.now(), table_.slot_count(), table_.slot_count(), collect(removed));
  for (std::size_t i = 0; i < removed.size(); ++i) {
    PyObject* pair = PyTuple_Pack(2, removed[i]->key, removed[i]->value);
    if (pair == nullptr || PyList_Append(list, pair) < 0) Py_CLEAR(list);
    Py_XDECREF(pair);
    if (list == nullptr) break;
  }
  release(removed);  // on_evict runs for each, as for any expiry
  return list;
}

PyObject* py_table::stats_dict() const {
  const stats s = table_.stats();
  return Py_BuildValue(
      "{sKsKsKsKsKsKsKsKsKsKsKsKsK}", "hits", s.hits, "misses", s.misses, "inserts", s.inserts,
      "updates", s.updates, "rejected", s.rejected, "evictions", s.evictions(), "evicted_items",
      s.evicted_items, "evicted_bytes", s.evicted_bytes, "expirations", s.expired, "deleted",
      s.deleted, "cleared", s.cleared, "items", s.items, "bytes", s.bytes);
}

PyObject* py_table::live_keys() {
  expire(true);
  PyObject* list = PyList_New(0);
  if (list == nullptr) return nullptr;
  for (entry_object* e : slots_) {
    if (e != nullptr && PyList_Append(list, e->key) < 0) {
      Py_DECREF(list);
      return nullptr;
    }
  }
  return list;
}

int py_table::traverse(visitproc visit, void* arg) {
  Py_VISIT(index_);
  Py_VISIT(weigh_);
  Py_VISIT(weigh_value_);
  Py_VISIT(on_evict_);
  for (entry_object* e : slots_) {
    if (e != nullptr) {
      Py_VISIT(e->key);
      Py_VISIT(e->value);
    }
  }
  return 0;
}

}  // namespace twincache::python
