"""fork() safety for twincache's Python-level state (docs/persistence.md, "fork").

A process that forks while other threads use a cache hands the child copies of every lock those
threads held, and of tables naming computations the child does not run. Objects that own such
state call track(); one set of os.register_at_fork handlers then, for every live tracked object:

- before the fork, takes its locks (each waited for at most its `wait_s`, so a fork never waits
  without bound), so the child inherits consistent state and no half-done SQLite call;
- in the parent, releases them;
- in the child, replaces each lock with a new one and calls the object's `child` function
  (reopen a connection lazily, forget in-flight tables...).

The native core does the same for its own objects with pthread_atfork (cleaner.hpp,
disk_store.hpp). Objects are held weakly: tracking keeps nothing alive.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any


class _Spec:
    __slots__ = ("child", "locks", "wait_s")

    def __init__(
        self, locks: tuple[str, ...], wait_s: float, child: Callable[[Any], None] | None
    ) -> None:
        self.locks = locks
        self.wait_s = wait_s
        self.child = child


# id(tracked object) -> (a weak reference to it, what to do with it at fork). Keyed by identity:
# tracked objects may be unhashable, or equal to one another (two empty tables).
_RLOCK = type(threading.RLock())
_tracked: dict[int, tuple[weakref.ref[Any], _Spec]] = {}
_held: list[Any] = []  # the locks the `before` handler took, released in the parent


def track(
    obj: Any,
    locks: tuple[str, ...] = (),
    *,
    wait_s: float = 1.0,
    child: Callable[[Any], None] | None = None,
) -> None:
    """Makes obj fork-safe: `locks` names its attributes holding a threading.Lock or RLock,
    `wait_s` bounds the wait for each before a fork, `child` runs in the child after its locks
    are new (it must not use anything the parent's threads may have been using)."""
    key = id(obj)

    def forget(ref: weakref.ref[Any]) -> None:
        if (entry := _tracked.get(key)) is not None and entry[0] is ref:
            del _tracked[key]

    _tracked[key] = (weakref.ref(obj, forget), _Spec(locks, wait_s, child))


def _live() -> list[tuple[Any, _Spec]]:
    """The live tracked objects; those whose locks may be held long (the disk stores: a SQLite
    busy wait) first."""
    live = [(ref(), spec) for ref, spec in list(_tracked.values())]
    return sorted(((o, s) for o, s in live if o is not None), key=lambda item: -item[1].wait_s)


def _before() -> None:
    for obj, spec in _live():
        for name in spec.locks:
            lock = getattr(obj, name, None)
            if lock is not None and lock.acquire(timeout=spec.wait_s):
                _held.append(lock)


def _after_in_parent() -> None:
    while _held:
        _held.pop().release()


def _after_in_child() -> None:
    _held.clear()  # the child renews every lock instead of releasing it
    for obj, spec in _live():
        for name in spec.locks:
            old = getattr(obj, name, None)
            if old is not None:
                setattr(
                    obj, name, threading.RLock() if isinstance(old, _RLOCK) else threading.Lock()
                )
        if spec.child is not None:
            spec.child(obj)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(
        before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child
    )

__all__ = ["track"]
