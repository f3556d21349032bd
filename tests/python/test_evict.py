"""Eviction callbacks (on_evict), reads that are not use (peek, ttl_of, `in`), and sizes
(getsizeof, maxsize/currsize, expire) on twincache.Cache and the configured decorator: issue 18,
the cache-level half. Time is the manual clock (the `clock` fixture), never a sleep. The suite
runs native and pure (TWINCACHE_PURE=1) alike."""

from __future__ import annotations

import math
import sys
import threading
from collections import Counter
from typing import Any

import pytest

import twincache
from twincache._testing import ManualClock


class Log:
    """An on_evict that records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, str]] = []
        self.threads: list[int] = []

    def __call__(self, key: Any, value: Any, reason: str) -> None:
        self.calls.append((key, value, reason))
        self.threads.append(threading.get_ident())

    def reasons(self) -> Counter[str]:
        return Counter(r for _, _, r in self.calls)


# --- on_evict: one call per removal, with its reason ----------------------------------------------


def test_evicted_for_maxsize() -> None:
    log = Log()
    c = twincache.Cache(maxsize=2, policy="lru", on_evict=log)
    c["a"], c["b"], c["c"] = 1, 2, 3
    assert log.calls == [("a", 1, "evicted")]
    assert "a" not in c and c.stats()["evictions"] == 1


def test_evicted_for_max_bytes() -> None:
    log = Log()
    c = twincache.Cache(max_bytes=1000, policy="lru", on_evict=log)
    c["a"] = b"x" * 400
    c["b"] = b"y" * 400  # the two together weigh over 1000 bytes
    assert log.calls == [("a", b"x" * 400, "evicted")]
    assert c.stats()["evicted_bytes"] == 1


def test_expired_on_read(clock: ManualClock) -> None:
    log = Log()
    c = twincache.Cache(ttl=10, on_evict=log)
    c["k"] = "v"
    clock.advance(9.999)
    assert c.get("k") == "v" and log.calls == []
    clock.advance(0.001)  # now == set time + ttl: expired
    assert c.get("k") is None
    assert log.calls == [("k", "v", "expired")]
    assert c.get("k") is None and len(log.calls) == 1  # once, not once per read


def test_expired_reclaimed_later_is_reported_by_the_call_that_reclaims(clock: ManualClock) -> None:
    """Nobody reads the expired entries: they are reported by the call that reclaims them
    (len(), iteration, expire()), on that call's thread."""
    log = Log()
    c = twincache.Cache(ttl=1, on_evict=log)
    for i in range(5):
        c[i] = i * 10
    clock.advance(2)
    assert log.calls == []  # nothing is reported behind the owner's back
    worker = threading.Thread(target=lambda: len(c))
    worker.start()
    worker.join()
    assert sorted(log.calls) == [(i, i * 10, "expired") for i in range(5)]
    assert set(log.threads) == {worker.ident}
    assert c.stats()["expirations"] == 5


def test_deleted_and_popped() -> None:
    log = Log()
    c = twincache.Cache(on_evict=log)
    c["a"], c["b"] = 1, 2
    del c["a"]
    assert c.pop("b") == 2
    assert c.pop("zz", None) is None  # absent: nothing to report
    assert log.calls == [("a", 1, "deleted"), ("b", 2, "deleted")]


def test_pop_of_an_expired_entry_reports_expired(clock: ManualClock) -> None:
    log = Log()
    c = twincache.Cache(ttl=1, on_evict=log)
    c["a"] = 1
    clock.advance(1)
    assert c.pop("a", "gone") == "gone"
    assert log.calls == [("a", 1, "expired")]


def test_replaced_only_when_the_value_changes() -> None:
    log = Log()
    c = twincache.Cache(on_evict=log)
    first, second = ["first"], ["second"]
    c["k"] = first
    c["k"] = first  # the same object again: nothing left the cache
    assert log.calls == []
    c.set("k", second, ttl=5)
    assert log.calls == [("k", first, "replaced")]
    assert c["k"] is second


def test_set_over_an_expired_entry_reports_expired_not_replaced(clock: ManualClock) -> None:
    log = Log()
    c = twincache.Cache(ttl=1, on_evict=log)
    c["k"] = 1
    clock.advance(1)
    c["k"] = 2
    assert log.calls == [("k", 1, "expired")]


def test_clear_reports_every_entry_once() -> None:
    log = Log()
    c = twincache.Cache(on_evict=log)
    for i in range(10):
        c[i] = str(i)
    c.clear()
    assert sorted(log.calls) == [(i, str(i), "cleared") for i in range(10)]
    c.clear()  # empty: nothing more
    assert len(log.calls) == 10 and len(c) == 0


@pytest.mark.parametrize("policy", ["lru", "tinylfu"])
def test_exactly_once_per_removal_matches_the_counters(clock: ManualClock, policy: str) -> None:
    """A mixed workload: every removal the counters count is reported exactly once, and every
    value that went in and is no longer in came out through on_evict (or is still there)."""
    log = Log()
    c = twincache.Cache(maxsize=40, ttl=5, policy=policy, on_evict=log)  # type: ignore[arg-type]
    written: list[tuple[int, int]] = []
    serial = 0
    for step in range(3000):
        key = (step * 7919) % 97
        op = step % 11
        if op < 6:
            serial += 1
            c[key] = serial
            written.append((key, serial))
        elif op < 8:
            c.get(key)
        elif op == 8:
            c.pop(key, None)
        elif op == 9:
            clock.advance(0.7)
        elif step % 500 == 10:
            c.clear()
    c.expire()  # entries expired but not reclaimed yet are reported now
    stats = c.stats()
    reasons = log.reasons()
    assert reasons["evicted"] == stats["evictions"]
    assert reasons["expired"] == stats["expirations"]
    assert reasons["deleted"] == stats["deleted"]
    assert reasons["cleared"] == stats["cleared"]
    assert reasons["replaced"] == stats["updates"]  # every write is a new value
    reported = Counter((k, v) for k, v, _ in log.calls)
    assert max(reported.values()) == 1  # no value reported twice
    alive = {(k, c.peek(k)) for k in range(97) if c.peek(k) is not None}
    assert set(written) == set(reported) | alive
    assert not set(reported) & alive


# --- the callback's own behaviour -----------------------------------------------------------------


def test_an_exception_in_on_evict_goes_to_unraisablehook(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def boom(key: Any, value: Any, reason: str) -> None:
        raise RuntimeError(f"boom {key} {reason}")

    c = twincache.Cache(maxsize=1, policy="lru", on_evict=boom)
    c["a"] = 1
    c["b"] = 2  # evicts a; the callback raises
    assert [str(u.exc_value) for u in seen] == ["boom a evicted"]
    assert isinstance(seen[0].exc_value, RuntimeError)
    assert c["b"] == 2 and "a" not in c and len(c) == 1  # the cache is intact
    c["b"] = 3  # replaced: raises again, reported again, the write stands
    assert c["b"] == 3 and len(seen) == 2


def test_reentrant_callback_reads_and_writes_the_cache() -> None:
    c: twincache.Cache[str, int] = twincache.Cache(maxsize=3, policy="lru")
    seen: list[tuple[str, bool, int | None, int]] = []

    def on_evict(key: str, value: int, reason: str) -> None:
        # The entry is gone by now; the rest of the cache is consistent and usable.
        seen.append((key, key in c, c.get(key), len(c)))
        if reason == "deleted":
            c["after-" + key] = value  # a write from inside the callback (evicts in turn)

    c2 = twincache.Cache(maxsize=3, policy="lru", on_evict=on_evict)
    c = c2
    c["a"], c["b"], c["c"] = 1, 2, 3
    c["d"] = 4  # evicts a
    del c["b"]  # the callback writes after-b
    assert seen[0] == ("a", False, None, 3)
    assert seen[1] == ("b", False, None, 2)
    assert c.get("after-b") == 2
    assert sorted(c) == ["after-b", "c", "d"]
    st = c.stats()
    assert st["items"] == 3 and st["deleted"] == 1 and st["evictions"] == 1


def test_reentrant_callback_that_evicts_again() -> None:
    """A callback writing into a full cache causes another eviction (and another callback)."""
    log: list[tuple[Any, str]] = []
    holder: dict[str, Any] = {}

    def on_evict(key: Any, value: Any, reason: str) -> None:
        log.append((key, reason))
        if isinstance(key, int) and key < 3:
            holder["c"][key + 100] = value

    c = twincache.Cache(maxsize=2, policy="lru", on_evict=on_evict)
    holder["c"] = c
    for i in range(4):
        c[i] = i
    assert len(c) == 2
    assert log.count((0, "evicted")) == 1
    assert all(r == "evicted" for _, r in log)
    assert c.stats()["items"] == 2


def test_no_callback_when_the_cache_itself_is_collected() -> None:
    log = Log()
    c = twincache.Cache(on_evict=log)
    c["a"] = 1
    del c
    assert log.calls == []


# --- decorators -----------------------------------------------------------------------------------


def test_decorator_on_evict_every_reason(clock: ManualClock) -> None:
    log = Log()

    @twincache.cache(maxsize=2, ttl=10, policy="lru", on_evict=log)
    def square(x: int) -> int:
        return x * x

    square(1), square(2), square(3)  # evicts 1
    assert log.calls == [(1, 1, "evicted")]
    square.invalidate(2)
    assert log.calls[-1] == (2, 4, "deleted")
    clock.advance(10)
    square(3)  # expired: reported, then computed again
    assert log.calls[-1] == (3, 9, "expired")
    square.cache_clear()
    assert log.calls[-1] == (3, 9, "cleared")
    assert log.reasons() == {"evicted": 1, "deleted": 1, "expired": 1, "cleared": 1}


def test_decorator_on_evict_gets_the_key_functions_result() -> None:
    log = Log()

    @twincache.cache(maxsize=1, key=lambda a, b: f"{a}:{b}", on_evict=log)
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 2), add(3, 4)
    assert log.calls == [("1:2", 3, "evicted")]


def test_decorator_getsizeof() -> None:
    @twincache.cache(max_bytes=2000, getsizeof=len)
    def blob(n: int) -> bytes:
        return b"x" * n

    blob(100)
    assert blob.stats()["bytes"] == twincache.weigh(100) + 100 + 64
    with pytest.raises(TypeError, match=r"getsizeof needs max_bytes"):
        twincache.cache(getsizeof=len)


@pytest.mark.parametrize("option", ["on_evict", "getsizeof"])
def test_options_the_disk_tier_does_not_take(option: str) -> None:
    with pytest.raises(TypeError, match=rf"backend='disk' does not take {option}"):
        twincache.cache(backend="disk", **{option: len})  # type: ignore[call-overload]


# --- reads that are not use -----------------------------------------------------------------------


def test_peek_counts_nothing_and_moves_nothing() -> None:
    c = twincache.Cache(maxsize=2, policy="lru")
    c["a"], c["b"] = 1, 2
    before = c.stats()
    assert c.peek("a") == 1
    assert c.peek("zz") is None and c.peek("zz", "dflt") == "dflt"
    assert c.stats() == before  # no hit, no miss
    c["c"] = 3  # a was peeked, not used: still the least recently used, evicted
    assert "a" not in c and "b" in c


def test_peek_of_an_expired_entry(clock: ManualClock) -> None:
    log = Log()
    c = twincache.Cache(ttl=1, on_evict=log)
    c["a"] = 1
    clock.advance(1)
    assert c.peek("a", "none") == "none"
    assert c.stats()["misses"] == 0 and log.calls == []  # a read-only look: nothing removed


def test_in_is_use_free() -> None:
    c = twincache.Cache(maxsize=2, policy="lru")
    c["a"], c["b"] = 1, 2
    before = c.stats()
    assert "a" in c and "zz" not in c
    assert c.stats() == before
    c["c"] = 3
    assert "a" not in c  # `in` did not refresh a


def test_ttl_of(clock: ManualClock) -> None:
    c = twincache.Cache(ttl=10)
    assert c.ttl_of("absent") is None
    c["a"] = 1
    assert c.ttl_of("a") == pytest.approx(10)
    clock.advance(2.5)
    assert c.ttl_of("a") == pytest.approx(7.5)
    c.set("b", 2, ttl=1)
    assert c.ttl_of("b") == pytest.approx(1)
    clock.advance(7.5)
    assert c.ttl_of("a") is None  # expired
    before = c.stats()
    assert c.ttl_of("b") is None
    assert c.stats() == before  # counts nothing
    plain = twincache.Cache()
    plain["x"] = 1
    assert plain.ttl_of("x") == math.inf


def test_ttl_of_an_unhashable_key_raises_typeerror() -> None:
    with pytest.raises(TypeError):
        twincache.Cache().ttl_of([])  # type: ignore[arg-type]


# --- sizes ----------------------------------------------------------------------------------------


def test_expire_returns_what_it_dropped(clock: ManualClock) -> None:
    log = Log()
    c = twincache.Cache(ttl=5, on_evict=log)
    c["a"], c["b"] = 1, 2
    c.set("long", 3, ttl=100)
    assert c.expire() == []
    clock.advance(5)
    assert sorted(c.expire()) == [("a", 1), ("b", 2)]
    assert sorted(log.calls) == [("a", 1, "expired"), ("b", 2, "expired")]
    assert c.expire() == [] and list(c) == ["long"]
    assert c.stats()["expirations"] == 2
    assert twincache.Cache().expire() == []  # no TTL at all


def test_maxsize_and_currsize(clock: ManualClock) -> None:
    c = twincache.Cache(maxsize=3, ttl=1)
    assert c.maxsize == 3 and c.currsize == 0
    c["a"], c["b"] = 1, 2
    assert c.currsize == 2
    clock.advance(1)
    assert c.currsize == 0  # expired entries are not counted
    assert twincache.Cache().maxsize is None


def test_getsizeof_weighs_values_against_max_bytes() -> None:
    log = Log()
    key_weight = twincache.weigh("a")
    budget = 2 * (key_weight + 10 + 64)
    c = twincache.Cache(max_bytes=budget, policy="lru", getsizeof=len, on_evict=log)
    c["a"] = "0123456789"
    assert c.stats()["bytes"] == key_weight + 10 + 64
    c["b"] = "abcdefghij"
    assert log.calls == []  # exactly the budget
    c["c"] = "x"
    assert log.calls == [("a", "0123456789", "evicted")]
    with pytest.raises(ValueError, match=r"must be at most max_bytes"):
        c["big"] = "y" * budget
    assert "big" not in c


@pytest.mark.parametrize(
    ("result", "error", "message"),
    [
        (-1, ValueError, "getsizeof result must be an integer >= 0 (got -1)"),
        ("3", TypeError, "getsizeof result must be an integer >= 0 (got '3')"),
    ],
)
def test_a_bad_getsizeof_result_leaves_the_cache_unchanged(
    result: Any, error: type[Exception], message: str
) -> None:
    c = twincache.Cache(max_bytes=10_000, getsizeof=lambda v: result if v == "bad" else 1)
    c["ok"] = "good"
    before = c.stats()
    with pytest.raises(error) as info:
        c["k"] = "bad"
    assert str(info.value) == message
    assert "k" not in c and c.stats() == before


def test_bad_options() -> None:
    with pytest.raises(TypeError, match=r"^on_evict must be a callable or None \(got int\)$"):
        twincache.Cache(on_evict=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^getsizeof must be a callable or None \(got str\)$"):
        twincache.Cache(max_bytes=100, getsizeof="len")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^getsizeof needs max_bytes"):
        twincache.Cache(maxsize=10, getsizeof=len)
    with pytest.raises(TypeError, match=r"^on_evict must be a callable or None \(got int\)$"):
        twincache.cache(on_evict=1)  # type: ignore[call-overload]


def test_exactly_once_under_threads() -> None:
    """Four threads write, read and delete the same keys: every removal the counters count is
    reported once, and every value written is either reported or still in the cache."""
    reasons: Counter[str] = Counter()
    seen: set[tuple[int, int]] = set()
    twice: list[tuple[int, int]] = []
    guard = threading.Lock()

    def on_evict(key: int, value: int, reason: str) -> None:
        with guard:
            reasons[reason] += 1
            if (key, value) in seen:
                twice.append((key, value))
            seen.add((key, value))

    c = twincache.Cache(maxsize=64, on_evict=on_evict)
    counter = iter(range(10**9))
    start = threading.Barrier(4)

    def work(seed: int) -> None:
        start.wait()
        for step in range(3000):
            key = (step * 31 + seed * 17) % 200
            if step % 5 == 4:
                c.pop(key, None)
            elif step % 5 == 3:
                c.get(key)
            else:
                c[key] = next(counter)  # every value is new: replaced when the key is live

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = c.stats()
    assert twice == []
    assert reasons["evicted"] == st["evictions"]
    assert reasons["deleted"] == st["deleted"]
    assert reasons["replaced"] == st["updates"]
    assert len(seen) + len(c) == st["inserts"] + st["updates"]
