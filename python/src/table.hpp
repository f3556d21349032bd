// table.hpp: the Python binding's storage. A Python dict maps each key to an `entry` object
// (the key, the value and the entry's slot); the core's entry_table owns every decision about
// the slots (TTL, limits, policy, counters).
//
// Locking: there is no lock of our own. Everything here runs with the GIL held, and the
// entry_table is only ever called between two points where no Python code can run: a key's
// __hash__/__eq__ (dict operations), the weigher and a value's destructor all run either before
// an entry_table call or after it has returned and its removals have been collected. Removed
// entries are marked dead (slot = no_slot) inside the core's callback, which is pure C++, and
// dropped from the dict and released afterwards, so a lookup that runs in between (another
// thread, or a destructor re-entering the cache) sees a dead entry and treats it as a miss.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "twincache/detail/small_vector.hpp"
#include "twincache/entry_table.hpp"

// Dict operations with the key's hash already known, as CPython's own lru_cache does them: a
// call hashes its key once (the key's __hash__ runs once) however many dict operations follow.
// 3.13 moved the set and delete variants to its internal headers (still exported); later
// versions fall back to the plain operations, which hash the key again.
#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
extern "C" {
PyAPI_FUNC(int) _PyDict_SetItem_KnownHash(PyObject*, PyObject*, PyObject*, Py_hash_t);
PyAPI_FUNC(int) _PyDict_DelItem_KnownHash(PyObject*, PyObject*, Py_hash_t);
}
#endif

namespace twincache::python {

#if PY_VERSION_HEX < 0x030E0000
// A borrowed reference or null (with an exception set if the key's __eq__ raised).
inline PyObject* dict_get(PyObject* d, PyObject* key, Py_hash_t hash) {
  return _PyDict_GetItem_KnownHash(d, key, hash);
}
inline int dict_set(PyObject* d, PyObject* key, PyObject* value, Py_hash_t hash) {
  return _PyDict_SetItem_KnownHash(d, key, value, hash);
}
inline int dict_del(PyObject* d, PyObject* key, Py_hash_t hash) {
  return _PyDict_DelItem_KnownHash(d, key, hash);
}
#else
inline PyObject* dict_get(PyObject* d, PyObject* key, Py_hash_t) {
  return PyDict_GetItemWithError(d, key);
}
inline int dict_set(PyObject* d, PyObject* key, PyObject* value, Py_hash_t) {
  return PyDict_SetItem(d, key, value);
}
inline int dict_del(PyObject* d, PyObject* key, Py_hash_t) { return PyDict_DelItem(d, key); }
#endif

// One cached entry, the dict's value. Not GC-tracked: its owner's tp_traverse visits the key and
// the value of every live entry.
struct entry_object {
  PyObject_HEAD
  PyObject* key;
  PyObject* value;
  Py_hash_t hash;      // the key's hash, so removals do not hash it again
  std::uint32_t slot;  // no_slot: not (or no longer) in the table
  std::uint8_t reason;  // why the core removed it (a removal_reason), or not_removed
};

// entry_object::reason of an entry the core has not removed (a refused insert, a live entry).
inline constexpr std::uint8_t not_removed = 0xFF;

bool ready_entry_type();

// Removed entries collected inside the core's callback, released after it returns. Usually
// zero or one (an eviction), so they live on the stack.
using removed_entries = detail::small_vector<entry_object*, 4>;

class py_table {
  // The core's removal callback: marks the entry dead and moves the slot's reference to `out`.
  // Pure C++: no Python code may run inside an entry_table call.
  struct collector {
    py_table* self;
    removed_entries* out;
    void operator()(std::uint32_t slot, removal_reason why) const {
      entry_object* e = self->slots_[slot];
      self->slots_[slot] = nullptr;
      e->slot = no_slot;
      e->reason = static_cast<std::uint8_t>(why);
      out->push_back(e);
    }
  };
  collector collect(removed_entries& removed) { return collector{this, &removed}; }

 public:
  // `weigh`: a callable object -> int (bytes), or null to weigh nothing (max_bytes unset).
  py_table(const limits& l, policy_kind kind, std::optional<time_ns> ttl, PyObject* weigh);
  ~py_table();
  py_table(const py_table&) = delete;
  py_table& operator=(const py_table&) = delete;

  // Hot path: 1 with *value (a new reference) on a live hit, 0 on a miss, -1 with an exception
  // set (the key's __eq__ raised). `hash` is PyObject_Hash(key). `count` is false for peeks that
  // must not change the counters. `now`: the clock's time when the caller has read it already
  // (memo.cpp's fresh call), else -1.
  int find(PyObject* key, Py_hash_t hash, PyObject** value, bool count, time_ns now = -1) {
    PyObject* found = dict_get(index_, key, hash);  // may run __eq__: no core call open
    if (found == nullptr) {
      if (PyErr_Occurred()) return -1;
      if (count) table_.record_miss();
      return 0;
    }
    auto* e = reinterpret_cast<entry_object*>(found);
    const std::uint32_t slot = e->slot;
    if (slot == no_slot) {
      if (count) table_.record_miss();
      return 0;
    }
    if (table_.is_live(slot, now >= 0 ? now : now_if_ttl())) {
      if (count) {
        table_.hit(slot);
      } else {
        table_.touch(slot);
      }
      *value = Py_NewRef(e->value);
      return 1;
    }
    removed_entries removed;
    table_.remove(slot, removal_reason::expired, collect(removed));
    if (count) table_.record_miss();
    release(removed);
    return 0;
  }
  // The same, hashing the key first (-1 if its __hash__ raised).
  int find(PyObject* key, PyObject** value, bool count) {
    const Py_hash_t hash = PyObject_Hash(key);
    return hash == -1 ? -1 : find(key, hash, value, count);
  }

  // Whether key is live now; no counters, no policy update. -1 on error.
  int contains(PyObject* key);

  // Stores value under key. `replace`: update a live entry (Cache) or keep it (memoized
  // functions keep the first result, as functools does). Returns 1 when stored (or kept), 0 when
  // the core refused the entry (value_too_large: last_error() says why), -1 on error.
  // `hash` is PyObject_Hash(key): the key is not hashed again. `absent_at`: the adds() count
  // at which the caller found key absent (a memoized function's miss); while no entry has been
  // added since, key is still absent and is not looked up again.
  int store(PyObject* key, Py_hash_t hash, PyObject* value, std::optional<time_ns> ttl,
            bool replace, std::uint64_t absent_at = unknown_adds);
  static constexpr std::uint64_t unknown_adds = ~std::uint64_t{0};
  // How many entries store() has put in the dict so far (only store() adds entries).
  std::uint64_t adds() const { return adds_; }
  int store(PyObject* key, PyObject* value, std::optional<time_ns> ttl, bool replace) {
    const Py_hash_t hash = PyObject_Hash(key);
    return hash == -1 ? -1 : store(key, hash, value, ttl, replace);
  }

  // Removes key. Returns 1 if it was live (and *value, if not null, receives it as a new
  // reference), 0 if absent or expired, -1 on error.
  int erase(PyObject* key, Py_hash_t hash, PyObject** value);
  int erase(PyObject* key, PyObject** value) {
    const Py_hash_t hash = PyObject_Hash(key);
    return hash == -1 ? -1 : erase(key, hash, value);
  }

  void clear();
  void reset_stats() { table_.reset_stats(); }

  // ---- Eviction callbacks, reads that are not use, sizes (docs/python.md, "Eviction
  // callbacks"). on_evict(key, value, reason) is called once per entry leaving the table, by
  // release() (after the table is consistent, so it may re-enter), with reason "evicted",
  // "expired", "deleted", "replaced" or "cleared"; an exception in it goes to
  // sys.unraisablehook. Null (the default) costs one pointer test per removal.
  void set_on_evict(PyObject* callback) { Py_XSETREF(on_evict_, Py_XNewRef(callback)); }
  // A weigher for values only (getsizeof=): keys keep the default weigher.
  void set_value_weigher(PyObject* weigher) { Py_XSETREF(weigh_value_, Py_XNewRef(weigher)); }
  // The live value without counting or touching anything: 1 with *value (new reference), 0 when
  // absent or expired, -1 on error.
  int peek(PyObject* key, PyObject** value);
  // Seconds left for key: 1 with *seconds (inf without a TTL), 0 when absent, -1 on error.
  int ttl_of(PyObject* key, double* seconds);
  // Removes every expired entry now; returns them as a list of (key, value) pairs.
  PyObject* expire_items();
  // Reclaims expired entries (all of them when `all`, else a small batch).
  void expire(bool all);

  PyObject* stats_dict() const;
  PyObject* live_keys();
  Py_ssize_t size() const { return static_cast<Py_ssize_t>(table_.size()); }
  void record_miss() { table_.record_miss(); }
  const std::string& last_error() const { return last_error_; }
  const limits& get_limits() const { return table_.get_limits(); }

  // Hot path: the time for is_live(); without any TTL entry nothing can expire, so the clock is
  // not read.
  time_ns now_if_ttl() const { return table_.ttl_items() ? table_.now() : 0; }

  // GC support for the owner.
  int traverse(visitproc visit, void* arg);

 private:
  // Drops removed entries from the dict (if it still maps their key to them) and releases them.
  // Runs Python code (__eq__, destructors): call it only once the table is consistent.
  void release(removed_entries& removed);
  // Calls on_evict_ for one removal; reports its exception to sys.unraisablehook.
  void notify(PyObject* key, PyObject* value, const char* reason);
  int weigh_into(PyObject* obj, std::uint64_t& out, PyObject* weigher = nullptr);

  entry_table table_;
  PyObject* index_;      // dict: key -> entry_object
  PyObject* weigh_;      // callable or null
  PyObject* weigh_value_ = nullptr;  // getsizeof: weighs values instead of weigh_, or null
  PyObject* on_evict_ = nullptr;     // on_evict(key, value, reason), or null
  std::vector<entry_object*> slots_;  // slot -> entry (a strong reference), null when free
  std::uint64_t adds_ = 0;            // entries put in the dict: see adds()
  std::string last_error_;
};

// The one place a core status becomes a Python exception: out_of_range and value_too_large are
// ValueError, invalid_argument is TypeError. Returns null for convenience.
PyObject* raise_status(const status& st);

}  // namespace twincache::python
