"""Bounded soak and crash loop (issue 14; scripts/test-soak runs both, docs/fuzzing.md).

soak: worker threads hammer one Cache (maxsize, max_bytes, default and per-entry TTLs, sets,
gets, deletes, pops, occasional clear) and one DiskCache (max_bytes, TTLs) for a fixed time. Every
`--sample` seconds the sampler pauses the workers (a stop-the-world handshake, so counters are not
read mid-call) and asserts what docs/python.md promises:
  - Cache: len() == stats items <= maxsize; stats bytes <= max_bytes; hits + misses == the reads
    the workers made; inserts - evictions - expirations - deleted - cleared == items;
  - DiskCache: hits + misses == its reads; the directory's bytes <= max_bytes once committed.
crash-loop: `--rounds` times, a child process writes DiskCache entries (some large enough for a
blob file) and after each flush() reports the keys it flushed over a pipe; the parent SIGKILLs it
at a random moment, runs PRAGMA integrity_check on cache.db, and reads every reported key back
with its exact value (docs/persistence.md: a flushed write survives a kill).

    python tests/soak/soak.py soak --seconds 30 --threads 2
    python tests/soak/soak.py crash-loop --rounds 10
(TWINCACHE_PURE=1 for the pure implementation.)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import twincache


class Pause:
    """Stop-the-world for the sampler: workers call checkpoint() between operations."""

    def __init__(self, workers: int) -> None:
        self._cond = threading.Condition()  # guards the three fields below
        self._requested = False
        self._paused = 0
        self._workers = workers

    def checkpoint(self) -> None:
        if not self._requested:  # racy read on purpose: the slow path re-checks under the lock
            return
        with self._cond:
            if not self._requested:
                return
            self._paused += 1
            self._cond.notify_all()
            while self._requested:
                self._cond.wait()
            self._paused -= 1

    def stop(self, alive: int) -> None:
        with self._cond:
            self._requested = True
            while self._paused < alive:
                self._cond.wait(0.05)
                alive = min(alive, self._workers)

    def resume(self) -> None:
        with self._cond:
            self._requested = False
            self._cond.notify_all()


def value_for(rng: random.Random) -> Any:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randrange(1 << 40)
    if kind == 1:
        return "s" * rng.randrange(0, 300)
    if kind == 2:
        return bytes(rng.randrange(0, 2000))
    return {"n": rng.randrange(100), "l": list(range(rng.randrange(20)))}


def soak(seconds: float, threads: int, sample: float, dir_: Path) -> int:
    maxsize, max_bytes, disk_bytes = 500, 256 * 1024, 512 * 1024
    c = twincache.Cache(maxsize=maxsize, max_bytes=max_bytes, ttl=2.0)
    d = twincache.DiskCache(dir_, max_bytes=disk_bytes, ttl=5.0)
    reads = [0] * threads
    disk_reads = [0] * threads
    errors: list[BaseException] = []
    pause = Pause(threads)
    stop = threading.Event()

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            while not stop.is_set():
                pause.checkpoint()
                op = rng.randrange(100)
                key = rng.randrange(2000)
                if op < 40:
                    c.get(key)
                    reads[n] += 1
                elif op < 70:
                    ttl = rng.choice([None, None, 0.05, 0.5])
                    with contextlib.suppress(ValueError):  # over max_bytes: refused, counted
                        c.set(key, value_for(rng), ttl=ttl)
                elif op < 75:
                    c.pop(key, None)
                elif op < 78:
                    with contextlib.suppress(KeyError):  # another thread may delete it first
                        del c[key]
                elif op < 79 and rng.random() < 0.05:
                    c.clear()
                elif op < 90:
                    d.get(key % 300)
                    disk_reads[n] += 1
                else:
                    d.set(
                        key % 300,
                        rng.randbytes(rng.randrange(0, 8000)),
                        ttl=rng.choice([None, 0.2]),
                    )
        except BaseException as exc:  # reported by the sampler
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for t in pool:
        t.start()
    samples = 0
    deadline = time.monotonic() + seconds
    failures: list[str] = []
    try:
        while time.monotonic() < deadline and not errors and not failures:
            time.sleep(sample)
            pause.stop(sum(t.is_alive() for t in pool))
            try:
                failures += check(c, d, sum(reads), sum(disk_reads), maxsize, max_bytes, disk_bytes)
                samples += 1
            finally:
                pause.resume()
    finally:
        stop.set()
        pause.resume()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]
    s = c.stats()
    mode = "native" if twincache.native else "pure"
    print(
        f"soak ({mode}): {seconds:.0f} s, {threads} threads, {samples} samples; cache "
        f"hits {s['hits']} misses {s['misses']} inserts {s['inserts']} evictions "
        f"{s['evictions']} expirations {s['expirations']}; disk {d.stats()}"
    )
    for f in failures:
        print("FAILED:", f)
    return 1 if failures or samples == 0 else 0


def check(
    c: Any, d: Any, reads: int, disk_reads: int, maxsize: int, max_bytes: int, disk_bytes: int
) -> list[str]:
    out = []
    n = len(c)  # reclaims every expired entry (docs/python.md, ttl), so items == len after it
    s = c.stats()
    if not (n == s["items"] <= maxsize):
        out.append(f"len {n}, items {s['items']}, maxsize {maxsize}")
    if s["bytes"] > max_bytes:
        out.append(f"bytes {s['bytes']} over max_bytes {max_bytes}")
    if s["hits"] + s["misses"] != reads:
        out.append(f"hits {s['hits']} + misses {s['misses']} != reads {reads}")
    live = s["inserts"] - s["evictions"] - s["expirations"] - s["deleted"] - s["cleared"]
    if live != s["items"]:
        out.append(f"inserts - evictions - expirations - deleted - cleared = {live} != items ({s})")
    ds = d.stats()  # commits the write queue first
    if ds["hits"] + ds["misses"] != disk_reads:
        out.append(f"disk hits {ds['hits']} + misses {ds['misses']} != reads {disk_reads}")
    if ds["bytes"] > disk_bytes:
        out.append(f"disk bytes {ds['bytes']} over max_bytes {disk_bytes}")
    return out


# ---- crash loop -------------------------------------------------------------------------------


def expected(round_: int, i: int) -> bytes:
    """The value the child writes for (round, i): some large enough for a blobs/ file."""
    seed = hashlib.sha256(f"{round_}/{i}".encode()).digest()
    size = 200 * 1024 if i % 17 == 0 else 10 + i % 3000
    return (seed * (size // len(seed) + 1))[:size]


def child(dir_: str, round_: int) -> None:
    c = twincache.DiskCache(dir_)
    out = sys.stdout
    batch: list[int] = []
    i = 0
    while True:
        c[(round_, i)] = expected(round_, i)
        batch.append(i)
        i += 1
        if len(batch) >= random.randrange(1, 20):
            c.flush()  # every write before this is committed: reported as done
            out.write("".join(f"{j}\n" for j in batch))
            out.flush()
            batch.clear()


def crash_loop(rounds: int, dir_: Path) -> int:
    done: dict[int, list[int]] = {}
    failures = 0
    for r in range(rounds):
        proc = subprocess.Popen(
            [sys.executable, __file__, "child", str(dir_), str(r)],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(random.uniform(0.4, 1.2))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        lines = out.split("\n")
        done[r] = [int(x) for x in lines[:-1]]  # the last piece may be cut by the kill
        db = sqlite3.connect(dir_ / "cache.db")
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
        db.close()
        c = twincache.DiskCache(dir_)
        lost = [(k, i) for k, ids in done.items() for i in ids if c.get((k, i)) != expected(k, i)]
        total = sum(len(v) for v in done.values())
        print(
            f"crash loop round {r}: killed after {len(done[r])} flushed writes (rc "
            f"{proc.returncode}); integrity {integrity}; {total} flushed writes checked, "
            f"{len(lost)} lost"
        )
        if integrity != "ok" or lost or proc.returncode != -signal.SIGKILL:
            failures += 1
            print(f"FAILED: round {r}: integrity {integrity!r}, lost {lost[:5]}")
        del c
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("soak")
    s.add_argument("--seconds", type=float, default=30)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--sample", type=float, default=0.5)
    k = sub.add_parser("crash-loop")
    k.add_argument("--rounds", type=int, default=10)
    ch = sub.add_parser("child")
    ch.add_argument("dir")
    ch.add_argument("round", type=int)
    a = ap.parse_args()
    if a.cmd == "child":
        child(a.dir, a.round)
        return 0
    with tempfile.TemporaryDirectory(prefix="twincache-soak-") as tmp:
        if a.cmd == "soak":
            return soak(a.seconds, a.threads, a.sample, Path(tmp) / "disk")
        return crash_loop(a.rounds, Path(tmp) / "disk")


if __name__ == "__main__":
    sys.exit(main())
