"""A user program of twincache.metrics, type-checked with mypy --strict and run (native and
TWINCACHE_PURE=1) by tests/typecheck/python/check.py: the module is typed (prometheus_client's
own types included), register() takes any cache and returns the label, and the collector is a
prometheus_client collector."""

from __future__ import annotations

from typing import assert_type

from prometheus_client import CollectorRegistry, generate_latest

import twincache
import twincache.metrics
from twincache.metrics import TwincacheCollector


@twincache.cache(maxsize=10)
def square(x: int) -> int:
    return x * x


registry = CollectorRegistry()
sessions = twincache.Cache[str, int](maxsize=100)
name = twincache.metrics.register(square, registry=registry)
assert_type(name, str)
assert name == "__main__.square", name
twincache.metrics.register(sessions, "sessions", registry=registry)
collector = twincache.metrics.collector(registry)
assert_type(collector, TwincacheCollector)
assert collector.names() == ["__main__.square", "sessions"]
square(3)
text = generate_latest(registry).decode()
assert 'twincache_misses_total{cache="__main__.square"} 1.0' in text, text
assert_type(twincache.metrics.unregister("sessions", registry=registry), bool)
by_hand = TwincacheCollector()
CollectorRegistry().register(by_hand)
print("sample_metrics: ok", "native" if twincache.native else "pure")
