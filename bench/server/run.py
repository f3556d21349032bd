"""The server benchmark: twincache-server (driven by build/release/server/server_bench, a C++
gRPC client) next to redis-server (driven by redis-benchmark), same machine, same run, Get and
Set of 100-byte values at concurrency 1, 16 and 64. Prints a markdown table for
docs/benchmarks.md and the two targets (Get throughput at c=16 >= 0.5x redis-server's, p50 at
c=1 <= 2x).
    scripts/build release && .venv/bin/python bench/server/run.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import socket
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


def grpc_row(port: int, op: str, c: int, seconds: float, prefill: bool = False) -> dict[str, float]:
    out = subprocess.run(
        [str(BUILD / "server_bench"), "--target", f"127.0.0.1:{port}", "--op", op,
         "--concurrency", str(c), "--seconds", str(seconds), "--value-bytes", "100", "--prefill",
         "1" if prefill else "0"],
        capture_output=True, text=True, check=True, timeout=seconds * 10 + 60,
    ).stdout  # fmt: skip
    r = json.loads(out)
    return {"ops": r["ops_per_s"], "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000}


def redis_row(port: int, op: str, c: int, seconds: float, guess_ops: float) -> dict[str, float]:
    n = max(2000, int(guess_ops * seconds))
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", op, "-d", "100", "-c", str(c), "-n", str(n),
         "-r", "10000", "--csv"],
        capture_output=True, text=True, check=True, timeout=seconds * 20 + 60,
    ).stdout  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    r = rows[0]
    return {
        "seconds": n / float(r["rps"]),
        "ops": float(r["rps"]),
        "p50_ms": float(r["p50_latency_ms"]),
        "p99_ms": float(r["p99_latency_ms"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    subprocess.run(
        ["cmake", "--build", str(ROOT / "build" / "release"), "--target", "twincache-server",
         "server_bench"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    gport, hport, rport = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCACHE_")}
    server = subprocess.Popen(
        [str(BUILD / "twincache-server"), "--listen", f"127.0.0.1:{gport}",
         "--http", f"127.0.0.1:{hport}", "--log-level", "warn"],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    redis = subprocess.Popen(
        ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rows = []
    try:
        wait_port(gport)
        wait_port(rport)
        subprocess.run(  # redis: every key present, as server_bench does
            ["redis-benchmark", "-p", str(rport), "-t", "set", "-d", "100", "-n", "20000", "-r",
             "10000", "-q"],
            capture_output=True, check=True,
        )  # fmt: skip
        grpc_row(gport, "set", 1, 0.1, prefill=True)  # every key present before the timed rows
        for op in ["get", "set"]:
            for c in [1, 16, 64]:
                c0 = cpu_s(server.pid)
                g = grpc_row(gport, op, c, a.seconds)
                g["cpu_us"] = (cpu_s(server.pid) - c0) * 1e6 / (g["ops"] * a.seconds)
                c0 = cpu_s(redis.pid)
                r = redis_row(rport, op, c, a.seconds, g["ops"] * 3)
                r["cpu_us"] = (cpu_s(redis.pid) - c0) * 1e6 / (r["ops"] * r["seconds"])
                rows.append((op, c, g, r))
                print(json.dumps({"op": op, "c": c, "twincache": g, "redis": r}), flush=True)
    finally:
        for p in (server, redis):
            p.send_signal(signal.SIGTERM)
            p.wait(30)
    print()
    print("| op | concurrency | twincache-server ops/s | p50 ms | p99 ms | server CPU µs/op "
          "| redis-server ops/s | p50 ms | p99 ms | redis CPU µs/op | ops ratio |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for op, c, g, r in rows:
        print(
            f"| {op.upper()} | {c} | {g['ops']:,.0f} | {g['p50_ms']:.3f} | {g['p99_ms']:.3f} "
            f"| {g['cpu_us']:.1f} | {r['ops']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} "
            f"| {r['cpu_us']:.1f} "
            f"| {g['ops'] / r['ops']:.2f}x |"
        )
    get16 = next((g, r) for op, c, g, r in rows if op == "get" and c == 16)
    get1 = next((g, r) for op, c, g, r in rows if op == "get" and c == 1)
    t1 = get16[0]["ops"] / get16[1]["ops"]
    t2 = get1[0]["p50_ms"] / max(get1[1]["p50_ms"], 1e-9)
    print()
    met1 = "met" if t1 >= 0.5 else "NOT met"
    met2 = "met" if t2 <= 2 else "NOT met"
    print(f"target 1: Get ops/s at c=16 vs redis = {t1:.2f}x (>= 0.5x: {met1})")
    print(f"target 2: Get p50 at c=1 vs redis = {t2:.2f}x (<= 2x: {met2})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
