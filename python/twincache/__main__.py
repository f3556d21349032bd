"""python -m twincache info|clear|prune [PATH]: look after a cache directory (default: the one
DiskCache uses, $TWINCACHE_DIR or ~/.cache/twincache).

    info    sizes, entry counts and the directory's counters (every process's, both languages)
    clear   removes every entry
    prune   removes expired entries (and, with --max-bytes N, evicts down to N bytes)

Exit status: 0 on success, 1 when PATH holds no usable cache, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from . import _disk


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m twincache", description="Inspect and tidy a twincache cache directory."
    )
    parser.add_argument("command", choices=("info", "clear", "prune"))
    parser.add_argument("path", nargs="?", default=None, help="the cache directory")
    parser.add_argument("--max-bytes", type=int, default=None, help="prune: the byte budget")
    parser.add_argument("--json", action="store_true", help="info: print JSON")
    args = parser.parse_intermixed_args(argv)  # options before or after PATH
    path = args.path if args.path is not None else _disk.default_directory()
    if not os.path.isfile(os.path.join(path, "cache.db")):
        print(f"twincache: no cache in {path}", file=sys.stderr)
        return 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cache = _disk.DiskCache(path, max_bytes=args.max_bytes)
        except (TypeError, ValueError) as exc:
            print(f"twincache: {exc}", file=sys.stderr)
            return 2
    if not cache.persistent:
        why = caught[0].message if caught else "unknown reason"
        print(f"twincache: cannot use {path}: {why}", file=sys.stderr)
        return 1
    for w in caught:  # e.g. a damaged cache.db moved aside (docs/persistence.md)
        print(w.message, file=sys.stderr)
    if args.command == "clear":
        n = len(cache)
        cache.clear()
        print(f"removed {n} entries from {cache.path}")
        return 0
    if args.command == "prune":
        n = cache.prune()
        print(f"removed {n} entries from {cache.path}")
        return 0
    info = cache.info()
    info["live_items"] = len(cache)
    info["native"] = _disk.native
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print(f"cache directory  {info['path']}")
    print(f"entries          {info['live_items']} live, {info['items']} stored")
    print(f"stored bytes     {_size(info['bytes'])} (files: {_size(info['file_bytes'])})")
    lookups = info["hits"] + info["misses"]
    ratio = f" ({100 * info['hits'] / lookups:.1f}% hits)" if lookups else ""
    print(f"lookups          {info['hits']} hits, {info['misses']} misses{ratio}")
    print(f"writes           {info['sets']} sets, {info['deleted']} deleted")
    print(
        f"removed          {info['evicted']} evicted, {info['expired']} expired, "
        f"{info['corrupt']} failed their integrity check"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
