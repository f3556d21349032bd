"""The Redis tier's Python benchmark (issue 16): one run on loopback against its own
redis-server, ratios against the baselines the issue names and against cashews' and aiocache's
Redis backends (scripts/requirements-bench.txt; a peer not installed is skipped, its reason
printed). Not part of CI (timed thresholds live here, never in tests).

    .venv/bin/python bench/redis/bench_python.py [--repeat 15] [--number 400]

Each row runs its contenders in turns, `--repeat` rounds of `--number` calls each (so a machine
busy with other work slows both sides of a ratio alike); a contender's figure is its best
round's time per call (other processes only ever add time), a ratio is twincache's over the
baseline's, followed by the median over the rounds of the per-round ratio. Rows:
- L1 hit: a @cache(backend="redis") function whose result is in L1, vs the memory
  @cache(ttl=...) hit (target <= 1.5x); timed in this thread's CPU time (no I/O involved).
- L2 hit (L1 misses: l1_maxsize=1, keys rotating over 1000 entries of a 1 KiB value):
  RedisCache.get vs a bare redis-py GET + pickle.loads (json.loads for codec json), target
  <= 1.3x; async: RedisCache.aget vs redis.asyncio GET + pickle.loads (<= 1.3x), and vs cashews'
  and aiocache's get of the same value from the same server (target <= 1.0x: at least as fast).
- get_many(100 keys, L1 misses) vs one bare GET + loads (target <= 3x), for the 1 KiB value and
  for a small one (an int); the floors of that target: a bare MGET of 100 such values + 100
  pickle.loads vs one bare GET + loads (above 3x for 1 KiB values, so no client meets the target
  there), and the same MGET with a PTTL per name pipelined behind it, as docs/redis.md's TTL rule
  needs (an L1 copy never outlives its Redis entry); the same plus what the issue's other rules
  add per key, written by hand (native only): each key's name, the MAC check before any loads,
  an L1 insert (_compliant_floor); and get_many vs the bare MGET and vs that last floor.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "python"))

import redis
import redis.asyncio

import twincache
from benchkit import SECRET, arguments, own_redis_server, timed_rounds
from redis_server import RedisServer
from twincache._redis_clients import _pack

KEYS = 1000
VALUE = {"payload": "x" * 1000, "n": 1}  # about 1 KiB pickled or as JSON


class Rounds:
    """Per-call times of named contenders, measured in turns."""

    def __init__(self, number: int, repeat: int) -> None:
        self.number, self.repeat = number, repeat

    def run(
        self,
        contenders: dict[str, Callable[[], object]],
        number: int,
        clock: Callable[[], float] = time.perf_counter,
    ) -> dict[str, list[float]]:
        got = timed_rounds({n: (fn, number) for n, fn in contenders.items()}, self.repeat, (clock,))
        return {name: [t[0] for t in per_round] for name, per_round in got.items()}

    async def arun(
        self, contenders: dict[str, Callable[[], Awaitable[object]]], number: int
    ) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for fn in contenders.values():
            for _ in range(min(number, 50)):
                await fn()
        for _ in range(self.repeat):
            for name, fn in contenders.items():
                started = time.perf_counter()
                for _ in range(number):
                    await fn()
                times[name].append((time.perf_counter() - started) / number)
        return times


def row(
    title: str, times: dict[str, list[float]], ours: str, base: str, target: float | None
) -> None:
    """Best round of each (other processes only ever add time) and their ratio, the verdict;
    then the median over the rounds of the per-round ratio (how steady the ratio is)."""
    best = min(times[ours]) / min(times[base])
    median = statistics.median(a / b for a, b in zip(times[ours], times[base], strict=True))
    verdict = "" if target is None else "ok" if best <= target else f"(target <= {target}x)"
    print(
        f"{title:<52} {min(times[ours]) * 1e6:9.2f} us vs {min(times[base]) * 1e6:9.2f} us"
        f" = {best:5.2f}x (median of rounds {median:5.2f}x)  {verdict}"
    )


def rotating(fn: Callable[[int], object]) -> Callable[[], object]:
    """fn(0), fn(1), ... fn(KEYS - 1), fn(0)...: every call a key L1 (of 1 item) lacks."""
    state = [0]

    def call() -> object:
        state[0] = (state[0] + 1) % KEYS
        return fn(state[0])

    return call


def arotating(fn: Callable[[int], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    state = [0]

    def call() -> Awaitable[object]:
        state[0] = (state[0] + 1) % KEYS
        return fn(state[0])

    return call


def main() -> None:
    args = arguments(__doc__, repeat=15, number=400)
    with own_redis_server() as server:
        rounds = Rounds(args.number, args.repeat)
        run(server, rounds)
        asyncio.run(arun(server, rounds))


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def run(server: RedisServer, rounds: Rounds) -> None:
    mode = "native" if twincache.native else "pure (TWINCACHE_PURE=1)"
    parser = "hiredis" if redis.utils.HIREDIS_AVAILABLE else "pure-Python RESP parser"
    python = sys.version.split()[0]
    print(f"twincache {mode}, redis-py {redis.__version__} ({parser}), Python {python}")
    print(f"loopback redis-server :{server.port}; {rounds.repeat} rounds of {rounds.number} calls")
    bare = redis.Redis.from_url(server.url)

    # L1 hit vs the memory decorator's hit.
    @twincache.cache(ttl=60)
    def memory(x: int) -> int:
        return x

    @twincache.cache(backend="redis", url=server.url, ttl=60, secret=SECRET, namespace="b1")
    def remote(x: int) -> int:
        return x

    memory(1)
    remote(1)
    # CPU time of this thread: an L1 hit does no I/O, and the machine's other work then does not
    # count (wall-clock rounds of a 0.2 us call were disturbed in every round under load).
    contenders = {"ours": lambda: remote(1), "memory": lambda: memory(1)}
    times = rounds.run(contenders, rounds.number * 50, time.thread_time)
    row("L1 hit: @cache(backend='redis') vs @cache(ttl)", times, "ours", "memory", 1.5)

    for codec, loads, dumps in (
        ("pickle", pickle.loads, pickle.dumps),
        ("json", json.loads, _json),
    ):
        c = twincache.RedisCache(
            server.url, namespace="b2" + codec, codec=codec, secret=SECRET, l1_maxsize=1
        )
        c.set_many({i: VALUE for i in range(KEYS)})
        bare.mset({f"bare{codec}:{i}": dumps(VALUE) for i in range(KEYS)})
        times = rounds.run(
            {
                "ours": rotating(c.get),
                "bare": rotating(
                    lambda i, loads=loads, codec=codec: loads(bare.get(f"bare{codec}:{i}"))
                ),  # type: ignore[misc]
            },
            rounds.number,
        )
        row(f"L2 hit, 1 KiB {codec}: get vs GET + loads", times, "ours", "bare", 1.3)
        c.close()

    for label, value in (("1 KiB", VALUE), ("int", 7)):
        c = twincache.RedisCache(server.url, namespace="b3", secret=SECRET, l1_maxsize=1)
        c.set_many({i: value for i in range(KEYS)})
        bare.set("barepickle:one", pickle.dumps(value))
        bare.mset({f"baremany:{i}": pickle.dumps(value) for i in range(KEYS)})
        batches = [list(range(i, i + 100)) for i in range(0, KEYS, 100)]
        many = _batches(c, batches)
        names = [[f"baremany:{i}" for i in b] for b in batches]
        mget = _bare_mget(bare, names)
        contenders = {
            "ours": many,
            "mget": mget,
            "mget+pttl": _bare_mget(bare, names, pttl=True),
            "bare": lambda: pickle.loads(bare.get("barepickle:one")),
        }
        compliant = _compliant_floor(bare, c, batches)
        if compliant is not None:
            contenders["compliant"] = compliant
        times = rounds.run(contenders, max(1, rounds.number // 10))
        row(f"get_many(100 keys, {label}, L1 misses) vs one GET", times, "ours", "bare", 3.0)
        row(f"floor: bare MGET(100, {label}) + loads vs one GET", times, "mget", "bare", 3.0)
        # The TTL rule (an L1 copy never outlives its Redis entry) needs each name's PTTL.
        row(f"floor: MGET + 100 PTTL pipelined + loads ({label})", times, "mget+pttl", "bare", 3.0)
        row(f"get_many(100 keys, {label}) vs bare MGET(100) + loads", times, "ours", "mget", None)
        if compliant is not None:
            # What the rules add per key: the name, the MAC check, an L1 insert.
            row(f"floor: + names, MACs, L1 puts ({label})", times, "compliant", "bare", 3.0)
            row(f"get_many(100 keys, {label}) vs that floor", times, "ours", "compliant", None)
        else:
            print("floor with names, MACs and L1 puts: skipped (pure mode: no native RedisMac)")
        c.close()
    bare.close()


def _batches(c: twincache.RedisCache, batches: list[list[int]]) -> Callable[[], object]:
    """c.get_many of each batch in turn."""
    state = [0]

    def many() -> object:
        state[0] = (state[0] + 1) % len(batches)
        return c.get_many(batches[state[0]])

    return many


def _bare_mget(
    bare: redis.Redis, batches: list[list[str]], pttl: bool = False
) -> Callable[[], object]:
    """A bare MGET of each batch of names in turn, every value unpickled; with pttl, the MGET
    and a PTTL per name in one pipeline (no MULTI), as the L1's TTL rule needs."""
    state = [0]

    def mget() -> object:
        state[0] = (state[0] + 1) % len(batches)
        if not pttl:
            return [pickle.loads(v) for v in bare.mget(batches[state[0]])]
        values, _ = _mget_and_pttls(bare, batches[state[0]])
        return [pickle.loads(v) for v in values]

    return mget


def _mget_and_pttls(bare: redis.Redis, names: list[str]) -> tuple[list[Any], list[Any]]:
    """(values, PTTLs) of names: the MGET and a PTTL per name in one pipeline (no MULTI), written
    and read back by hand, the cheapest way known (redis-py's pipeline object costs about 2x
    this): the round trip of any client that keeps the TTL rule."""
    conn = bare.connection_pool.get_connection()
    try:
        conn.send_packed_command([_pack([("MGET", *names), *(("PTTL", n) for n in names)])])
        values = conn.read_response()
        pttls = [conn.read_response() for _ in names]
    finally:
        bare.connection_pool.release(conn)
    return values, pttls


def _compliant_floor(
    bare: redis.Redis, c: twincache.RedisCache, batches: list[list[int]]
) -> Callable[[], object] | None:
    """The least a client that keeps docs/redis.md's rules does for get_many of keys L1 lacks,
    written by hand over c's own entries: each key's name (its canonical encoding and XXH3-128
    hash), the MGET + PTTL per name (_mget_and_pttls), then for each value the MAC check before
    anything is unpickled (the core's, pads hashed once: twincache._disk_native.RedisMac), the
    payload's pickle.loads and an L1 insert for the PTTL it has left. Nothing else: no counters,
    no coherence, no header checks beyond the key's length, no other-key check. None in pure mode
    (no native RedisMac, and the hashlib MAC would not be a floor)."""
    from twincache import _disk
    from twincache import _redis_envelope as env

    native_mac = getattr(_disk._native_disk, "RedisMac", None)
    if native_mac is None:
        return None
    mac = native_mac(c._secret, env.DOMAIN)
    l1 = twincache.Cache(maxsize=1)  # an L1 that evicts on every insert, as the bench's
    namespace, head = c._namespace, env.HEADER.size
    state = [0]

    def read() -> object:
        state[0] = (state[0] + 1) % len(batches)
        encoded = [env.encode_key(k) for k in batches[state[0]]]
        names = [env.entry_name(namespace, e) for e in encoded]
        values, pttls = _mget_and_pttls(bare, names)
        found = {}
        for key, name, raw, pttl in zip(encoded, names, values, pttls, strict=True):
            if raw is None or not mac.verify(name, raw):
                continue
            klen = int.from_bytes(raw[3:7], "little")
            value = pickle.loads(memoryview(raw)[head + klen : -32])
            if pttl == -1 or pttl > 0:  # -1: no expiry; -2: gone since the MGET
                l1._set(key, value, None if pttl == -1 else pttl * 1_000_000)
            found[key] = value
        return found

    return read


async def arun(server: RedisServer, rounds: Rounds) -> None:
    c = twincache.RedisCache(server.url, namespace="b4", secret=SECRET, l1_maxsize=1)
    await c.aset_many({i: VALUE for i in range(KEYS)})
    bare = redis.asyncio.Redis.from_url(server.url)
    await bare.mset({f"barepickle:{i}": pickle.dumps(VALUE) for i in range(KEYS)})

    async def base(i: int) -> object:
        return pickle.loads(await bare.get(f"barepickle:{i}"))

    contenders: dict[str, Callable[[], Awaitable[object]]] = {
        "ours": arotating(c.aget),
        "bare": arotating(base),
    }
    closers: list[Callable[[], Awaitable[object]]] = []
    peers = [("cashews", _cashews), ("aiocache", _aiocache)]
    for name, make in peers:
        try:
            get, close = await make(server)
        except ImportError as exc:
            print(f"{name}: skipped ({exc}; pip install -r scripts/requirements-bench.txt)")
            continue
        contenders[name] = arotating(get)
        closers.append(close)
    times = await rounds.arun(contenders, rounds.number)
    row("async L2 hit, 1 KiB pickle: aget vs GET + loads", times, "ours", "bare", 1.3)
    for name, _ in peers:
        if name in times:
            row(f"async L2 hit, 1 KiB pickle: aget vs {name} get", times, "ours", name, 1.0)
    for close in closers:
        await close()
    await c.aclose()
    await bare.aclose()


async def _cashews(server: RedisServer) -> tuple[Any, Any]:
    """cashews' Redis backend (pickle, its default; unsigned: no HMAC, which ours checks)."""
    import cashews

    cache = cashews.Cache()
    cache.setup(server.url, client_side=False)
    await cache.set_many({f"c:{i}": VALUE for i in range(KEYS)}, expire=600)

    def get(i: int) -> Awaitable[object]:
        return cache.get(f"c:{i}")

    return get, cache.close


async def _aiocache(server: RedisServer) -> tuple[Any, Any]:
    """aiocache's RedisCache with its PickleSerializer."""
    from aiocache import RedisCache
    from aiocache.serializers import PickleSerializer

    cache = RedisCache(
        endpoint="127.0.0.1", port=server.port, namespace="a", serializer=PickleSerializer()
    )
    await cache.multi_set([(f"{i}", VALUE) for i in range(KEYS)], ttl=600)

    def get(i: int) -> Awaitable[object]:
        return cache.get(f"{i}")

    return get, cache.close


if __name__ == "__main__":
    main()
