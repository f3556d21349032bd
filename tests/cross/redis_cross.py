"""The Redis tier across languages (docs/redis.md; issue 16): one real redis-server, Python
writes entries with codec json and Node reads them (each equal to its value), then Node writes
and Python reads; an entry tampered with in Redis (one byte of its payload flipped) is a counted
miss in both; entries with freshness fields (stale window, docs/redis.md "Freshness") are read
while their PTTL exceeds their stale window and are misses inside it, in both. Run twice:
Python's native L1, then its pure one (TWINCACHE_PURE=1), against Node's native L1. Skipped,
with the reason printed, without redis-server, redis-py or node-redis. Exit status 0 on
success."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
SECRET = "cross-language-secret-0123456789"

# JSON values both languages hold exactly (docs/redis.md, "Codecs").
VALUES = {
    "user": {"id": 1, "name": "Ada", "tags": ["x", "y"], "score": 1.5, "ok": True},
    "null": None,
    "int": 9007199254740991,
    "neg": -42,
    "text": "é ünïcödé ✓",
    "empty": "",
    "list": [1, -2, 0.25, "é", False, {"k": None}],
    "big": {"text": "twincache " * 2000},  # compressed (zstd) where both sides have it
}


def skip_reason() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (scripts/setup installs it)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis-py is not installed (pip install 'twincache[redis]')"
    probe = subprocess.run(["node", "-e", "require.resolve('redis')"], cwd=ROOT, check=False)
    if probe.returncode != 0:
        return "node-redis is not installed (npm install)"
    return None


def tamper(client: object, name: bytes) -> None:
    raw = bytearray(client.get(name))  # type: ignore[attr-defined]
    raw[-40] ^= 1  # a payload byte: the MAC no longer matches
    client.set(name, bytes(raw), keepttl=True)  # type: ignore[attr-defined]


def write_fresh(client: object, prefix: str) -> None:
    """Two entries with freshness fields (docs/redis.md, "Freshness": flag 0x04), a 600 s stale
    window each: `<prefix>:fresh` with 1200 s left (fresh for 600 s more), `<prefix>:stale` with
    300 s left (in its stale window: a miss for a RedisCache, in either language)."""
    import twincache._redis_envelope as renv

    for which, px in (("fresh", 1_200_000), ("stale", 300_000)):
        enc = renv.encode_key(f"{prefix}:{which}")
        name = renv.entry_name("cross", enc)
        data = json.dumps({"which": which}).encode()
        envelope = renv.seal(SECRET.encode(), name, enc, renv.CODEC_JSON, data,
                             fresh=(600_000, 1500))  # fmt: skip
        client.set(name, envelope, px=px)  # type: ignore[attr-defined]


def run(server: object, pure: bool, values_file: str) -> None:
    mode = "pure" if pure else "native"
    env = dict(os.environ, TWINCACHE_SECRET=SECRET)
    env.pop("TWINCACHE_PURE", None)
    py_env = dict(env, TWINCACHE_PURE="1") if pure else env
    url = server.url  # type: ignore[attr-defined]
    raw = server.client()  # type: ignore[attr-defined]
    raw.flushdb()
    write_py = (
        "import json, sys, twincache\n"
        "c = twincache.RedisCache(sys.argv[1], namespace='cross', codec='json', timeout=5)\n"
        "values = json.load(open(sys.argv[2], encoding='utf-8'))\n"
        "c.set_many({f'py:{k}': v for k, v in values.items()}, ttl=600)\n"
        "c.set(('py', 'list', 'key', 1), 'a list key', ttl=600)\n"
        "c.set('py:bytes', bytes([0, 1, 2, 255]), ttl=600)\n"
        "c.set('py:tampered', {'secret': 'never read'}, ttl=600)\n"
        "s = c.stats(); assert s['l2_sets'] == len(values) + 3, s\n"
    )
    subprocess.run([sys.executable, "-c", write_py, url, values_file], env=py_env, check=True)
    import twincache._redis_envelope as renv  # the names, as Python computes them

    tamper(raw, renv.entry_name("cross", renv.encode_key("py:tampered")).encode())
    write_fresh(raw, "py")
    node = ["node", str(HERE / "redis_node.js"), url]
    subprocess.run([*node, "read", values_file], env=env, check=True, cwd=ROOT)
    subprocess.run([*node, "write", values_file], env=env, check=True, cwd=ROOT)
    tamper(raw, renv.entry_name("cross", renv.encode_key("js:tampered")).encode())
    read_py = (
        "import json, sys, twincache\n"
        "c = twincache.RedisCache(sys.argv[1], namespace='cross', codec='json', timeout=5)\n"
        "values = json.load(open(sys.argv[2], encoding='utf-8'))\n"
        "for k, v in values.items():\n"
        "    assert c.get(f'js:{k}') == v, k\n"
        "assert len(c.get_many([f'js:{k}' for k in values])) == len(values)\n"
        "assert c.get(['js', 'list', 'key', 1]) == 'a list key'\n"
        "assert c.get('js:bytes') == bytes([0, 1, 2, 255])\n"
        "assert c.get('js:tampered', 'miss') == 'miss'\n"
        "assert c.get('js:fresh') == {'which': 'fresh'}\n"
        "assert c.get('js:stale', 'miss') == 'miss'\n"
        "s = c.stats(); assert s['l2_corrupt'] == 1 and s['l2_errors'] == 0, s\n"
        "assert s['l2_misses'] == 1, s\n"
    )
    subprocess.run([sys.executable, "-c", read_py, url, values_file], env=py_env, check=True)
    print(f"test-cross redis ({mode} Python + native Node): ok, {len(VALUES) + 5} entries each way")


def main() -> None:
    why = skip_reason()
    if why is not None:
        print(f"test-cross redis: skipped: {why}")
        return
    from redis_server import RedisServer

    with tempfile.TemporaryDirectory(prefix="twincache-cross-redis-") as tmp:
        values_file = str(Path(tmp) / "values.json")
        Path(values_file).write_text(json.dumps(VALUES, ensure_ascii=False), encoding="utf-8")
        workdir = Path(tmp) / "redis"
        workdir.mkdir()
        server = RedisServer(shutil.which("redis-server") or "redis-server", workdir)
        server.start()
        try:
            run(server, pure=False, values_file=values_file)
            run(server, pure=True, values_file=values_file)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
