"""twincache.metrics: every kind of cache registered, the registry scraped to the Prometheus text
format and parsed back with prometheus_client's own parser, the values checked against known
operations (on injected clocks), and every sample checked against the names, types and labels of
docs/metrics.md. Also: duplicate names, garbage-collected caches, the optional dependency. Runs
native and TWINCACHE_PURE=1."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

prometheus_client = pytest.importorskip(
    "prometheus_client",
    reason="prometheus_client is not installed (pip install twincache[metrics])",
)
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import twincache  # noqa: E402
import twincache.metrics  # noqa: E402
from redis_server import RedisServer, server_fixture  # noqa: E402
from twincache import _disk  # noqa: E402
from twincache._testing import ManualClock  # noqa: E402

redis_server = server_fixture()
ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-0123456789abcdef"

Labels = tuple[tuple[str, str], ...]


def spec() -> dict[str, tuple[str, frozenset[str]]]:
    """docs/metrics.md's tables: metric name -> (type, label names)."""
    out = {}
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for name, kind, labels in re.findall(
        r"^\| `(twincache_\w+)` \| (\w+) \| ([\w, ]+) \|", text, re.M
    ):
        out[name] = (kind, frozenset(label.strip() for label in labels.split(",")))
    return out


SPEC = spec()


def scrape(registry: CollectorRegistry) -> dict[tuple[str, Labels], float]:
    """The registry's exposition, parsed: (sample name, sorted labels) -> value. Every sample is
    checked against the specification on the way."""
    text = generate_latest(registry).decode("utf-8")
    out: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.name in SPEC, f"{sample.name} is not in docs/metrics.md"
            kind, labels = SPEC[sample.name]
            assert family.type == kind, sample.name
            assert set(sample.labels) == labels, sample.name
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in out, f"duplicate sample {key}"
            out[key] = sample.value
    return out


def of(samples: dict[tuple[str, Labels], float], cache: str) -> dict[str, float]:
    """One cache's samples: `name` or `name{extra label value}` -> value."""
    out = {}
    for (name, labels), value in samples.items():
        d = dict(labels)
        if d.pop("cache") != cache:
            continue
        out[name + "".join(f"{{{v}}}" for v in d.values())] = value
    return out


COMMON = (
    "twincache_hits_total",
    "twincache_misses_total",
    "twincache_sets_total",
    "twincache_rejected_total",
    "twincache_deletes_total",
    "twincache_expirations_total",
    "twincache_cleared_total",
    "twincache_items",
    "twincache_bytes",
)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


# --- memory ---------------------------------------------------------------------------------------


def test_cache_counters_after_known_operations(
    registry: CollectorRegistry, clock: ManualClock
) -> None:
    c: twincache.Cache[str, int] = twincache.Cache(maxsize=2, ttl=5, policy="lru")
    assert twincache.metrics.register(c, "sessions", registry=registry) == "sessions"
    c["a"] = 1
    c["b"] = 2
    c["a"] = 3  # an update; b is now the least recently used
    c["c"] = 4  # evicts b (max_items)
    assert c.get("a") == 3 and c.get("b") is None  # a hit, a miss
    del c["c"]
    clock.advance(6)
    assert c.get("a") is None  # expired: a miss and an expiration
    c["x"] = c["y"] = 0
    c.clear()
    got = of(scrape(registry), "sessions")
    assert got == {
        "twincache_hits_total": 1,
        "twincache_misses_total": 2,
        "twincache_sets_total": 6,  # 5 inserts + 1 update
        "twincache_rejected_total": 0,
        "twincache_deletes_total": 1,
        "twincache_evictions_total{max_items}": 1,
        "twincache_evictions_total{max_bytes}": 0,
        "twincache_expirations_total": 1,
        "twincache_cleared_total": 2,
        "twincache_items": 0,
        "twincache_bytes": 0,
        "twincache_max_items": 2,  # no twincache_max_bytes: unlimited
    }
    c["z"] = 1  # read at scrape time: the next scrape sees it
    again = of(scrape(registry), "sessions")
    assert (again["twincache_items"], again["twincache_sets_total"]) == (1, 7)
    assert again["twincache_bytes"] == c.stats()["bytes"] > 0


def test_byte_budget_evictions_and_rejections(registry: CollectorRegistry) -> None:
    c: twincache.Cache[int, str] = twincache.Cache(max_bytes=2_000, policy="lru")
    twincache.metrics.register(c, "blobs", registry=registry)
    for i in range(100):
        c[i] = "x" * 50
    with pytest.raises(ValueError):
        c[-1] = "x" * 5_000  # heavier than the whole budget: refused
    got = of(scrape(registry), "blobs")
    assert 0 < got["twincache_items"] < 100
    assert got["twincache_evictions_total{max_bytes}"] == 100 - got["twincache_items"]
    assert got["twincache_evictions_total{max_items}"] == 0
    assert got["twincache_rejected_total"] == 1
    assert got["twincache_bytes"] <= 2_000
    assert got["twincache_max_bytes"] == 2_000
    assert "twincache_max_items" not in got


def test_decorated_function_named_by_its_qualified_name(registry: CollectorRegistry) -> None:
    @twincache.lru_cache(maxsize=2)
    def square(x: int) -> int:
        return x * x

    @twincache.cache(ttl=60, max_bytes=10_000)
    def cube(x: int) -> int:
        return x**3

    name = twincache.metrics.register(square, registry=registry)
    assert name == f"{__name__}.test_decorated_function_named_by_its_qualified_name.<locals>.square"
    twincache.metrics.register(cube, "cube", registry=registry)
    for x in (1, 2, 3, 1, 1):
        square(x)
    cube(2)
    cube(2)
    samples = scrape(registry)
    got = of(samples, name)
    assert got["twincache_hits_total"] == 1
    assert got["twincache_misses_total"] == 4
    assert got["twincache_sets_total"] == 4
    assert got["twincache_evictions_total{max_items}"] == 2
    assert got["twincache_items"] == 2
    assert got["twincache_max_items"] == 2
    assert "twincache_max_bytes" not in got
    got = of(samples, "cube")
    assert (got["twincache_hits_total"], got["twincache_misses_total"]) == (1, 1)
    assert got["twincache_max_bytes"] == 10_000
    assert "twincache_max_items" not in got
    square.cache_clear()  # resets the counters: Prometheus sees a counter reset
    assert of(scrape(registry), name)["twincache_hits_total"] == 0


def test_unbounded_functools_cache_has_no_limit_samples(registry: CollectorRegistry) -> None:
    @twincache.cache
    def ident(x: int) -> int:
        return x

    ident(1)
    name = twincache.metrics.register(ident, registry=registry)
    got = of(scrape(registry), name)
    assert (got["twincache_misses_total"], got["twincache_items"]) == (1, 1)
    assert "twincache_max_items" not in got and "twincache_max_bytes" not in got


# --- disk -----------------------------------------------------------------------------------------


def test_disk_cache_counters(registry: CollectorRegistry, tmp_path: Path, disk_clock: None) -> None:
    d: twincache.DiskCache[str, str] = twincache.DiskCache(
        tmp_path / "d", ttl=10, max_bytes=1 << 20
    )
    twincache.metrics.register(d, "disk", registry=registry)
    d["a"] = "1"
    d["b"] = "2"
    d["b"] = "3"
    assert d["a"] == "1"
    assert d.get("zz") is None
    del d["b"]
    _disk.clock_advance(11 * 10**9)
    assert d.get("a") is None  # expired
    d["x"] = "y"
    d.clear()
    got = of(scrape(registry), "disk")
    assert got == {
        "twincache_hits_total": 1,
        "twincache_misses_total": 2,
        "twincache_sets_total": 4,
        "twincache_rejected_total": 0,
        "twincache_deletes_total": 1,
        "twincache_evictions_total{max_bytes}": 0,  # a disk cache has no item limit
        "twincache_expirations_total": 1,
        "twincache_cleared_total": 1,
        "twincache_corrupt_total": 0,
        "twincache_items": 0,
        "twincache_bytes": 0,
        "twincache_max_bytes": 1 << 20,
    }


def test_disk_function(registry: CollectorRegistry, tmp_path: Path) -> None:
    @twincache.cache(backend="disk", path=tmp_path / "fn", max_bytes=50_000)
    def double(x: int) -> int:
        return 2 * x

    name = twincache.metrics.register(double, registry=registry)
    assert name == f"{__name__}.test_disk_function.<locals>.double"
    assert [double(1), double(1), double(2)] == [2, 2, 4]
    got = of(scrape(registry), name)
    assert (got["twincache_hits_total"], got["twincache_misses_total"]) == (1, 2)
    assert (got["twincache_sets_total"], got["twincache_items"]) == (2, 2)
    assert got["twincache_max_bytes"] == 50_000
    assert "twincache_max_items" not in got


# --- redis ----------------------------------------------------------------------------------------


def test_redis_cache_against_a_real_server(
    registry: CollectorRegistry, redis_server: RedisServer
) -> None:
    # coherent=False: these counts are L1's own; with coherence (the default) a cache's own
    # writes come back as invalidations and drop its L1 copies (docs/redis.md, "Coherence").
    writer = twincache.RedisCache(
        redis_server.url, namespace="metrics", secret=SECRET, coherent=False
    )
    reader = twincache.RedisCache(
        redis_server.url,
        namespace="metrics",
        secret=SECRET,
        l1_maxsize=5,
        l1_max_bytes=9_000,
        coherent=False,
    )
    try:
        twincache.metrics.register(writer, "writer", registry=registry)
        twincache.metrics.register(reader, "reader", registry=registry)
        writer["k"] = "v"
        writer.set("other", 1)
        assert writer["k"] == "v"  # L1
        assert reader["k"] == "v"  # L1 miss, Redis hit (now in reader's L1)
        assert reader["k"] == "v"  # L1
        assert reader.get("absent") is None  # L1 miss, Redis miss
        writer.delete("other")
        samples = scrape(registry)
    finally:
        writer.close()
        reader.close()
    w, r = of(samples, "writer"), of(samples, "reader")
    assert w["twincache_hits_total"] == 1
    assert (w["twincache_sets_total"], w["twincache_deletes_total"]) == (2, 1)
    assert (w["twincache_items"], w["twincache_max_items"]) == (1, 10_000)
    assert "twincache_max_bytes" not in w
    assert (r["twincache_hits_total"], r["twincache_misses_total"]) == (1, 2)  # L1's
    assert (r["twincache_l2_hits_total"], r["twincache_l2_misses_total"]) == (1, 1)
    assert r["twincache_items"] == 1
    assert (r["twincache_max_items"], r["twincache_max_bytes"]) == (5, 9_000)
    for got in (w, r):
        assert got["twincache_breaker_open"] == 0
        assert got["twincache_l2_skipped_total"] == 0
        for kind in ("timeout", "error", "corrupt", "unreadable"):
            assert got[f"twincache_l2_errors_total{{{kind}}}"] == 0
        assert got["twincache_evictions_total{max_items}"] == 0  # L1's own counters
        assert got["twincache_expirations_total"] == 0


def test_redis_function_against_a_real_server(
    registry: CollectorRegistry, redis_server: RedisServer
) -> None:
    # coherent=False: the second call is an L1 hit (with coherence the function's own write
    # comes back as an invalidation and the second call reads Redis).
    @twincache.cache(
        backend="redis", url=redis_server.url, secret=SECRET, namespace="mfn", coherent=False
    )
    def rate(currency: str) -> float:
        return 1.5

    try:
        rate.cache_clear()  # type: ignore[attr-defined]
        name = twincache.metrics.register(rate, registry=registry)
        assert name.endswith(".test_redis_function_against_a_real_server.<locals>.rate")
        assert [rate("EUR"), rate("EUR"), rate("USD")] == [1.5, 1.5, 1.5]
        got = of(scrape(registry), name)
    finally:
        rate.redis_cache.close()  # type: ignore[attr-defined]
    assert (got["twincache_hits_total"], got["twincache_misses_total"]) == (1, 2)
    assert got["twincache_l2_misses_total"] == 2
    assert got["twincache_items"] == 2


def test_breaker_open_and_failures_by_kind(registry: CollectorRegistry) -> None:
    # Nothing listens on port 1: each call sent fails at once (connection refused).
    c = twincache.RedisCache(
        "redis://127.0.0.1:1/0", secret=SECRET, breaker_threshold=1, breaker_delay=(60.0, 60.0)
    )
    try:
        twincache.metrics.register(c, "down", registry=registry)
        assert of(scrape(registry), "down")["twincache_breaker_open"] == 0
        assert c.get("a") is None  # sent, failed: the breaker opens
        assert c.get("b") is None  # not sent
        got = of(scrape(registry), "down")
    finally:
        c.close()
    assert got["twincache_l2_errors_total{error}"] == 1
    assert got["twincache_l2_errors_total{timeout}"] == 0
    assert got["twincache_l2_skipped_total"] == 1
    assert got["twincache_breaker_open"] == 1
    assert got["twincache_misses_total"] == 2


# --- registration -------------------------------------------------------------------------------


def test_duplicate_names_and_caches_are_errors(registry: CollectorRegistry) -> None:
    a, b = twincache.Cache(), twincache.Cache()
    twincache.metrics.register(a, "one", registry=registry)
    with pytest.raises(ValueError, match=r"^a cache named 'one' is already registered$"):
        twincache.metrics.register(b, "one", registry=registry)
    with pytest.raises(ValueError, match=r"^this cache is already registered as 'one'$"):
        twincache.metrics.register(a, "two", registry=registry)
    assert twincache.metrics.collector(registry).names() == ["one"]


def test_bad_arguments(registry: CollectorRegistry) -> None:
    with pytest.raises(TypeError, match=r"^name is required for a Cache object"):
        twincache.metrics.register(twincache.Cache(), registry=registry)
    with pytest.raises(TypeError, match=r"^cache must be a twincache Cache, .* \(got dict\)$"):
        twincache.metrics.register({}, "d", registry=registry)
    with pytest.raises(TypeError, match=r"^name must be a non-empty str or None \(got int\)$"):
        twincache.metrics.register(twincache.Cache(), 3, registry=registry)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^name must be a non-empty str or None \(got ''\)$"):
        twincache.metrics.register(twincache.Cache(), "", registry=registry)
    assert twincache.metrics.collector(registry).names() == []


def test_a_registered_cache_can_be_garbage_collected(registry: CollectorRegistry) -> None:
    c = twincache.Cache()
    c["k"] = 1
    twincache.metrics.register(c, "gone", registry=registry)
    assert of(scrape(registry), "gone")["twincache_items"] == 1
    del c
    gc.collect()
    assert of(scrape(registry), "gone") == {}
    assert twincache.metrics.collector(registry).names() == []
    twincache.metrics.register(twincache.Cache(), "gone", registry=registry)  # the name is free


def test_unregister(registry: CollectorRegistry) -> None:
    a, b = twincache.Cache(), twincache.Cache()
    twincache.metrics.register(a, "a", registry=registry)
    twincache.metrics.register(b, "b", registry=registry)
    assert twincache.metrics.unregister(a, registry=registry)
    assert twincache.metrics.unregister("b", registry=registry)
    assert not twincache.metrics.unregister("b", registry=registry)
    assert scrape(registry) == {}


def test_one_collector_per_registry(registry: CollectorRegistry) -> None:
    first = twincache.metrics.collector(registry)
    assert twincache.metrics.collector(registry) is first
    # A second collector on the same registry would expose every name twice: refused there.
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(twincache.metrics.TwincacheCollector())


def test_a_collector_made_by_hand(registry: CollectorRegistry) -> None:
    collector = twincache.metrics.TwincacheCollector()
    registry.register(collector)
    c = twincache.Cache()
    c["a"] = 1
    assert collector.add(c, "by-hand") == "by-hand"
    assert of(scrape(registry), "by-hand")["twincache_sets_total"] == 1


# --- the optional dependency ----------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )


def test_importing_twincache_does_not_import_prometheus_client() -> None:
    out = run_python(
        "import sys, twincache\n"
        "twincache.Cache(); twincache.DiskCache\n"
        "print('prometheus_client' in sys.modules)"
    )
    assert out.stdout.strip() == "False", out.stderr


def test_without_prometheus_client_the_error_says_what_to_install() -> None:
    out = run_python(
        "import sys; sys.modules['prometheus_client'] = None\nimport twincache.metrics\n"
    )
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last == (
        "ImportError: twincache.metrics needs prometheus_client: pip install prometheus_client "
        "(or pip install 'twincache[metrics]')"
    )


def test_every_specified_cache_metric_is_emitted(
    registry: CollectorRegistry, tmp_path: Path
) -> None:
    """The collector emits every name of the cache and Redis tables of docs/metrics.md (the
    server's own rows aside), so the specification and the code cannot drift apart."""
    c = twincache.Cache(maxsize=1, max_bytes=1_000)
    twincache.metrics.register(c, "mem", registry=registry)
    r = twincache.RedisCache("redis://127.0.0.1:1/0", secret=SECRET)
    twincache.metrics.register(r, "redis", registry=registry)
    d = twincache.DiskCache(tmp_path / "d")
    twincache.metrics.register(d, "disk", registry=registry)
    try:
        emitted = {name for name, _ in scrape(registry)}
    finally:
        r.close()
    server_only = {
        "twincache_requests_total",
        "twincache_request_duration_seconds",
        "twincache_max_value_bytes",
    }
    assert emitted == set(SPEC) - server_only
    assert twincache.metrics.collector(registry).names() == ["disk", "mem", "redis"]
    assert len(c) == len(d) == 0  # alive until here
