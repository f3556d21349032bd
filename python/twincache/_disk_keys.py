"""Keys of the disk tier (twincache._disk): the canonical key encoding of a DiskCache key (with
a small memo of str keys' encodings), its decoding back to a value (iteration, on_evict), and the
parts of a function result's key: the function's source hash and the content of pandas
arguments (docs/persistence.md, "Keys, values and the cross-language codec")."""

from __future__ import annotations

import ast
import hashlib
import inspect
import struct
import textwrap
from collections.abc import Callable
from typing import Any, Final

from ._backend import impl


def _encode_key(key: object, what: str = "key") -> bytes:
    try:
        encoded: bytes = impl.encode_key(key)
    except TypeError as exc:
        raise TypeError(f"{what} cannot be stored on disk: {exc}") from None
    return encoded


# Encodings of str keys, the commonest (the encoding of one str never changes): a hit skips the
# encoder. Bounded: emptied when full. Shared by every DiskCache; each dict operation is atomic
# under the GIL.
_str_keys: dict[str, bytes] = {}
_STR_KEYS_MAX: Final = 4096


def _key_bytes(key: object) -> bytes:
    """_encode_key, remembering the encodings of str keys (exactly str: not a subclass)."""
    if type(key) is not str:
        return _encode_key(key)
    encoded = _str_keys.get(key)
    if encoded is None:
        encoded = impl.encode_key(key)  # a str fails only with ValueError, as in _encode_key
        if len(_str_keys) >= _STR_KEYS_MAX:
            _str_keys.clear()
        _str_keys[key] = encoded
    return encoded


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i
        shift += 7


def _decode_value(b: bytes, i: int) -> tuple[Any, int]:
    tag = b[i]
    i += 1
    if tag in (0x00, 0x0C):
        return None, i
    if tag in (0x01, 0x02):
        return tag == 0x02, i
    if tag in (0x03, 0x04):
        n, i = _varint(b, i)
        v = int.from_bytes(b[i : i + n], "big")
        return (v if tag == 0x03 else -v), i + n
    if tag == 0x05:
        return struct.unpack_from("<d", b, i)[0], i + 8
    if tag in (0x06, 0x07):
        n, i = _varint(b, i)
        raw = b[i : i + n]
        return (raw.decode("utf-8") if tag == 0x06 else bytes(raw)), i + n
    if tag in (0x08, 0x0A):
        n, i = _varint(b, i)
        items = []
        for _ in range(n):
            v, i = _decode_value(b, i)
            items.append(v)
        return (tuple(items) if tag == 0x08 else frozenset(items)), i
    if tag == 0x09:
        n, i = _varint(b, i)
        pairs = []
        for _ in range(n):
            k, i = _decode_value(b, i)
            v, i = _decode_value(b, i)
            pairs.append((k, v))
        return dict(pairs), i
    if tag == 0x0B:
        n, i = _varint(b, i)
        i += n
        ndim, i = _varint(b, i)
        for _ in range(ndim):
            _, i = _varint(b, i)
        n, i = _varint(b, i)
        return bytes(b[i : i + n]), i + n
    raise ValueError(f"unknown key tag 0x{tag:02x}")


def decode_key(encoded: bytes) -> Any:
    """The value back from a key encoding: lists come back as tuples, sets as frozensets, typed
    buffers as their raw bytes (iteration over a DiskCache uses this)."""
    value, _ = _decode_value(encoded, 1)
    return value


# --- function results -----------------------------------------------------------------------------


def source_hash(func: Callable[..., Any]) -> str:
    """SHA-256 (hex, 32 digits) of the function's normalized source: its syntax tree without
    decorators, so comments, whitespace and the decorator's options do not count. Falls back to
    the compiled code when the source cannot be read."""
    target = inspect.unwrap(func)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                node.decorator_list = []
                break
        normalized = ast.dump(tree, annotate_fields=True, include_attributes=False)
    except (OSError, TypeError, SyntaxError, IndentationError):
        code = getattr(target, "__code__", None)
        if code is None:
            normalized = repr(target)
        else:
            normalized = repr((code.co_code, code.co_consts, code.co_names, code.co_varnames))
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:32]


def _key_part(value: object) -> object:
    """pandas objects become (type, shape, columns/name, dtypes, row hashes): their content,
    never their pickle. Everything else goes to the key encoder as it is."""
    module = type(value).__module__
    if module == "pandas" or module.startswith("pandas."):
        import pandas as pd  # type: ignore[import-untyped]

        if isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
            hashes = pd.util.hash_pandas_object(value, index=True).to_numpy()
            if isinstance(value, pd.DataFrame):
                meta: object = (
                    [str(c) for c in value.columns],
                    [str(t) for t in value.dtypes],
                )
            else:
                meta = (str(getattr(value, "name", None)), str(value.dtype))
            return ["pandas." + type(value).__name__, list(value.shape), meta, hashes]
    if isinstance(value, tuple):
        return [_key_part(v) for v in value]
    if isinstance(value, list):
        return [_key_part(v) for v in value]
    if isinstance(value, dict):
        return {k: _key_part(v) for k, v in value.items()}
    return value
