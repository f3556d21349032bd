"""Packaging: the mode flag, the fallback warning, typing files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import twincache
import twincache._disk

PACKAGE_DIR = Path(twincache.__file__).parent
FORCED_PURE = os.environ.get("TWINCACHE_PURE", "") not in ("", "0")


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


@pytest.mark.parametrize(
    ("value", "pure"),
    [
        *[("1", True), ("true", True), ("YES", True), (" on ", True)],
        *[("", False), ("0", False), ("false", False), ("No", False), ("off", False)],
    ],
)
def test_twincache_pure_values_match_node(value: str, pure: bool) -> None:
    # Regression: TWINCACHE_PURE=true was pure here and native in Node; both now read
    # 1/true/yes/on as pure and 0/false/no/off/empty as native (tests/node/mode.test.js).
    code = "import twincache, twincache._disk; print(twincache.native, twincache._disk.native)"
    out = run_python(code, TWINCACHE_PURE=value)
    assert "Warning" not in out.stderr
    if pure:
        assert out.stdout.split() == ["False", "False"]
    elif not FORCED_PURE:  # the native run: the extension is installed
        assert out.stdout.split() == ["True", "True"]


def test_twincache_pure_other_values_warn_once_at_the_import(tmp_path: Path) -> None:
    script = tmp_path / "user.py"
    script.write_text(
        "import os\nimport twincache\nimport twincache._disk\nprint(twincache.native)\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "default", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "TWINCACHE_PURE": "maybe"},
        check=True,
    )
    assert out.stderr.count("Warning") == 1, out.stderr
    assert f"{script}:2: RuntimeWarning: twincache: TWINCACHE_PURE='maybe' is not one of 1, " in (
        out.stderr
    )
    assert "or 0, false, no, off, empty (native); using the native one" in out.stderr


def test_fallback_warning_points_at_the_users_import(tmp_path: Path) -> None:
    script = tmp_path / "user.py"
    script.write_text(
        "import sys\nsys.modules['twincache._native'] = None\nimport twincache\nprint(1)\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "default", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "TWINCACHE_PURE": ""},
        check=True,
    )
    assert f"{script}:3: RuntimeWarning: twincache: the native extension" in out.stderr, out.stderr
    script.write_text(
        "import sys\nsys.modules['twincache._disk_native'] = None\nimport twincache\n"
        "twincache.DiskCache\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "default", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "TWINCACHE_PURE": ""},
        check=True,
    )
    if not FORCED_PURE:  # the native run: the disk tier's extension is what is missing
        assert f"{script}:4: RuntimeWarning: twincache: the native disk tier" in out.stderr, (
            out.stderr
        )


def test_cache_options_are_keyword_only() -> None:
    with pytest.raises(TypeError) as info:
        twincache.cache(60)  # type: ignore[call-overload]
    assert str(info.value) == (
        "cache() takes its options by keyword, as in @cache(ttl=60) or @cache(maxsize=128); its "
        "only positional argument is the function to cache (got int 60)"
    )


def test_typing_files_ship_with_the_package() -> None:
    assert (PACKAGE_DIR / "py.typed").is_file()
    assert (PACKAGE_DIR / "_native.pyi").is_file()
