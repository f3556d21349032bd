"""The server benchmark: twincache-server (driven by build/release/server/server_bench, a C++
gRPC client) next to redis-server (driven by redis-benchmark), same machine, same run, Get and
Set of 100-byte values at concurrency 1, 16 and 64. Prints a markdown table for
docs/benchmarks.md and the two targets (Get throughput at c=16 >= 0.5x redis-server's, p50 at
c=1 <= 2x). Every cell is the median of --repeat runs of the whole matrix (servers stay up).
--floor adds floor_server (a Cache service that does nothing, same gRPC build; callback API, and
the async API on one thread without and with gRPC's default health service, which
twincache-server has): what gRPC itself costs per call here;
--shared-channel adds rows where the client's loops share one channel. --api both (the default)
runs twincache-server twice, with --api async (once per --io-threads count) and --api callback.
CPU per call is measured for the servers (/proc/<pid>/stat) and for the clients (getrusage of
the finished child).
    scripts/build release && .venv/bin/python bench/server/run.py [--seconds 3] [--repeat 3] \
        [--floor] [--shared-channel] [--api both|async|callback] [--io-threads 1,2]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "release" / "server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """User + system CPU seconds of the finished (waited-for) children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def grpc_row(
    port: int, op: str, c: int, seconds: float, prefill: bool = False, channels: int = 0
) -> dict[str, float]:
    k0 = children_cpu_s()
    out = subprocess.run(
        [str(BUILD / "server_bench"), "--target", f"127.0.0.1:{port}", "--op", op,
         "--concurrency", str(c), "--seconds", str(seconds), "--value-bytes", "100", "--prefill",
         "1" if prefill else "0", "--channels", str(channels)],
        capture_output=True, text=True, check=True, timeout=seconds * 10 + 60,
    ).stdout  # fmt: skip
    r = json.loads(out)
    return {
        "ops": r["ops_per_s"],
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "client_us": (children_cpu_s() - k0) * 1e6 / max(r["calls"], 1),
        "calls": r["calls"],
    }


def redis_row(port: int, op: str, c: int, seconds: float, guess_ops: float) -> dict[str, float]:
    n = max(2000, int(guess_ops * seconds))
    k0 = children_cpu_s()
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", op, "-d", "100", "-c", str(c), "-n", str(n),
         "-r", "10000", "--csv"],
        capture_output=True, text=True, check=True, timeout=seconds * 20 + 60,
    ).stdout  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    r = rows[0]
    return {
        "ops": float(r["rps"]),
        "p50_ms": float(r["p50_latency_ms"]),
        "p99_ms": float(r["p99_latency_ms"]),
        "client_us": (children_cpu_s() - k0) * 1e6 / n,
        "calls": n,
    }


def median_row(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the matrix; cells are medians")
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--ops", default="get,set")
    ap.add_argument("--floor", action="store_true", help="also floor_server (callback; async)")
    ap.add_argument(
        "--shared-channel", action="store_true",
        help="also rows where the gRPC client's loops share one channel (c > 1)",
    )  # fmt: skip
    ap.add_argument("--api", choices=["both", "async", "callback"], default="both")
    ap.add_argument("--io-threads", default="1", help="--api async: one server per count")
    a = ap.parse_args()
    levels = [int(c) for c in a.concurrency.split(",")]
    ops = a.ops.split(",")
    targets = ["twincache-server", "server_bench"] + (["floor_server"] if a.floor else [])
    subprocess.run(
        ["cmake", "--build", str(ROOT / "build" / "release"), "--target", *targets],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCACHE_")}
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    variants: list[tuple[str, list[str]]] = []
    if a.api in ("both", "async"):
        for n in a.io_threads.split(","):
            label = f"{n} thread" + ("s" if n != "1" else "")
            variants.append((f"twincache-server (async, {label})", ["--api", "async",
                                                                   "--io-threads", n]))  # fmt: skip
    if a.api in ("both", "callback"):
        variants.append(("twincache-server (callback)", ["--api", "callback"]))
    for name, extra in variants:
        gport, hport = free_port(), free_port()
        servers[name] = (subprocess.Popen(
            [str(BUILD / "twincache-server"), "--listen", f"127.0.0.1:{gport}",
             "--http", f"127.0.0.1:{hport}", "--log-level", "warn", *extra],
            env=env, stderr=subprocess.DEVNULL,
        ), gport)  # fmt: skip
    if a.floor:
        for name, extra in [
            ("floor", []),
            ("floor (async, 1 thread)", ["--api", "async", "--threads", "1"]),
            # gRPC's default health service is a callback service: its threads come back
            (
                "floor (async, 1 thread, health)",
                ["--api", "async", "--threads", "1", "--health", "1"],
            ),
        ]:
            port = free_port()
            servers[name] = (subprocess.Popen(
                [str(BUILD / "floor_server"), "--listen", f"127.0.0.1:{port}", *extra]
            ), port)  # fmt: skip
    rport = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    print(f"load average at start: {load()}", flush=True)
    # results[(name, op, c)] = list of runs
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    try:
        for _, port in servers.values():
            wait_port(port)
        wait_port(rport)
        subprocess.run(  # redis: every key present, as server_bench does
            ["redis-benchmark", "-p", str(rport), "-t", "set", "-d", "100", "-n", "20000", "-r",
             "10000", "-q"],
            capture_output=True, check=True,
        )  # fmt: skip
        for _, port in servers.values():
            grpc_row(port, "set", 1, 0.1, prefill=True)  # every key present before the rows
        for rep in range(a.repeat):
            for op in ops:
                for c in levels:
                    guess = 0.0
                    for name, (proc, port) in servers.items():
                        for ch in [0, 1] if a.shared_channel and c > 1 else [0]:
                            c0 = cpu_s(proc.pid)
                            g = grpc_row(port, op, c, a.seconds, channels=ch)
                            g["cpu_us"] = (cpu_s(proc.pid) - c0) * 1e6 / max(g["calls"], 1)
                            row = name + (", 1 channel" if ch else "")
                            results.setdefault((row, op, c), []).append(g)
                            guess = max(guess, g["ops"])
                    c0 = cpu_s(redis.pid)
                    r = redis_row(rport, op, c, a.seconds, guess * 3)
                    r["cpu_us"] = (cpu_s(redis.pid) - c0) * 1e6 / r["calls"]
                    results.setdefault(("redis-server", op, c), []).append(r)
                    print(json.dumps({"run": rep, "op": op, "c": c, "load": load(),
                                      **{n: v[-1] for (n, o, cc), v in results.items()
                                         if (o, cc) == (op, c)}}), flush=True)  # fmt: skip
    finally:
        for p in [s for s, _ in servers.values()] + [redis]:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
    print(f"\nload average at end: {load()}; cells: medians of {a.repeat} runs\n")
    print("| server | op | c | ops/s | p50 ms | p99 ms | server CPU µs/op | client CPU µs/op "
          "| ops vs redis | p50 vs redis |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    med = {k: median_row(v) for k, v in results.items()}
    for op in ops:
        for c in levels:
            rd = med[("redis-server", op, c)]
            names = [n for (n, o, cc) in med if (o, cc) == (op, c) and n != "redis-server"]
            for name in [*names, "redis-server"]:
                m = med[(name, op, c)]
                print(
                    f"| {name} | {op.upper()} | {c} | {m['ops']:,.0f} | {m['p50_ms']:.3f} "
                    f"| {m['p99_ms']:.3f} | {m['cpu_us']:.1f} | {m['client_us']:.1f} "
                    f"| {m['ops'] / rd['ops']:.2f}x "
                    f"| {m['p50_ms'] / max(rd['p50_ms'], 1e-9):.2f}x |"
                )
    print()
    for name in dict.fromkeys(n for n, _, _ in results if n != "redis-server"):
        if "get" not in ops:
            break
        lines = []
        if 16 in levels:
            redis16 = results[("redis-server", "get", 16)]
            pairs = zip(results[(name, "get", 16)], redis16, strict=True)
            t1 = statistics.median(g["ops"] / r["ops"] for g, r in pairs)
            lines.append(f"Get ops/s at c=16 vs redis {t1:.2f}x (>= 0.5x: "
                         f"{'met' if t1 >= 0.5 else 'NOT met'})")  # fmt: skip
        if 1 in levels and (name, "get", 1) in results:
            pairs = zip(results[(name, "get", 1)], results[("redis-server", "get", 1)], strict=True)
            t2 = statistics.median(g["p50_ms"] / max(r["p50_ms"], 1e-9) for g, r in pairs)
            lines.append(f"Get p50 at c=1 vs redis {t2:.2f}x (<= 2x: "
                         f"{'met' if t2 <= 2 else 'NOT met'})")  # fmt: skip
        print(f"{name}: " + "; ".join(lines) + " (median of per-run ratios)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
