"""Bad parameters: ValueError/TypeError naming the parameter and its range, the core's words,
identical in both modes; nothing is changed by a refused call."""

from __future__ import annotations

import math
from typing import Any

import pytest

import twincache

LIMIT_RANGE = "an integer in [1, 9223372036854775807]"
TTL_RANGE = "a finite number of seconds > 0 and <= 4e+09"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ttl": 0}, ValueError, f"ttl must be {TTL_RANGE} (got 0)"),
        ({"ttl": -1.5}, ValueError, f"ttl must be {TTL_RANGE} (got -1.5)"),
        ({"ttl": math.nan}, ValueError, f"ttl must be {TTL_RANGE} (got NaN)"),
        ({"ttl": math.inf}, ValueError, f"ttl must be {TTL_RANGE} (got Infinity)"),
        ({"ttl": 1e10}, ValueError, f"ttl must be {TTL_RANGE} (got 1e+10)"),
        ({"ttl": "5"}, TypeError, "ttl must be a number of seconds or None (got str)"),
        ({"ttl": True}, TypeError, "ttl must be a number of seconds or None (got bool)"),
        ({"max_bytes": -5}, ValueError, f"max_bytes must be {LIMIT_RANGE} (got -5)"),
        ({"max_bytes": 0}, ValueError, f"max_bytes must be {LIMIT_RANGE} (got 0)"),
        ({"max_bytes": 2**70}, ValueError, f"max_bytes must be {LIMIT_RANGE} (got {2**70})"),
        ({"max_bytes": 1.5}, TypeError, f"max_bytes must be {LIMIT_RANGE} or None (got float)"),
        ({"maxsize": "x"}, TypeError, f"maxsize must be {LIMIT_RANGE} or None (got str)"),
        ({"maxsize": 0}, ValueError, f"maxsize must be {LIMIT_RANGE} (got 0)"),
        ({"policy": "fifo"}, ValueError, "policy must be one of 'lru', 'tinylfu' (got 'fifo')"),
        ({"policy": 3}, TypeError, "policy must be one of 'lru', 'tinylfu' or None (got int)"),
    ],
)
def test_cache_and_decorator_reject_with_the_core_message(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        twincache.cache(**kwargs)
    assert str(raised.value) == message
    with pytest.raises(error) as raised:
        twincache.Cache(**kwargs)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"typed": 1}, "typed must be True or False (got int)"),
        ({"single_flight": "yes"}, "single_flight must be True or False (got str)"),
        ({"key": 5}, "key must be a callable or None (got int)"),
    ],
)
def test_decorator_flags(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError) as raised:
        twincache.cache(**kwargs)
    assert str(raised.value) == message


def test_positional_options_are_refused() -> None:
    with pytest.raises(TypeError):
        twincache.cache(None, 60)  # type: ignore[call-overload]


def test_per_entry_ttl_is_checked_and_changes_nothing() -> None:
    c = twincache.Cache()
    c["k"] = 1
    with pytest.raises(ValueError, match=r"^ttl must be .* \(got 0\)$"):
        c.set("k", 2, ttl=0)
    with pytest.raises(ValueError, match=r"^ttl must be .* \(got -3\)$"):
        c.set("new", 2, ttl=-3)
    with pytest.raises(TypeError, match="ttl must be a number of seconds"):
        c.set("new", 2, ttl="1")
    assert dict(c) == {"k": 1}
    assert c.stats()["inserts"] == 1


def test_policies_by_name() -> None:
    for name in ("lru", "tinylfu", None):
        c = twincache.Cache(maxsize=3, policy=name)
        for i in range(10):
            c[i] = i
        assert len(c) == 3


def test_default_policy_is_the_cores_scan_resistant_one() -> None:
    assert "policy='tinylfu'" in repr(twincache.Cache())
    assert twincache.cache()(len).cache_parameters()["policy"] == "tinylfu"
    assert twincache.cache(policy="lru")(len).cache_parameters()["policy"] == "lru"
