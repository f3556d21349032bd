"""L1 coherence for the Redis tier (issue 17; docs/redis.md, "Coherence"): Redis client-side
caching in broadcast mode on namespace prefixes, over RESP2. One listener per Redis server in a
process (same host, port or socket path, db, user, TLS: the same connection parameters, whether
from a url or a client passed in), shared by every coherent cache and decorated function of every
namespace on it: a dedicated connection that asks its own client id, turns tracking on with
`CLIENT TRACKING on REDIRECT <its id> BCAST PREFIX <p1> PREFIX <p2> ...`, subscribes to
`__redis__:invalidate`, and hands each invalidation message (the names written, or nil for a
flush) to the caches whose prefix the names start with, from a daemon thread.

Adding a prefix: a RESP2 connection that has subscribed accepts no CLIENT TRACKING (Redis answers
"only (P|S)SUBSCRIBE / ... / PING / QUIT / RESET are allowed in this context"), so a new prefix
makes the thread open a second connection tracking every prefix (make before break), then PING
the old one and read it up to the PONG (every message queued on it before the new connection
tracked is then handled), then close the old one: no message is lost, no L1 is flushed. Redis
refuses overlapping prefixes on one connection, so the connection tracks the shortest of
overlapping ones (`a:` covers `a:b:`) and messages are filtered per cache by prefix. A prefix
whose last cache closed stays tracked (its messages are dropped) until the connection is next
made; the listener stops, closing its connection, when its last cache closes or is collected.

While a prefix is not tracked by a subscribed connection (starting, reconnecting, Redis down, in
a forked child) its caches are not `ready`: they then keep new L1 entries for 1 s at most
(twincache._redis.DETACHED_NS), and every loss of the
connection flushes their L1s, since invalidations may have been missed meanwhile. A connection
that drops silently (no reset: a partition, a blackhole) is found by a PING every second that
must be answered within max(2 s, 4 x the socket timeout), as Node's listener does.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import select
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Final

from . import _fork

CHANNEL: Final = "__redis__:invalidate"
RETRY_DELAYS: Final = (0.05, 2.0)  # reconnect backoff (min, max) seconds, with jitter
POLL_S: Final = 0.5  # the longest the thread waits on its sockets before looking at its timers
HEARTBEAT_S: Final = 1.0  # a PING after this long without anything from the server
PING_TIMEOUT_S: Final = 2.0  # the least time a PING is given to be answered


class _Registry(dict[Any, "Listener"]):
    """server identity -> its listener. In a forked child it is emptied (the parent's threads
    are not there) and its lock renewed (twincache._fork)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()  # guards the table and every listener's subscriber counts


_listeners = _Registry()
_fork.track(_listeners, ("lock",), child=_Registry.clear)


def cover(prefixes: Iterable[str]) -> list[str]:
    """The prefixes a connection tracks for `prefixes`: the shortest of those that overlap
    (one is a prefix of another), since Redis refuses overlapping ones on one connection."""
    kept: list[str] = []
    for p in sorted(set(prefixes)):  # a prefix sorts right before what it covers
        if not (kept and p.startswith(kept[-1])):
            kept.append(p)
    return kept


class _Prefix:
    """The caches of one prefix on a listener."""

    def __init__(self) -> None:
        self.ready = threading.Event()  # set while a subscribed connection tracks the prefix
        # id(owner) -> (a weak reference to it, its callback); owners may be unhashable.
        self.subscribers: dict[int, tuple[weakref.ref[Any], Callable[..., None]]] = {}


class Subscription:
    """One cache's place on a listener: `ready` (an Event) tells whether its prefix is tracked
    by a subscribed connection; close() (or the owner's collection) leaves."""

    def __init__(self, listener: Listener, prefix: str, state: _Prefix, key: int) -> None:
        self.listener = listener
        self.prefix = prefix
        self._state = state
        self.key = key  # id() of the owner
        self.owner_ref: Callable[[], Any] = lambda: None
        self.seen = 0  # connection attempts started before it joined
        self.closed = False

    @property
    def ready(self) -> threading.Event:
        return self._state.ready  # a new one in a forked child (Listener._forked)

    def wait(self, timeout: float) -> bool:
        """Whether the prefix is tracked, waiting up to `timeout` seconds for it or for the
        first connection attempt that includes it to end (a refused connection ends it at
        once): construction neither fails nor hangs while Redis is down."""
        return self.listener._wait_settled(self, timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.listener._leave(self)


class Listener:
    """One invalidation connection and its thread, for one server."""

    def __init__(self, ident: Any, make_connection: Callable[[], Any], ping_timeout: float) -> None:
        self.ident = ident
        self.make_connection = make_connection
        self.ping_timeout = ping_timeout  # seconds a heartbeat PING may go unanswered
        self.pid = os.getpid()
        self.messages = 0  # invalidation messages received
        self.flushes = 0  # times every subscriber's L1 was flushed (lost connection, flush)
        self.connections = 0  # successful (re)subscriptions, swaps for a new prefix included
        self.started = 0  # connection attempts started (guarded by _lock)
        self.ended = 0  # the number of the latest attempt that ended (guarded by _lock)
        self._dead: list[Subscription] = []  # subscriptions of collected caches, to close
        self._prefixes: dict[str, _Prefix] = {}  # guarded by _lock
        self._tracked: list[str] = []  # what the subscribed connection tracks (thread only)
        self._lock = threading.Lock()  # guards _prefixes and each _Prefix's subscribers
        self._settled = threading.Condition(self._lock)  # notified when an attempt ends
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()  # wakes the thread for a new prefix
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        _fork.track(self, child=Listener._forked)
        self._thread = threading.Thread(
            target=self._run, name="twincache-invalidate", daemon=True
        )  # started by subscribe(), once its first cache joined

    def _forked(self) -> None:
        """In a forked child: the thread is gone (and may have held these at the fork), so the
        caches that use this listener stay not ready (no L1) for good; new caches of the child
        get a listener of their own (listener())."""
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._stop.set()
        for state in self._prefixes.values():
            state.ready = threading.Event()

    # --- the caches' side (their threads) ---------------------------------------------------

    def _join(
        self, owner: Any, prefix: str, callback: Callable[[Any, list[str] | None], None]
    ) -> Subscription:
        """callback(owner, names) for each message naming entries under `prefix` (names None:
        a flush) while owner lives (held weakly) and until the subscription's close()."""
        with self._lock:
            state = self._prefixes.get(prefix)
            if state is None:
                state = self._prefixes[prefix] = _Prefix()
            sub = Subscription(self, prefix, state, id(owner))
            sub.seen = self.started
            dead = self._dead

            def forget(ref: weakref.ref[Any]) -> None:
                # Any thread, at any allocation (the collector): no lock taken here; the
                # listener's thread (or the next subscribe) closes it.
                dead.append(sub)
                self._wake()

            state.subscribers[sub.key] = (weakref.ref(owner, forget), callback)
        self._wake()
        return sub

    def _reap(self) -> None:
        """Closes the subscriptions of collected caches."""
        while self._dead:
            self._dead.pop().close()

    def _leave(self, sub: Subscription) -> None:
        with _listeners.lock, self._lock:
            state = self._prefixes.get(sub.prefix)
            if state is not None:
                entry = state.subscribers.get(sub.key)
                if entry is not None and entry[0]() in (None, sub.owner_ref()):
                    del state.subscribers[sub.key]
                if not state.subscribers:
                    del self._prefixes[sub.prefix]
            last = not self._prefixes
            if last and _listeners.get(self.ident) is self:
                del _listeners[self.ident]
        if last:
            self.stop()

    def _wait_settled(self, sub: Subscription, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._settled:
            while not sub.ready.is_set() and self.ended <= sub.seen and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._settled.wait(left)
        return sub.ready.is_set()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake is pending) or closed
            self._wake_w.send(b"x")

    def stop(self) -> None:
        self._stop.set()
        self._wake()

    # --- the thread -------------------------------------------------------------------------

    def _wanted(self, attempt: bool = False) -> list[str]:
        """The prefixes to track; `attempt`: a connection attempt for them starts."""
        self._reap()
        with self._lock:
            if attempt:
                self.started += 1
            return cover(self._prefixes)

    def _dispatch(self, names: list[str] | None, only: Iterable[str] | None = None) -> None:
        """names to the caches of each prefix they fall under (None: to every cache, or to
        the caches of the prefixes `only`)."""
        with self._lock:
            groups = [
                (p, list(s.subscribers.values()))
                for p, s in self._prefixes.items()
                if only is None or p in only
            ]
        for prefix, targets in groups:
            if names is None:
                chosen: list[str] | None = None
            else:
                chosen = [n for n in names if n.startswith(prefix)]
                if not chosen:
                    continue
            for ref, callback in targets:
                owner = ref()
                if owner is not None:
                    callback(owner, chosen)

    def _set_ready(self, tracked: list[str]) -> list[str]:
        """Marks ready the prefixes `tracked` covers; returns those that were not."""
        became = []
        with self._lock:
            for p, state in self._prefixes.items():
                if not state.ready.is_set() and any(p.startswith(t) for t in tracked):
                    state.ready.set()
                    became.append(p)
        return became

    def _clear_ready(self) -> None:
        with self._lock:
            for state in self._prefixes.values():
                state.ready.clear()

    def _settle(self) -> None:
        with self._settled:
            self.ended = self.started
            self._settled.notify_all()

    def _open(self, prefixes: list[str]) -> Any:
        conn = self.make_connection()
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            client_id = conn.read_response()
            args: list[Any] = ["CLIENT", "TRACKING", "on", "REDIRECT", client_id, "BCAST"]
            for p in prefixes:
                args += ["PREFIX", p]
            conn.send_command(*args)
            reply = conn.read_response()
            if isinstance(reply, Exception):
                raise reply
            conn.send_command("SUBSCRIBE", CHANNEL)
            conn.read_response()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.disconnect()
            raise
        return conn

    def _handle(self, message: Any) -> bool:
        """One reply read on a subscribed connection; whether it was a PONG."""
        if not isinstance(message, list) or not message:
            return False
        kind = message[0]
        if kind in (b"pong", "pong"):
            return True
        if len(message) == 3 and kind in (b"message", "message"):
            self.messages += 1
            data = message[2]
            if data is None:  # FLUSHALL / FLUSHDB: every key
                self.flushes += 1
                self._dispatch(None)
            else:
                self._dispatch([n.decode() if isinstance(n, bytes) else n for n in data])
        return False

    def _drain(self, conn: Any) -> None:
        """Reads `conn` up to the reply of a PING sent now, handling its messages."""
        conn.send_command("PING")
        deadline = time.monotonic() + self.ping_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not conn.can_read(timeout=left):
                raise ConnectionError("the invalidation connection does not answer")
            if self._handle(conn.read_response()):
                return

    def _swap(self, conn: Any, wanted: list[str]) -> Any:
        """A connection tracking `wanted` in place of `conn` (make before break)."""
        new = self._open(wanted)
        try:
            self._drain(conn)
        except Exception:  # the old one failed: what it missed is unknown
            self.flushes += 1
            self._dispatch(None)
        with contextlib.suppress(Exception):
            conn.disconnect()
        self._tracked = wanted
        self.connections += 1
        became = self._set_ready(wanted)
        self._dispatch(None, became)  # anything they kept before was not covered
        return new

    def _wait(self, conn: Any, timeout: float) -> bool:
        """Waits for data on conn or a wake; whether conn has data."""
        if conn.can_read(timeout=0):
            return True
        sock = getattr(conn, "_sock", None)
        if sock is None:
            return bool(conn.can_read(timeout=timeout))
        readable, _, _ = select.select([sock, self._wake_r], [], [], timeout)
        if self._wake_r in readable:
            with contextlib.suppress(OSError):
                self._wake_r.recv(4096)
        return sock in readable and conn.can_read(timeout=0)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            conn = None
            try:
                wanted = self._wanted(attempt=True)
                if not wanted:  # every cache left
                    break
                try:
                    conn = self._open(wanted)
                    self._tracked = wanted
                    # Anything written before this moment was not reported to us.
                    self.flushes += 1
                    self._dispatch(None)
                    self.connections += 1
                    self._set_ready(wanted)
                finally:
                    self._settle()
                failures = 0
                heard = time.monotonic()  # the last time anything came from the server
                pinged: float | None = None  # when the unanswered PING went out
                while not self._stop.is_set():
                    wanted = self._wanted()
                    if not all(any(p.startswith(t) for t in self._tracked) for p in wanted):
                        wanted = self._wanted(attempt=True)
                        try:
                            conn = self._swap(conn, wanted)
                        finally:
                            self._settle()
                        heard, pinged = time.monotonic(), None
                        continue
                    if self._set_ready(self._tracked):  # a prefix back on a live connection
                        with self._settled:
                            self._settled.notify_all()
                    now = time.monotonic()
                    if pinged is not None and now - pinged > self.ping_timeout:
                        raise ConnectionError("the invalidation connection does not answer")
                    if pinged is None and now - heard >= HEARTBEAT_S:
                        conn.send_command("PING")  # ["pong", ""] in a subscribed connection
                        pinged = now
                    if not self._wait(conn, POLL_S):
                        continue
                    self._handle(conn.read_response())
                    heard, pinged = time.monotonic(), None
            except Exception:  # connection lost or refused: flush, then reconnect with backoff
                pass
            finally:
                with self._lock:
                    was_ready = any(s.ready.is_set() for s in self._prefixes.values())
                self._clear_ready()
                self._tracked = []
                if was_ready:
                    self.flushes += 1
                    self._dispatch(None)
                if conn is not None:
                    with contextlib.suppress(Exception):  # already gone
                        conn.disconnect()
            if self._stop.is_set():
                break
            failures += 1
            low, high = RETRY_DELAYS
            self._stop.wait(min(high, low * 2 ** min(failures, 10)) * (0.5 + random.random() / 2))
        for sock in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()


def subscribe(
    pool: Any, prefix: str, owner: Any, callback: Callable[[Any, list[str] | None], None]
) -> Subscription:
    """`owner`'s subscription to the invalidations of `prefix` on the process's listener for
    this connection pool's server (made on first use, and again in a forked child, whose
    parent's thread does not exist)."""
    kwargs = getattr(pool, "connection_kwargs", {})
    cls = pool.connection_class
    ident = (
        f"{cls.__module__}.{cls.__qualname__}",  # TCP, TLS or a Unix socket
        kwargs.get("host"),
        kwargs.get("port"),
        kwargs.get("path"),
        kwargs.get("db"),
        kwargs.get("username"),
    )
    with _listeners.lock:
        found = _listeners.get(ident)
        if found is None or found.pid != os.getpid() or found._stop.is_set():
            # RESP2 (redis-py 8 speaks RESP3 by default): invalidations as pub/sub messages,
            # which Redis 7.0 and Valkey send alike. Without the pool's maintenance-notification
            # options: redis-py 8 refuses them on a RESP2 connection unless hiredis is installed.
            options = {k: v for k, v in kwargs.items() if not k.startswith("maint_notifications")}
            options = {**options, "protocol": 2}
            timeout = options.get("socket_timeout") or 0
            found = Listener(ident, lambda: cls(**options), max(PING_TIMEOUT_S, 4 * timeout))
            _listeners[ident] = found
        sub = found._join(owner, prefix, callback)
        sub.owner_ref = weakref.ref(owner)
        if not found._thread.is_alive() and found._thread.ident is None:
            found._thread.start()
        return sub


@atexit.register
def _stop_all() -> None:
    """At interpreter exit: the threads stop (they are daemons: they never hold exit up)."""
    with _listeners.lock:
        found = list(_listeners.values())
    for one in found:
        one.stop()


__all__ = ["CHANNEL", "Listener", "Subscription", "cover", "subscribe"]
