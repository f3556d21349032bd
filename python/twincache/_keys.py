"""Pure-Python key encoder: the canonical key encoding of docs/keys.md and its XXH3-128 hash.

The native extension builds the same bytes with the C++ core's key_builder; this module is what
the pure-Python fallback uses, and what tests/vectors/keys.json is generated from
(scripts/gen-key-vectors). The two must agree byte for byte on every vector.

    encode(value) -> bytes          the key's encoding (version byte first)
    hash128_hex(value) -> str       XXH3-128 of encode(value), 32 hex digits, high half first
                                    (the xxhash package if installed, else pure Python)

Keyed by content: None, bool, int (any size), float, str, bytes / bytearray / memoryview,
list and tuple (the same), dict (order-independent), set and frozenset (order-independent),
numpy arrays (dtype, shape, bytes in C order; numpy is imported only by callers who pass one),
numpy scalars (as the Python bool, int or float they equal), and pandas Series, DataFrames and
Indexes (as the plain list pandas_parts() makes of them: names, dtypes, index and the values'
arrays; pandas is imported only for a value whose type comes from it). Anything else raises
TypeError naming its type.

Hot path: this runs on every call of a cached function whose arguments are keyed by content in
pure-Python mode, so dispatch is one dict lookup on the exact type, with isinstance() only for
subclasses.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from typing import Any

VERSION = 1
MAX_DEPTH = 64

# Tags (docs/keys.md). Frozen: they are part of every stored key.
_NULL = 0x00
_FALSE = 0x01
_TRUE = 0x02
_INT_NONNEGATIVE = 0x03
_INT_NEGATIVE = 0x04
_FLOAT64 = 0x05
_STRING = 0x06
_BYTES = 0x07
_LIST = 0x08
_MAP = 0x09
_SET = 0x0A
_BUFFER = 0x0B

_NAN = bytes([_FLOAT64]) + struct.pack("<d", float("nan"))  # 0x7ff8000000000000, the one NaN
_pack_double = struct.Struct("<d").pack

_DEPTH_MESSAGE = (
    "key nesting depth must be at most 64 containers (got deeper: a cyclic or too deeply "
    "nested argument)"
)


def encode(value: Any) -> bytes:
    """The canonical encoding of `value`: version byte, then the value."""
    out = bytearray(b"\x01")
    _encode(value, out, 0)
    return bytes(out)


def hash128_hex(value: Any) -> str:
    """XXH3-128 of encode(value) as 32 lowercase hex digits, high half first."""
    return hash128_hex_of(encode(value))


def hash128_hex_of(encoding: bytes) -> str:
    """XXH3-128 of raw bytes (an encoding from encode()), as hash128_hex gives it: the `xxhash`
    package when it is installed, else the pure-Python xxh3_128_hex below (same output)."""
    global _xxh3_128_hexdigest
    if _xxh3_128_hexdigest is None:
        try:
            import xxhash

            _xxh3_128_hexdigest = xxhash.xxh3_128_hexdigest
        except ImportError:
            _xxh3_128_hexdigest = xxh3_128_hex
    return _xxh3_128_hexdigest(encoding)


_xxh3_128_hexdigest: Callable[[bytes], str] | None = None


# --- XXH3-128 in pure Python ----------------------------------------------------------------------
# Seed 0, default secret; written from the algorithm's description (the input length classes 0,
# 1-3, 4-8, 9-16, 17-128, 129-240 and the striped long loop), checked against xxhash on
# tests/vectors/keys.json's reference cases. Exact, slow (Python ints): a fallback only.

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_P32_1, _P32_2, _P32_3 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D
_P64_1, _P64_2, _P64_3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P64_4, _P64_5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
_PRIME_MX1, _PRIME_MX2 = 0x165667919E3779F9, 0x9FB21C651E98DF25
_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
)
_STRIPE = 64
_STRIPES_PER_BLOCK = (len(_SECRET) - _STRIPE) // 8
_BLOCK = _STRIPE * _STRIPES_PER_BLOCK


def _r64(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 8], "little")


def _r32(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 4], "little")


def _fold(a: int, b: int) -> int:
    p = a * b
    return (p ^ (p >> 64)) & _M64


def _xxh64_avalanche(h: int) -> int:
    h ^= h >> 33
    h = (h * _P64_2) & _M64
    h ^= h >> 29
    h = (h * _P64_3) & _M64
    return h ^ (h >> 32)


def _xxh3_avalanche(h: int) -> int:
    h ^= h >> 37
    h = (h * _PRIME_MX1) & _M64
    return h ^ (h >> 32)


def _mix32(acc: list[int], b: bytes, at1: int, at2: int, s: int) -> None:
    acc[0] = (
        acc[0] + _fold(_r64(b, at1) ^ _r64(_SECRET, s), _r64(b, at1 + 8) ^ _r64(_SECRET, s + 8))
    ) & _M64
    acc[0] ^= (_r64(b, at2) + _r64(b, at2 + 8)) & _M64
    acc[1] = (
        acc[1]
        + _fold(_r64(b, at2) ^ _r64(_SECRET, s + 16), _r64(b, at2 + 8) ^ _r64(_SECRET, s + 24))
    ) & _M64
    acc[1] ^= (_r64(b, at1) + _r64(b, at1 + 8)) & _M64


def _finish(acc: list[int], n: int) -> tuple[int, int]:
    lo = (acc[0] + acc[1]) & _M64
    hi = (acc[0] * _P64_1 + acc[1] * _P64_4 + n * _P64_2) & _M64
    return (-_xxh3_avalanche(hi)) & _M64, _xxh3_avalanche(lo)


def _xxh3_128(b: bytes) -> tuple[int, int]:
    """(high, low) of XXH3-128, seed 0."""
    n = len(b)
    if n == 0:
        return (
            _xxh64_avalanche(_r64(_SECRET, 80) ^ _r64(_SECRET, 88)),
            _xxh64_avalanche(_r64(_SECRET, 64) ^ _r64(_SECRET, 72)),
        )
    if n <= 3:
        combined_lo = (b[0] << 16) | (b[n >> 1] << 24) | b[n - 1] | (n << 8)
        swapped = int.from_bytes(combined_lo.to_bytes(4, "little"), "big")
        combined_hi = ((swapped << 13) | (swapped >> 19)) & _M32
        return (
            _xxh64_avalanche(combined_hi ^ (_r32(_SECRET, 8) ^ _r32(_SECRET, 12))),
            _xxh64_avalanche(combined_lo ^ (_r32(_SECRET, 0) ^ _r32(_SECRET, 4))),
        )
    if n <= 8:
        keyed = (_r32(b, 0) + (_r32(b, n - 4) << 32)) ^ (_r64(_SECRET, 16) ^ _r64(_SECRET, 24))
        p = keyed * ((_P64_1 + (n << 2)) & _M64)
        lo, hi = p & _M64, p >> 64
        hi = (hi + (lo << 1)) & _M64
        lo ^= hi >> 3
        lo ^= lo >> 35
        lo = (lo * _PRIME_MX2) & _M64
        lo ^= lo >> 28
        return _xxh3_avalanche(hi), lo
    if n <= 16:
        in_lo, in_hi = _r64(b, 0), _r64(b, n - 8)
        p = (in_lo ^ in_hi ^ _r64(_SECRET, 32) ^ _r64(_SECRET, 40)) * _P64_1
        m_lo = ((p & _M64) + ((n - 1) << 54)) & _M64
        m_hi = p >> 64
        in_hi ^= _r64(_SECRET, 48) ^ _r64(_SECRET, 56)
        m_hi = (m_hi + in_hi + (in_hi & _M32) * (_P32_2 - 1)) & _M64
        m_lo ^= int.from_bytes(m_hi.to_bytes(8, "little"), "big")
        h = m_lo * _P64_2
        h_hi = ((h >> 64) + m_hi * _P64_2) & _M64
        return _xxh3_avalanche(h_hi), _xxh3_avalanche(h & _M64)
    if n <= 128:
        acc = [(n * _P64_1) & _M64, 0]
        if n > 32:
            if n > 64:
                if n > 96:
                    _mix32(acc, b, 48, n - 64, 96)
                _mix32(acc, b, 32, n - 48, 64)
            _mix32(acc, b, 16, n - 32, 32)
        _mix32(acc, b, 0, n - 16, 0)
        return _finish(acc, n)
    if n <= 240:
        acc = [(n * _P64_1) & _M64, 0]
        for i in range(4):
            _mix32(acc, b, 32 * i, 32 * i + 16, 32 * i)
        acc = [_xxh3_avalanche(acc[0]), _xxh3_avalanche(acc[1])]
        for i in range(4, n // 32):
            _mix32(acc, b, 32 * i, 32 * i + 16, 3 + 32 * (i - 4))
        _mix32(acc, b, n - 16, n - 32, 136 - 17 - 16)
        return _finish(acc, n)
    return _xxh3_128_long(b)


def _accumulate(acc: list[int], b: bytes, at: int, s: int) -> None:
    for i in range(8):
        data = _r64(b, at + 8 * i)
        key = data ^ _r64(_SECRET, s + 8 * i)
        acc[i ^ 1] = (acc[i ^ 1] + data) & _M64
        acc[i] = (acc[i] + (key & _M32) * (key >> 32)) & _M64


def _merge(acc: list[int], s: int, start: int) -> int:
    r = start
    for i in range(4):
        r += _fold(
            acc[2 * i] ^ _r64(_SECRET, s + 16 * i), acc[2 * i + 1] ^ _r64(_SECRET, s + 16 * i + 8)
        )
    return _xxh3_avalanche(r & _M64)


def _xxh3_128_long(b: bytes) -> tuple[int, int]:
    n = len(b)
    acc = [_P32_3, _P64_1, _P64_2, _P64_3, _P64_4, _P32_2, _P64_5, _P32_1]
    blocks = (n - 1) // _BLOCK
    last_secret = len(_SECRET) - _STRIPE
    for blk in range(blocks):
        for st in range(_STRIPES_PER_BLOCK):
            _accumulate(acc, b, blk * _BLOCK + st * _STRIPE, st * 8)
        for i in range(8):
            a = acc[i]
            a ^= a >> 47
            a ^= _r64(_SECRET, last_secret + 8 * i)
            acc[i] = (a * _P32_1) & _M64
    for st in range((n - 1 - blocks * _BLOCK) // _STRIPE):
        _accumulate(acc, b, blocks * _BLOCK + st * _STRIPE, st * 8)
    _accumulate(acc, b, n - _STRIPE, last_secret - 7)
    lo = _merge(acc, 11, (n * _P64_1) & _M64)
    hi = _merge(acc, last_secret - 11, ~(n * _P64_2) & _M64)
    return hi, lo


def xxh3_128_hex(data: bytes) -> str:
    """XXH3-128 (seed 0) of `data` in pure Python: 32 hex digits, high half first."""
    hi, lo = _xxh3_128(bytes(data))
    return f"{hi:016x}{lo:016x}"


def _varint(n: int, out: bytearray) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


# Encodings of the small integers, the most common arguments: one slice append each.
_SMALL_INTS = {i: bytes((_INT_NONNEGATIVE, 1, i)) for i in range(1, 0x100)}
_SMALL_INTS.update({-i: bytes((_INT_NEGATIVE, 1, i)) for i in range(1, 0x100)})
_SMALL_INTS[0] = bytes((_INT_NONNEGATIVE, 0))


def _encode_int(v: Any, out: bytearray) -> None:
    v = int(v)  # int subclasses (IntEnum) as the int they equal
    small = _SMALL_INTS.get(v)
    if small is not None:
        out += small
        return
    if v >= 0:
        out.append(_INT_NONNEGATIVE)
        m = v
    else:
        out.append(_INT_NEGATIVE)
        m = -v
    n = (m.bit_length() + 7) >> 3
    out.append(n)  # n < 128 unless |v| >= 2**1016
    if n >= 0x80:
        del out[-1]
        _varint(n, out)
    out += m.to_bytes(n, "big")


def _encode_float(v: Any, out: bytearray) -> None:
    v = float(v)
    if v != v:
        out += _NAN
    elif v.is_integer():  # finite and integral: 1.0 is 1, -0.0 is 0 (inf is not integral)
        _encode_int(int(v), out)
    else:
        out.append(_FLOAT64)
        out += _pack_double(v)


def _encode_str(v: Any, out: bytearray) -> None:
    try:
        b = v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"key string must be valid Unicode (lone surrogate U+{ord(v[e.start]):04X} at "
            f"index {e.start})"
        ) from None
    n = len(b)
    out.append(_STRING)
    if n < 0x80:
        out.append(n)
    else:
        _varint(n, out)
    out += b


def _encode_bytes(v: Any, out: bytearray) -> None:
    if type(v) is memoryview:
        if v.c_contiguous:
            n = v.nbytes
        else:
            v = v.tobytes()  # its elements in C order
            n = len(v)
    else:
        n = len(v)
    out.append(_BYTES)
    _varint(n, out)
    out += v


def _encode_sorted(tag: int, parts: list[bytearray], out: bytearray) -> None:
    """Writes a map's or set's element encodings sorted bytewise, identical ones once."""
    n = len(parts)
    if n > 1:
        parts.sort()
        unique = [parts[0]]
        for p in parts[1:]:
            if p != unique[-1]:
                unique.append(p)
        parts = unique
        n = len(parts)
    out.append(tag)
    _varint(n, out)
    for p in parts:
        out += p


def _encode_ndarray(v: Any, out: bytearray) -> None:
    dtype = v.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(
            f"cannot build a key from a numpy array of dtype {dtype!r}: object, structured and "
            "sub-array dtypes have no canonical bytes"
        )
    if dtype.str[0] == ">":  # canonical byte order is little-endian
        v = v.astype(dtype.newbyteorder("<"))
        dtype = v.dtype
    d = dtype.str.encode("ascii")
    data = v.tobytes(order="C")
    out.append(_BUFFER)
    _varint(len(d), out)
    out += d
    _varint(v.ndim, out)
    for n in v.shape:
        _varint(n, out)
    _varint(len(data), out)
    out += data


def _encode_numpy_scalar(v: Any, out: bytearray) -> bool:
    """numpy scalars as the Python value they equal; False if `v` is not one we key."""
    np = sys.modules.get("numpy")
    if np is None or not isinstance(v, np.generic):
        return False
    if isinstance(v, np.bool_):
        out.append(_TRUE if v else _FALSE)
    elif isinstance(v, np.integer):
        _encode_int(int(v), out)
    elif isinstance(v, np.floating):
        _encode_float(float(v), out)
    else:
        return False
    return True


def _encode(v: Any, out: bytearray, depth: int) -> None:
    # Hot path: exact-type checks for the common types, in order of frequency, then subclasses.
    t = type(v)
    if t is int:
        small = _SMALL_INTS.get(v)
        if small is not None:
            out += small
        else:
            _encode_int(v, out)
    elif t is str:
        if len(v) < 0x80 and v.isascii():
            out.append(_STRING)
            out.append(len(v))
            out += v.encode("ascii")
        else:
            _encode_str(v, out)
    elif t is float:
        _encode_float(v, out)
    elif v is None:
        out.append(_NULL)
    elif t is bool:
        out.append(_TRUE if v else _FALSE)
    elif t is tuple or t is list:
        _encode_list(v, out, depth)
    elif t is dict:
        _encode_map(v, out, depth)
    elif t is set or t is frozenset:
        _encode_set(v, out, depth)
    elif t is bytes or t is bytearray or t is memoryview:
        _encode_bytes(v, out)
    else:
        _encode_other(v, out, depth)


def _encode_list(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    n = len(v)
    out.append(_LIST)
    if n < 0x80:
        out.append(n)
    else:
        _varint(n, out)
    depth += 1
    small_ints = _SMALL_INTS
    for item in v:
        # Inline fast path for the commonest elements: small ints (saves a call per element).
        if type(item) is int:
            small = small_ints.get(item)
            if small is not None:
                out += small
                continue
        _encode(item, out, depth)


def _encode_map(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    depth += 1
    parts = []
    for k, x in v.items():
        if type(k) is str and len(k) < 0x80 and k.isascii():  # inline: the usual kwargs key
            p = bytearray((_STRING, len(k)))
            p += k.encode("ascii")
        else:
            p = bytearray()
            _encode(k, p, depth)
        _encode(x, p, depth)
        parts.append(p)
    _encode_sorted(_MAP, parts, out)


def _encode_set(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    depth += 1
    parts = []
    for x in v:
        p = bytearray()
        _encode(x, p, depth)
        parts.append(p)
    _encode_sorted(_SET, parts, out)


def _encode_other(v: Any, out: bytearray, depth: int) -> None:
    """Subclasses of the keyable types, numpy arrays and scalars; TypeError for the rest."""
    if isinstance(v, bool):
        out.append(_TRUE if v else _FALSE)
    elif isinstance(v, int):
        _encode_int(v, out)
    elif isinstance(v, float):
        _encode_float(v, out)
    elif isinstance(v, str):
        _encode_str(v, out)
    elif isinstance(v, (bytes, bytearray)):
        _encode_bytes(v, out)
    elif isinstance(v, (list, tuple)):
        _encode_list(v, out, depth)
    elif isinstance(v, dict):
        _encode_map(v, out, depth)
    elif isinstance(v, (set, frozenset)):
        _encode_set(v, out, depth)
    else:
        np = sys.modules.get("numpy")
        if np is not None and isinstance(v, np.ndarray):
            _encode_ndarray(v, out)
        elif not _encode_numpy_scalar(v, out):
            parts = pandas_parts(v)
            if parts is None:
                raise TypeError(
                    f"cannot build a key from a value of type '{_type_name(v)}' (keyable: None, "
                    "bool, int, float, str, bytes, bytearray, memoryview, list, tuple, dict, set, "
                    "frozenset, numpy arrays and scalars, pandas Series, DataFrame and Index)"
                )
            _encode(parts, out, depth)


# --- pandas ---------------------------------------------------------------------------------------
# A pandas object is keyed as a plain list (docs/keys.md, "pandas objects"), which either encoder
# then encodes: this function is the one definition, and the native module calls it too.


def pandas_parts(v: Any) -> list[Any] | None:
    """The list a pandas Series, DataFrame or Index is keyed as, or None if `v` is none of them.

        Index      ["pandas.Index", names, dtypes, values]  (one entry per level in each list)
        Series     ["pandas.Series", name, dtype, index, values]
        DataFrame  ["pandas.DataFrame", columns, dtypes, index, [values of each column]]

    `columns` and `index` are Index lists, dtypes are str(dtype), and values are the to_numpy()
    array: a numpy array (typed buffer), or for object dtype the list of its elements, each keyed
    by content (an element that cannot be keyed makes the whole object a TypeError).

    pandas is imported only when type(v) is defined in pandas (it is then loaded already);
    subclasses defined elsewhere are recognized only if pandas is loaded.
    """
    module = type(v).__module__
    if module == "pandas" or module.startswith("pandas."):
        import pandas as pd  # type: ignore[import-untyped]
    else:
        pd = sys.modules.get("pandas")
        if pd is None:
            return None
    if isinstance(v, pd.DataFrame):
        columns = range(v.shape[1])
        return [
            "pandas.DataFrame",
            _pandas_index(v.columns, pd),
            [str(d) for d in v.dtypes],
            _pandas_index(v.index, pd),
            [_pandas_values(v.iloc[:, i].to_numpy()) for i in columns],
        ]
    if isinstance(v, pd.Series):
        return [
            "pandas.Series",
            v.name,
            str(v.dtype),
            _pandas_index(v.index, pd),
            _pandas_values(v.to_numpy()),
        ]
    if isinstance(v, pd.Index):
        return _pandas_index(v, pd)
    return None


def _pandas_index(ix: Any, pd: Any) -> list[Any]:
    if isinstance(ix, pd.MultiIndex):
        dtypes = [str(d) for d in ix.dtypes]
        values = [_pandas_values(ix.get_level_values(i).to_numpy()) for i in range(ix.nlevels)]
    else:
        dtypes = [str(ix.dtype)]
        values = [_pandas_values(ix.to_numpy())]
    return ["pandas.Index", list(ix.names), dtypes, values]


def _pandas_values(a: Any) -> Any:
    """A to_numpy() result: the array itself (a typed buffer), or its elements for object dtype."""
    return list(a) if a.dtype.hasobject else a


def _type_name(v: Any) -> str:
    t = type(v)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
