"""Redis Cluster for the Redis tier (issue 17; docs/redis.md, "Cluster and TLS"): what a RedisCache
needs on top of redis-py's own cluster clients (redis.cluster.RedisCluster and
redis.asyncio.cluster.RedisCluster), which keep the topology (slots -> nodes) and the node
connections.

- SyncCluster and AsyncCluster stand where a RedisCache's ops expect a redis-py client: they take
  the few commands the tier sends (set, unlink, mget, scan_iter, evalsha/eval, pipeline, and the
  read) and send them to the primary that owns each name's slot. Multi-key commands are split by
  hash slot; the commands for one node go in one round trip (a pipeline, or back-to-back
  MULTI/EXEC blocks for the read). The sync side sends on the node's own redis.Redis (the
  cluster client's pool for that node, with the cache's socket timeouts and no retries), not
  through RedisCluster.execute_command, whose error handling sleeps (250 ms on CLUSTERDOWN) and
  re-reads the topology inline: a call would outlive its timeout while a master is down. Here a
  failure (refused, timeout, MOVED, ASK, CLUSTERDOWN, READONLY, TRYAGAIN) is raised to the
  cache's breaker at once and the topology is re-read by a background thread. The async side
  uses the asyncio cluster client's own commands: every async call is bounded as a whole by
  the cache's timeout (cancellation), so its internal waits cannot outlive it.
- ClusterListener: coherence on a cluster. A subscription to the process's invalidation
  listener of each primary (twincache._redis_coherence: shared with every other cache on that
  node), each with BCAST PREFIX on its node; a watcher thread
  reads the primaries (CLUSTER SLOTS) every WATCH_S seconds and, when they change (a failover),
  flushes the caches' L1s, drops the listeners of nodes that are no longer primaries, starts
  listeners on the new ones and has the cluster client re-read its topology. It is ready only
  while every primary's listener is subscribed.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Final

from . import _fork
from . import _redis_coherence as coherence
from ._redis_clients import _connection, _pack, _redis_module, _values_and_ttls

WATCH_S: Final = 0.5  # how often a cluster listener reads the primaries
REFRESH_GAP_S: Final = 0.1  # the least time between two background topology refreshes


def is_cluster_client(client: object) -> bool:
    """Whether client is a redis-py cluster client (sync or asyncio)."""
    import redis.asyncio.cluster
    import redis.cluster

    return isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster))


def _redirect_errors() -> tuple[type[BaseException], ...]:
    """The failures after which the topology may have changed."""
    exc = _redis_module().exceptions
    return (
        exc.ConnectionError,
        exc.TimeoutError,
        exc.AskError,  # MOVED too (a subclass)
        exc.ClusterDownError,
        exc.TryAgainError,
        exc.ReadOnlyError,
        exc.ClusterError,
        OSError,
    )


def _by_slot(client: Any, names: list[str]) -> dict[int, list[int]]:
    """slot -> the indexes of the names in it, in order."""
    groups: dict[int, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(client.keyslot(name), []).append(i)
    return groups


# --- sync -----------------------------------------------------------------------------------------


class SyncCluster:
    """A redis.cluster.RedisCluster (passed in, or made on first use by `make`, so a cache can
    be built while the cluster is down) and the routing of the tier's commands."""

    def __init__(self, make: Callable[[], Any] | None, client: Any = None) -> None:
        self._make = make
        self._client = client
        self._lock = threading.Lock()  # guards _client's creation and _refresh_at/_refreshing
        self._refreshing = False
        self._refresh_at = 0.0
        self.refreshes = 0  # background topology re-reads started (tests, stats)
        _fork.track(self, ("_lock",), child=SyncCluster._forked)

    def _forked(self) -> None:
        """In a forked child: a re-read running in the parent's thread did not come along."""
        self._refreshing = False

    def client(self) -> Any:
        """The cluster client; a redis ConnectionError when it cannot be made now."""
        client = self._client
        if client is None:
            redis = _redis_module()
            with self._lock:
                if self._client is None:
                    assert self._make is not None
                    try:
                        self._client = self._make()
                    except redis.exceptions.RedisClusterException as exc:
                        raise redis.ConnectionError(f"no cluster node answered: {exc}") from None
                client = self._client
        return client

    def refresh_soon(self) -> None:
        """Re-reads the topology in a background thread (one at a time, at most every
        REFRESH_GAP_S): the call that failed is not held up by it."""
        client = self._client
        if client is None:
            return
        with self._lock:
            now = time.monotonic()
            if self._refreshing or now < self._refresh_at:
                return
            self._refreshing = True
            self._refresh_at = now + REFRESH_GAP_S
            self.refreshes += 1

        def run() -> None:
            try:
                client.nodes_manager.initialize()
            except Exception:  # every node down: the next failure tries again
                pass
            finally:
                with self._lock:
                    self._refreshing = False

        threading.Thread(target=run, name="twincache-cluster-refresh", daemon=True).start()

    def _guard(self, op: Callable[[], Any]) -> Any:
        redis = _redis_module()
        try:
            return op()
        except _redirect_errors():
            self.refresh_soon()
            raise
        except redis.exceptions.RedisClusterException as exc:  # a slot no node serves
            self.refresh_soon()
            raise redis.ConnectionError(f"cluster: {exc}") from None

    def node(self, name: str) -> Any:
        """The redis.Redis of the primary that owns name's slot."""
        client = self.client()
        node = client.nodes_manager.get_node_from_slot(client.keyslot(name))
        return node.redis_connection or client.get_redis_connection(node)

    def _nodes(self, names: list[str]) -> list[tuple[Any, list[list[int]]]]:
        """(the node's redis.Redis, the index groups of each slot it owns), for names."""
        client = self.client()
        out: dict[str, tuple[Any, list[list[int]]]] = {}
        for slot, indexes in _by_slot(client, names).items():
            node = client.nodes_manager.get_node_from_slot(slot)
            entry = out.get(node.name)
            if entry is None:
                conn = node.redis_connection or client.get_redis_connection(node)
                entry = out[node.name] = (conn, [])
            entry[1].append(indexes)
        return list(out.values())

    def primaries(self) -> list[Any]:
        client = self.client()
        return [
            n.redis_connection or client.get_redis_connection(n) for n in client.get_primaries()
        ]

    # -- the commands the tier sends --

    def set(self, name: str, value: bytes, **options: Any) -> Any:
        return self._guard(lambda: self.node(name).set(name, value, **options))

    def evalsha(self, sha: str, numkeys: int, key: str, *args: Any) -> Any:
        return self._guard(lambda: self.node(key).evalsha(sha, numkeys, key, *args))

    def eval(self, source: str, numkeys: int, key: str, *args: Any) -> Any:
        return self._guard(lambda: self.node(key).eval(source, numkeys, key, *args))

    def _per_slot(self, command: str, names: list[Any]) -> list[tuple[list[int], Any]]:
        """`command names-of-one-slot` for every slot, pipelined per node: (indexes, reply)."""
        keys = [n.decode() if isinstance(n, bytes) else n for n in names]

        def run() -> list[tuple[list[int], Any]]:
            out: list[tuple[list[int], Any]] = []
            for conn, groups in self._nodes(keys):
                pipe = conn.pipeline(transaction=False)
                for indexes in groups:
                    pipe.execute_command(command, *(names[i] for i in indexes))
                out.extend(zip(groups, pipe.execute(), strict=True))
            return out

        return self._guard(run)  # type: ignore[no-any-return]

    def unlink(self, *names: Any) -> int:
        return sum(int(reply) for _, reply in self._per_slot("UNLINK", list(names)))

    def mget(self, names: list[Any]) -> list[Any]:
        values: list[Any] = [None] * len(names)
        for indexes, reply in self._per_slot("MGET", list(names)):
            for i, value in zip(indexes, reply, strict=True):
                values[i] = value
        return values

    def scan_iter(self, match: str, count: int) -> Iterator[Any]:
        """The names matching on every primary (each node's own SCAN, one after the other)."""
        try:
            for conn in self.primaries():
                yield from conn.scan_iter(match=match, count=count)
        except _redirect_errors():
            self.refresh_soon()
            raise

    def pipeline(self, transaction: bool = False) -> _SyncPipe:
        assert not transaction
        return _SyncPipe(self)

    def read(self, names: list[str]) -> tuple[list[Any], list[Any]]:
        """(values, PTTLs) of names: the read transaction (docs/redis.md, "Commands") once per
        slot; the blocks for one node written back to back on one connection, every node's
        written before any reply is read (one overlapped round trip)."""

        def run() -> tuple[list[Any], list[Any]]:
            values: list[Any] = [None] * len(names)
            ttls: list[Any] = [-2] * len(names)
            nodes = self._nodes(names)
            jobs = [(conn, [_read_block([names[i] for i in g]) for g in gs]) for conn, gs in nodes]
            for (_, groups), replies in zip(nodes, _transactions(jobs), strict=True):
                for indexes, reply in zip(groups, replies, strict=True):
                    got, left = _values_and_ttls(reply)
                    for i, value, pttl in zip(indexes, got, left, strict=True):
                        values[i], ttls[i] = value, pttl
            return values, ttls

        return self._guard(run)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Closes a client made here (made again on next use); a client passed in stays open."""
        client = self._client
        if client is not None and self._make is not None:
            with self._lock:
                self._client = None
            client.close()


class _SyncPipe:
    """set_many's pipeline on a cluster: the SETs grouped by node, one round trip per node."""

    def __init__(self, cluster: SyncCluster) -> None:
        self._cluster = cluster
        self._sets: list[tuple[str, bytes, dict[str, Any]]] = []

    def set(self, name: str, value: bytes, **options: Any) -> None:
        self._sets.append((name, value, options))

    def execute(self) -> list[Any]:
        sets = self._sets

        def run() -> list[Any]:
            replies: list[Any] = [None] * len(sets)
            for conn, groups in self._cluster._nodes([s[0] for s in sets]):
                pipe = conn.pipeline(transaction=False)
                order = [i for g in groups for i in g]
                for i in order:
                    pipe.set(sets[i][0], sets[i][1], **sets[i][2])
                for i, reply in zip(order, pipe.execute(), strict=True):
                    replies[i] = reply
            return replies

        return self._cluster._guard(run)  # type: ignore[no-any-return]


def _read_block(names: list[str]) -> list[tuple[str, ...]]:
    """The read of names of one slot (docs/redis.md, "Commands")."""
    return [("MULTI",), ("MGET", *names), *(("PTTL", n) for n in names), ("EXEC",)]


def _transactions(jobs: list[tuple[Any, list[list[tuple[str, ...]]]]]) -> list[list[Any]]:
    """EXEC's reply to each MULTI ... EXEC block of each (plain redis.Redis of a node, blocks):
    every node's blocks written at once on one of its pooled connections, all nodes' before any
    reply is read, so the nodes' round trips overlap; then the replies read back in order."""
    taken: list[tuple[Any, Any]] = []  # (pool, connection) of each node, in jobs' order
    out: list[list[Any]] = []
    try:
        for client, blocks in jobs:
            pool = client.connection_pool
            conn = _connection(pool)
            taken.append((pool, conn))
            conn.send_packed_command([_pack([c for b in blocks for c in b])], check_health=False)
        for (_, conn), (_, blocks) in zip(taken, jobs, strict=True):
            replies = []
            for block in blocks:
                for _ in block[:-1]:
                    conn.read_response()  # OK, QUEUED...: an error (MOVED...) raises
                replies.append(conn.read_response())
            out.append(replies)
    except BaseException:
        for _, conn in taken:
            conn.disconnect()  # replies may be left unread: never reuse these connections
        raise
    finally:
        for pool, conn in taken:
            pool.release(conn)
    return out


# --- async ----------------------------------------------------------------------------------------


class AsyncCluster:
    """A redis.asyncio.cluster.RedisCluster and the tier's commands on it, split by slot. The
    client routes each command itself (MOVED, re-reading the topology); the cache bounds each
    whole call by its timeout."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._stale = False  # a failure may mean a new topology: re-read it on the next read

    async def set(self, name: str, value: bytes, **options: Any) -> Any:
        return await self.client.set(name, value, **options)

    async def evalsha(self, sha: str, numkeys: int, key: str, *args: Any) -> Any:
        return await self.client.evalsha(sha, numkeys, key, *args)

    async def eval(self, source: str, numkeys: int, key: str, *args: Any) -> Any:
        return await self.client.eval(source, numkeys, key, *args)

    async def unlink(self, *names: Any) -> int:
        keys = list(names)
        groups = _by_slot(self.client, keys)
        pipe = self.client.pipeline(transaction=False)
        for indexes in groups.values():
            pipe.execute_command("UNLINK", *(keys[i] for i in indexes))
        return sum(int(r) for r in await pipe.execute())

    async def scan_iter(self, match: str, count: int) -> Any:
        async for name in self.client.scan_iter(match=match, count=count):
            yield name

    def pipeline(self, transaction: bool = False) -> Any:
        assert not transaction
        return self.client.pipeline(transaction=False)

    async def _ready(self) -> Any:
        """The client, its topology read (again after a failure that may mean a change)."""
        client = self.client
        if self._stale:
            self._stale = False
            await client.nodes_manager.initialize()
        else:
            await client.initialize()  # once: a no-op afterwards
        return client

    async def read(self, names: list[str]) -> tuple[list[Any], list[Any]]:
        """The read transaction once per slot, as on the sync side: the blocks for one node
        written back to back on one of its connections, the nodes concurrently."""
        try:
            client = await self._ready()
            per_node: dict[str, tuple[Any, list[list[int]]]] = {}
            for slot, indexes in _by_slot(client, names).items():
                node = client.nodes_manager.get_node_from_slot(slot)
                per_node.setdefault(node.name, (node, []))[1].append(indexes)

            async def one(node: Any, groups: list[list[int]]) -> list[Any]:
                blocks = [_read_block([names[i] for i in g]) for g in groups]
                conn = node.acquire_connection()
                replies = []
                try:
                    await conn.send_packed_command(
                        [_pack([c for b in blocks for c in b])], check_health=False
                    )
                    for block in blocks:
                        for _ in block[:-1]:
                            await conn.read_response()
                        replies.append(await conn.read_response())
                except BaseException:
                    await conn.disconnect(nowait=True)  # cancelled mid-reply: not reusable
                    raise
                finally:
                    node.release(conn)
                return replies

            jobs = list(per_node.values())
            results = await asyncio.gather(*(one(node, groups) for node, groups in jobs))
        except _redirect_errors():
            self._stale = True
            raise
        except _redis_module().exceptions.RedisClusterException as exc:
            self._stale = True
            raise _redis_module().ConnectionError(f"cluster: {exc}") from None
        values: list[Any] = [None] * len(names)
        ttls: list[Any] = [-2] * len(names)
        for (_, groups), replies in zip(jobs, results, strict=True):
            for indexes, reply in zip(groups, replies, strict=True):
                got, left = _values_and_ttls(reply)
                for i, value, pttl in zip(indexes, got, left, strict=True):
                    values[i], ttls[i] = value, pttl
        return values, ttls

    async def aclose(self) -> None:
        await self.client.aclose()


# --- coherence ------------------------------------------------------------------------------------


class _AllReady:
    """ClusterListener.ready: set while every primary's listener is subscribed (an Event's
    is_set and wait, as RedisCache uses them)."""

    def __init__(self, owner: ClusterListener) -> None:
        self._owner = owner

    def is_set(self) -> bool:
        listeners = self._owner.nodes
        return bool(listeners) and all(lst.ready.is_set() for lst in listeners.values())

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True


class _Registry(dict[tuple[Any, str], "ClusterListener"]):
    """(startup nodes, prefix) -> its cluster listener; emptied in a forked child."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()  # guards the table


_listeners = _Registry()
_fork.track(_listeners, ("lock",), child=_Registry.clear)


class ClusterListener:
    """Coherence on a cluster: a subscription per primary, rebuilt when the primaries
    change. Subscribers get what the per-node listeners hear, and None (flush everything) when
    the topology changes."""

    def __init__(self, cluster: SyncCluster, prefix: str) -> None:
        self.cluster = cluster
        self.prefix = prefix
        self.pid = os.getpid()
        # primary -> its listener; replaced whole by the watcher thread, never changed in place
        self.nodes: dict[tuple[str, int], coherence.Subscription] = {}
        self.ready = _AllReady(self)
        self.topology_changes = 0
        self._subscribers: dict[int, tuple[weakref.ref[Any], Callable[..., None]]] = {}
        self._lock = threading.Lock()  # guards _subscribers
        # (key, ref) of owners the collector took, left by the watcher thread (_reap): appended
        # by a weakref callback, which takes no lock (list.append is atomic under the GIL).
        self._dead: list[tuple[int, weakref.ref[Any]]] = []
        self._stop = threading.Event()
        _fork.track(self, child=ClusterListener._forked)
        self._thread = threading.Thread(
            target=self._run, name=f"twincache-cluster-watch-{prefix}", daemon=True
        )
        self._thread.start()

    def _forked(self) -> None:
        """In a forked child: no watcher thread and no node listeners (their threads stayed in
        the parent), so this stays not ready (L1 off) for the caches that use it; new caches of
        the child get a listener of their own (listener())."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop.set()
        self.nodes = {}

    def subscribe(
        self, owner: Any, callback: Callable[[Any, list[str] | None], None]
    ) -> ClusterSubscription:
        key = id(owner)
        dead = self._dead

        def forget(ref: weakref.ref[Any]) -> None:
            # Any thread, at any allocation (the collector), maybe while that thread holds a
            # lock _leave takes (this listener's, the registries' of both modules: it deadlocked
            # a subscribe() that was making a Listener): no lock here, the watcher leaves for it
            # within WATCH_S.
            dead.append((key, ref))

        ref = weakref.ref(owner, forget)
        with self._lock:
            self._subscribers[key] = (ref, callback)
        return ClusterSubscription(self, key, ref)

    def _leave(self, key: int, ref: weakref.ref[Any]) -> None:
        """An owner closed or was collected; the last one stops the watcher and its node
        subscriptions (the registry then makes a new listener for the next cache)."""
        with self._lock:
            if (entry := self._subscribers.get(key)) is not None and entry[0] is ref:
                del self._subscribers[key]
            last = not self._subscribers
        if last:
            with _listeners.lock:
                for k, v in list(_listeners.items()):
                    if v is self:
                        del _listeners[k]
            self.stop()

    def _reap(self) -> None:
        """Leaves for the owners the collector took (the watcher thread, holding no lock)."""
        while self._dead:
            key, ref = self._dead.pop()
            self._leave(key, ref)

    def _dispatch(self, names: list[str] | None) -> None:
        with self._lock:
            targets = list(self._subscribers.values())
        for ref, callback in targets:
            owner = ref()
            if owner is not None:
                callback(owner, names)

    def _primaries(self, client: Any) -> dict[tuple[str, int], Any] | None:
        """address -> pool of each primary, as the first node that answers CLUSTER SLOTS sees
        them (None when none answers)."""
        nodes = list(client.nodes_manager.nodes_cache.values())
        for node in nodes:
            try:
                conn = node.redis_connection or client.get_redis_connection(node)
                slots = conn.execute_command("CLUSTER SLOTS")
            except Exception:  # down: ask the next
                continue
            found = {}
            for entry in slots:
                host, port = entry[2][0], int(entry[2][1])
                host = host.decode() if isinstance(host, bytes) else host
                if not host:  # "": the node we asked
                    host = node.host
                found[(host, port)] = conn.connection_pool
            return found
        return None

    def _listener(self, address: tuple[str, int], pool: Any) -> coherence.Subscription:
        """This watcher's subscription to the process's listener for the primary at `address`
        (the pool's connection options, pointed at that primary)."""
        kwargs = {**pool.connection_kwargs, "host": address[0], "port": address[1]}
        node_pool = types.SimpleNamespace(
            connection_class=pool.connection_class, connection_kwargs=kwargs
        )
        return coherence.subscribe(node_pool, self.prefix, self, ClusterListener._dispatch)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._reap()
            if self._stop.is_set():  # the last owner was collected
                break
            try:
                client = self.cluster.client()
                primaries = self._primaries(client)
            except Exception:  # the cluster client cannot be made yet
                primaries = None
            if primaries is not None and set(primaries) != set(self.nodes):
                # A new table, swapped in whole: readers (ready.is_set) iterate the old one.
                old, nodes = self.nodes, {}
                changed = bool(old)
                for address, pool in primaries.items():
                    found = old.get(address)
                    nodes[address] = found if found is not None else self._listener(address, pool)
                for address in set(old) - set(nodes):
                    old[address].close()
                self.nodes = nodes
                if changed:  # a failover: what the old primaries said may be lost
                    self.topology_changes += 1
                    self._dispatch(None)
                    self.cluster.refresh_soon()
            self._stop.wait(WATCH_S)

    def stop(self) -> None:
        self._stop.set()
        for node in list(self.nodes.values()):
            node.close()


class ClusterSubscription:
    """One cache's place on a ClusterListener (as coherence.Subscription is on a Listener):
    `ready` is set while every primary's listener is subscribed; close() leaves."""

    def __init__(self, owner: ClusterListener, key: int, ref: weakref.ref[Any]) -> None:
        self.listener = owner
        self.ready = owner.ready
        self._key, self._ref = key, ref
        self.closed = False

    def wait(self, timeout: float) -> bool:
        return self.ready.wait(timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.listener._leave(self._key, self._ref)


def subscribe(
    cluster: SyncCluster,
    startup: Any,
    prefix: str,
    owner: Any,
    callback: Callable[[Any, list[str] | None], None],
) -> ClusterSubscription:
    """`owner`'s subscription to the invalidations of `prefix` on the process's cluster listener
    for these startup nodes (made on first use, and again in a forked child)."""
    with _listeners.lock:
        found = _listeners.get((startup, prefix))
        if found is None or found.pid != os.getpid() or found._stop.is_set():
            found = ClusterListener(cluster, prefix)
            _listeners[(startup, prefix)] = found
    return found.subscribe(owner, callback)


__all__ = [
    "AsyncCluster",
    "ClusterListener",
    "ClusterSubscription",
    "SyncCluster",
    "is_cluster_client",
    "subscribe",
]
