"""What a coherent cache's own writes cost it (issue 17, docs/redis.md "Coherence", own writes):
Redis's broadcast tracking reports a process's own SETs back to its listener, which drops the
L1 copy the write had just put there. Counts the L2 reads of 1,000 set+get of distinct keys,
then of a second read of every key once the invalidations had time to arrive, with coherence on
and off, in Python and (through node) in Node. Not part of CI.

    .venv/bin/python bench/redis/own_writes.py [--n 1000]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "python"))

import twincache
from benchkit import ROOT, SECRET, arguments, own_redis_server

NODE = """
const { RedisCache } = require(process.argv[1]);
(async () => {
  const [url, n] = [process.argv[2], Number(process.argv[3])];
  const out = {};
  for (const coherent of [true, false]) {
    const c = new RedisCache({ url, namespace: `own${coherent}js`, secret: process.argv[4],
      ttl: 600000, coherent });
    if (coherent) await c.waitCoherent(5000);
    const reads = () => c.stats().l2_hits + c.stats().l2_misses;
    for (let i = 0; i < n; i++) { await c.set(i, i); await c.get(i); }
    const first = reads();
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < n; i++) await c.get(i);
    out[coherent ? 'on' : 'off'] = [first, reads() - first];
    await c.close();
  }
  console.log(JSON.stringify(out));
})();
"""


def python(url: str, n: int) -> dict[str, list[int]]:
    out = {}
    for coherent in (True, False):
        c = twincache.RedisCache(url, namespace=f"own{coherent}py", secret=SECRET, ttl=600,
                                 coherent=coherent)  # fmt: skip

        def reads(c: twincache.RedisCache = c) -> int:
            s = c.stats()
            return int(s["l2_hits"] + s["l2_misses"])

        for i in range(n):
            c[i] = i
            c.get(i)
        first = reads()
        time.sleep(0.2)
        for i in range(n):
            c.get(i)
        out["on" if coherent else "off"] = [first, reads() - first]
        c.close()
    return out


def main() -> None:
    args = arguments(__doc__, n=1000)
    with own_redis_server() as server:
        py = python(server.url, args.n)
        done = subprocess.run(
            ["node", "-e", NODE, str(ROOT / "node" / "lib"), server.url, str(args.n), SECRET],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        js = json.loads(done.stdout)
    print(f"{args.n} set+get of distinct keys, then a second get of each 200 ms later")
    print("L2 reads: [during set+get, second pass]; the writes themselves are not reads")
    for lang, res in (("python", py), ("node", js)):
        on, off = res["on"], res["off"]
        extra = on[0] + on[1] - off[0] - off[1]
        print(f"{lang:7} coherent on {on}  off {off}  extra L2 reads with coherence: {extra}")


if __name__ == "__main__":
    main()
