"""Single flight across processes and languages (docs/redis.md, "Single flight across
processes"; issue 17): one real redis-server, 4 processes (Python with 25 threads calling
RedisCache.get_or_set, Python with 25 asyncio tasks calling aget_or_set, and two Node processes
with 25 concurrent RedisCache#fetch calls each) released together on one cold key:

- the computation runs once in total (counted by INCR on a counter key), and all 100 callers
  get its value;
- with the leader SIGKILLed in the middle of its computation, it runs exactly twice (one waiter
  takes the lease over once it expires), and the 75 callers left get the second run's value.

The first case runs with Python's native L1, the second with its pure L1 (TWINCACHE_PURE=1).
Skipped, with the reason printed, without redis-server, redis-py or node-redis. Exit status 0
on success."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(HERE))
from redis_cross import SECRET, skip_reason  # noqa: E402

LEASE_S = 1.0  # short, so that the takeover after the kill comes quickly
WAIT_S = 60.0


def start_workers(url: str, mode: str, pure: bool) -> list[subprocess.Popen[str]]:
    env = dict(os.environ, TWINCACHE_SECRET=SECRET)
    env.pop("TWINCACHE_PURE", None)
    py_env = dict(env, TWINCACHE_PURE="1") if pure else env
    worker = str(HERE / "flight_worker.py")
    node = ["node", str(HERE / "flight_worker.js"), url, mode, str(int(LEASE_S * 1000))]
    kw: dict[str, object] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    return [
        subprocess.Popen([sys.executable, worker, url, "threads", mode, str(LEASE_S)],
                         env=py_env, cwd="/tmp", **kw),  # type: ignore[call-overload]
        subprocess.Popen([sys.executable, worker, url, "asyncio", mode, str(LEASE_S)],
                         env=py_env, cwd="/tmp", **kw),  # type: ignore[call-overload]
        subprocess.Popen(node, env=env, cwd=ROOT, **kw),  # type: ignore[call-overload]
        subprocess.Popen(node, env=env, cwd=ROOT, **kw),  # type: ignore[call-overload]
    ]  # fmt: skip


def run(server: object, mode: str, pure: bool) -> None:
    label = f"{mode}, {'pure' if pure else 'native'} Python"
    raw = server.client()  # type: ignore[attr-defined]
    raw.flushdb()
    procs = start_workers(server.url, mode, pure)  # type: ignore[attr-defined]
    try:
        for p in procs:  # every process is ready (imports done, nothing sent yet)
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", label
        started = time.monotonic()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        killed = None
        if mode == "kill":
            deadline = time.monotonic() + WAIT_S
            while (pid := raw.get("flight:leader")) is None:
                assert time.monotonic() < deadline, f"{label}: no leader started"
                time.sleep(0.01)
            killed = next(p for p in procs if p.pid == int(pid))
            os.kill(killed.pid, signal.SIGKILL)
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=WAIT_S)
            if p is killed:
                assert p.returncode == -signal.SIGKILL, (label, p.returncode)
                continue
            assert p.returncode == 0, (label, p.args, p.returncode)
            results.extend(json.loads(out.strip().splitlines()[-1])["results"])
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    runs = int(raw.get("flight:runs") or 0)
    expected_runs, expected_callers = (1, 100) if mode == "once" else (2, 75)
    assert runs == expected_runs, f"{label}: the function ran {runs} times, not {expected_runs}"
    assert len(results) == expected_callers, (label, len(results))
    values = {json.dumps(r, sort_keys=True) for r in results}
    assert len(values) == 1, f"{label}: callers got different values {values}"
    value = results[0]
    if killed is not None:  # which one was the leader that died
        label += f", killed {'node' if killed.args[0] == 'node' else 'python-' + killed.args[3]}"
    assert value["v"] == 42 and value["run"] == expected_runs, (label, value)
    print(f"test-cross redis single flight ({label}): ok, {len(results)} callers in 4 processes, "
          f"{runs} run(s), computed by {value['by']}, {elapsed:.1f} s")  # fmt: skip


def main() -> None:
    why = skip_reason()
    if why is not None:
        print(f"test-cross redis single flight: skipped: {why}")
        return
    from redis_server import RedisServer

    with tempfile.TemporaryDirectory(prefix="twincache-cross-flight-") as tmp:
        server = RedisServer(shutil.which("redis-server") or "redis-server", Path(tmp))
        server.start()
        try:
            run(server, "once", pure=False)
            run(server, "kill", pure=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
