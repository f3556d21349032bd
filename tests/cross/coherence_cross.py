"""Coherent L1s across 4 processes and 2 languages (issue 17; docs/redis.md, "Coherence"): one
redis-server, 2 Python processes (native and TWINCACHE_PURE=1) and 2 Node processes (native and
TWINCACHE_PURE=1), each with a coherent RedisCache of one namespace (codec json). Each round
uses a fresh key that every process first holds in its L1 (the value the driver wrote before
the processes started); then one process, in turn, sets it to a new value or deletes it; each
process waits for that key's invalidation and reads it again.

Asserted: every process saw the invalidation, its L1 no longer held the key at that moment, and
its read after it returned the new value (or nothing, after a delete): no stale read once the
invalidation was delivered. Measured, not asserted (bench/redis/coherence_latency.py asserts
p99 <= 50 ms): the latency of each other process, from the writer's ack (the moment its set or
delete returned; negative when the other L1 dropped the key before the writer saw its ack) and
from the start of the writer's call, to the moment that process's L1 had dropped the key
(CLOCK_MONOTONIC, shared by the processes of one machine).

    python tests/cross/coherence_cross.py [--rounds 48]

Skipped, with the reason printed, without redis-server, redis-py or node-redis. Exit status 0
on success."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
SECRET = "coherence-cross-secret-0123456789"
NAMESPACE = "coh4"
WORKERS = (  # (label, command, pure)
    ("py-native", [sys.executable, str(HERE / "coherence_worker.py")], False),
    ("py-pure", [sys.executable, str(HERE / "coherence_worker.py")], True),
    ("node-native", ["node", str(HERE / "coherence_worker.js")], False),
    ("node-pure", ["node", str(HERE / "coherence_worker.js")], True),
)


def skip_reason() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (scripts/setup installs it)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis-py is not installed (pip install 'twincache[redis]')"
    probe = subprocess.run(["node", "-e", "require.resolve('redis')"], cwd=ROOT, check=False)
    if probe.returncode != 0:
        return "node-redis is not installed (npm install)"
    return None


class Worker:
    def __init__(self, label: str, command: list[str], pure: bool, url: str) -> None:
        env = dict(os.environ, TWINCACHE_SECRET=SECRET)
        env.pop("TWINCACHE_PURE", None)
        if pure:
            env["TWINCACHE_PURE"] = "1"
        self.label = label
        self.proc = subprocess.Popen(
            [*command, url, NAMESPACE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
        )

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"coherence_cross: {self.label} exited ({self.proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, **cmd: Any) -> dict[str, Any]:
        self.send(**cmd)
        return self.reply()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise SystemExit(f"coherence_cross: {self.label} did not exit") from None
        if code != 0:
            raise SystemExit(f"coherence_cross: {self.label} exited with {code}")


def everyone(workers: list[Worker], **cmd: Any) -> list[dict[str, Any]]:
    """Sends cmd to every worker at once, then collects the replies (in order)."""
    for w in workers:
        w.send(**cmd)
    return [w.reply() for w in workers]


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)  # writer's ack -> other L1 dropped
    from_send_ms: list[float] = field(default_factory=list)  # writer's call -> other L1 dropped
    modes: dict[str, bool] = field(default_factory=dict)  # label -> native
    by_pair: dict[str, list[float]] = field(default_factory=dict)  # "writer->reader"
    rounds: int = 0
    seconds: float = 0.0

    def quantile(self, q: int, values: list[float] | None = None) -> float:
        data = self.latencies_ms if values is None else values
        return statistics.quantiles(data, n=100, method="inclusive")[q - 1]


def run(url: str, rounds: int) -> Result:
    """The rounds against the server at url; raises SystemExit on a correctness failure."""
    import twincache

    keys = [f"coh:{r}" for r in range(rounds)]
    seed = twincache.RedisCache(url, namespace=NAMESPACE, codec="json", secret=SECRET, timeout=5)
    seed.set_many({k: f"old {k}" for k in keys}, ttl=600)  # before any process listens
    assert seed.stats()["l2_sets"] == len(keys), seed.stats()
    seed.close()
    workers = [Worker(label, command, pure, url) for label, command, pure in WORKERS]
    result = Result(rounds=rounds)
    started = time.monotonic()
    try:
        for w, hello in zip(workers, everyone(workers, op="hello"), strict=True):
            if not hello["ready"]:
                raise SystemExit(f"coherence_cross: {w.label}'s listener did not subscribe")
            result.modes[w.label] = bool(hello["native"])
        for r, key in enumerate(keys):
            for w, warm in zip(workers, everyone(workers, op="warm", key=key, value=f"old {key}"),
                               strict=True):  # fmt: skip
                if not warm["ok"]:
                    raise SystemExit(f"coherence_cross: {w.label} did not hold {key} ({warm})")
            writer = workers[r % len(workers)]
            deleting = (r // len(workers)) % 2 == 1
            new = None if deleting else f"new {key} by {writer.label}"
            done = writer.ask(op="delete", key=key) if deleting else writer.ask(
                op="set", key=key, value=new)  # fmt: skip
            if not done["ok"]:
                raise SystemExit(f"coherence_cross: {writer.label} could not write {key}")
            t_send, t_ack = int(done["t_send"]), int(done["t_ack"])
            for w, seen in zip(workers, everyone(workers, op="await", key=key), strict=True):
                what = f"{w.label}, {key} {'deleted' if deleting else 'set'} by {writer.label}"
                if seen["t_inv"] is None:
                    raise SystemExit(f"coherence_cross: no invalidation reached {what}")
                if not seen["gone"]:
                    raise SystemExit(f"coherence_cross: L1 still held the old value: {what}")
                if seen["read"] != new:
                    raise SystemExit(f"coherence_cross: stale read {seen['read']!r}: {what}")
                if w is not writer:
                    ms = (int(seen["t_inv"]) - t_ack) / 1e6
                    result.latencies_ms.append(ms)
                    result.from_send_ms.append((int(seen["t_inv"]) - t_send) / 1e6)
                    result.by_pair.setdefault(f"{writer.label}->{w.label}", []).append(ms)
        for w in workers:
            w.close()
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
    result.seconds = time.monotonic() - started
    return result


def with_server(rounds: int) -> Result:
    from redis_server import RedisServer

    with tempfile.TemporaryDirectory(prefix="twincache-cross-coherence-") as tmp:
        server = RedisServer(shutil.which("redis-server") or "redis-server", Path(tmp))
        server.start()
        try:
            return run(server.url, rounds)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=48)
    args = parser.parse_args()
    why = skip_reason()
    if why is not None:
        print(f"test-cross coherence: skipped: {why}")
        return
    result = with_server(args.rounds)
    n = len(result.latencies_ms)
    modes = ", ".join(f"{k}: {'native' if v else 'pure'}" for k, v in result.modes.items())
    print(
        f"test-cross coherence ({modes}): ok, {result.rounds} writes and deletes, {n} "
        f"invalidations checked in {result.seconds:.1f} s; latency (not asserted here) from the "
        f"writer's ack: p50 {result.quantile(50):.2f} ms, p99 {result.quantile(99):.2f} ms; "
        f"from its call: p50 {result.quantile(50, result.from_send_ms):.2f} ms, "
        f"p99 {result.quantile(99, result.from_send_ms):.2f} ms"
    )


if __name__ == "__main__":
    main()
