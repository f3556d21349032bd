"""Chooses the implementation: the C++ core through twincache._native, or the pure-Python
fallback (twincache._pure) when the extension cannot be imported or TWINCACHE_PURE=1."""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import TYPE_CHECKING


def _load() -> tuple[ModuleType, bool]:
    if os.environ.get("TWINCACHE_PURE", "") not in ("", "0"):
        from . import _pure

        return _pure, False
    try:
        from . import _native
    except ImportError as exc:
        from . import _pure

        warnings.warn(
            f"twincache: the native extension could not be imported ({exc}); using the slower "
            "pure-Python implementation (set TWINCACHE_PURE=1 to choose it silently)",
            RuntimeWarning,
            stacklevel=3,
        )
        return _pure, False
    return _native, True


if TYPE_CHECKING:  # the pure module is the reference for types (_native.pyi mirrors it)
    from . import _pure as impl

    native: bool
else:
    impl, native = _load()

__all__ = ["impl", "native"]
