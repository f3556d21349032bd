"""Packaging: the mode flag, the fallback warning, typing files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import twincache

PACKAGE_DIR = Path(twincache.__file__).parent


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )


def test_native_flag_matches_the_requested_mode() -> None:
    forced_pure = os.environ.get("TWINCACHE_PURE", "") not in ("", "0")
    assert twincache.native is (not forced_pure)


def test_twincache_pure_forces_the_fallback_silently() -> None:
    out = run_python("import twincache; print(twincache.native)", TWINCACHE_PURE="1")
    assert out.stdout.strip() == "False"
    assert "Warning" not in out.stderr


def test_missing_extension_falls_back_with_one_warning() -> None:
    code = (
        "import sys; sys.modules['twincache._native'] = None\n"
        "import twincache\n"
        "@twincache.lru_cache\n"
        "def f(x): return x\n"
        "print(twincache.native, f(2), f(2), f.cache_info().hits)\n"
    )
    out = run_python(code, TWINCACHE_PURE="")
    assert out.stdout.strip() == "False 2 2 1"
    assert out.stderr.count("RuntimeWarning") == 1
    assert "native extension could not be imported" in out.stderr


def test_typing_files_ship_with_the_package() -> None:
    assert (PACKAGE_DIR / "py.typed").is_file()
    assert (PACKAGE_DIR / "_native.pyi").is_file()
