"""How a cache with max_bytes weighs a Python object (both modes use this function).

sys.getsizeof alone is not enough: it counts a container's own array of pointers but not the
objects the container holds, and a numpy view's header but not the data it looks at. The weight
of an object is therefore:

- str, bytes, bytearray, int, float and other scalars: sys.getsizeof (which includes their data);
- memoryview: its header plus the bytes it exposes (nbytes);
- numpy arrays: sys.getsizeof plus nbytes when the array does not own its data (a view);
  an array that owns its data is already fully counted by sys.getsizeof;
- objects defining __sizeof__ (pandas objects report their deep memory usage this way):
  sys.getsizeof;
- list, tuple, set, frozenset, dict: sys.getsizeof plus the weight of every element (keys and
  values for dicts), recursively;
- instances with a __dict__: sys.getsizeof plus the weight of that __dict__.

An object reachable twice inside one value is counted once; cycles are safe. The walk is
iterative, so deep nesting cannot overflow the stack.
"""

from __future__ import annotations

import sys
from typing import Any

_CONTAINERS = (list, tuple, set, frozenset)


def weigh(obj: object) -> int:
    """The weight in bytes that max_bytes charges for obj (see the module docstring)."""
    total = 0
    seen: set[int] = set()
    stack: list[Any] = [obj]
    while stack:
        item = stack.pop()
        ident = id(item)
        if ident in seen:
            continue
        seen.add(ident)
        total += sys.getsizeof(item)
        kind = type(item)
        if kind in (str, bytes, bytearray, int, float, bool, type(None)):
            continue
        if isinstance(item, _CONTAINERS):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, memoryview):
            total += item.nbytes
        elif kind.__module__ == "numpy" and hasattr(item, "nbytes"):
            if getattr(item, "base", None) is not None:
                total += int(item.nbytes)
        else:
            instance_dict = getattr(item, "__dict__", None)
            if isinstance(instance_dict, dict):
                stack.append(instance_dict)
    return total
