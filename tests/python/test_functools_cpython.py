"""CPython's own functools tests (test.test_functools, TestLRU and TestCache) run against
twincache.lru_cache and twincache.cache, the way CPython runs them against its C and its Python
implementation: subclasses whose `module` attribute is a namespace that has twincache's
decorators and functools' everything else. Runs in both pytest passes (native and pure).

Nothing is excluded: every test of both classes applies to a drop-in (pickling by reference,
copy, weak references, the hash-once rule, reentrant calls, threads).
"""

from __future__ import annotations

import functools
import types
import unittest

import pytest

import twincache

cpython = pytest.importorskip(
    "test.test_functools",
    reason="this interpreter has no test package (CPython's test suite is not installed)",
)

# functools with twincache's decorators: what the tests reach through self.module.
twincache_as_functools = types.SimpleNamespace(**vars(functools))
twincache_as_functools.lru_cache = twincache.lru_cache
twincache_as_functools.cache = twincache.cache


# test_pickle pickles this by reference: it must be a global of an importable module.
@twincache.lru_cache()
def twincache_cached_func(x: int, y: int) -> int:
    return 3 * x + y


class TestLRUTwincache(cpython.TestLRU, unittest.TestCase):  # type: ignore[name-defined]
    module = twincache_as_functools
    cached_func = (twincache_cached_func,)

    @twincache.lru_cache()
    def cached_meth(self, x: int, y: int) -> int:
        return 3 * x + y

    @staticmethod
    @twincache.lru_cache()
    def cached_staticmeth(x: int, y: int) -> int:
        return 3 * x + y


class TestCacheTwincache(cpython.TestCache, unittest.TestCase):  # type: ignore[name-defined]
    module = twincache_as_functools


def test_the_namespace_is_twincache() -> None:
    """The classes above test twincache, not functools (which CPython tests already)."""
    assert TestLRUTwincache.module.lru_cache is twincache.lru_cache
    assert TestCacheTwincache.module.cache is twincache.cache
    assert type(TestLRUTwincache.cached_meth) is not type(functools.lru_cache()(len))
