"""The Redis tier's shared vectors (tests/vectors/redis/envelopes.json, docs/redis.md "Test
vectors"): entry names, function scopes and envelopes that the Python and Node packages must
produce and read byte for byte. This file checks Python against them (no Redis server needed)
and generates them:

    .venv/bin/python tests/python/test_redis_vectors.py --write   # after a deliberate change

Changing any byte of an existing vector is a format change (bump the envelope version)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from key_vectors import from_input
from twincache import _disk, _disk_pure, _keys
from twincache import _redis_envelope as env

PATH = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "redis" / "envelopes.json"
SECRET = "twincache-vector-secret-00000001"  # 32 ASCII bytes
NAMESPACE = "tcv"

# Keys in the typed input format of tests/vectors/keys.json (docs/keys.md).
KEYS: list[Any] = [
    "user:1",
    {"str": ""},
    {"int": "42"},
    {"int": "-256"},
    {"float": 1.5},
    None,
    True,
    {"bytes": "00ff"},
    {"list": [{"int": "1"}, "a"]},
    {"map": [["b", {"int": "1"}], ["a", {"int": "2"}]]},
    "é ünïcödé ✓",
]

# JSON values whose text both languages write identically (JSON.stringify and Python's
# json.dumps(ensure_ascii=False, separators=(",", ":"))): integers, short decimals, strings,
# arrays, objects in insertion order, booleans, null.
VALUES: list[tuple[Any, Any]] = [
    ("user:1", {"id": 1, "name": "Ada", "tags": ["x", "y"], "score": 1.5, "ok": True}),
    ({"int": "42"}, None),
    ({"list": [{"int": "1"}, "a"]}, [1, -2, 0.25, "é", False, {"k": None}]),
    ("empty", ""),
    ("big-int", 9007199254740991),
]


def _typed_value(v: Any) -> Any:
    return {"bytes": v.hex()} if isinstance(v, bytes) else v


def generate() -> dict[str, Any]:
    secret = SECRET.encode()
    names = []
    for k in KEYS:
        enc = env.encode_key(from_input(k, True))
        names.append({"key": k, "encoding": enc.hex(), "name": env.entry_name(NAMESPACE, enc)})
    identities = [["twincache.fn/1", "node", "add"], ["twincache.fn/1", "app.models", "f"]]
    scopes = [{"identity": i, "scope": env.function_scope(i)} for i in identities]
    scoped_key = env.encode_key(["twincache.fn/1", "node", "add", "0" * 32, [1, 2]])
    scoped = {
        "scope": scopes[0]["scope"],
        "encoding": scoped_key.hex(),
        "name": env.entry_name(NAMESPACE, scoped_key, scopes[0]["scope"]),
    }

    def sealed(key: Any, value: Any, secret: bytes, codec: str = "json") -> dict[str, Any]:
        enc = env.encode_key(from_input(key, True))
        name = env.entry_name(NAMESPACE, enc)
        codec_id, data = env.dumps(env.codec_option(codec), value)
        return {
            "key": key,
            "name": name,
            "codec": {0: "raw", 2: "json"}[codec_id],
            "value": _typed_value(value),
            "data": data.hex(),
            "envelope": env.seal(secret, name, enc, codec_id, data).hex(),
        }

    envelopes = [sealed(k, v, secret) for k, v in VALUES]
    envelopes.append(sealed("raw", b"\x00\x01binary\xff", secret))
    unsigned = [sealed("user:1", {"id": 1}, b"")]
    long_text = "twincache " * 1000  # 10 000 bytes of JSON text: compressed (flag 0x01)
    compressed = [sealed("long", {"text": long_text}, secret)]
    assert bytes.fromhex(compressed[0]["envelope"])[2] == env.FLAG_ZSTD
    compressed[0].pop("data")

    # Freshness fields (flag 0x04): the stale window in ms, the compute time in us.
    fresh = []
    for (key, value), fields in zip(VALUES[:2], [(5000, 1234), (0, 4294967295)], strict=True):
        v = sealed(key, value, secret)
        enc = env.encode_key(from_input(key, True))
        v["stale_ms"], v["delta_us"] = fields
        v["envelope"] = env.seal(secret, v["name"], enc, 2, bytes.fromhex(v["data"]),
                                 fresh=fields).hex()  # fmt: skip
        fresh.append(v)
    assert bytes.fromhex(fresh[0]["envelope"])[2] == env.FLAG_FRESH

    base = envelopes[0]
    raw = bytes.fromhex(base["envelope"])
    flipped = bytearray(raw)
    flipped[-40] ^= 0x01  # a payload byte
    other_version = bytearray(raw)
    other_version[0] = 2
    enc_a = env.encode_key("a")
    name_a = env.entry_name(NAMESPACE, enc_a)
    wrong_key = env.seal(secret, name_a, env.encode_key("b"), 2, b"1")
    unknown_flag = bytearray(
        env.seal(secret, name_a, enc_a, 2, b"1")[: -env.MAC_SIZE]
    )  # re-signed below
    unknown_flag[2] = 0x80
    body = bytes(unknown_flag)
    unknown_flag_env = body + env._mac(secret, name_a, body)
    short_fresh = bytearray(env.seal(secret, name_a, enc_a, 2, b"")[: -env.MAC_SIZE])
    short_fresh[2] = env.FLAG_FRESH  # and fewer than 12 bytes after the key encoding
    short_fresh_env = bytes(short_fresh) + env._mac(secret, name_a, bytes(short_fresh))
    invalid = [
        {"why": "a payload byte flipped", "key": base["key"], "name": base["name"],
         "envelope": bytes(flipped).hex(), "outcome": env.CORRUPT},
        {"why": "signed with another secret", "key": base["key"], "name": base["name"],
         "envelope": env.seal(b"another-secret-0123456789", base["name"],
                              env.encode_key(base["key"]), 2,
                              bytes.fromhex(base["data"])).hex(),
         "outcome": env.CORRUPT},
        {"why": "moved under another name", "key": "a", "name": name_a,
         "envelope": base["envelope"], "outcome": env.CORRUPT},
        {"why": "cut short", "key": base["key"], "name": base["name"],
         "envelope": raw[:20].hex(), "outcome": env.CORRUPT},
        {"why": "envelope version 2", "key": base["key"], "name": base["name"],
         "envelope": bytes(other_version).hex(), "outcome": env.UNREADABLE},
        {"why": "an unknown flag bit", "key": "a", "name": name_a,
         "envelope": unknown_flag_env.hex(), "outcome": env.UNREADABLE},
        {"why": "signed for another key under this name", "key": "a", "name": name_a,
         "envelope": wrong_key.hex(), "outcome": env.OTHER_KEY},
        {"why": "flag 0x04 without its 12 bytes of freshness fields", "key": "a",
         "name": name_a, "envelope": short_fresh_env.hex(), "outcome": env.CORRUPT},
    ]  # fmt: skip
    return {
        "version": 1,
        "about": "docs/redis.md, 'Test vectors'. Generated by tests/python/test_redis_vectors.py.",
        "secret": SECRET,
        "namespace": NAMESPACE,
        "names": names,
        "scopes": scopes,
        "scoped": scoped,
        "envelopes": envelopes,
        "unsigned": unsigned,
        "compressed": compressed,
        "fresh": fresh,
        "invalid": invalid,
    }


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PATH.read_text("utf-8"))
    return data


def test_names_are_namespace_colon_xxh3_128_of_the_key_encoding() -> None:
    vectors = _load()
    for v in vectors["names"]:
        enc = env.encode_key(from_input(v["key"], True))
        assert enc.hex() == v["encoding"]
        assert env.entry_name("tcv", enc) == v["name"]
        assert v["name"] == "tcv:" + _keys.xxh3_128_hex(enc)  # the pure XXH3 agrees
    for s in vectors["scopes"]:
        assert env.function_scope(s["identity"]) == s["scope"]
    scoped = vectors["scoped"]
    enc = bytes.fromhex(scoped["encoding"])
    assert env.entry_name("tcv", enc, scoped["scope"]) == scoped["name"]


def test_envelopes_are_written_byte_for_byte_and_read_back() -> None:
    vectors = _load()
    for secret, group in ((SECRET.encode(), "envelopes"), (b"", "unsigned")):
        for v in vectors[group]:
            enc = env.encode_key(from_input(v["key"], True))
            value = v["value"]
            expected = bytes.fromhex(value["bytes"]) if v["codec"] == "raw" else value
            codec, data = env.dumps(env.codec_option("json"), expected)
            assert data.hex() == v["data"]
            assert env.seal(secret, v["name"], enc, codec, data).hex() == v["envelope"]
            opened = env.open_envelope(secret, v["name"], enc, bytes.fromhex(v["envelope"]))
            assert opened[1] == enc
            assert env.loads(opened[0], opened[2]) == expected


def test_envelopes_with_freshness_fields_are_written_and_read() -> None:
    """Flag 0x04 (docs/redis.md, "Freshness"): 12 bytes after the key encoding, the stale
    window (ms, u64 LE) and the compute time (us, u32 LE), then the payload."""
    for v in _load()["fresh"]:
        enc = env.encode_key(from_input(v["key"], True))
        fields = (v["stale_ms"], v["delta_us"])
        data = bytes.fromhex(v["data"])
        assert (
            env.seal(SECRET.encode(), v["name"], enc, 2, data, fresh=fields).hex() == v["envelope"]
        )
        opened = env.open_envelope(SECRET.encode(), v["name"], enc, bytes.fromhex(v["envelope"]))
        assert opened[3] == env.FLAG_FRESH and opened[4] == fields
        assert env.loads(opened[0], opened[2]) == v["value"]


@pytest.mark.skipif(_disk_pure._zstd.lib is None, reason="no libzstd on this machine")
def test_compressed_envelopes_are_read() -> None:
    for v in _load()["compressed"]:
        enc = env.encode_key(from_input(v["key"], True))
        raw = bytes.fromhex(v["envelope"])
        assert raw[2] == env.FLAG_ZSTD
        opened = env.open_envelope(SECRET.encode(), v["name"], enc, raw)
        assert env.loads(opened[0], opened[2]) == v["value"]


def test_invalid_envelopes_are_refused_before_decoding() -> None:
    for v in _load()["invalid"]:
        enc = env.encode_key(from_input(v["key"], True))
        outcome = env.open_envelope(SECRET.encode(), v["name"], enc, bytes.fromhex(v["envelope"]))
        assert outcome == v["outcome"], v["why"]


def test_the_vectors_file_is_current() -> None:
    """The file equals what the generator gives (the compressed envelope excepted: zstd's bytes
    may differ between libzstd versions, and only its decoding is pinned)."""
    now, saved = generate(), _load()
    now["compressed"] = saved["compressed"]
    assert now == saved, "run: .venv/bin/python tests/python/test_redis_vectors.py --write"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: test_redis_vectors.py --write")
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(json.dumps(generate(), indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {PATH}")


@pytest.mark.parametrize("key_length", [0, 16, 63, 64, 65, 200])
def test_the_mac_is_hmac_sha256_for_every_key_length(key_length: int) -> None:
    """_mac precomputes HMAC's keyed hashes (RFC 2104): it must equal the standard library's
    HMAC-SHA256 for keys shorter than, equal to and longer than SHA-256's 64-byte block."""
    import hmac

    key = bytes(range(256))[:key_length] if key_length <= 256 else b""
    for body in (b"", b"x" * 1000):
        message = env.DOMAIN + (4).to_bytes(4, "little") + b"name" + body
        assert env._mac(key, "name", body) == hmac.digest(key, message, "sha256")
        assert env._mac(key, "name", memoryview(body)) == hmac.digest(key, message, "sha256")
        assert env._hashlib_mac(key, b"name", body) == hmac.digest(key, message, "sha256")
    # With the native disk module it is the core's HMAC (twincache._disk_native); pure, hashlib.
    assert (env._NativeRedisMac is not None) == (_disk._native_disk is not None)


def test_the_native_redis_mac_is_hmac_sha256_and_refuses_every_tamper() -> None:
    """twincache._disk_native.RedisMac (one per secret, the key's pads hashed once) signs what
    hmac.digest signs, for keys of 0 to 200 bytes and names of several lengths; verify() refuses
    an envelope with any one byte changed, another name, or fewer than 32 bytes."""
    import hmac

    if env._NativeRedisMac is None:
        pytest.skip("pure mode (TWINCACHE_PURE=1 or no native module): no RedisMac to test")
    names = ["", "n", "tcv:" + "0" * 32, "a-long-namespace." * 7 + ":f0123456789abcdef:" + "e" * 32]
    body = bytes(range(256)) * 3
    for key_length in range(201):
        key = bytes((i * 7 + key_length) & 0xFF for i in range(key_length))
        mac = env._NativeRedisMac(key, env.DOMAIN)
        for name in names:
            for part in (body[:0], body[:55], body[:64], body):
                prefix = env.DOMAIN + len(name).to_bytes(4, "little") + name.encode()
                want = hmac.digest(key, prefix + part, "sha256")
                assert mac.sign(name, part) == want
                assert mac.sign(name, memoryview(part)) == want
                assert mac.verify(name, part + want)
                assert mac.verify(name, bytearray(part + want))
                assert not mac.verify(name + "x", part + want)
    mac = env._NativeRedisMac(b"s" * 32, env.DOMAIN)
    name = names[2]
    signed = b"an envelope's header, key and payload"
    envelope = signed + mac.sign(name, signed)
    assert mac.verify(name, envelope)
    for i in range(len(envelope)):
        for delta in range(1, 256):  # every other value of every byte, the MAC's too
            tampered = bytearray(envelope)
            tampered[i] ^= delta
            assert not mac.verify(name, bytes(tampered)), (i, delta)
    assert not mac.verify(name, envelope[:-1])  # the MAC cut short
    assert not env._NativeRedisMac(b"t" * 32, env.DOMAIN).verify(name, envelope)  # another secret
    for short in range(32):
        assert mac.verify(name, b"\0" * short) is False
        assert mac.verify(name, envelope[-short:] if short else b"") is False
    with pytest.raises(TypeError, match="name must be a str"):
        mac.verify(name.encode(), envelope)
    with pytest.raises(UnicodeEncodeError):  # as the pure-Python MAC's name.encode("ascii")
        mac.sign("tcv:\u00e9", b"")
