"""A user program over the decorators, type-checked with mypy --strict and run (native and
TWINCACHE_PURE=1) by tests/typecheck/python/check.py: every helper of a decorated function and
method, async functions, the option words, and the stats()/cache_parameters() dicts, whose keys
must be exactly the TypedDicts' at run time. typing.assert_type is checked by mypy and is a
no-op when the program runs, so each line states a type and a value."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, assert_type

import twincache
from twincache import (
    Backend,
    CachedFunction,
    CachedMethod,
    CacheInfo,
    CacheParameters,
    DiskCachedFunction,
    Policy,
    Stats,
)

# --- functools drop-ins: the signature and the helpers are kept -------------------------------


@twincache.lru_cache(maxsize=256)
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@twincache.lru_cache
def square(x: float) -> float:
    return x * x


@twincache.cache
def greet(name: str, *, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


fib_typed: CachedFunction[[int], int] = fib
n30 = fib(30)
assert_type(n30, int)
assert n30 == 832040
info = fib.cache_info()
assert_type(info, CacheInfo)
assert (info.hits, info.misses, info.maxsize, info.currsize) == (28, 31, 256, 31)
params = fib.cache_parameters()
assert_type(params, CacheParameters)
assert params == {"maxsize": 256, "typed": False}
wrapped: Callable[[int], int] = fib.__wrapped__
assert wrapped(10) == 55  # the undecorated function (it calls the cached fib inside)
assert fib.invalidate(30) is True
assert fib.invalidate(30) is False
fib.cache_clear()
assert fib.cache_info().currsize == 0

nine = square(3.0)
assert_type(nine, float)
assert nine == 9.0
assert square.cache_parameters()["maxsize"] == 128
greeting = greet("ada", punctuation="?")
assert_type(greeting, str)
assert greeting == "hello ada?"
assert greet.cache_parameters() == {"maxsize": None, "typed": False}

# --- stats(): a TypedDict named key for key as the runtime builds it ----------------------------

stats = fib.stats()
assert_type(stats, Stats)
hits: int = stats["hits"]
assert hits == 0 and stats["evicted_items"] + stats["evicted_bytes"] == stats["evictions"]
assert set(stats) == set(Stats.__required_keys__), sorted(set(stats) ^ set(Stats.__required_keys__))

# --- the configured form: the option words are Literal types ------------------------------------

policy: Policy = "lru"


@twincache.cache(maxsize=2, ttl=60, policy=policy, typed=True, single_flight=True)
def load(user_id: int, fields: tuple[str, ...] = ()) -> dict[str, object]:
    return {"id": user_id, "fields": list(fields)}


@twincache.cache(key=lambda text, lang: text.lower(), max_bytes=1 << 20)
def translate(text: str, lang: str) -> str:
    return f"{text}/{lang}"


load_typed: CachedFunction[[int, tuple[str, ...]], dict[str, object]] = load
assert load(1) == {"id": 1, "fields": []}
assert load(1, ("name",)) == {"id": 1, "fields": ["name"]}
load(1)
assert load.stats()["hits"] == 1 and load.stats()["items"] == 2
configured = load.cache_parameters()
assert configured == {
    "maxsize": 2,
    "typed": True,
    "ttl": 60,
    "max_bytes": None,
    "key": None,
    "policy": "lru",
    "single_flight": True,
}
assert set(configured) == set(CacheParameters.__annotations__)
assert load.invalidate(1, fields=()) is False  # a keyword call is another key (as functools)
assert load.invalidate(1) is True
assert translate("Hi", "fr") == "Hi/fr" and translate("HI", "de") == "Hi/fr"  # key=: text only
assert translate.cache_parameters()["max_bytes"] == 1 << 20

# A backend chosen at run time: the decorator is either kind; the options both take.
backend: Backend = "memory"


def increment(x: int) -> int:
    return x + 1


either: CachedFunction[[int], int] | DiskCachedFunction[[int], int]
either = twincache.cache(backend=backend, ttl=30)(increment)
assert either(1) == 2 and either.stats()["misses"] == 1

# --- methods: the instance is bound, the helpers stay ---------------------------------------------


class Model:
    def __init__(self, scale: int) -> None:
        self.scale = scale

    @twincache.cache(maxsize=100)
    def predict(self, x: int) -> int:
        return x * self.scale

    @twincache.lru_cache(maxsize=8)
    def describe(self, verbose: bool = False) -> str:
        return f"Model({self.scale})" + (" ready" if verbose else "")


model = Model(3)
unbound: CachedFunction[[Model, int], int] = Model.predict
bound: CachedMethod[Model, [int], int] = model.predict
six = model.predict(2)
assert_type(six, int)
assert six == 6 and model.predict(2) == 6
assert model.predict.stats()["hits"] == 1
assert model.predict.cache_info().currsize == 1
assert model.predict.__self__ is model
raw: Callable[[Model, int], int] = model.predict.__wrapped__
assert model.predict.__wrapped__(model, 5) == 15
# invalidate() is the function's: the instance comes first, as in Model.predict.invalidate(...)
assert model.predict.invalidate(model, 2) is True
assert Model.predict.invalidate(model, 2) is False
assert model.describe(verbose=True) == "Model(3) ready"
assert model.describe.cache_parameters() == {"maxsize": 8, "typed": False}
model.describe.cache_clear()
assert Model.describe.cache_info().currsize == 0

# --- async: the result type is the coroutine's ----------------------------------------------------


@twincache.cache(ttl=5)
async def fetch(url: str) -> bytes:
    await asyncio.sleep(0)
    return url.encode()


fetch_typed: CachedFunction[[str], Coroutine[Any, Any, bytes]] = fetch


async def main() -> list[bytes]:
    first = await fetch("a")
    again = await fetch("a")
    assert_type(again, bytes)
    return [first, again]


assert asyncio.run(main()) == [b"a", b"a"]
assert fetch.stats()["hits"] == 1 and fetch.stats()["misses"] == 1


# --- a helper that takes any cached function keeps its types --------------------------------------


def hit_ratio(f: CachedFunction[..., object]) -> float:
    s = f.stats()
    total = s["hits"] + s["misses"]
    return s["hits"] / total if total else 0.0


assert hit_ratio(load) == 1 / 3
assert hit_ratio(fetch) == 0.5
print("sample_decorators: ok", "native" if twincache.native else "pure")
