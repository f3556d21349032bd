#!/usr/bin/env python3
"""Fetches the C sources a build needs from PyPI at build time (nothing third-party is kept in
this repository): xxhash.h, the zstd single-file library and the SQLite amalgamation, each from a
pinned sdist that embeds it, checked against a pinned SHA-256.

    python cmake/fetch-sources.py NAME DEST     NAME: xxhash | zstd | sqlite

Downloads with pip (`pip download --no-deps --no-binary :all:`) into a cache directory
($TWINCACHE_SOURCE_CACHE, default ~/.cache/twincache-sources) and extracts the files into DEST.
Exit status 0 when DEST holds the files, 1 (with the reason on stderr) otherwise; CMake then
builds without that library (docs/python.md, "Installing").
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

# name -> (pip requirement, sdist file name, sha256 of the sdist, {member in the sdist: file})
SOURCES: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "xxhash": (
        "xxhash==4.1.0",
        "xxhash-4.1.0.tar.gz",
        "c9b288e4c1f5dae54417bc8a05e6f6daf505783d916b4783f4dd2f2e7d5db486",
        {"xxhash-4.1.0/deps/xxhash/xxhash.h": "xxhash.h"},
    ),
    "zstd": (  # python-zstandard embeds zstd 1.5.7 as one file
        "zstandard==0.25.0",
        "zstandard-0.25.0.tar.gz",
        "7713e1179d162cf5c7906da876ec2ccb9c3a9dcbdffef0cc7f70c3667a205f0b",
        {
            "zstandard-0.25.0/zstd/zstd.c": "zstd.c",
            "zstandard-0.25.0/zstd/zstd.h": "zstd.h",
            "zstandard-0.25.0/zstd/zstd_errors.h": "zstd_errors.h",
        },
    ),
    # sqlean.py embeds the SQLite 3.50.4 amalgamation and appends a hook for its extensions after
    # the amalgamation's last line: the file is cut there (END_OF below), leaving plain SQLite.
    "sqlite": (
        "sqlean-py==3.50.4.5",
        "sqlean_py-3.50.4.5.tar.gz",
        "9764b565e7ab430ab6e9e43cb2816199c2b39926dffc93c212a52f0019278459",
        {
            "sqlean_py-3.50.4.5/sqlite/sqlite3.c": "sqlite3.c",
            "sqlean_py-3.50.4.5/sqlite/sqlite3.h": "sqlite3.h",
        },
    ),
}


# file -> the line it ends with (what follows is dropped)
END_OF = {
    "sqlite3.c": b"/************************** End of sqlite3.c ******************************/\n"
}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name: str, dest: Path) -> str | None:
    """None on success, else the reason."""
    requirement, file_name, digest, members = SOURCES[name]
    if all((dest / out).is_file() for out in members.values()):
        return None
    cache = Path(
        os.environ.get("TWINCACHE_SOURCE_CACHE") or Path.home() / ".cache" / "twincache-sources"
    )
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / file_name
    if not archive.is_file() or sha256_of(archive) != digest:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", "--dest", str(cache), requirement]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not archive.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"pip download {requirement} failed: {' '.join(tail)}"
    got = sha256_of(archive)
    if got != digest:
        return f"{file_name}: sha256 {got}, expected {digest}"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member, out in members.items():
            src = tar.extractfile(member)
            if src is None:
                return f"{file_name} has no {member}"
            data = src.read()
            if out in END_OF:
                end = data.find(END_OF[out])
                if end < 0:
                    return f"{member} has no line {END_OF[out]!r}"
                data = data[: end + len(END_OF[out])]
            (dest / out).write_bytes(data)
    return None


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in SOURCES:
        print(f"usage: fetch-sources.py {{{'|'.join(SOURCES)}}} DEST", file=sys.stderr)
        return 2
    reason = fetch(sys.argv[1], Path(sys.argv[2]))
    if reason is not None:
        print(f"fetch-sources: {sys.argv[1]}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
