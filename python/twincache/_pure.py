"""The pure-Python implementation: the same classes and functions as the native module.

Used when the C++ extension cannot be imported, or when TWINCACHE_PURE=1. It mirrors the core's
rules and messages (core/src/options.cpp) word for word, so that a program sees the same errors,
counters and expiry behaviour in both modes. It is the mode many users get, so speed matters:
the policy keeps flat lists indexed by slot and builds no list, tuple or node on a hit.

Policies: "lru" is exact LRU. "tinylfu" (the default) is the core's adaptive W-TinyLFU ported
line by line (_tinylfu.py: the same sketch, regions, admission, ghosts, LRU duel and constants)
and run with the core's protocol (insert, then evict the policy's victims while over a limit; a
value just set stays readable) on the same key hash as the native binding (hash64_int of
hash(): XXH3 of its 8 bytes), so pure mode evicts what native mode evicts and gets its hit
ratios (docs/python.md). Only "lru" promises an order.
"""

from __future__ import annotations

import math
import threading
import time
import types
import weakref
from collections.abc import Callable, Hashable, Iterator
from functools import _CacheInfo as CacheInfo
from typing import Any, Final, Generic, overload

from . import _fork
from ._tinylfu import PROBATION, PROTECTED, WINDOW, TinyLFU, hash64_int
from ._types import K, Stats, T, V

entry_overhead_bytes: Final = 64
_INT64_MAX: Final = 2**63 - 1
_SAFE_INT_MAX: Final = 2**53 - 1

# --- Options: the same checks and words as core/src/options.cpp ---------------------------------


def _format_double(value: float) -> str:
    """Formats like C++ std::to_chars(double): the shortest round-trip digits, in fixed or
    scientific notation, whichever is shorter (fixed on a tie); an integral value in fixed
    notation is printed exactly (2.0**70 is 1180591620717411303424, not ...411300000), as the core
    and Node's formatDouble print it."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if value < 0 or (value == 0 and str(value).startswith("-")) else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # Decimal exponent of the first significant digit.
    if not digits:
        return sign + "0"
    leading_zeros = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    point = len(int_part) - leading_zeros - 1 + int(exp_text or 0)
    digits = digits.rstrip("0")
    # Scientific: d[.ddd]e+XX
    sci = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sci += "e" + ("-" if point < 0 else "+") + f"{abs(point):02d}"
    # Fixed.
    if point >= 0:
        if len(digits) <= point + 1:
            fixed = str(int(abs(value)))  # exact: as many characters as the padded digits
        else:
            fixed = digits[: point + 1] + "." + digits[point + 1 :]
    else:
        fixed = "0." + "0" * (-point - 1) + digits
    return sign + (fixed if len(fixed) <= len(sci) else sci)


def _range_error(name: str, allowed: str, got: str) -> ValueError:
    return ValueError(f"{name} must be {allowed} (got {got})")


def parse_limit(name: str, value: int) -> int:
    """A count or byte budget: an integer in [1, 2**63 - 1]."""
    if value < 1 or value > _INT64_MAX:
        raise _range_error(name, f"an integer in [1, {_INT64_MAX}]", str(value))
    return value


def parse_ttl(name: str, seconds: float) -> int:
    """A TTL in seconds, finite and > 0; returns nanoseconds (at least 1)."""
    max_units = 4.0e18 / 1e9
    if not (seconds > 0) or seconds in (float("inf"),) or seconds > max_units:
        allowed = f"a finite number of seconds > 0 and <= {_format_double(max_units)}"
        raise _range_error(name, allowed, _format_double(seconds))
    ns = seconds * 1e9
    return 1 if ns < 1.0 else int(ns)


_POLICIES: Final = ("lru", "tinylfu")


def default_policy() -> str:
    """The core's default (options.cpp): the scan-resistant policy, approximated here."""
    return "tinylfu"


def parse_policy(name: str, value: str) -> str:
    if value == "":
        return default_policy()
    if value in _POLICIES:
        return value
    raise _range_error(name, "one of 'lru', 'tinylfu'", f"'{value}'")


# --- Content keys: the canonical encoding of docs/keys.md -----------------------------------------


def encode_key(value: object) -> bytes:
    """The canonical key encoding of value (the native module builds it with the core)."""
    from . import _keys

    return _keys.encode(value)


# --- Clock: real monotonic time, or manual time set by tests ------------------------------------

_manual_ns: int | None = None


def clock_now() -> int:
    return time.monotonic_ns() if _manual_ns is None else _manual_ns


def clock_set_manual(start_ns: int) -> None:
    global _manual_ns
    _manual_ns = start_ns


def clock_advance(delta_ns: int) -> None:
    global _manual_ns
    if _manual_ns is not None:
        _manual_ns += delta_ns


def clock_set_real() -> None:
    global _manual_ns
    _manual_ns = None


# --- The table: key -> entry, with limits, TTL, policy and counters -----------------------------

_MISSING: Final[Any] = object()

# An entry is a list. Under "lru" it is linked into a circular doubly linked list through a root
# sentinel (most recently used right after the root); under "tinylfu" the policy orders slots
# and owner[slot] is the entry. Fields by index:
_PREV, _NEXT, _KEY, _VALUE, _EXPIRES, _WEIGHT, _SEGMENT = range(7)
# _SEGMENT: >= 0 linked (under "tinylfu" its policy slot, under "lru" 0), -1 removed, -2 pending
# (in the dict, not yet linked: lookups treat it as absent). Once removed, _PREV holds the reason
# on_evict is told ("evicted", "expired", "deleted", "cleared").
_REMOVED: Final = -1
_PENDING: Final = -2


class _Ring:
    """A circular doubly linked list of entries; the root is a sentinel (the "lru" order)."""

    __slots__ = ("count", "root", "weight")

    def __init__(self) -> None:
        root: list[Any] = [None] * 7
        root[_PREV] = root[_NEXT] = root
        self.root = root
        self.count = 0
        self.weight = 0

    def push_front(self, entry: list[Any]) -> None:
        root = self.root
        first = root[_NEXT]
        entry[_PREV] = root
        entry[_NEXT] = first
        first[_PREV] = entry
        root[_NEXT] = entry
        self.count += 1
        self.weight += entry[_WEIGHT]

    def unlink(self, entry: list[Any]) -> None:
        prev, nxt = entry[_PREV], entry[_NEXT]
        prev[_NEXT] = nxt
        nxt[_PREV] = prev
        entry[_PREV] = entry[_NEXT] = None
        self.count -= 1
        self.weight -= entry[_WEIGHT]

    def move_to_front(self, entry: list[Any]) -> None:
        root = self.root
        first = root[_NEXT]
        if first is entry:
            return
        prev, nxt = entry[_PREV], entry[_NEXT]
        prev[_NEXT] = nxt
        nxt[_PREV] = prev
        entry[_PREV] = root
        entry[_NEXT] = first
        first[_PREV] = entry
        root[_NEXT] = entry

    def last(self) -> list[Any] | None:
        tail: list[Any] = self.root[_PREV]
        return None if tail is self.root else tail

    def __iter__(self) -> Iterator[list[Any]]:
        entry = self.root[_NEXT]
        while entry is not self.root:
            yield entry
            entry = entry[_NEXT]


class _Table:
    """Entries with their limits, TTL, eviction order and counters.

    The lock guards the order (ring or policy) and the counters only. Nothing that can run
    Python code of the user's runs while it is held: dict operations (a key's __hash__/__eq__)
    happen before or after, and entries leaving the table are first unlinked and marked removed
    under the lock, then dropped from the dict and released (their value's destructor may run)
    after it. A lookup that finds a removed or pending entry treats it as absent. This mirrors
    the native module, where the core's entry_table plays the part of the ring and the policy.

    Under "tinylfu" with a limit the order is _tinylfu.TinyLFU, the core's policy ported, run
    with the core's protocol: a new entry is inserted into the policy first, then victim() is
    evicted while a limit is exceeded (the policy never names the entry just inserted while
    another is resident). Its weight units are bytes when max_bytes is set, else one per entry.
    Without any limit nothing is evicted, and the cheaper LRU ring serves (as in the core)."""

    def __init__(
        self,
        max_items: int | None,
        max_bytes: int | None,
        ttl_ns: int | None,
        policy: str,
        weigh: Callable[[object], int] | None,
    ) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.ttl_ns = ttl_ns
        self.policy = policy
        self.weigh = weigh
        self.weigh_value: Callable[[object], int] | None = None  # getsizeof=, values only
        self.on_evict: Callable[..., object] | None = None
        self.data: dict[Any, list[Any]] = {}
        self.lock = threading.Lock()
        _fork.track(self, ("lock",))  # a forked child gets a new one (twincache._fork)
        self.ring = _Ring()  # the order under "lru", or without limits
        self.tinylfu: TinyLFU | None = None
        if policy == "tinylfu" and (max_items is not None or max_bytes is not None):
            self.tinylfu = TinyLFU()
            if max_bytes is not None:
                self.tinylfu.set_capacity(max_bytes)
            else:
                assert max_items is not None
                self.tinylfu.set_capacity(max_items)
                # Under a count limit the policy is sized for its entries at once (up to 65,536;
                # beyond, it grows with the slots), as the core's entry_table does.
                self.tinylfu.expect_entries(min(max_items, 1 << 16))
        self.bytes = 0
        self.reset_stats()

    def reset_stats(self) -> None:
        self.hits = self.misses = self.inserts = self.updates = self.rejected = 0
        self.evicted_items = self.evicted_bytes = self.expired = 0
        self.deleted = self.cleared = 0

    def stats(self) -> Stats:
        with self.lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "inserts": self.inserts,
                "updates": self.updates,
                "rejected": self.rejected,
                "evictions": self.evicted_items + self.evicted_bytes,
                "evicted_items": self.evicted_items,
                "evicted_bytes": self.evicted_bytes,
                "expirations": self.expired,
                "deleted": self.deleted,
                "cleared": self.cleared,
                "items": self._count(),
                "bytes": self.bytes,
            }

    # -- under the lock: the order and the counters only --

    def _count(self) -> int:
        return self.ring.count if self.tinylfu is None else self.tinylfu.size

    def _entries(self) -> list[list[Any]]:
        """The linked entries: under "tinylfu" window, protected, probation; each from the most
        recently used."""
        pol = self.tinylfu
        if pol is None:
            return list(self.ring)
        owner = pol.owner
        return [owner[s] for r in (WINDOW, PROTECTED, PROBATION) for s in pol.mru(r)]

    def _unlink(self, entry: list[Any], removed: list[list[Any]], reason: str) -> None:
        """Takes a linked entry out of the order; the caller forgets it after the lock."""
        if self.tinylfu is None:
            self.ring.unlink(entry)
        else:
            self.tinylfu.remove(entry[_SEGMENT])
        entry[_SEGMENT] = _REMOVED
        entry[_PREV] = reason
        self.bytes -= entry[_WEIGHT]
        removed.append(entry)

    def _touch(self, entry: list[Any]) -> None:
        if self.tinylfu is None:
            self.ring.move_to_front(entry)
        else:
            self.tinylfu.on_access(entry[_SEGMENT])

    def _policy_weight(self, weight: int) -> int:
        return weight if self.max_bytes is not None else 1

    def _evict_to_fit(self, keep: list[Any], removed: list[list[Any]]) -> None:
        """Evicts while a limit is exceeded; `keep` (the entry just stored) stays."""
        if self.tinylfu is not None:
            self._evict_policy(self.tinylfu, keep, removed)
            return
        ring = self.ring
        while True:
            if self.max_items is not None and ring.count > self.max_items:
                items = True
            elif self.max_bytes is not None and self.bytes > self.max_bytes:
                items = False
            else:
                return
            victim = ring.last()
            if victim is keep:
                victim = None if keep[_PREV] is ring.root else keep[_PREV]
            if victim is None:
                return  # only the entry being stored is left; it fits by construction
            self._unlink(victim, removed, "evicted")
            if items:
                self.evicted_items += 1
            else:
                self.evicted_bytes += 1

    def _evict_policy(self, pol: TinyLFU, keep: list[Any], removed: list[list[Any]]) -> None:
        """The core's entry_table protocol: evicts the policy's victims while a limit is
        exceeded. The policy never names the entry inserted last while another is resident;
        an updated entry that it names leaves the policy for the rest of the loop and comes
        back as just inserted (entry_table::make_room)."""
        max_items, max_bytes = self.max_items, self.max_bytes
        kept = False  # the updated entry is out of the policy
        while True:
            if max_items is not None and pol.size + kept > max_items:
                items = True
            elif max_bytes is not None and self.bytes > max_bytes:
                items = False
            else:
                break
            victim = pol.evict()
            if victim is None:
                break  # only the entry being stored is left; it fits by construction
            if victim is keep:
                kept = True
                continue
            victim[_SEGMENT] = _REMOVED
            victim[_PREV] = "evicted"
            self.bytes -= victim[_WEIGHT]
            removed.append(victim)
            if items:
                self.evicted_items += 1
            else:
                self.evicted_bytes += 1
        if kept:
            key_hash = pol.hash_for(pol.key_of(keep[_SEGMENT]))
            keep[_SEGMENT] = pol.insert(keep, key_hash, self._policy_weight(keep[_WEIGHT]))

    def _link(
        self, entry: list[Any], ttl: int | None, key_hash: int, removed: list[list[Any]]
    ) -> None:
        entry[_EXPIRES] = clock_now() + ttl if ttl else 0
        pol = self.tinylfu
        if pol is None:
            entry[_SEGMENT] = 0
            self.ring.push_front(entry)
        else:
            weight = self._policy_weight(entry[_WEIGHT])
            entry[_SEGMENT] = pol.insert(entry, hash64_int(key_hash), weight)
        self.bytes += entry[_WEIGHT]
        self.inserts += 1
        if pol is None:
            self._evict_to_fit(entry, removed)
        else:
            self._evict_policy(pol, entry, removed)

    def _update(
        self,
        entry: list[Any],
        value: object,
        weight: int,
        ttl: int | None,
        removed: list[list[Any]],
    ) -> object:
        """Replaces a live entry's value in place; returns the old value (released later)."""
        pol = self.tinylfu
        self.bytes += weight - entry[_WEIGHT]
        previous = entry[_VALUE]
        entry[_VALUE] = value
        entry[_EXPIRES] = clock_now() + ttl if ttl else 0
        if pol is None:
            ring = self.ring
            ring.weight += weight - entry[_WEIGHT]
            entry[_WEIGHT] = weight
            ring.move_to_front(entry)
        else:
            entry[_WEIGHT] = weight
            pol.on_weight_change(entry[_SEGMENT], self._policy_weight(weight))
        self.updates += 1
        self._evict_to_fit(entry, removed)
        return previous

    # -- after the lock: the dict and the values --

    def _forget(self, removed: list[list[Any]]) -> None:
        """Drops removed entries from the dict (if it still maps their key to them) and lets
        their values go. Runs Python code (__eq__, destructors): never under the lock."""
        on_evict = self.on_evict
        for entry in removed:
            key = entry[_KEY]
            try:
                if self.data.get(key) is entry:
                    self.data.pop(key, None)
            except Exception:  # a raising __eq__: the entry is dead, a stale item is harmless
                pass
            if on_evict is not None:
                _notify(on_evict, key, entry[_VALUE], entry[_PREV])
            entry[_VALUE] = None
        removed.clear()

    def _weight(self, key: object, value: object) -> int:
        if self.weigh is None:
            return entry_overhead_bytes
        if self.weigh_value is not None:
            return self.weigh(key) + _sizeof(self.weigh_value, value) + entry_overhead_bytes
        return self.weigh(key) + self.weigh(value) + entry_overhead_bytes

    @staticmethod
    def _expired(entry: list[Any], now: int) -> bool:
        expires = entry[_EXPIRES]
        return bool(expires) and expires <= now

    # -- public operations --

    def lookup(self, key: Hashable, count: bool = True) -> Any:
        """The live value for key, or _MISSING; counts a hit or a miss unless count is False."""
        entry = self.data.get(key)  # may run the key's __hash__/__eq__: no lock held
        removed: list[list[Any]] = []
        with self.lock:
            if entry is None or entry[_SEGMENT] < 0:
                self.misses += count
                return _MISSING
            if self._expired(entry, clock_now()):
                self._unlink(entry, removed, "expired")
                self.expired += 1
                self.misses += count
                value = _MISSING
            else:
                self._touch(entry)
                self.hits += count
                value = entry[_VALUE]
        self._forget(removed)
        return value

    def peek(self, key: Hashable) -> bool:
        """Whether key is live; no counters, no reordering."""
        entry = self.data.get(key)
        return entry is not None and entry[_SEGMENT] >= 0 and not self._expired(entry, clock_now())

    def peek_value(self, key: Hashable) -> Any:
        """The live value for key or _MISSING; no counters, no reordering, nothing removed."""
        entry = self.data.get(key)
        if entry is None or entry[_SEGMENT] < 0 or self._expired(entry, clock_now()):
            return _MISSING
        return entry[_VALUE]

    def ttl_of(self, key: Hashable) -> float | None:
        """Seconds left for key: math.inf without a TTL, None when absent or expired."""
        entry = self.data.get(key)
        if entry is None or entry[_SEGMENT] < 0:
            return None
        expires = entry[_EXPIRES]
        if not expires:
            return math.inf
        now = clock_now()
        return None if expires <= now else (expires - now) / 1e9

    def store(
        self,
        key: Hashable,
        value: object,
        ttl_ns: int | None = None,
        replace: bool = True,
        key_hash: int | None = None,
    ) -> bool:
        """Inserts or (if replace) updates key. Returns False when the value was refused for its
        weight; raises nothing for that: callers decide (decorators skip, Cache.set raises).
        key_hash: hash(key) if the caller has it (the "tinylfu" sketch counts keys by it)."""
        weight = self._weight(key, value)  # may run __sizeof__: no lock held
        if self.max_bytes is not None and weight > self.max_bytes:
            with self.lock:
                self.rejected += 1
            return False
        if key_hash is None:
            key_hash = 0 if self.tinylfu is None else hash(key)  # may run __hash__: no lock
        ttl = self.ttl_ns if ttl_ns is None else ttl_ns
        removed: list[list[Any]] = []
        previous: object = _MISSING
        fresh: list[Any] = [None, None, key, value, 0, weight, _PENDING]
        while True:
            existing = self.data.setdefault(key, fresh)  # may run __eq__: no lock held
            with self.lock:
                if existing is fresh:
                    if fresh[_SEGMENT] == _PENDING:
                        self._link(fresh, ttl, key_hash, removed)
                    break
                if existing[_SEGMENT] >= 0 and self._expired(existing, clock_now()):
                    self._unlink(existing, removed, "expired")
                    self.expired += 1
                elif existing[_SEGMENT] >= 0:
                    if replace:
                        previous = self._update(existing, value, weight, ttl, removed)
                    break
                elif existing[_SEGMENT] == _PENDING:
                    break  # another thread is storing this key right now: its value wins
            # A removed (or just expired) entry holds the key's place: take it, then link.
            self._forget(removed)
            try:
                if self.data.get(key) is existing:
                    self.data.pop(key, None)
            except Exception:  # setdefault below raises it again if it persists
                pass
        self._forget(removed)
        if previous is not _MISSING and previous is not value and self.on_evict is not None:
            _notify(self.on_evict, key, previous, "replaced")
        del previous  # the replaced value's destructor runs here, outside the lock
        return True

    def remove(self, key: Hashable) -> tuple[bool, Any]:
        """Drops key; returns (was_live, value)."""
        entry = self.data.get(key)  # may run __eq__: no lock held
        if entry is None:
            return False, _MISSING
        removed: list[list[Any]] = []
        with self.lock:
            live, value = self._drop(entry, removed)
        self._forget(removed)
        return live, value

    def try_remove(self, key: Hashable) -> bool:
        """remove(), unless the lock is held: by another thread, or by this one when the garbage
        collector interrupted it inside the lock to run a weakref callback, which waiting would
        deadlock. False then, and nothing is done."""
        entry = self.data.get(key)
        if entry is None:
            return True
        if not self.lock.acquire(blocking=False):
            return False
        removed: list[list[Any]] = []
        try:
            self._drop(entry, removed)
        finally:
            self.lock.release()
        self._forget(removed)
        return True

    def _drop(self, entry: list[Any], removed: list[list[Any]]) -> tuple[bool, Any]:
        """remove()'s work, under the lock: (was_live, value)."""
        if entry[_SEGMENT] < 0:
            return False, _MISSING
        live = not self._expired(entry, clock_now())
        value = entry[_VALUE]
        self._unlink(entry, removed, "deleted" if live else "expired")
        if live:
            self.deleted += 1
        else:
            self.expired += 1
        return live, value if live else _MISSING

    def clear(self) -> None:
        removed: list[list[Any]] = []
        with self.lock:
            for entry in self._entries():
                self._unlink(entry, removed, "cleared")
                self.cleared += 1
            if self.tinylfu is not None:
                self.tinylfu.clear()  # forgets what the sketch learnt, as the core's clear()
        self._forget(removed)

    def expire_all(self) -> list[tuple[Any, Any]]:
        """Reclaims every expired entry now; returns their (key, value) pairs."""
        removed: list[list[Any]] = []
        with self.lock:
            now = clock_now()
            for entry in self._entries():
                if self._expired(entry, now):
                    self._unlink(entry, removed, "expired")
                    self.expired += 1
        pairs = [(entry[_KEY], entry[_VALUE]) for entry in removed]
        self._forget(removed)
        return pairs

    def live_keys(self) -> list[Any]:
        self.expire_all()
        with self.lock:
            return [e[_KEY] for e in self._entries()]

    def __len__(self) -> int:
        with self.lock:
            return self._count()


# --- Eviction callbacks and getsizeof (docs/python.md, "Eviction callbacks") --------------------


class _Unraisable:
    """Reports an exception to sys.unraisablehook, as the native module's PyErr_WriteUnraisable
    does: CPython sends an exception raised by __del__ there (the default hook prints it)."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __del__(self) -> None:
        exc, self.exc = self.exc, None  # type: ignore[assignment]
        raise exc


def _notify(on_evict: Callable[..., object], key: Any, value: Any, why: str) -> None:
    """Calls on_evict(key, value, why); an exception goes to sys.unraisablehook."""
    try:
        on_evict(key, value, why)
    except BaseException as exc:
        _Unraisable(exc)


def _sizeof(getsizeof: Callable[[object], int], value: object) -> int:
    """A value's weight from the user's getsizeof: an int >= 0."""
    size = getsizeof(value)
    if not isinstance(size, int) or size < 0:
        kind = ValueError if isinstance(size, int) else TypeError
        raise kind(f"getsizeof result must be an integer >= 0 (got {size!r})")
    return size


# --- Keys: the same scheme as functools' lru_cache ----------------------------------------------

_KWD_MARK: Final = (object(),)
_FAST_TYPES: Final = frozenset({int, str})
# The call path looks no builtin up at call time: a program may rebind one to a cached function
# (functools' own tests cache `builtins.len`), which would then call itself forever.
_len: Final = len
_hash: Final = hash


class _HashedKey(tuple):  # type: ignore[type-arg]
    """A call's key with its hash computed once (functools' _HashedSeq): the dict operations of
    one call (lookup, store, eviction) reuse it, so each argument's __hash__ runs once per call,
    as with functools. Equal to the plain tuple and hashed like it."""

    def __init__(self, items: tuple[Any, ...]) -> None:
        self.hashvalue = _hash(items)

    def __hash__(self) -> int:
        return self.hashvalue


def _weak_first(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Replaces a hashable, weak-referenceable first argument (an instance, for methods) by a
    weak reference to it: equal and with the same hash while it lives, never keeping it alive.
    The type says whether it hashes (its __hash__ runs once per call, when the key is hashed)."""
    if args:
        first = args[0]
        cls = type(first)
        if cls in _FAST_TYPES or cls.__hash__ is None:
            return args
        try:
            return (weakref.ref(first), *args[1:])
        except TypeError:  # not weak-referenceable
            pass
    return args


async def _ready(value: object) -> object:
    return value


class Memo:
    """A memoized function: the object a decorator returns (functools' wrapper semantics)."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        max_items: int | None,
        max_bytes: int | None,
        ttl_ns: int | None,
        policy: str,
        typed: bool,
        weigh: Callable[[object], int] | None,
        key_fn: Callable[..., Any] | None,
        content_key: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None,
        miss_hook: Callable[[Any, tuple[Any, ...], dict[str, Any]], Any] | None,
        is_async: bool,
        weak_self: bool,
        parameters: dict[str, Any],
    ) -> None:
        self.__wrapped__ = func
        self._func = func
        self._typed = typed
        self._key_fn = key_fn
        self._content_key = content_key
        self._miss_hook = miss_hook
        self._is_async = is_async
        self._weak_self = weak_self
        self._parameters = parameters
        self._no_cache = max_items == 0
        self._table = _Table(
            None if max_items == 0 else max_items, max_bytes, ttl_ns, policy, weigh
        )
        # Called with each stored key whose first element is a weak reference (twincache._api).
        self._watch_hook: Callable[[tuple[Any, ...]], None] | None = None

    # -- keys --

    def _make_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._key_fn is not None:
            key = self._key_fn(*args, **kwargs)
            try:
                if type(key) is tuple:
                    return _HashedKey(key)
                _hash(key)
            except TypeError:
                if self._content_key is None:
                    raise
                return self._content_key((key,), {})
            return key
        if not kwargs and _len(args) == 1 and type(args[0]) in _FAST_TYPES:
            return args[0]  # typed too: any other typed key is a tuple, so it cannot collide
        key_args = _weak_first(args) if self._weak_self else args
        items = key_args
        if kwargs:
            items += _KWD_MARK
            for item in kwargs.items():
                items += item
        if self._typed:
            items += tuple(type(v) for v in args)
            if kwargs:
                items += tuple(type(v) for v in kwargs.values())
        try:
            return _HashedKey(items)
        except TypeError:
            if self._content_key is None:
                raise
            return self._content_key(key_args, kwargs)

    # -- the call path --

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._no_cache:
            with self._table.lock:
                self._table.misses += 1
            return self._func(*args, **kwargs)
        key = self._make_key(args, kwargs)
        value = self._table.lookup(key)
        if value is not _MISSING:
            return _ready(value) if self._is_async else value
        if self._miss_hook is not None:
            return self._miss_hook(key, args, kwargs)
        value = self._func(*args, **kwargs)
        self._store(key, value)
        return value

    def _peek(self, key: Any) -> Any:
        """The live value for key or _MISSING, without counting a hit or a miss."""
        return self._table.lookup(key, count=False)

    def _set_eviction(
        self, on_evict: Callable[[Any, Any, str], object] | None, getsizeof: Any
    ) -> None:
        """Sets on_evict and getsizeof (None: unset); twincache._api checked them."""
        self._table.on_evict = on_evict
        self._table.weigh_value = getsizeof

    def _watch(self, key: Any) -> None:
        """A method's entry (key starts with a weak reference to its instance): tells the
        instance watcher, which drops the entry when the instance dies."""
        if (
            self._weak_self
            and self._watch_hook is not None
            and isinstance(key, tuple)
            and key
            and type(key[0]) is weakref.ref
        ):
            self._watch_hook(key)

    def _store(self, key: Any, value: object) -> None:
        """Caches value for key unless key is already live (functools keeps the first result)."""
        if self._no_cache:
            return
        self._table.store(key, value, replace=False)
        self._watch(key)

    def _put(self, key: Any, value: object, ttl_ns: int | None) -> bool:
        """Stores value for key, replacing a live entry, with its own TTL (None: the table's):
        the Redis tier's L1 (twincache._redis_function) and the freshness records
        (twincache._fresh). False when refused for its weight (or without a cache)."""
        if self._no_cache:
            return False
        stored = self._table.store(key, value, ttl_ns, replace=True)
        self._watch(key)
        return stored

    @property
    def _fresh_hook(self) -> Any:
        return self.__dict__.get("_fresh_hook_fn")

    @_fresh_hook.setter
    def _fresh_hook(self, hook: Any) -> None:
        # A fresh hook switches the call to _FreshMemo's; the plain call never looks for it.
        self.__dict__["_fresh_hook_fn"] = hook
        self.__class__ = Memo if hook is None else _FreshMemo

    def _discard(self, key: Any) -> bool:
        """Drops key; whether it was live."""
        live, _ = self._table.remove(key)
        return live

    def _try_discard(self, key: Any) -> bool:
        """Drops key unless the table's lock is held (see _Table.try_remove): whether it ran."""
        return self._table.try_remove(key)

    def _key(self, *args: Any, **kwargs: Any) -> Any:
        """The key of a call (the entry invalidate() drops)."""
        return self._make_key(args, kwargs)

    # -- the functools surface --

    def cache_info(self) -> CacheInfo:
        t = self._table
        return CacheInfo(t.hits, t.misses, self._parameters["maxsize"], _len(t))

    def cache_clear(self) -> None:
        self._table.clear()
        self._table.reset_stats()

    def _clear(self) -> None:
        """Drops every entry; counters are kept (the Redis tier's L1 flush)."""
        self._table.clear()

    def cache_parameters(self) -> dict[str, Any]:
        return dict(self._parameters)

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        live, _ = self._table.remove(self._make_key(args, kwargs))
        return live

    def stats(self) -> Stats:
        return self._table.stats()

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __reduce__(self) -> str:
        return str(getattr(self, "__qualname__", ""))

    def __copy__(self) -> Memo:
        return self

    def __deepcopy__(self, memo: object) -> Memo:
        return self

    def __repr__(self) -> str:
        return f"<twincache wrapper of {self._func!r}>"


class _FreshMemo(Memo):
    """A memoized function with freshness options (twincache._fresh): its entries hold records,
    tuples (value, check_at_ns, ...). A hit before check_at returns the value; any other call
    goes to the fresh hook (key, args, kwargs, record or None, now_ns). As memo.cpp's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._no_cache:
            return Memo.__call__(self, *args, **kwargs)
        key = self._make_key(args, kwargs)
        record = self._table.lookup(key)
        now = clock_now()
        if record is _MISSING:
            record = None
        elif now < record[1]:
            return _ready(record[0]) if self._is_async else record[0]
        return self.__dict__["_fresh_hook_fn"](key, args, kwargs, record, now)


class CacheBase(Generic[K, V]):
    """The storage behind twincache.Cache (which adds the MutableMapping surface). Generic for
    the type checker only: Cache[K, V]'s methods are these."""

    __slots__ = ("_table",)

    def __init__(
        self,
        *,
        max_items: int | None,
        max_bytes: int | None,
        ttl_ns: int | None,
        policy: str,
        weigh: Callable[[object], int] | None,
        on_evict: Callable[..., object] | None = None,
        getsizeof: Callable[[Any], int] | None = None,
    ) -> None:
        self._table = _Table(max_items, max_bytes, ttl_ns, policy, weigh)
        self._table.on_evict = on_evict
        self._table.weigh_value = getsizeof

    def __getitem__(self, key: K) -> V:
        value: V = self._table.lookup(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    @overload
    def get(self, key: K, default: None = None, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...
    def get(self, key: K, default: Any = None) -> Any:
        value = self._table.lookup(key)
        return default if value is _MISSING else value

    def _set(self, key: K, value: V, ttl_ns: int | None) -> bool:
        return self._table.store(key, value, ttl_ns)

    def __setitem__(self, key: K, value: V) -> None:
        if not self._table.store(key, value):
            self._refuse(key, value)

    def _refuse(self, key: Hashable, value: object) -> None:
        """Raises the core's message for an entry over max_bytes (entry_table.cpp)."""
        weigh = self._table.weigh
        assert weigh is not None and self._table.max_bytes is not None
        key_bytes, value_bytes = weigh(key), weigh(value)
        total = key_bytes + value_bytes + entry_overhead_bytes
        raise ValueError(
            f"entry size (key {key_bytes} + value {value_bytes} + overhead "
            f"{entry_overhead_bytes} bytes) must be at most max_bytes = "
            f"{self._table.max_bytes} bytes (got {total} bytes)"
        )

    def __delitem__(self, key: K) -> None:
        live, _ = self._table.remove(key)
        if not live:
            raise KeyError(key)

    def _pop(self, key: K) -> Any:
        _, value = self._table.remove(key)
        return value

    def __contains__(self, key: object) -> bool:
        try:
            return self._table.peek(key)
        except TypeError:
            return False

    def __len__(self) -> int:
        self._table.expire_all()
        return len(self._table)

    def _keys(self) -> list[K]:
        return self._table.live_keys()

    @overload
    def peek(self, key: K, default: None = None, /) -> V | None: ...
    @overload
    def peek(self, key: K, default: V | T, /) -> V | T: ...
    def peek(self, key: K, default: Any = None) -> Any:
        """The value or default; no hit, miss or recency counted."""
        value = self._table.peek_value(key)
        return default if value is _MISSING else value

    def ttl_of(self, key: K) -> float | None:
        """Seconds left (math.inf without a TTL), None when absent."""
        return self._table.ttl_of(key)

    def expire(self) -> list[tuple[K, V]]:
        """Drops every expired entry now; returns the (key, value) pairs dropped."""
        return self._table.expire_all()

    def clear(self) -> None:
        self._table.clear()

    def stats(self) -> Stats:
        return self._table.stats()


__all__ = [
    "CacheBase",
    "CacheInfo",
    "Memo",
    "clock_advance",
    "clock_now",
    "clock_set_manual",
    "clock_set_real",
    "default_policy",
    "encode_key",
    "entry_overhead_bytes",
    "parse_limit",
    "parse_policy",
    "parse_ttl",
]
