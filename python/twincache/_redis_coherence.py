"""L1 coherence for the Redis tier (issue 17; docs/redis.md, "Coherence"): Redis client-side
caching in broadcast mode on a namespace prefix, over RESP2. One listener per (server, prefix)
in a process: a dedicated connection that asks its own client id, turns tracking on with
`CLIENT TRACKING on REDIRECT <its id> BCAST PREFIX <namespace>:`, subscribes to
`__redis__:invalidate`, and hands each invalidation message (the names written, or nil for a
flush) to the caches registered on it, from a daemon thread.

While the listener is not subscribed (starting, reconnecting, in a forked child before it
restarts) it is not `ready`: caches then keep nothing new in L1, and every loss of the
connection flushes their L1s, since invalidations may have been missed meanwhile. A connection
that drops silently (no reset: a partition, a blackhole) is found by a PING every second that
must be answered within max(2 s, 4 x the socket timeout), as Node's listener does.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final

from . import _fork

CHANNEL: Final = "__redis__:invalidate"
RETRY_DELAYS: Final = (0.05, 2.0)  # reconnect backoff (min, max) seconds, with jitter
POLL_S: Final = 0.5  # how often the thread looks at its stop flag while no message comes
HEARTBEAT_S: Final = 1.0  # a PING after this long without anything from the server
PING_TIMEOUT_S: Final = 2.0  # the least time a PING is given to be answered


class _Registry(dict[tuple[Any, str], "Listener"]):
    """(server identity, prefix) -> its listener. In a forked child it is emptied (the parent's
    threads are not there) and its lock renewed (twincache._fork)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()  # guards the table


_listeners = _Registry()
_fork.track(_listeners, ("lock",), child=_Registry.clear)


class Listener:
    """One invalidation connection and its thread. `subscribers`: callbacks (held weakly) that
    get a list of names (str) to drop, or None to drop everything."""

    def __init__(
        self, make_connection: Callable[[], Any], prefix: str, ping_timeout: float = PING_TIMEOUT_S
    ) -> None:
        self.make_connection = make_connection
        self.prefix = prefix
        self.ping_timeout = ping_timeout  # seconds a heartbeat PING may go unanswered
        self.pid = os.getpid()
        self.ready = threading.Event()  # set while subscribed with tracking on
        self.messages = 0  # invalidation messages received
        self.flushes = 0  # times every subscriber's L1 was flushed (lost connection, flush)
        self.connections = 0  # successful (re)subscriptions
        # id(owner) -> (a weak reference to it, its callback); owners may be unhashable.
        self._subscribers: dict[int, tuple[weakref.ref[Any], Callable[..., None]]] = {}
        self._lock = threading.Lock()  # guards _subscribers
        self._stop = threading.Event()
        _fork.track(self, child=Listener._forked)
        self._thread = threading.Thread(
            target=self._run, name=f"twincache-invalidate-{prefix}", daemon=True
        )
        self._thread.start()

    def _forked(self) -> None:
        """In a forked child: the thread is gone (and may have held these at the fork), so the
        caches that use this listener stay not ready (no L1) for good; new caches of the child
        get a listener of their own (listener())."""
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop.set()

    def subscribe(self, owner: Any, callback: Callable[[Any, list[str] | None], None]) -> None:
        """callback(owner, names) for each message while owner lives (owner held weakly)."""
        key = id(owner)

        def forget(ref: weakref.ref[Any]) -> None:
            with self._lock:
                if (entry := self._subscribers.get(key)) is not None and entry[0] is ref:
                    del self._subscribers[key]

        with self._lock:
            self._subscribers[key] = (weakref.ref(owner, forget), callback)

    def _dispatch(self, names: list[str] | None) -> None:
        with self._lock:
            targets = list(self._subscribers.values())
        for ref, callback in targets:
            owner = ref()
            if owner is not None:
                callback(owner, names)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            conn = None
            try:
                conn = self.make_connection()
                conn.connect()
                conn.send_command("CLIENT", "ID")
                client_id = conn.read_response()
                conn.send_command(
                    "CLIENT", "TRACKING", "on", "REDIRECT", client_id, "BCAST",
                    "PREFIX", self.prefix,
                )  # fmt: skip
                conn.read_response()
                conn.send_command("SUBSCRIBE", CHANNEL)
                conn.read_response()
                # Anything written before this moment was not reported to us.
                self.flushes += 1
                self._dispatch(None)
                self.connections += 1
                self.ready.set()
                failures = 0
                heard = time.monotonic()  # the last time anything came from the server
                pinged: float | None = None  # when the unanswered PING went out
                while not self._stop.is_set():
                    now = time.monotonic()
                    if pinged is not None and now - pinged > self.ping_timeout:
                        raise ConnectionError("the invalidation connection does not answer")
                    if pinged is None and now - heard >= HEARTBEAT_S:
                        conn.send_command("PING")  # ["pong", ""] in a subscribed connection
                        pinged = now
                    if not conn.can_read(timeout=POLL_S):
                        continue
                    message = conn.read_response()
                    heard, pinged = time.monotonic(), None
                    if (
                        isinstance(message, list)
                        and len(message) == 3
                        and message[0] in (b"message", "message")
                    ):
                        self.messages += 1
                        data = message[2]
                        if data is None:  # FLUSHALL / FLUSHDB: every key
                            self.flushes += 1
                            self._dispatch(None)
                        else:
                            names = [n.decode() if isinstance(n, bytes) else n for n in data]
                            self._dispatch(names)
            except Exception:  # connection lost or refused: flush, then reconnect with backoff
                pass
            finally:
                was_ready = self.ready.is_set()
                self.ready.clear()
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

    def stop(self) -> None:
        self._stop.set()


def listener(pool: Any, prefix: str) -> Listener:
    """The process's listener for this connection pool's server and `prefix` (made on first
    use, and again in a forked child, whose parent's thread does not exist)."""
    kwargs = getattr(pool, "connection_kwargs", {})
    ident = (
        kwargs.get("host"),
        kwargs.get("port"),
        kwargs.get("path"),
        kwargs.get("db"),
        kwargs.get("username"),
        prefix,
    )
    with _listeners.lock:
        found = _listeners.get((ident, prefix))
        if found is None or found.pid != os.getpid():
            # RESP2 (redis-py 8 speaks RESP3 by default): invalidations as pub/sub messages,
            # which Redis 7.0 and Valkey send alike. Without the pool's maintenance-notification
            # options: redis-py 8 refuses them on a RESP2 connection unless hiredis is installed.
            options = {k: v for k, v in kwargs.items() if not k.startswith("maint_notifications")}
            cls, options = pool.connection_class, {**options, "protocol": 2}
            timeout = options.get("socket_timeout") or 0
            found = Listener(lambda: cls(**options), prefix, max(PING_TIMEOUT_S, 4 * timeout))
            _listeners[(ident, prefix)] = found
        return found


__all__ = ["CHANNEL", "Listener", "listener"]
