"""The two-language test: Python and Node write the same cache directory at the same time
(codec "json"), each reads every entry the other wrote, and a third pass checks the directory
from both sides. Run twice: Python's native store, then its pure-Python store (TWINCACHE_PURE=1),
against Node's native addon. Exit status 0 on success."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
N = 300


def run(pure: bool) -> None:
    mode = "pure" if pure else "native"
    with tempfile.TemporaryDirectory(prefix="twincache-cross-") as tmp:
        path = str(Path(tmp) / "cache")
        env = dict(os.environ)
        env.pop("TWINCACHE_PURE", None)
        py_env = dict(env, TWINCACHE_PURE="1") if pure else env
        procs = [
            subprocess.Popen(
                [sys.executable, str(HERE / "writer.py"), path, "py", "js", str(N)], env=py_env
            ),
            subprocess.Popen(["node", str(HERE / "writer.js"), path, "js", "py", str(N)], env=env),
        ]
        codes = [p.wait(timeout=180) for p in procs]
        if codes != [0, 0]:
            raise SystemExit(f"test-cross ({mode} Python): writers exited with {codes}")
        check = (
            "import sys; from twincache import DiskCache; "
            f"c = DiskCache({path!r}, codec='json'); "
            f"assert len(c) == {2 * N + 3}, len(c); "
            "assert c.info()['corrupt'] == 0, c.info()"
        )
        subprocess.run([sys.executable, "-c", check], env=py_env, check=True)
        print(f"test-cross ({mode} Python + native Node): ok, {2 * N + 3} entries")


def main() -> None:
    run(pure=False)
    run(pure=True)


if __name__ == "__main__":
    main()
