"""Type-aware values of the disk tier (docs/persistence.md, "Typed values"): numpy arrays as the
array codec tcarray/1 (tag 4: a small header, then the raw elements, never pickled), pandas
DataFrames and Series as Arrow IPC (tag 5, when pyarrow is installed), and memory-mapped loads
of arrays from their side files.

numpy, pandas and pyarrow stay optional: nothing here imports them. A value is recognised by its
type's module and name, and the libraries are imported only when such a value (or entry) shows
up, so `import twincache` and a DiskCache of plain values never load them.

tcarray/1, shared with Node (node/lib/disk.js):
    b"TCA1" | header length n (u32 LE) | header: n bytes of JSON, space-padded so that 8 + n is
    a multiple of 64 | the elements, n_items * itemsize bytes, in `order`
The JSON header is {"dtype": numpy's dtype string ("<f8", "|u1", "<M8[ns]"...), "shape": [...],
"order": "C" or "F"}. The elements start 64-byte aligned in the value (and so in its side file:
what a memory map needs).
"""

from __future__ import annotations

import json
import mmap as _mmap
import os
import stat as _stat
import struct
import sys
from typing import Any, Final

CODEC_ARRAY: Final = 4  # tcarray/1
CODEC_ARROW: Final = 5  # a pandas DataFrame or Series as an Arrow IPC stream
ARRAY_MAGIC: Final = b"TCA1"
_ALIGN: Final = 64
_ARRAY_KINDS: Final = frozenset("biufcmM")  # bool, ints, floats, complex, timedelta, datetime


def _is_type(value: object, module: str, name: str) -> bool:
    t = type(value)
    return t.__name__ == name and (t.__module__ or "").split(".")[0] == module


def is_array(value: object) -> bool:
    """A numpy ndarray (not a subclass: a matrix or masked array pickles as before) whose dtype
    the array codec holds."""
    if "numpy" not in sys.modules or type(value).__name__ != "ndarray":
        return False
    import numpy as np

    dtype = getattr(value, "dtype", None)
    return (
        type(value) is np.ndarray
        and dtype is not None
        and dtype.kind in _ARRAY_KINDS
        and dtype.fields is None
        and dtype.subdtype is None
    )


def is_frame(value: object) -> bool:
    """A pandas DataFrame or Series, when pyarrow can be imported."""
    if "pandas" not in sys.modules:
        return False
    if not (_is_type(value, "pandas", "DataFrame") or _is_type(value, "pandas", "Series")):
        return False
    try:
        import pyarrow  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def array_parts(a: Any) -> tuple[bytes, Any]:
    """(header, body): body is a flat uint8 view of the array's memory (no copy for C- or
    F-contiguous arrays; a strided view is copied once, into C order)."""
    import numpy as np

    if a.flags.c_contiguous:
        order = "C"
    elif a.flags.f_contiguous:
        order = "F"
        a = a.T  # C-contiguous, same memory
    else:
        order = "C"
        a = np.ascontiguousarray(a)
    shape = list(a.shape if order == "C" else a.shape[::-1])
    body = a.reshape(-1).view(np.uint8)
    header = array_header(a.dtype.str, shape, order)
    return header, body


def array_header(dtype: str, shape: list[int], order: str) -> bytes:
    text = json.dumps({"dtype": dtype, "shape": shape, "order": order}, separators=(",", ":"))
    raw = text.encode()
    n = -(-(8 + len(raw)) // _ALIGN) * _ALIGN - 8
    return ARRAY_MAGIC + struct.pack("<I", n) + raw.ljust(n, b" ")


def parse_header(data: Any, body_len: int | None = None) -> tuple[Any, tuple[int, ...], str, int]:
    """(numpy dtype, shape, order, offset of the elements) of a tcarray/1 value (data: the
    whole value, or its header when body_len gives the elements' length); ValueError naming
    what is wrong for anything else."""
    import numpy as np

    view = memoryview(data)
    if len(view) < 8 or bytes(view[:4]) != ARRAY_MAGIC:
        raise ValueError("this entry is not a tcarray/1 value (bad magic)")
    (n,) = struct.unpack("<I", view[4:8])
    if 8 + n > len(view):
        raise ValueError("this tcarray/1 value is cut short (header)")
    try:
        header = json.loads(bytes(view[8 : 8 + n]))
        dtype = np.dtype(header["dtype"])
        shape = tuple(int(d) for d in header["shape"])
        order = header["order"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"this tcarray/1 value has a bad header ({exc})") from None
    if order not in ("C", "F") or any(d < 0 for d in shape) or dtype.kind not in _ARRAY_KINDS:
        raise ValueError("this tcarray/1 value has a bad header")
    count = 1
    for d in shape:
        count *= d
    elements = len(view) - 8 - n if body_len is None else body_len
    if elements != count * dtype.itemsize:
        raise ValueError("this tcarray/1 value's size does not match its header")
    return dtype, shape, order, 8 + n


def array_from(data: Any, writable: bool = True) -> Any:
    """The array of a tcarray/1 value: over `data`'s memory (no copy) when data is writable or
    writable=False, else copied once."""
    import numpy as np

    dtype, shape, order, offset = parse_header(data)
    count = 1
    for d in shape:
        count *= d
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    if writable and not flat.flags.writeable:
        flat = flat.copy()
    return flat.reshape(shape, order=order)  # type: ignore[call-overload]


def frame_bytes(value: Any) -> Any:
    """A DataFrame or Series as an Arrow IPC stream; a Series is a one-column frame marked in
    the schema's metadata, so it comes back as a Series with its name."""
    import pyarrow as pa

    series = _is_type(value, "pandas", "Series")
    unnamed = series and value.name is None
    frame = value.to_frame(name="__series__" if unnamed else value.name) if series else value
    table = pa.Table.from_pandas(frame, preserve_index=True)
    meta = dict(table.schema.metadata or {})
    meta[b"twincache"] = json.dumps({"series": series, "name_none": unnamed}).encode()
    table = table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()  # a pyarrow Buffer: stored from its memory, never joined (set_parts)


def frame_from(data: Any) -> Any:
    try:
        import pyarrow as pa
    except ImportError:
        raise ValueError(
            "this entry is a pandas object stored as Arrow IPC (codec 5), which needs pyarrow: "
            "pip install pyarrow"
        ) from None
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    info = json.loads((table.schema.metadata or {}).get(b"twincache", b"{}"))
    frame = table.to_pandas()
    if info.get("series"):
        s = frame.iloc[:, 0]
        if info.get("name_none"):
            s.name = None
        return s
    return frame


def load_file(store: Any, key: bytes, codec: int, path: str, mac: bytes, mmap: bool) -> Any:
    """The value of an entry kept in a side file of its own: an array (load_array) or a pandas
    object (read into one buffer, checked, then decoded). None as for load_array."""
    if codec == CODEC_ARRAY:
        return load_array(store, key, path, mac, mmap)
    fd = _open_file(path)
    if fd < 0:
        return None
    try:
        data = bytearray(os.fstat(fd).st_size)
        if not _read_into(fd, memoryview(data), 0):
            return None
    except OSError:
        return None
    finally:
        os.close(fd)
    if not store.verify(key, codec, b"", data, mac):
        return None
    return frame_from(data)


def _open_file(path: str) -> int:
    """A read-only fd of a regular file (O_NONBLOCK: a FIFO in its place never blocks), or -1."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return -1
    try:
        if _stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return -1


def _read_into(fd: int, view: memoryview, offset: int) -> bool:
    """Fills view from fd at offset; False if the file is shorter."""
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            return False
        done += n
    return True


# Array files this process has checked: (key, HMAC, device, inode, size, mtime, ctime). A file
# twincache wrote is never rewritten in place (a new value is a new file), and writing into it
# moves its ctime, which nothing can set back; so a file seen again with the same identity and
# times is the bytes checked before, and its HMAC is not computed again (docs/persistence.md,
# "Memory-mapped arrays"). Cleared when it reaches _VERIFIED_MAX.
_verified: set[tuple[Any, ...]] = set()
_VERIFIED_MAX: Final = 4096


def load_array(store: Any, key: bytes, path: str, mac: bytes, mmap: bool) -> Any:
    """The array of an entry kept in a side file of its own (store.get(key, files=True) gave
    its path and HMAC): read into a new writable array (mmap=False: no other copy) or mapped
    read-only (mmap=True), the HMAC checked over the very bytes returned. None when the file is
    missing or fails the check: the caller's plain get() then counts and removes the entry."""
    import numpy as np

    fd = _open_file(path)
    if fd < 0:
        return None
    try:
        st = os.fstat(fd)
        size = st.st_size
        seen = (key, mac, st.st_dev, st.st_ino, size, st.st_mtime_ns, st.st_ctime_ns)
        head = os.pread(fd, 8, 0)
        if len(head) < 8 or head[:4] != ARRAY_MAGIC:
            return None
        hlen = 8 + struct.unpack("<I", head[4:8])[0]
        if hlen > size:
            return None
        header = os.pread(fd, hlen, 0)
        if mmap:
            mapping = _mmap.mmap(fd, size, access=_mmap.ACCESS_READ)
            body: Any = memoryview(mapping)[hlen:]
        else:
            buf = np.empty(size - hlen, dtype=np.uint8)
            if not _read_into(fd, memoryview(buf), hlen):  # type: ignore[arg-type]
                return None
            body = buf
    except OSError:
        return None
    finally:
        os.close(fd)
    if seen in _verified:
        store.note_hits(1)  # this very file checked before, unchanged since
    elif store.verify(key, CODEC_ARRAY, header, body, mac):
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified.add(seen)
    else:
        return None
    try:
        dtype, shape, order, _ = parse_header(header, len(body))
    except ValueError:
        return None  # signed, but not an array this version reads: the plain get() says why
    count = 1
    for d in shape:
        count *= d
    flat = np.frombuffer(body, dtype=dtype, count=count)
    return flat.reshape(shape, order=order)  # type: ignore[call-overload]
