"""Type checks for every public parameter, in one place. Range checks are the core's
(parse_limit, parse_ttl, parse_policy): this module only makes sure a value has the right kind
before handing it over, so both languages word a bad range the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._backend import impl

_INT64_MAX = 2**63 - 1


def _kind(value: object) -> str:
    return type(value).__name__


def limit(name: str, value: object) -> int | None:
    """maxsize, max_bytes: None (no limit) or an int in [1, 2**63 - 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be an integer in [1, {_INT64_MAX}] or None (got {_kind(value)})"
        )
    if value > _INT64_MAX:
        # The core takes 64-bit integers: ask it for its wording, then show the real value.
        try:
            impl.parse_limit(name, 0)
        except ValueError as exc:
            raise ValueError(str(exc).replace("(got 0)", f"(got {value})")) from None
    result: int = impl.parse_limit(name, value)
    return result


def ttl(name: str, value: object) -> int | None:
    """ttl: None (never expires) or seconds (int or float), finite and > 0. Returns nanoseconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None (got {_kind(value)})")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = float("inf")
    result: int = impl.parse_ttl(name, seconds)
    return result


def policy(name: str, value: object) -> str:
    """policy: None (the core's default) or one of the core's policy names."""
    if value is None:
        result: str = impl.default_policy()
        return result
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of 'lru', 'tinylfu' or None (got {_kind(value)})")
    parsed: str = impl.parse_policy(name, value)
    return parsed


def flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False (got {_kind(value)})")
    return value


def key_function(name: str, value: object) -> Callable[..., Any] | None:
    if value is None:
        return None
    if not callable(value):
        raise TypeError(f"{name} must be a callable or None (got {_kind(value)})")
    return value


@dataclass(frozen=True)
class Limits:
    max_items: int | None
    max_bytes: int | None
    ttl_ns: int | None
    policy: str


def limits(maxsize: object, ttl_seconds: object, max_bytes: object, policy_name: object) -> Limits:
    return Limits(
        max_items=limit("maxsize", maxsize),
        max_bytes=limit("max_bytes", max_bytes),
        ttl_ns=ttl("ttl", ttl_seconds),
        policy=policy("policy", policy_name),
    )


def eviction(on_evict: object, getsizeof: object, max_bytes: int | None) -> tuple[Any, Any]:
    """on_evict and getsizeof: None or callables; getsizeof weighs values against max_bytes, so
    it needs max_bytes."""
    callback = key_function("on_evict", on_evict)
    weigher = key_function("getsizeof", getsizeof)
    if weigher is not None and max_bytes is None:
        raise TypeError(
            "getsizeof needs max_bytes: it weighs values against that budget (got max_bytes=None)"
        )
    return callback, weigher


def error_types(value: object) -> tuple[type[BaseException], ...]:
    """cache_errors: None, an exception class, or a tuple of them (as `except` takes)."""
    if value is None:
        return ()
    items = value if isinstance(value, tuple) else (value,)
    for t in items:
        if not (isinstance(t, type) and issubclass(t, Exception)):
            raise TypeError(
                f"cache_errors must be an Exception subclass or a tuple of them (got {t!r:.60})"
            )
    return items
