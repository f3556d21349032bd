"""python -m twincache info|clear|prune [PATH], run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from twincache import DiskCache


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twincache", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        cwd="/",
    )


def test_info_clear_prune(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    c = DiskCache(path)
    for i in range(20):
        c[i] = "x" * 100
    c.set("short", 1, ttl=0.001)
    assert c.get(0) == "x" * 100
    del c
    r = cli("info", str(path), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["items"] == 21 and info["sets"] == 21 and info["hits"] == 1
    assert info["bytes"] > 2000 and info["file_bytes"] >= info["bytes"]
    text = cli("info", str(path)).stdout
    assert "21 stored" in text and "1 hits" in text
    r = cli("prune", str(path))
    assert r.returncode == 0 and "removed 1 entries" in r.stdout, r.stdout + r.stderr
    r = cli("prune", str(path), "--max-bytes", "1000")
    assert r.returncode == 0, r.stderr
    assert DiskCache(path).stats()["bytes"] <= 1000
    r = cli("clear", str(path))
    assert r.returncode == 0 and "removed" in r.stdout
    assert len(DiskCache(path)) == 0


def test_default_directory_and_errors(tmp_path: Path) -> None:
    env = dict(os.environ, TWINCACHE_DIR=str(tmp_path / "default"))
    r = cli("info", env=env)
    assert r.returncode == 1 and "no cache in" in r.stderr
    assert not (tmp_path / "default").exists()  # info does not create a cache
    DiskCache(tmp_path / "default")["k"] = 1
    r = cli("info", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["items"] == 1
    assert cli("explode").returncode == 2
    r = cli("prune", str(tmp_path / "default"), "--max-bytes", "0")
    assert r.returncode == 2 and "max_bytes must be" in r.stderr


def test_options_before_or_after_the_path(tmp_path: Path) -> None:
    # Regression: `info --json PATH` and `prune --max-bytes N PATH` (as docs/persistence.md shows
    # them) used to fail with "unrecognized arguments: PATH".
    path = tmp_path / "cache"
    c = DiskCache(path)
    for i in range(20):
        c[i] = "x" * 100
    c.flush()
    del c
    r = cli("info", "--json", str(path))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["items"] == 20
    r = cli("prune", "--max-bytes", "1000", str(path))
    assert r.returncode == 0, r.stderr
    assert DiskCache(path).stats()["bytes"] <= 1000
    r = cli("--json", "info", str(path))
    assert r.returncode == 0 and json.loads(r.stdout)["items"] < 20
