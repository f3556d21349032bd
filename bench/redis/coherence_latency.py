"""Invalidation latency of coherent L1s with 4 processes, 2 Python and 2 Node (issue 17;
docs/redis.md "Coherence"): tests/cross/coherence_cross.py's rounds, more of them, repeated.
Each round, one process (in turn) sets or deletes a key every process holds in its L1; latency =
the moment each other process's L1 had dropped the key (noted by a listener subscriber called
right after the cache's own) - the writer's ack (the moment its set/delete returned), both on
CLOCK_MONOTONIC; negative when that L1 dropped the key before the writer saw its ack. Also shown:
the same from the start of the writer's call (never negative). The processes: Python native,
Python pure, Node native, Node pure.

Prints p50/p99/max per run and the median of the runs, per writer -> reader language too, with the
load average; exits 1 when the median p99 is above the issue's target (50 ms on loopback).

    .venv/bin/python bench/redis/coherence_latency.py [--rounds 400] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "cross"))

import coherence_cross

TARGET_P99_MS = 50.0


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=400, help="writes and deletes per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    why = coherence_cross.skip_reason()
    if why is not None:
        sys.exit(f"coherence_latency: cannot run: {why}")
    p50s, p99s, send99s = [], [], []
    languages: dict[str, list[float]] = {}
    for run in range(args.runs):
        load = os.getloadavg()
        result = coherence_cross.with_server(args.rounds)
        lat = result.latencies_ms
        p50s.append(pct(lat, 50))
        p99s.append(pct(lat, 99))
        send = result.from_send_ms
        send99s.append(pct(send, 99))
        print(
            f"run {run + 1}: {len(lat)} invalidations in {result.seconds:.1f} s: from the ack "
            f"p50 {p50s[-1]:.2f} ms, p99 {p99s[-1]:.2f} ms, max {max(lat):.2f} ms, "
            f"min {min(lat):.2f} ms; from the call p50 {pct(send, 50):.2f} ms, "
            f"p99 {send99s[-1]:.2f} ms (load average before: "
            + " ".join(f"{x:.2f}" for x in load)
            + ")"
        )
        for pair, values in result.by_pair.items():
            writer, reader = (p.split("-")[0] for p in pair.split("->"))
            languages.setdefault(f"{writer} -> {reader}", []).extend(values)
    for pair, values in sorted(languages.items()):
        print(
            f"  {pair:>12}: n {len(values)}, p50 {pct(values, 50):.2f} ms, "
            f"p99 {pct(values, 99):.2f} ms"
        )
    p50, p99 = statistics.median(p50s), statistics.median(p99s)
    verdict = "ok" if p99 <= TARGET_P99_MS else "ABOVE TARGET"
    print(
        f"median of {args.runs} runs, from the ack: p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
        f"from the call: p99 {statistics.median(send99s):.2f} ms "
        f"(target p99 <= {TARGET_P99_MS:g} ms: {verdict}); load average now "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    if p99 > TARGET_P99_MS:
        sys.exit(1)


if __name__ == "__main__":
    main()
