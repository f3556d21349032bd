"""Lines mypy --strict must reject, each marked with the error code it must report
(`# E: code`); tests/typecheck/python/check.py fails when mypy reports an error on an unmarked
line, or misses a marked one. They are the mistakes the types exist to catch: if the decorators
returned Any or the option words were plain str, these lines would pass. Never run."""

from __future__ import annotations

import twincache


@twincache.lru_cache(maxsize=32)
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@twincache.cache(ttl=60)
def load(user_id: int) -> dict[str, int]:
    return {"id": user_id}


class Model:
    @twincache.cache(maxsize=10)
    def predict(self, x: int) -> int:
        return x


# The signature and the result type are kept.
fib("30")  # E: arg-type
label: str = fib(3)  # E: assignment
load(1, 2)  # E: call-arg
load.invalidate("1")  # E: arg-type
wrong: twincache.CachedFunction[[str], int] = fib  # E: assignment

# The helpers exist with their types: stats() is a TypedDict with fixed keys.
fib.stats()["hit"]  # E: typeddict-item
count: str = fib.stats()["hits"]  # E: assignment
fib.cache_info().hits.upper()  # E: attr-defined
load.cache_parameters()["ttl_seconds"]  # E: typeddict-item
fib.flush()  # E: attr-defined

# Methods: the instance is bound for calls; invalidate() takes it first (the function's helper).
Model().predict("x")  # E: arg-type
Model().predict.invalidate(2)  # E: arg-type, call-arg

# The option words are Literal types.
twincache.cache(policy="lfu")  # E: call-overload
twincache.Cache(policy="LRU")  # E: arg-type
twincache.DiskCache(codec="yaml")  # E: arg-type
twincache.cache(backend="sql")  # E: call-overload

# Options of the other backend: memory-only options with backend="disk", disk-only without it.
twincache.cache(backend="disk", maxsize=10)  # E: call-overload
twincache.cache(path="/tmp/c")  # E: call-overload
twincache.cache(backend="redis", policy="lru")  # E: call-overload


@twincache.cache(backend="disk")
def on_disk(x: int) -> int:
    return x


on_disk.cache_info()  # E: attr-defined
cleared: None = on_disk.cache_clear()  # E: assignment
on_disk.stats()["inserts"]  # E: typeddict-item


class Page:
    @twincache.cache(backend="disk", key=lambda self, n: n)
    def render(self, n: int) -> str:
        return str(n)


Page().render("3")  # E: arg-type
Page().render.invalidate(3)  # E: arg-type, call-arg

# Cache[K, V] and DiskCache[K, V] keep their types; Cache keys must be hashable.
cache = twincache.Cache[str, int]()
cache[1] = 2  # E: index
cache["a"] = "b"  # E: assignment
text: str = cache["a"]  # E: assignment
unhashable = twincache.Cache[list[int], int]()  # E: type-var
disk = twincache.DiskCache[str, bytes]()
disk.set("k", "not bytes")  # E: arg-type
