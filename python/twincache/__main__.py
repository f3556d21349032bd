"""python -m twincache info|ls|clear|prune [PATH]: look after a cache directory (default: the
one DiskCache uses, $TWINCACHE_DIR or ~/.cache/twincache).

    info    sizes, entry counts and the directory's counters (every process's, both languages)
    ls      the live entries (key, size, created, expires, tags, meta) without their values;
            --tag T and --where FIELD=VALUE (a JSON value, else a string) filter, --json
    clear   removes every entry
    prune   removes expired entries (and, with --max-bytes N, evicts down to N bytes)

Exit status: 0 on success, 1 when PATH holds no usable cache, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from typing import Any

from . import _disk


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def _ls(cache: _disk.DiskCache[Any, Any], tag: str | None, where: list[str], as_json: bool) -> int:
    fields: dict[str, Any] = {}
    for item in where:
        name, sep, text = item.partition("=")
        if not sep or not name:
            print(f"twincache: --where takes FIELD=VALUE (got {item!r})", file=sys.stderr)
            return 2
        try:
            fields[name] = json.loads(text)
        except ValueError:
            fields[name] = text
    rows = cache.query(tag=tag, where=fields or None)
    if as_json:
        print(json.dumps(rows, indent=2, default=repr))
        return 0
    print(f"{'key':32} {'size':>10}  {'created (UTC)':19}  {'expires (UTC)':19}  tags  meta")
    for r in rows:
        key = repr(r["key"])
        print(
            f"{key[:32]:32} {_size(r['size']):>10}  {_when(r['created']):19}  "
            f"{_when(r['expires']):19}  {','.join(r['tags']) or '-'}  "
            f"{json.dumps(r['meta']) if r['meta'] else '-'}"
        )
    print(f"{len(rows)} entries")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m twincache", description="Inspect and tidy a twincache cache directory."
    )
    parser.add_argument("command", choices=("info", "ls", "clear", "prune"))
    parser.add_argument("path", nargs="?", default=None, help="the cache directory")
    parser.add_argument("--max-bytes", type=int, default=None, help="prune: the byte budget")
    parser.add_argument("--json", action="store_true", help="info, ls: print JSON")
    parser.add_argument("--tag", default=None, help="ls: entries with this tag")
    parser.add_argument(
        "--where", action="append", default=[], help="ls: FIELD=VALUE of the entries' meta"
    )
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
    if args.command == "ls":
        return _ls(cache, args.tag, args.where, args.json)
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
