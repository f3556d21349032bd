"""What the Python benchmarks share (bench/python, bench/redis): their command line, a
redis-server of the run's own (tests/python/redis_server.py's harness on a temporary
directory, stopped at the end) and the timing of contenders in turns. A script in bench/redis
puts bench/python on sys.path first."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from redis_server import RedisServer  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"

Contender = tuple[Callable[[], object], int]  # the call, and how many calls per round


def arguments(doc: str | None, **defaults: float) -> argparse.Namespace:
    """The command line: the docstring's first paragraph as its description and one option
    `--name` per keyword, of its default's type (`repeat=15` is `--repeat`, an int)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    return parser.parse_args()


@contextmanager
def own_redis_server() -> Iterator[RedisServer]:
    """Debian's redis-server (on PATH; the script exits saying so without it) on a free loopback
    port in a temporary directory, stopped when the block ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (scripts/setup)")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(binary, Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


def timed_rounds(
    contenders: Mapping[str, Contender],
    repeat: int,
    clocks: Sequence[Callable[[], float]] = (time.perf_counter,),
    warmup: int = 50,
) -> dict[str, list[tuple[float, ...]]]:
    """Seconds per call of each contender in each of `repeat` rounds, by each clock (one tuple a
    round). Contenders run in turns, one round each, so a burst of other load slows all of them
    alike; first each is called min(its number, warmup) times (connections made, paths hot)."""
    for fn, number in contenders.values():
        for _ in range(min(number, warmup)):
            fn()
    times: dict[str, list[tuple[float, ...]]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, (fn, number) in contenders.items():
            started = [clock() for clock in clocks]
            for _ in range(number):
                fn()
            ended = [clock() for clock in reversed(clocks)][::-1]
            times[name].append(tuple((e - s) / number for s, e in zip(started, ended, strict=True)))
    return times
