"""One Python process of tests/cross/coherence_cross.py (the 4-process coherence test, issue 17):
a coherent RedisCache (codec json, secret from $TWINCACHE_SECRET) driven by JSON lines on stdin,
one reply line each on stdout.

    {"op": "hello"}                          -> {"ready": subscribed within 10 s}
    {"op": "warm", "key": k, "value": v}     reads k until L1 serves v (then listens for k's
                                             invalidation) -> {"ok": bool, "got": last value}
    {"op": "set", "key": k, "value": v}      -> {"ok": Redis took it, "t_send": ns before the
                                             call, "t_ack": ns after it returned}
    {"op": "delete", "key": k}               -> {"ok": true, "t_send": ns, "t_ack": ns}
    {"op": "await", "key": k}                waits (up to 10 s) for k's invalidation -> {"t_inv":
                                             ns when L1 had dropped it, or null; "gone": L1 no
                                             longer held k then; "read": k's value read after}

Times are time.monotonic_ns() (CLOCK_MONOTONIC, the clock Node's process.hrtime reads too). The
moment of an invalidation is taken by a second subscriber of the cache's listener, called right
after the cache's own (the listener calls them in order): when it runs, L1 no longer serves k.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import twincache
from twincache import _redis_envelope as env

MISSING = object()


def main() -> None:
    url, namespace = sys.argv[1], sys.argv[2]
    c = twincache.RedisCache(url, namespace=namespace, codec="json", ttl=600, timeout=5,
                             coherent=True)  # fmt: skip
    armed: dict[str, bytes] = {}  # entry name -> its key's encoding, listened for
    seen: dict[str, tuple[int, bool]] = {}  # entry name -> (time, whether L1 had dropped it)
    lock = threading.Condition()  # guards armed and seen (the listener's thread writes seen)

    def hook(_owner: object, names: list[str] | None) -> None:
        now = time.monotonic_ns()
        with lock:
            for name in list(armed) if names is None else names:
                encoded = armed.pop(name, None)
                if encoded is not None:
                    seen[name] = (now, c._l1.peek(encoded, MISSING) is MISSING)
            lock.notify_all()

    assert c._listener is not None
    # After the cache's own subscription (same prefix): called after it.
    c._listener.listener._join(hook, c._listener.prefix, hook)

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "hello":
            return {"ready": c.wait_coherent(10), "native": twincache.native}
        key = cmd["key"]
        encoded = env.encode_key(key)
        name = env.entry_name(namespace, encoded)
        if op == "warm":
            deadline = time.monotonic() + 10
            got: Any = None
            while time.monotonic() < deadline:
                hits = c.stats()["l1_hits"]
                got = c.get(key)
                if got == cmd["value"] and c.get(key) == got and c.stats()["l1_hits"] > hits:
                    with lock:
                        armed[name] = encoded
                        seen.pop(name, None)
                    return {"ok": True, "got": got}
                time.sleep(0.001)
            return {"ok": False, "got": got}
        if op == "set":
            t_send = time.monotonic_ns()
            c.set(key, cmd["value"])
            ok = c.stats()["l2_errors"] == 0
            return {"ok": ok, "t_send": t_send, "t_ack": time.monotonic_ns()}
        if op == "delete":
            t_send = time.monotonic_ns()
            c.delete(key)
            ok = c.stats()["l2_errors"] == 0
            return {"ok": ok, "t_send": t_send, "t_ack": time.monotonic_ns()}
        if op == "await":
            with lock:
                lock.wait_for(lambda: name in seen, timeout=10)
                found = seen.get(name)
            return {
                "t_inv": None if found is None else found[0],
                "gone": found is not None and found[1],
                "read": c.get(key),
            }
        raise ValueError(f"unknown op {op!r}")

    for line in sys.stdin:
        reply = handle(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    c.close()


if __name__ == "__main__":
    main()
