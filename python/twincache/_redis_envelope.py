"""The Redis tier's wire format for Python (docs/redis.md is the specification): entry names,
the value envelope (codec, flags, zstd, HMAC-SHA256) and the option checks that both
twincache.RedisCache and @twincache.cache(backend="redis") use. No network here: this module is
what the shared test vectors (tests/vectors/redis/) pin, for Node to implement the same bytes.

Reused, not redone: the key encoding and its XXH3-128 name (twincache._keys, docs/keys.md), the
strict codecs of the disk tier (twincache._disk: pickle, json refusing what it cannot hold
exactly, raw bytes), and zstd through the system libzstd (twincache._disk_pure). HMAC-SHA256 is
the core's (twincache._disk_native.RedisMac, one per secret), or the standard library's in pure
mode.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os
import re
import struct
from typing import Any, Final

from . import _disk, _disk_pure, _keys, _options
from ._backend import impl

VERSION: Final = 1
HEADER: Final = struct.Struct("<BBBI")  # version, codec, flags, key length
MAC_SIZE: Final = 32
DOMAIN: Final = b"twincache/redis/1"
FLAG_ZSTD: Final = 0x01
FLAG_ERROR: Final = 0x02  # the payload is a cached exception (negative caching)
FLAG_FRESH: Final = 0x04  # freshness fields precede the payload (stale, early_refresh)
KNOWN_FLAGS: Final = FLAG_ZSTD | FLAG_ERROR | FLAG_FRESH
# With FLAG_FRESH, after the key encoding: the entry's stale window in ms (u64 LE, < 2**53),
# then the time its value took to compute in microseconds (u32 LE, saturated).
FRESH_FIELDS: Final = struct.Struct("<QI")
MAX_STALE_MS: Final = (1 << 53) - 1
MAX_DELTA_US: Final = (1 << 32) - 1
COMPRESS_THRESHOLD: Final = 4096
MAX_VALUE: Final = 512 << 20  # Redis's own limit for a string value
CODEC_RAW: Final = _disk.CODEC_RAW
CODEC_PICKLE: Final = _disk.CODECS["pickle"]
CODEC_JSON: Final = _disk.CODECS["json"]
CODEC_V8: Final = 3
MIN_SECRET: Final = 16
NAMESPACE_RULE: Final = "1 to 64 characters from A-Z a-z 0-9 _ . -"
_NAMESPACE_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}\Z")
DEFAULT_NAMESPACE: Final = "twincache"
DEFAULT_URL: Final = "redis://127.0.0.1:6379/0"
MAX_TIMEOUT: Final = 3600.0

# Outcomes of open_envelope() other than a value.
CORRUPT: Final = "corrupt"  # HMAC failed, or malformed: a counted miss, never decoded
UNREADABLE: Final = "unreadable"  # a format, codec or compression this process cannot read
OTHER_KEY: Final = "other_key"  # signed, but for another key (an XXH3-128 collision): a miss


# --- names ----------------------------------------------------------------------------------------


def encode_key(key: object, what: str = "key") -> bytes:
    """The canonical key encoding (docs/keys.md) of a RedisCache key; str keys are remembered."""
    if type(key) is str:
        return _disk._key_bytes(key)
    try:
        encoded: bytes = impl.encode_key(key)
    except TypeError as exc:
        raise TypeError(f"{what} cannot name a Redis entry: {exc}") from None
    return encoded


def entry_name(namespace: str, encoded_key: bytes, scope: str | None = None) -> str:
    """`<namespace>:<hash>` (a RedisCache entry) or `<namespace>:<scope>:<hash>` (a decorated
    function's result), hash = XXH3-128 of the key encoding, 32 lowercase hex digits."""
    h = _keys.hash128_hex_of(encoded_key)
    return f"{namespace}:{h}" if scope is None else f"{namespace}:{scope}:{h}"


def function_scope(identity: list[str]) -> str:
    """`f` + the first 16 hex digits of the XXH3-128 of ["twincache.fn/1", module, qualname]
    (Python) or ["twincache.fn/1", "node", name] (Node): every version of a function's source
    shares it, so cache_clear() removes them all."""
    return "f" + _keys.hash128_hex_of(impl.encode_key(identity))[:16]


# --- the envelope ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _keyed(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes with the key already absorbed (RFC 2104), copied
    for each MAC: twice as fast as hmac.digest, which sets OpenSSL's HMAC up on every call."""
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


@functools.lru_cache(maxsize=64)
def _redis_mac(secret: bytes) -> Any:
    """The native module's RedisMac for this secret: the key's pads hashed once, the MAC
    computed over the envelope in place and compared in constant time in C++."""
    return _NativeRedisMac(secret, DOMAIN)


def _mac(secret: bytes, name: str, body: bytes | memoryview) -> bytes:
    """HMAC-SHA256(secret, DOMAIN || len(name) u32 LE || name || body): the core's (through
    twincache._disk_native.RedisMac) when the native module is there, else hashlib's."""
    if _NativeRedisMac is not None:
        digest: bytes = _redis_mac(secret).sign(name, body)
        return digest
    return _hashlib_mac(secret, name.encode("ascii"), body)


def _hashlib_mac(secret: bytes, name: bytes, body: bytes | memoryview) -> bytes:
    inner, outer = _keyed(secret)
    h = inner.copy()
    h.update(DOMAIN + struct.pack("<I", len(name)) + name)
    h.update(body)
    o = outer.copy()
    o.update(h.digest())
    digest: bytes = o.digest()
    return digest


def _hashlib_verified(secret: bytes, name: str, envelope: bytes) -> bool:
    """Pure mode: whether the envelope's last MAC_SIZE bytes are the MAC of the rest."""
    expected = _hashlib_mac(secret, name.encode("ascii"), memoryview(envelope)[:-MAC_SIZE])
    return hmac.compare_digest(expected, envelope[-MAC_SIZE:])


# None in pure mode (TWINCACHE_PURE=1, or the native module did not load).
_NativeRedisMac: Any = getattr(_disk._native_disk, "RedisMac", None)


def seal(
    secret: bytes,
    name: str,
    key: bytes,
    codec: int,
    data: bytes,
    compress: bool = True,
    flags: int = 0,
    fresh: tuple[int, int] | None = None,
) -> bytes:
    """The envelope stored under `name`: header, key encoding, the freshness fields when
    `fresh` = (stale window ms, compute time us) is given (FLAG_FRESH), payload (zstd level 1
    when the data is at least COMPRESS_THRESHOLD bytes and compresses by 1/16 or more), HMAC."""
    zstd = _disk_pure._zstd
    if compress and len(data) >= COMPRESS_THRESHOLD and zstd.lib is not None:
        packed = zstd.compress(data, 1)
        if packed is not None and len(packed) <= len(data) - len(data) // 16:
            data, flags = packed, flags | FLAG_ZSTD
    if fresh is None:
        body = b"".join((HEADER.pack(VERSION, codec, flags, len(key)), key, data))
    else:
        fields = FRESH_FIELDS.pack(min(fresh[0], MAX_STALE_MS), min(fresh[1], MAX_DELTA_US))
        head = HEADER.pack(VERSION, codec, flags | FLAG_FRESH, len(key))
        body = b"".join((head, key, fields, data))
    return body + _mac(secret, name, body)


# open_envelope's constants, bound once (it runs for every key a read brings back).
_HEADER_SIZE: Final = HEADER.size
_unpack_header: Final = HEADER.unpack_from
_READABLE_CODECS: Final = frozenset((CODEC_RAW, CODEC_PICKLE, CODEC_JSON))


def open_envelope(secret: bytes, name: str, key: bytes | None, envelope: bytes) -> Any:
    """(codec, key encoding, data, flags, fresh) of a valid envelope for `key` (any key when
    None), fresh = (stale window ms, compute time us) or None; else one of CORRUPT, UNREADABLE,
    OTHER_KEY. The HMAC is checked before anything is decoded."""
    body_size = len(envelope) - MAC_SIZE
    if body_size < _HEADER_SIZE:
        return CORRUPT
    version, codec, flags, klen = _unpack_header(envelope)
    if version != VERSION:
        return UNREADABLE
    if _NativeRedisMac is not None:  # the core's HMAC, compared in constant time in C++
        if not _redis_mac(secret).verify(name, envelope):
            return CORRUPT
    elif not _hashlib_verified(secret, name, envelope):
        return CORRUPT
    end = _HEADER_SIZE + klen
    if end > body_size:
        return CORRUPT
    stored_key = envelope[_HEADER_SIZE:end]
    if key is not None and stored_key != key:
        return OTHER_KEY
    if flags & ~KNOWN_FLAGS or codec not in _READABLE_CODECS:
        return UNREADABLE
    fresh = None
    if flags & FLAG_FRESH:
        if end + FRESH_FIELDS.size > body_size:
            return CORRUPT
        fresh = FRESH_FIELDS.unpack_from(envelope, end)
        if fresh[0] > MAX_STALE_MS:
            return CORRUPT
        end += FRESH_FIELDS.size
    data = envelope[end:-MAC_SIZE]
    if flags & FLAG_ZSTD:
        zstd = _disk_pure._zstd
        if zstd.lib is None:
            return UNREADABLE
        unpacked = zstd.decompress(data)
        if unpacked is None or len(unpacked) > MAX_VALUE:
            return CORRUPT
        data = unpacked
    return codec, stored_key, data, flags, fresh


def dumps(codec: int, value: object) -> tuple[int, bytes]:
    """(codec used, bytes): bytes values travel raw; json refuses what it cannot hold exactly
    (TypeError naming the codec, from the disk tier's strict codec)."""
    return _disk._dumps(codec, value)


def loads(codec: int, data: bytes) -> Any:
    return _disk._loads(codec, data)


# --- options --------------------------------------------------------------------------------------


def namespace_option(value: object) -> str:
    if value is None:
        return DEFAULT_NAMESPACE
    if not isinstance(value, str):
        raise TypeError(f"namespace must be a str of {NAMESPACE_RULE} (got {type(value).__name__})")
    if not _NAMESPACE_RE.match(value):
        raise ValueError(f"namespace must be {NAMESPACE_RULE} (got {value!r})")
    return value


def timeout_option(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}] "
            f"(got {type(value).__name__})"
        )
    seconds = float(value)
    if not (0 < seconds <= MAX_TIMEOUT) or math.isnan(seconds):
        raise ValueError(
            f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}] (got {value!r})"
        )
    return seconds


def codec_option(value: object) -> int:
    return _disk._codec_id(value)


def secret_option(value: object, codec: int) -> bytes:
    """The HMAC key: `secret` (str as UTF-8, or bytes; at least MIN_SECRET bytes), else
    $TWINCACHE_SECRET, else none (b""), which only codec="json" accepts."""
    if value is None:
        env = os.environ.get("TWINCACHE_SECRET", "")
        value, source = (env, "TWINCACHE_SECRET") if env else (None, "secret")
    else:
        source = "secret"
    if value is None:
        if codec == CODEC_PICKLE:
            raise ValueError(
                "codec='pickle' over Redis needs a secret (pickle is never loaded from the "
                f"network unsigned): pass secret=... ({MIN_SECRET} bytes or more) or set "
                "TWINCACHE_SECRET, or use codec='json'"
            )
        return b""
    if isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raise TypeError(f"secret must be a str, bytes or None (got {type(value).__name__})")
    if len(raw) < MIN_SECRET:
        raise ValueError(f"{source} must be at least {MIN_SECRET} bytes (got {len(raw)})")
    return raw


def ttl_option(name: str, value: object) -> int | None:
    """Seconds (> 0, finite) -> whole milliseconds for PX, rounded up; None: no expiry."""
    ttl_ns = _options.ttl(name, value)
    if ttl_ns is None:
        return None
    return max(1, -(-ttl_ns // 1_000_000))


__all__ = [
    "CORRUPT",
    "OTHER_KEY",
    "UNREADABLE",
    "codec_option",
    "encode_key",
    "entry_name",
    "function_scope",
    "namespace_option",
    "open_envelope",
    "seal",
    "secret_option",
    "timeout_option",
    "ttl_option",
]
