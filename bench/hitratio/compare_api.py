#!/usr/bin/env python3
"""compare_api.py: the public APIs against the replay tool, on every cell of `--suite ci`.

Runs twincache_hitratio --suite ci --json, then replays the same cells through each public API,
native and pure (replay_api.py for Python's Cache and @cache, replay_api.mjs for Node's Cache,
memoize and ByteCache), with the default policy and with policy 'lru'. ByteCache gets the trace's
keys as decimal strings, so it is compared with the tool replaying the same keys with the policy
hash of their digits (`--key-hash decimal`, column "tool dec"). Prints one table per
policy (cell x API, hit ratios in percent) and the wall time of each run, and exits 1 if any API
disagrees with the tool on any cell:

  - default policy: within 0.1 point of the tool's figure (native), 1.0 point (pure);
  - policy 'lru': within 0.01 point (exact LRU), native and pure;
  - an API's own counters (stats(), cache_info()) must match the hits its caller saw.

    .venv/bin/python bench/hitratio/compare_api.py            # what scripts/test-hitratio-api runs
    .venv/bin/python bench/hitratio/compare_api.py --only python --modes pure --jobs 1
    .venv/bin/python bench/hitratio/compare_api.py --only node --modes native --ring-cost

--ring-cost adds a column: Node's native Cache with its read ring made lossless (as under 'lru'),
to measure what the lossy ring costs (replay_api.mjs --lossless-ring; a measurement, not an API).

Needs the replay tool (scripts/build release), the Python package installed in the interpreter
that runs this script (pip install .), and for native Node the addon in node/prebuilds
(node node/scripts/build-native.js). Traces: ../shared/traces (TWINCACHE_TRACES or --traces).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRACES = os.environ.get("TWINCACHE_TRACES") or os.path.join(
    os.path.dirname(ROOT), "shared", "traces"
)
TOOL = os.path.join(ROOT, "build", "release", "bench", "hitratio", "twincache_hitratio")

# (language, api, column label), in table order.
APIS = [
    ("python", "cache", "py Cache"),
    ("python", "decorator", "py @cache"),
    ("node", "cache", "js Cache"),
    ("node", "memoize", "memoize"),
    ("node", "bytecache", "ByteCache"),
    ("node", "cache", "js Cache LL"),  # --ring-cost only: the read ring made lossless
]
# The tool's policy for each API policy, and the allowed gap in points by mode.
TOOL_POLICY = {"default": "tinylfu", "lru": "lru"}
TOLERANCE = {("default", "native"): 0.1, ("default", "pure"): 1.0}
LRU_TOLERANCE = 0.01


@dataclass
class Job:
    lang: str
    api: str
    label: str
    mode: str
    policy: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def name(self) -> str:
        return f"{self.label} {self.mode} {self.policy}"

    def command(self, cells: str, traces: str) -> list[str]:
        common = ["--api", self.api, "--policy", self.policy, "--cells", cells]
        common += ["--traces", traces, "--expect", self.mode, "--json"]
        if self.label.endswith(" LL"):
            common.append("--lossless-ring")
        if self.lang == "python":
            return [sys.executable, os.path.join(HERE, "replay_api.py"), *common]
        return ["node", os.path.join(HERE, "replay_api.mjs"), *common]


def run_job(job: Job, cells: str, traces: str) -> Job:
    env = dict(os.environ, TWINCACHE_PURE="1" if job.mode == "pure" else "0")
    t0 = time.perf_counter()
    # From /tmp, so Python imports the installed package (never python/ in the source tree).
    proc = subprocess.run(
        job.command(cells, traces), env=env, cwd="/tmp", capture_output=True, text=True
    )
    job.seconds = time.perf_counter() - t0
    job.rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        job.error = proc.stderr.strip() or f"exit code {proc.returncode}"
    return job


def run_tool(
    tool: str, traces: str, out: str, key_hash: str = "int"
) -> dict[tuple[str, int, str], float]:
    """The tool's figures per (trace, capacity, policy). key_hash: how keys reach the policy,
    "int" (what Cache and memoize give a number key) or "decimal" (ByteCache's string key)."""
    cmd = [tool, "--suite", "ci", "--policy", "lru,tinylfu", "--traces", traces, "--json", out]
    cmd += ["--key-hash", key_hash]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"compare_api.py: {' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    with open(out, encoding="utf-8") as f:
        rows = json.load(f)
    took = time.perf_counter() - t0
    print(f"replay tool (--key-hash {key_hash}): {len(rows) // 2} cells in {took:.1f} s")
    return {(r["trace"], r["capacity"], r["policy"]): r["hit_ratio"] for r in rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", default=TOOL, help="the replay tool (twincache_hitratio)")
    ap.add_argument("--traces", default=TRACES, help="the traces directory")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    ap.add_argument("--only", default="python,node", help="languages: python,node")
    ap.add_argument("--modes", default="native,pure", help="native,pure")
    ap.add_argument("--policies", default="default,lru", help="default,lru")
    ap.add_argument("--save", help="also write every API row (JSON lines) here")
    ap.add_argument("--ring-cost", action="store_true", help="add Node's lossless-ring column")
    ap.add_argument("--markdown", action="store_true", help="tables as docs/hit-ratio.md has them")
    args = ap.parse_args()
    langs, modes = args.only.split(","), args.modes.split(",")
    policies = args.policies.split(",")

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="twincache-api-") as tmp:
        cells_json = os.path.join(tmp, "ci.json")
        tool = run_tool(args.tool, args.traces, cells_json)
        # ByteCache's keys are strings (the trace's decimal digits): the tool replays the same
        # keys with the same policy hash, so its figures are what ByteCache must give.
        tool_decimal = run_tool(args.tool, args.traces, cells_json + ".decimal", "decimal")
        cells = list(dict.fromkeys((t, c) for t, c, _ in tool))
        jobs = [
            Job(lang, api, label, mode, policy)
            for lang, api, label in APIS
            for mode in modes
            for policy in policies
            if lang in langs
            and (
                not label.endswith(" LL")
                or (args.ring_cost and (mode, policy) == ("native", "default"))
            )
        ]
        # The slowest first (pure Python), so two workers finish together.
        jobs.sort(key=lambda j: (j.lang != "python" or j.mode != "pure", j.lang != "python"))
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            done = list(pool.map(lambda j: run_job(j, cells_json, args.traces), jobs))
    wall = time.perf_counter() - t0

    got = {(j.name, r["trace"], r["capacity"]): r for j in done for r in j.rows}
    problems: dict[str, list[str]] = {}  # run -> its disagreeing cells
    for policy in policies:
        columns = [j for j in done if j.policy == policy]
        columns.sort(key=lambda j: ([a[2] for a in APIS].index(j.label), modes.index(j.mode)))
        tool_policy = TOOL_POLICY[policy]
        mark = "bold" if args.markdown else "'!'"
        print(f"\npolicy {policy}: hit ratio (%) per API, {mark} where it disagrees with the tool")
        labels = [j.label + (" n" if j.mode == "native" else " p") for j in columns]
        if args.markdown:
            print(f"| trace @ capacity | tool | tool dec | {' | '.join(labels)} |")
            print("|---|" + "---:|" * (len(columns) + 2))
        else:
            print(
                f"{'trace @ capacity':26} {'tool':>7} {'tool dec':>8}"
                + "".join(f" {x:>12}" for x in labels)
            )
        for trace, capacity in cells:
            want_int = tool[(trace, capacity, tool_policy)]
            want_dec = tool_decimal[(trace, capacity, tool_policy)]
            line = f"{trace + ' @' + str(capacity):26} {want_int:7.2f} {want_dec:8.2f}"
            if args.markdown:
                line = f"| {trace} @{capacity} | {want_int:.2f} | {want_dec:.2f} |"
            for j in columns:
                want = want_dec if j.label == "ByteCache" else want_int
                row = got.get((j.name, trace, capacity))
                if row is None:
                    line += " - |" if args.markdown else f" {'-':>12}"
                    continue
                tol = LRU_TOLERANCE if policy == "lru" else TOLERANCE[(policy, j.mode)]
                bad = abs(row["hit_ratio"] - want) > tol + 1e-9
                if bad:
                    problems.setdefault(f"{j.name} (allowed {tol})", []).append(
                        f"{trace} @{capacity} {row['hit_ratio']:.2f} vs {want:.2f}"
                    )
                if args.markdown:
                    line += f" {'**' if bad else ''}{row['hit_ratio']:.2f}{'**' if bad else ''} |"
                else:
                    line += f" {row['hit_ratio']:11.2f}{'!' if bad else ' '}"
            print(line)

    # Wall time of the whole process (traces read and parsed included); CPU time of the replays.
    print(f"\ntime per run ({len(cells)} cells each): wall, and CPU in the replays")
    for j in sorted(done, key=lambda j: -j.seconds):
        cpu = sum(r.get("cpu_seconds", 0.0) for r in j.rows)
        print(f"  {j.name:28} {j.seconds:6.1f} s  {cpu:6.1f} s CPU")
    cpu = sum(r.get("cpu_seconds", 0.0) for j in done for r in j.rows)
    print(f"  total {wall:.1f} s with {args.jobs} at once, {cpu:.1f} s CPU in the replays")
    errors = [
        f"{j.name}: {j.error or f'{len(j.rows)} of {len(cells)} cells replayed'}"
        for j in done
        if j.error or len(j.rows) != len(cells)
    ]
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            for j in done:
                for r in j.rows:
                    f.write(json.dumps(r) + "\n")
    if errors or problems:
        count = sum(len(v) for v in problems.values())
        print(
            f"\nAPI replay: {count} disagreement(s) in {len(problems)} run(s), "
            f"{len(errors)} failed run(s)"
        )
        for e in errors:
            print(f"  run failed: {e}")
        for run, bad_cells in problems.items():
            print(f"  {run}: {len(bad_cells)} of {len(cells)} cells: {'; '.join(bad_cells)}")
        return 1
    print("\nAPI replay: every API agrees with the replay tool on every cell")
    return 0


if __name__ == "__main__":
    sys.exit(main())
