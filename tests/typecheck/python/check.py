"""Type-checks and runs the Python sample programs of tests/typecheck/python (scripts/test-types):

1. mypy --strict over every sample_*.py: no error at all.
2. mypy --strict over must_fail.py: an error on exactly the lines marked `# E: code[, code]`, with
   exactly those codes (a marked line that passes, or an error on an unmarked line, fails).
3. each sample_*.py runs, against the C++ core (twincache.native must be True) and with
   TWINCACHE_PURE=1.

mypy and the samples see the installed package (site-packages of this interpreter: its py.typed
and _types.py, as a user's checker does), not python/ from the source tree; tests/typecheck/
python/mypy.ini replaces the repository's [tool.mypy], whose mypy_path points at the sources.
Exits non-zero on any failure, after printing every one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = sorted(HERE.glob("sample_*.py"))
MUST_FAIL = HERE / "must_fail.py"
EXPECT = re.compile(r"#\s*E:\s*([\w-]+(?:\s*,\s*[\w-]+)*)\s*$")
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[\w-]+)\]$")


def mypy(files: list[Path], cache_dir: str) -> list[str]:
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(HERE / "mypy.ini")]
    cmd += ["--cache-dir", cache_dir, "--no-pretty", "--no-error-summary"]
    result = subprocess.run(
        [*cmd, *map(str, files)], cwd=tempfile.gettempdir(), capture_output=True, text=True
    )
    if result.returncode not in (0, 1) or result.stderr.strip():  # 2: mypy itself failed
        print(result.stdout + result.stderr)
        raise SystemExit(f"check.py: mypy exited with {result.returncode}")
    return result.stdout.splitlines()


def expected_errors(path: Path) -> set[tuple[int, str]]:
    expected = set()
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECT.search(text)
        if match:
            expected.update((number, code.strip()) for code in match.group(1).split(","))
    return expected


def main() -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="twincache-mypy-") as cache_dir:
        print(f"--- mypy --strict: {', '.join(p.name for p in SAMPLES)} (no error expected)")
        errors = [line for line in mypy(SAMPLES, cache_dir) if ": error:" in line]
        print("\n".join(errors) or "clean")
        failures += [f"unexpected: {line}" for line in errors]

        print(f"--- mypy --strict: {MUST_FAIL.name} (an error on each marked line)")
        expected = expected_errors(MUST_FAIL)
        reported = set()
        for line in mypy([MUST_FAIL], cache_dir):
            match = ERROR.match(line)
            if match:
                reported.add((int(match["line"]), match["code"]))
            elif ": error:" in line:
                failures.append(f"{MUST_FAIL.name}: an error without a code: {line}")
        for number, code in sorted(expected - reported):
            failures.append(f"{MUST_FAIL.name}:{number}: expected error [{code}] not reported")
        for number, code in sorted(reported - expected):
            failures.append(f"{MUST_FAIL.name}:{number}: unexpected error [{code}]")
        print(f"{len(reported & expected)} of {len(expected)} expected errors reported")

    for mode, pure in (("native", "0"), ("pure", "1")):
        for sample in SAMPLES:
            print(f"--- run {sample.name} ({mode})")
            env = {**os.environ, "TWINCACHE_PURE": pure}
            run = subprocess.run(
                [sys.executable, "-W", "error", str(sample)],
                cwd=tempfile.gettempdir(),
                env=env,
                capture_output=True,
                text=True,
            )
            print((run.stdout + run.stderr).strip())
            if run.returncode != 0:
                failures.append(f"{sample.name} ({mode}) exited with {run.returncode}")
            elif not run.stdout.strip().endswith(mode):
                failures.append(f"{sample.name} ran in the wrong mode (expected {mode})")

    if failures:
        print("\ncheck.py: FAILED\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"check.py: {len(SAMPLES)} samples type-check and run (native, pure); must_fail ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
