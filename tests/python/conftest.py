"""Shared fixtures. The whole suite runs twice (scripts/test-python): against the native module
and with TWINCACHE_PURE=1; the header line says which one is under test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import twincache
from disk_helpers import DiskClock
from twincache._testing import ManualClock, manual_clock


def pytest_report_header() -> str:
    mode = "native (C++ core)" if twincache.native else "pure Python"
    return f"twincache implementation under test: {mode}"


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """Manual time for every cache in the process while the test runs."""
    with manual_clock() as c:
        yield c


@pytest.fixture
def disk_clock() -> Iterator[DiskClock]:
    """The disk tier's wall clock in manual mode, from a fixed instant, and a handle to advance it
    (test_disk_tags.py has its own, which starts elsewhere)."""
    from twincache import _disk

    _disk.clock_set_manual(1_700_000_000_000_000_000)
    try:
        yield DiskClock()
    finally:
        _disk.clock_set_real()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A DiskCache directory that does not exist yet (the cache makes it)."""
    return tmp_path / "cache"
