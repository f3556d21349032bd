"""A bounded load test of twincache-server (scripts/test-server-load, stage `server-load`):
64 concurrent clients (grpc.aio tasks, each on its own channel) mix Get/Set/Delete with random
keys and 10-4000 byte values for TWINCACHE_LOAD_SECONDS (default 60) on loopback, plus a few
requests that must fail (empty keys, oversize values). Every second it samples /metrics and the
server's RSS. Passes when: no error but the expected ones, `twincache_bytes` never above
--max-bytes, evictions happened, and RSS in the last quarter is within 10% (+8 MiB) of its value
after the first quarter (flat once the budget is full). Prints one JSON line of numbers."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import Server, server_binary

CLIENTS = 64
MAX_BYTES = 8 << 20
MAX_VALUE = 4096
KEYS = 200_000


def stubs(out: Path) -> tuple[object, object]:
    from grpc_tools import protoc

    # A copy under its own name: as twincache/v1/cache.proto the stubs would be the package
    # `twincache.v1`, which the installed `twincache` package shadows (see conftest.stubs).
    proto = Path(__file__).resolve().parents[2] / "proto" / "twincache" / "v1" / "cache.proto"
    shutil.copyfile(proto, out / "twincache_v1_cache.proto")
    rc = protoc.main(
        ["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}",
         str(out / "twincache_v1_cache.proto")]
    )  # fmt: skip
    assert rc == 0
    sys.path.insert(0, str(out))
    import twincache_v1_cache_pb2 as cache_pb2  # type: ignore[import-not-found]
    import twincache_v1_cache_pb2_grpc as cache_pb2_grpc  # type: ignore[import-not-found]

    return cache_pb2, cache_pb2_grpc


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def metric(text: str, name: str) -> float:
    """The value of the sample whose name and labels start with `name`."""
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} missing from /metrics")


async def client(pb, pbg, target: str, stop_at: float, counts: dict[str, int], seed: int) -> None:  # type: ignore[no-untyped-def]
    rnd = random.Random(seed)
    async with grpc.aio.insecure_channel(target) as ch:
        stub = pbg.CacheStub(ch)
        while time.monotonic() < stop_at:
            r = rnd.random()
            key = b"key-%d" % rnd.randrange(KEYS)
            expected = grpc.StatusCode.OK
            try:
                if r < 0.6:
                    await stub.Get(pb.GetRequest(key=key), timeout=10)
                elif r < 0.9:
                    await stub.Set(
                        pb.SetRequest(key=key, value=b"v" * rnd.randrange(10, MAX_VALUE)),
                        timeout=10,
                    )
                elif r < 0.99:
                    await stub.Delete(pb.DeleteRequest(key=key), timeout=10)
                elif r < 0.995:
                    expected = grpc.StatusCode.INVALID_ARGUMENT
                    await stub.Get(pb.GetRequest(key=b""), timeout=10)
                else:
                    expected = grpc.StatusCode.RESOURCE_EXHAUSTED
                    await stub.Set(pb.SetRequest(key=key, value=b"x" * (MAX_VALUE + 1)), timeout=10)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as e:
                code = e.code()
            counts["calls"] += 1
            if code != expected:
                counts["unexpected"] += 1
                counts.setdefault("first_unexpected", f"{code} where {expected}")  # type: ignore[arg-type]
            elif code != grpc.StatusCode.OK:
                counts["expected_errors"] += 1


async def main() -> int:
    seconds = float(os.environ.get("TWINCACHE_LOAD_SECONDS", "60"))
    binary = server_binary()
    if binary is None:
        print("load: twincache-server is not built", file=sys.stderr)
        return 1
    import tempfile

    pb, pbg = stubs(Path(tempfile.mkdtemp(prefix="twincache-load-")))
    server = Server(binary, ["--max-bytes", str(MAX_BYTES), "--max-value-bytes", str(MAX_VALUE)])
    pid = server.proc.pid
    counts = {"calls": 0, "unexpected": 0, "expected_errors": 0}
    samples: list[tuple[float, int, float]] = []  # (t, rss KiB, twincache_bytes)
    t0 = time.monotonic()
    stop_at = t0 + seconds

    async def sampler() -> None:
        while time.monotonic() < stop_at:
            text = await asyncio.to_thread(
                lambda: (
                    urllib.request.urlopen(
                        f"http://127.0.0.1:{server.http_port}/metrics", timeout=10
                    )
                    .read()
                    .decode()
                )
            )
            samples.append((time.monotonic() - t0, rss_kib(pid), metric(text, "twincache_bytes{")))
            await asyncio.sleep(1)

    try:
        await asyncio.gather(
            sampler(),
            *(client(pb, pbg, server.target, stop_at, counts, i) for i in range(CLIENTS)),
        )
        final = (
            urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=10)
            .read()
            .decode()
        )
    finally:
        rc = server.stop()
    n = len(samples)
    early = [s[1] for s in samples[n // 4 : n // 4 + 3]]
    late = [s[1] for s in samples[-(n // 4) :]]
    result = {
        "seconds": seconds,
        "clients": CLIENTS,
        "calls": counts["calls"],
        "calls_per_s": round(counts["calls"] / seconds),
        "expected_errors": counts["expected_errors"],
        "unexpected": counts["unexpected"],
        "max_bytes_seen": max(s[2] for s in samples),
        "max_bytes_limit": MAX_BYTES,
        "evictions_max_bytes": metric(
            final, 'twincache_evictions_total{cache="server",reason="max_bytes"}'
        ),
        "rss_kib_after_first_quarter": max(early),
        "rss_kib_last_quarter_max": max(late),
        "exit_code": rc,
    }
    print(json.dumps(result))
    ok = (
        counts["unexpected"] == 0
        and result["max_bytes_seen"] <= MAX_BYTES
        and result["evictions_max_bytes"] > 0
        and max(late) <= max(early) * 1.10 + 8192
        and rc == 0
    )
    if not ok:
        print("load: FAILED " + str(counts.get("first_unexpected", "")), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
