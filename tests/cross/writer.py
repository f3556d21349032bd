"""One side of the two-language test (run by run_cross.py): writes N entries under its prefix
with codec="json" while the Node side writes its own, then waits until it reads every entry the
other side wrote, with exactly the expected value. Exit status 0 on success."""

from __future__ import annotations

import sys
import time

from twincache import DiskCache


def value(side: str, i: int) -> object:
    return {
        "side": side,
        "i": i,
        "text": f"héllo {side} ✓ {i}",
        "list": [i, i * 0.5, None, True, "x"],
        "big": "abc" * (2000 if i % 50 == 0 else 1),  # some are compressed on disk
    }


def main() -> int:
    path, me, other, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cache = DiskCache(path, codec="json")
    assert cache.persistent, "the cross-language test needs a usable directory"
    cache[f"{me}-bytes"] = bytes([0, 1, 2, 255])  # stored raw: a Buffer in Node
    seen: set[int] = set()
    for i in range(n):
        cache[f"{me}-{i}"] = value(me, i)
        cache["shared"] = value(me, i)
        got = cache.get(f"{other}-{i // 2}")
        if got is not None:
            assert got == value(other, i // 2), got
            seen.add(i // 2)
    deadline = time.monotonic() + 60
    while len(seen) < n:
        for i in range(n):
            if i in seen:
                continue
            got = cache.get(f"{other}-{i}")
            if got is not None:
                assert got == value(other, i), (i, got)
                seen.add(i)
        if time.monotonic() > deadline:
            print(f"writer.py: saw {len(seen)} of {n} entries from {other}", file=sys.stderr)
            return 1
        time.sleep(0.01)
    assert cache[f"{other}-bytes"] == bytes([0, 1, 2, 255])
    shared = cache["shared"]
    assert shared["side"] in (me, other), shared
    print(f"writer.py ({me}): wrote {n}, read all {n} written by {other}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
