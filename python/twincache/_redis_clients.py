"""The redis-py clients of a RedisCache (twincache._redis) and the read's wire path: a sync and an
asyncio client made from a URL with twincache's timeouts and no retries (or the one client the
user passed), and the read's pipeline (GET or MGET, then a PTTL per name: docs/redis.md,
"Commands") written straight on a pooled connection of a plain redis.Redis, or through a
pipeline for any other client type. A Cluster client reads per slot (twincache._redis_cluster,
with the transaction)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from . import _redis_envelope as env
from ._backend import warn


def _redis_module() -> Any:
    try:
        import redis
    except ImportError:
        raise ImportError(
            "the Redis tier needs redis-py 5 or newer: pip install 'twincache[redis]'"
        ) from None
    return redis


def _pack(commands: list[tuple[str, ...]]) -> bytes:
    """The commands in RESP (arrays of bulk strings), as redis-py's packer writes them, at a
    fraction of its cost for a read's many short commands (a PTTL per name). The arguments
    are ASCII: command words and entry names."""
    parts = []
    bulks: dict[str, bytes] = {}  # a read names each entry twice (MGET, PTTL): packed once
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            bulk = bulks.get(arg)
            if bulk is None:
                bulk = bulks[arg] = b"$%d\r\n%b\r\n" % (len(arg), arg.encode("ascii"))
            parts.append(bulk)
    return b"".join(parts)


def _connection(pool: Any) -> Any:
    """A connection from a redis-py pool (a coroutine for an asyncio pool): get_connection()
    takes no arguments since redis-py 5.3, a command name before."""
    try:
        return pool.get_connection()
    except TypeError:
        return pool.get_connection("MULTI")


def _read_commands(names: list[str]) -> list[tuple[str, ...]]:
    """The read's pipeline (docs/redis.md, "Commands"): GET (one name) or MGET (several), then
    a PTTL per name. Redis runs them in that order, so each PTTL is read after its value."""
    first = ("GET", names[0]) if len(names) == 1 else ("MGET", *names)
    return [first, *(("PTTL", n) for n in names)]


def _read_packed(names: list[str]) -> bytes:
    """_read_commands(names) in RESP; one name (the hot path: an L2 hit) in one format."""
    if len(names) == 1:
        name = names[0].encode("ascii")
        return _GET_PTTL % (len(name), name, len(name), name)
    return _pack(_read_commands(names))


_GET_PTTL = b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n*2\r\n$4\r\nPTTL\r\n$%d\r\n%b\r\n"


def _first_reply(conn: Any) -> Any:
    """The GET/MGET reply on a sync connection; a WRONGTYPE error (GET of a name holding a list)
    is returned, not raised: its PTTL follows, and it reads as a miss."""
    try:
        return conn.read_response()
    except _redis_module().ResponseError as exc:
        return exc


def _pipeline_replies(replies: list[Any], count: int) -> tuple[list[Any], list[Any]]:
    """(values, PTTLs) from the pipeline's replies: GET's value (a WRONGTYPE error: nil) or
    MGET's array, then `count` PTTLs. Any other error is raised as redis-py raises errors."""
    if len(replies) != count + 1:
        raise _redis_module().ResponseError(f"unexpected reply to a read: {replies!r:.80}")
    first, ttls = replies[0], replies[1:]
    if isinstance(first, Exception):
        if count != 1 or not str(first).startswith("WRONGTYPE"):
            raise first
        first = None
    for r in ttls:
        if isinstance(r, Exception):
            raise r
    if count == 1:
        return [first], ttls
    if not isinstance(first, list) or len(first) != count:
        raise _redis_module().ResponseError(f"unexpected reply to a read: {first!r:.80}")
    return first, ttls


def _values_and_ttls(replies: Any) -> tuple[list[Any], list[Any]]:
    """EXEC's replies to a read in the transaction form (a Cluster's per-slot read: MGET, then
    a PTTL per name) as (values, PTTLs). An error inside the transaction is raised as redis-py
    raises errors."""
    if not isinstance(replies, list) or not replies:
        raise _redis_module().ResponseError(f"unexpected reply to a read: {replies!r:.80}")
    for r in replies:
        if isinstance(r, Exception):
            raise r
    return replies[0], replies[1:]


# --- TLS ----------------------------------------------------------------------------------------

TLS_KEYS = ("ca", "cert", "key", "check_hostname")


def tls_option(value: object, url: str) -> dict[str, Any]:
    """redis-py's ssl_* options for `tls` (docs/redis.md, "Cluster and TLS"): a dict with "ca"
    (the CA bundle that verifies the server; the system's when absent), "cert" and "key" (the
    client certificate and its key, for servers that require one), "check_hostname" (default
    True: the server's certificate must name the URL's host). Only with a rediss:// URL; the
    files must exist."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(
            f"tls must be a dict with keys among {', '.join(TLS_KEYS)} (got {type(value).__name__})"
        )
    unknown = [k for k in value if k not in TLS_KEYS]
    if unknown:
        raise ValueError(f"tls takes the keys {', '.join(TLS_KEYS)} (got {unknown[0]!r})")
    if not url.startswith("rediss://"):
        raise ValueError(f"tls needs a rediss:// url (got {url!r})")
    options: dict[str, Any] = {"ssl_cert_reqs": "required"}
    for key, option in (("ca", "ssl_ca_certs"), ("cert", "ssl_certfile"), ("key", "ssl_keyfile")):
        path = value.get(key)
        if path is None:
            continue
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"tls[{key!r}] must be a path (str or os.PathLike) (got {type(path).__name__})"
            )
        if not os.path.isfile(path):
            raise ValueError(f"tls[{key!r}] must name an existing file (got {str(path)!r})")
        options[option] = os.fspath(path)
    if "key" in value and "cert" not in value:
        raise ValueError("tls['key'] applies with tls['cert'] (the client certificate) only")
    check = value.get("check_hostname", True)
    if not isinstance(check, bool):
        raise TypeError(f"tls['check_hostname'] must be a bool (got {type(check).__name__})")
    options["ssl_check_hostname"] = check
    return options


# --- clients --------------------------------------------------------------------------------------


class _Clients:
    """The redis-py clients of one cache: a sync one and an asyncio one made from `url` (both
    with twincache's timeouts, no retries), or the one client the user passed."""

    def __init__(
        self,
        url: object,
        client: object,
        timeout: float,
        cluster: object = False,
        tls: object = None,
    ) -> None:
        redis = _redis_module()
        from . import _options, _redis_cluster

        self.timeout = timeout
        self.url: str | None = None
        self.sync: Any = None
        self.aio: Any = None
        self.aio_loop: asyncio.AbstractEventLoop | None = None
        self.owned = client is None
        self.cluster = _options.flag("cluster", cluster)
        self.tls: dict[str, Any] = {}
        if client is not None:
            if url is not None:
                raise TypeError("pass url or client, not both")
            if tls is not None:
                raise TypeError(
                    "tls applies with url only: a client passed in keeps its own ssl options"
                )
            if _redis_cluster.is_cluster_client(client):
                self._passed_cluster(client)
                return
            if self.cluster:
                raise TypeError(
                    "cluster=True needs a url or a redis.cluster.RedisCluster / "
                    f"redis.asyncio.cluster.RedisCluster client (got {type(client).__name__})"
                )
            kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
            if not isinstance(kwargs, dict):
                raise TypeError(
                    "client must be a redis.Redis or redis.asyncio.Redis (or a RedisCluster of "
                    f"either) (got {type(client).__name__})"
                )
            if kwargs.get("decode_responses"):
                raise ValueError(
                    "client must be made with decode_responses=False (entries are bytes)"
                )
            self._warn_timeout(kwargs.get("socket_timeout"))
            import redis.asyncio

            if isinstance(client, redis.asyncio.Redis):
                self.aio = client
            else:
                self.sync = client
            return
        if url is None:
            url = env.DEFAULT_URL
        if not isinstance(url, str):
            raise TypeError(
                f"url must be a str such as {env.DEFAULT_URL!r} (got {type(url).__name__})"
            )
        self.url = url
        self.tls = tls_option(tls, url)
        if self.cluster:
            if not url.startswith(("redis://", "rediss://")):
                raise ValueError(
                    "cluster=True needs a redis:// or rediss:// URL of a cluster node "
                    f"(got {url!r})"
                )
            import redis.cluster
            from redis.connection import parse_url

            try:
                parse_url(url)  # type: ignore[no-untyped-call]
            except ValueError as exc:
                raise ValueError(
                    f"url must be a redis:// or rediss:// URL (got {url!r}: {exc})"
                ) from None
            options = self._options(redis)
            cls = redis.cluster.RedisCluster
            self.sync = _redis_cluster.SyncCluster(lambda: cls.from_url(url, **options))
            return
        try:
            self.sync = redis.Redis.from_url(url, **self._options(redis))
        except ValueError as exc:
            raise ValueError(
                f"url must be a redis://, rediss:// or unix:// URL (got {url!r}: {exc})"
            ) from None

    def _warn_timeout(self, wait: Any) -> None:
        if wait is None or wait > self.timeout:
            warn(
                f"twincache: the client passed to RedisCache has socket_timeout={wait!r}; "
                f"sync calls can block that long (set socket_timeout <= timeout={self.timeout})"
            )

    def _passed_cluster(self, client: Any) -> None:
        """A redis-py cluster client passed in: routed by twincache._redis_cluster."""
        import redis.asyncio.cluster

        from . import _redis_cluster

        self.cluster = True
        kwargs: Any = getattr(client, "get_connection_kwargs", dict)()
        if isinstance(kwargs, dict) and kwargs.get("decode_responses"):
            raise ValueError("client must be made with decode_responses=False (entries are bytes)")
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            self.aio = _redis_cluster.AsyncCluster(client)
        else:
            self._warn_timeout(kwargs.get("socket_timeout") if isinstance(kwargs, dict) else None)
            self.sync = _redis_cluster.SyncCluster(None, client)

    def _options(self, redis: Any) -> dict[str, Any]:
        from redis.backoff import NoBackoff

        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": redis.retry.Retry(NoBackoff(), 0),
            "health_check_interval": 0,
            "decode_responses": False,
            **self.tls,
        }

    def read(self, client: Any, names: list[str]) -> tuple[list[Any], list[Any]]:
        """(values, PTTLs) of `names`, in one round trip: the read's pipeline (docs/redis.md,
        "Commands"): `GET name` or `MGET name...`, then a PTTL per name, no MULTI. A plain
        redis.Redis gets them written on one of its pool's connections and read back directly
        (hot path: redis-py's pipeline object costs more than the round trip on loopback); any
        other client (a subclass) gets them through its own pipeline, on one connection too."""
        redis = _redis_module()
        if type(client) is not redis.Redis:
            pipe = client.pipeline(transaction=False)
            for command in _read_commands(names):
                pipe.execute_command(*command)
            return _pipeline_replies(pipe.execute(raise_on_error=False), len(names))
        pool = client.connection_pool
        conn = _connection(pool)
        try:
            conn.send_packed_command([_read_packed(names)], check_health=False)
            first = _first_reply(conn)
            replies = [first, *(conn.read_response() for _ in names)]
        except BaseException:
            conn.disconnect()  # a reply may be left unread: never reuse this connection
            raise
        finally:
            pool.release(conn)
        return _pipeline_replies(replies, len(names))

    async def aread(self, client: Any, names: list[str]) -> tuple[list[Any], list[Any]]:
        """read() on a redis.asyncio client."""
        import redis.asyncio

        if type(client) is not redis.asyncio.Redis:
            pipe = client.pipeline(transaction=False)
            for command in _read_commands(names):
                pipe.execute_command(*command)
            return _pipeline_replies(await pipe.execute(raise_on_error=False), len(names))
        pool = client.connection_pool
        conn = await _connection(pool)
        try:
            await conn.send_packed_command([_read_packed(names)], check_health=False)
            try:
                first = await conn.read_response()
            except _redis_module().ResponseError as exc:
                first = exc  # WRONGTYPE: the rest of the replies follow as usual
            replies = [first]
            for _ in names:
                replies.append(await conn.read_response())
        except BaseException:
            await conn.disconnect(nowait=True)  # cancelled (timeout) mid-reply: not reusable
            raise
        finally:
            await pool.release(conn)
        return _pipeline_replies(replies, len(names))

    def sync_client(self) -> Any:
        if self.sync is None:
            raise TypeError("this RedisCache was given an asyncio client: use its async methods")
        return self.sync

    def async_client(self) -> Any:
        """The asyncio client, made on first use in the running loop (and again in another
        loop: a redis.asyncio client belongs to the loop its connections were made in)."""
        if not self.owned:
            if self.aio is None:
                raise TypeError("this RedisCache was given a sync client: use its sync methods")
            return self.aio
        loop = asyncio.get_running_loop()
        if self.aio is None or self.aio_loop is not loop:
            import redis.asyncio

            assert self.url is not None
            # No per-reply timeout: every async call is bounded as a whole by _acall's
            # (redis.asyncio would open a timeout scope per reply, four per read).
            options = {**self._options(redis), "socket_timeout": None}
            if self.cluster:
                import redis.asyncio.cluster

                from ._redis_cluster import AsyncCluster

                made = redis.asyncio.cluster.RedisCluster.from_url(self.url, **options)
                self.aio = AsyncCluster(made)
            else:
                self.aio = redis.asyncio.Redis.from_url(self.url, **options)
            self.aio_loop = loop
        return self.aio

    def close(self) -> None:
        if self.owned and self.sync is not None:
            self.sync.close()

    async def aclose(self) -> None:
        if self.owned and self.aio is not None:
            closing = getattr(self.aio, "aclose", None) or self.aio.close
            await closing()
            self.aio = None
        self.close()


__all__ = ["TLS_KEYS", "_Clients", "_redis_module", "_values_and_ttls", "tls_option"]
