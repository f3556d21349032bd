#!/usr/bin/env python3
"""crosscheck.py: libCacheSim (PyPI `libcachesim`, GPL, installed and called, never copied) on the
same traces as twincache_hitratio, as the outside reference for the hit-ratio figures.

For each trace x capacity it prints libCacheSim's LRU, ARC, LIRS, W-TinyLFU (1% window, static),
S3-FIFO and SIEVE beside twincache's exact LRU and its default policy (from the replay tool), and
flags any cell where the two exact LRUs differ by more than 0.01 points.

    .venv/bin/python bench/hitratio/crosscheck.py                    # the 8 reference cells
    .venv/bin/python bench/hitratio/crosscheck.py --extra            # plus the extra traces
    .venv/bin/python bench/hitratio/crosscheck.py --trace lirs_ps --capacity 500,1000
    .venv/bin/python bench/hitratio/crosscheck.py --trace zipf:0.8:scan --capacity 1000

Synthetic traces (zipf:...) are dumped by the replay tool to a temporary file first, so both
simulators read identical requests. Needs `scripts/build release` (or --tool PATH) and
`scripts/setup --bench` (libcachesim==0.3.5 is pinned in scripts/requirements-bench.txt).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import subprocess
import sys
import tempfile
import time

import libcachesim as lcs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRACES = os.path.join(os.path.dirname(ROOT), "shared", "traces")
TOOL = os.path.join(ROOT, "build", "release", "bench", "hitratio", "twincache_hitratio")

REFERENCE = [
    ("lirs_gli", 1000),
    ("lirs_multi2", 1000),
    ("lirs_loop", 512),
    ("arc_OLTP", 1000),
    ("arc_OLTP", 2048),
    ("arc_OLTP", 8192),
    ("corda_vaultservice", 1024),
    ("cache2k_web12", 1000),
]
EXTRA = [
    ("cache2k_web07", 1000),
    ("cache2k_web07", 4000),
    ("cache2k_web12", 4000),
    ("lirs_multi1", 500),
    ("lirs_multi1", 1000),
    ("lirs_multi3", 1000),
    ("lirs_multi3", 2000),
    ("lirs_sprite", 200),
    ("lirs_sprite", 500),
    ("lirs_2_pools", 500),
    ("lirs_2_pools", 1000),
    ("lirs_cs", 500),
    ("lirs_cs", 1000),
    ("lirs_cpp", 250),
    ("lirs_cpp", 500),
    ("lirs_ps", 500),
    ("lirs_ps", 1000),
    ("lirs_zigzag", 500),
    ("lirs_zigzag", 1000),
    ("lirs_scan", 250),
    ("lirs_scan", 500),
    ("lirs_gli", 500),
    ("lirs_gli", 1500),
    ("lirs_loop", 256),
    ("lirs_loop", 1024),
    ("corda_vaultservice", 256),
    ("corda_vaultservice", 4096),
    ("arc_OLTP", 512),
    ("arc_OLTP", 16384),
]
POLICIES = {
    "LRU": lambda c: lcs.LRU(c),
    "ARC": lambda c: lcs.ARC(c),
    "LIRS": lambda c: lcs.LIRS(c),
    "W-TinyLFU": lambda c: lcs.WTinyLFU(c, window_size=0.01),
    "S3-FIFO": lambda c: lcs.S3FIFO(c),
    "SIEVE": lambda c: lcs.Sieve(c),
}


def read_keys(path: str) -> list[int]:
    with gzip.open(path, "rt") as f:
        return [int(line) for line in f if line.strip()]


def libcachesim_ratio(make, capacity: int, keys: list[int]) -> float:
    cache = make(capacity)
    req = lcs.Request()
    req.obj_size = 1
    hits = 0
    for k in keys:
        req.obj_id = k
        hits += cache.get(req)
    return 100.0 * hits / len(keys)


def ours(tool: str, trace: str, capacities: list[int]) -> dict[int, dict[str, float]]:
    out = subprocess.run(
        [
            tool,
            "--trace",
            trace,
            "--capacity",
            ",".join(map(str, capacities)),
            "--csv",
            "--policy",
            "lru,tinylfu",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = csv.DictReader(io.StringIO(out.split("\n\n")[0]))
    return {
        int(r["capacity"]): {"lru": float(r["lru"]), "tinylfu": float(r["tinylfu"])} for r in rows
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extra", action="store_true", help="also the extra traces")
    ap.add_argument("--trace", help="one trace: a name in the traces dir, a path, or zipf:A[:scan]")
    ap.add_argument("--capacity", help="comma-separated capacities for --trace")
    ap.add_argument("--traces", default=TRACES)
    ap.add_argument("--tool", default=TOOL)
    args = ap.parse_args()
    if not os.access(args.tool, os.X_OK):
        print(
            f"crosscheck: replay tool not found at {args.tool}; run scripts/build release",
            file=sys.stderr,
        )
        return 2

    if args.trace:
        if not args.capacity:
            ap.error("--trace needs --capacity")
        cells = [(args.trace, int(c)) for c in args.capacity.split(",")]
    else:
        cells = REFERENCE + (EXTRA if args.extra else [])

    by_trace: dict[str, list[int]] = {}
    for t, c in cells:
        by_trace.setdefault(t, []).append(c)

    names = list(POLICIES)
    print(
        f"{'trace':<20} {'cap':>6} "
        + " ".join(f"{n:>9}" for n in names)
        + f" {'tc lru':>8} {'tc tinylfu':>10}  lru-match"
    )
    mismatches = 0
    with tempfile.TemporaryDirectory() as tmp:
        for trace, caps in by_trace.items():
            if trace.startswith("zipf:"):
                path = os.path.join(tmp, trace.replace(":", "_") + ".txt.gz")
                subprocess.run([args.tool, "--trace", trace, "--dump", path], check=True)
            elif "/" in trace:
                path = trace
            else:
                path = os.path.join(args.traces, trace + ".txt.gz")
            if not os.path.exists(path):
                print(f"crosscheck: missing trace {path}", file=sys.stderr)
                return 2
            keys = read_keys(path)
            mine = ours(args.tool, path, caps)
            for c in caps:
                t0 = time.time()
                ref = {n: libcachesim_ratio(make, c, keys) for n, make in POLICIES.items()}
                match = abs(round(mine[c]["lru"], 2) - round(ref["LRU"], 2)) <= 0.01 + 1e-9
                mismatches += not match
                print(
                    f"{trace:<20} {c:>6} "
                    + " ".join(f"{ref[n]:>9.2f}" for n in names)
                    + f" {mine[c]['lru']:>8.2f} {mine[c]['tinylfu']:>10.2f}  "
                    f"{'ok' if match else 'MISMATCH'}  ({time.time() - t0:.1f}s)",
                    flush=True,
                )
    if mismatches:
        print(f"{mismatches} cell(s) where twincache's LRU differs from libCacheSim's")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
