#!/usr/bin/env python3
"""replay_api.py: replays the shared traces through twincache's public Python API, as a user's
code would run them, so the hit ratio users get can be set beside the replay tool's
(twincache_hitratio). Every request is counted; hit ratio = hits / requests, in percent.

  --api cache      c = twincache.Cache(maxsize=N); v = c.get(k); on a miss (None) c[k] = True
  --api decorator  @twincache.cache(maxsize=N) on an identity function, called once per request;
                   a miss is a call of the function (counted by the function itself)

--policy default passes no policy (what a user gets); --policy lru passes policy="lru". Keys are
the trace's integers, as Python ints. The implementation is whichever `import twincache` loads:
TWINCACHE_PURE=1 selects the pure-Python one; --expect native|pure fails the run if another
loaded. The counters the API reports (Cache.stats(), cache_info()) must agree with the counts
seen from outside, or the run fails.

    TWINCACHE_PURE=0 .venv/bin/python bench/hitratio/replay_api.py --api cache \\
        --trace lirs_gli --capacity 1000
    .venv/bin/python bench/hitratio/replay_api.py --api decorator --policy lru --cells ci.json

--cells reads the cells from the replay tool's --json output (compare_api.py passes them);
--json prints one JSON object per cell instead of a line of text. Traces come from
../shared/traces next to the repository (TWINCACHE_TRACES or --traces overrides).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Callable

import twincache

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRACES = os.environ.get("TWINCACHE_TRACES") or os.path.join(
    os.path.dirname(ROOT), "shared", "traces"
)


def read_keys(traces: str, name: str) -> list[int]:
    """The trace's requests: one decimal key per line, blank lines skipped (as the tool does)."""
    path = name if "/" in name else os.path.join(traces, name + ".txt.gz")
    with gzip.open(path, "rb") as f:
        return [int(word) for word in f.read().split()]


def replay_cache(keys: list[int], capacity: int, policy: str | None) -> tuple[int, int]:
    """Cache: get; on a miss, set. Returns (hits seen by the caller, hits in stats()).
    policy None: no policy named, as users write it."""
    if policy is None:
        c = twincache.Cache(maxsize=capacity)
    else:
        c = twincache.Cache(maxsize=capacity, policy=policy)
    get = c.get
    misses = 0
    for k in keys:
        if get(k) is None:
            misses += 1
            c[k] = True
    return len(keys) - misses, c.stats()["hits"]


def replay_decorator(keys: list[int], capacity: int, policy: str | None) -> tuple[int, int]:
    """@cache(maxsize=N): one call per request; the function runs on a miss. Returns (hits
    seen by counting the function's calls, hits in cache_info())."""
    calls = 0

    def identity(k: int) -> int:
        nonlocal calls
        calls += 1
        return k

    if policy is None:
        memo = twincache.cache(maxsize=capacity)(identity)
    else:
        memo = twincache.cache(maxsize=capacity, policy=policy)(identity)
    for k in keys:
        memo(k)
    info = memo.cache_info()  # type: ignore[attr-defined]
    return len(keys) - calls, int(info.hits)


APIS: dict[str, Callable[[list[int], int, str | None], tuple[int, int]]] = {
    "cache": replay_cache,
    "decorator": replay_decorator,
}


def cells_from(args: argparse.Namespace) -> list[tuple[str, int]]:
    if args.cells:
        with open(args.cells, encoding="utf-8") as f:
            rows = json.load(f)
        cells: list[tuple[str, int]] = []
        for r in rows:
            cell = (r["trace"], int(r["capacity"]))
            if cell not in cells:
                cells.append(cell)
        return cells
    if not args.trace or not args.capacity:
        sys.exit("replay_api.py: give --cells FILE, or --trace NAME --capacity N[,N...]")
    return [(args.trace, int(c)) for c in args.capacity.split(",")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", choices=sorted(APIS), required=True)
    ap.add_argument("--policy", choices=["default", "lru"], default="default")
    ap.add_argument("--cells", help="the replay tool's --json output: replay its cells")
    ap.add_argument("--trace", help="one trace (name in the traces directory, or a path)")
    ap.add_argument("--capacity", help="capacities for --trace, comma-separated")
    ap.add_argument("--traces", default=TRACES, help="the traces directory")
    ap.add_argument("--expect", choices=["native", "pure"], help="fail unless this one loads")
    ap.add_argument("--json", action="store_true", help="one JSON object per cell")
    args = ap.parse_args()
    mode = "native" if twincache.native else "pure"
    if args.expect and args.expect != mode:
        print(
            f"replay_api.py: expected the {args.expect} implementation, {mode} loaded "
            f"(TWINCACHE_PURE={os.environ.get('TWINCACHE_PURE', '')!r})",
            file=sys.stderr,
        )
        return 2
    policy = None if args.policy == "default" else args.policy
    replay = APIS[args.api]
    loaded: dict[str, list[int]] = {}
    failed = False
    for trace, capacity in cells_from(args):
        if trace not in loaded:
            loaded[trace] = read_keys(args.traces, trace)
        keys = loaded[trace]
        t0, c0 = time.perf_counter(), time.process_time()
        hits, reported = replay(keys, capacity, policy)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        ratio = 100.0 * hits / len(keys)
        row = {
            "lang": "python",
            "api": args.api,
            "mode": mode,
            "policy": args.policy,
            "trace": trace,
            "capacity": capacity,
            "requests": len(keys),
            "hits": hits,
            "reported_hits": reported,
            "hit_ratio": ratio,
            "seconds": secs,
            "cpu_seconds": cpu,
        }
        if reported != hits:
            failed = True
            print(
                f"replay_api.py: {args.api} {trace} @{capacity}: the API reports {reported} "
                f"hits, the caller saw {hits}",
                file=sys.stderr,
            )
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{args.api:9} {mode:6} {args.policy:7} {trace:20} {capacity:6} "
                f"{ratio:7.2f}  ({secs:.1f} s)",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
