"""Chooses the implementation: the C++ core through twincache._native, or the pure-Python
fallback (twincache._pure) when the extension cannot be imported or TWINCACHE_PURE asks for it.
Also home of the two helpers every module uses for that choice and its warnings:
pure_requested() (how TWINCACHE_PURE is read, the same values as in Node) and warn() (a warning
that points at the user's line, not at twincache's)."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
PURE_VALUES = ("1", "true", "yes", "on")
NATIVE_VALUES = ("", "0", "false", "no", "off")


def warn(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """warnings.warn at the first frame outside this package (and outside importlib, which the
    warnings machinery skips itself): the user's call, or their `import twincache`."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not ("importlib" in name and "_bootstrap" in name):
            level += 1
            if not name.startswith(_PACKAGE_DIR):
                break
        frame = frame.f_back  # type: ignore[assignment]
    warnings.warn(message, category, stacklevel=level)


@functools.cache
def pure_requested() -> bool:
    """TWINCACHE_PURE: 1/true/yes/on (any case) select the pure implementation; unset, empty,
    0/false/no/off the native one; anything else warns once and keeps the native one. Node reads
    the variable the same way (node/lib/binding.js)."""
    raw = os.environ.get("TWINCACHE_PURE", "")
    value = raw.strip().lower()
    if value in PURE_VALUES:
        return True
    if value not in NATIVE_VALUES:
        warn(
            f"twincache: TWINCACHE_PURE={raw!r} is not one of 1, true, yes, on (pure "
            "implementation) or 0, false, no, off, empty (native); using the native one",
        )
    return False


def _load() -> tuple[ModuleType, bool]:
    if pure_requested():
        from . import _pure

        return _pure, False
    try:
        from . import _native
    except ImportError as exc:
        from . import _pure

        warn(
            f"twincache: the native extension could not be imported ({exc}); using the slower "
            "pure-Python implementation (set TWINCACHE_PURE=1 to choose it silently)",
        )
        return _pure, False
    return _native, True


if TYPE_CHECKING:  # the pure module is the reference for types (_native.pyi mirrors it)
    from . import _pure as impl

    native: bool
else:
    impl, native = _load()

__all__ = ["NATIVE_VALUES", "PURE_VALUES", "impl", "native", "pure_requested", "warn"]
