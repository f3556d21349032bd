"""Every code block in README.md and docs/*.md runs as shown: this file extracts the Python and
shell blocks and runs each one in a fresh interpreter (or bash), in whichever mode the suite runs
(native, or TWINCACHE_PURE=1 inherited from the environment). tests/node/docs.test.js does the
same for the JavaScript blocks.

The conventions a Markdown file may use (both extractors read the same ones):

- A fenced block's info string picks its runner: ``python``/``py`` (here), ``sh``/``bash``/
  ``shell`` (here, with the venv's ``python`` first on PATH), ``js``/``javascript``/``mjs``/
  ``cjs`` (the Node test). A block with any other info string, or none, must be marked skipped.
- ``<!-- docs-test: skip: REASON -->`` on the last non-blank line before a fence: the block is not
  run, and the test reports it as skipped with REASON.
- ``<!-- docs-test: continues -->`` before a fence: the block runs after the code of the previous
  block of the same runner in the file (as if they were one program), e.g. a block that calls
  helpers on an object the previous block made.
- ``<!-- docs-test: raises LANG -->`` (``python`` here, ``js`` in the Node test) before a block
  of lines ``EXPRESSION  Error: message`` (two or more spaces apart; or the expression alone and
  ``Error: message`` on the next, indented line; a message goes on over indented lines): each
  expression, evaluated with the package in scope, must raise that error with that message.
- A Python block with IPython magics (a line starting with ``%``) runs in an IPython shell, the
  prelude and each block it continues as cells of their own.
- ``<!-- docs-test: prelude LANG`` ... ``-->`` anywhere in a file: code (stubs such as a
  ``load_user`` the example calls) run before every LANG block of that file.

Each block runs in its own temporary directory (the working directory and HOME; TWINCACHE_DIR is
unset, so a default DiskCache lands in HOME/.cache/twincache there).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LANGS = {
    "python": "python",
    "py": "python",
    "sh": "sh",
    "bash": "sh",
    "shell": "sh",
    "js": "js",
    "javascript": "js",
    "mjs": "js",
    "cjs": "js",
}
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(skip|continues|raises)\b:?\s*(.*?)\s*-->\s*$")
PRELUDE = re.compile(r"^\s*<!--\s*docs-test:\s*prelude\s+(\w+)\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)(.*)$")


@dataclass
class Block:
    file: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    info: str  # the info string's first word ('' when none)
    runner: str | None  # 'python', 'sh', 'js' or None
    code: str
    skip: str | None  # the reason, when marked skipped
    continues: bool
    raises: bool


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def parse(path: Path) -> tuple[list[Block], dict[str, str]]:
    """The fenced blocks of one Markdown file, and its preludes by runner."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = str(path.relative_to(ROOT))
    blocks: list[Block] = []
    preludes: dict[str, str] = {}
    i = 0
    while i < len(lines):
        prelude = PRELUDE.match(lines[i])
        if prelude:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "-->")
            runner = LANGS.get(prelude.group(1), prelude.group(1))
            preludes[runner] = "\n".join(lines[i + 1 : end]) + "\n"
            i = end + 1
            continue
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, mark, info = fence.group(1), fence.group(2), fence.group(3).lower()
        close = re.compile(rf"^\s*{re.escape(mark[0])}{{{len(mark)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), len(lines))
        body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : end]]
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(prev)
        blocks.append(
            Block(
                file=rel,
                line=i + 1,
                info=info,
                runner=f"raises {LANGS.get(marker.group(2), marker.group(2))}"
                if marker and marker.group(1) == "raises"
                else LANGS.get(info),
                code="\n".join(body) + "\n",
                skip=(marker.group(2) or "no reason given")
                if marker and marker.group(1) == "skip"
                else None,
                continues=bool(marker and marker.group(1) == "continues"),
                raises=bool(marker and marker.group(1) == "raises"),
            )
        )
        i = end + 1
    return blocks, preludes


def program(blocks: list[Block], index: int) -> list[str]:
    """The code a block runs: the blocks it continues (same runner, same file), then itself."""
    parts = [blocks[index].code]
    j = index
    while blocks[j].continues:
        j = next(k for k in range(j - 1, -1, -1) if blocks[k].runner == blocks[index].runner)
        parts.insert(0, blocks[j].code)
    return parts


ALL = [(path, parse(path)) for path in doc_files()]
CASES = [
    pytest.param(blocks, preludes, n, id=f"{b.file}:{b.line}")
    for _, (blocks, preludes) in ALL
    for n, b in enumerate(blocks)
    if b.runner in ("python", "sh", "raises python") or (b.runner is None and b.skip is not None)
]


def test_every_block_has_a_runner_or_a_reason() -> None:
    unknown = [
        f"{b.file}:{b.line} (info string {b.info!r})"
        for _, (blocks, _) in ALL
        for b in blocks
        if (
            b.runner is None or b.runner not in ("python", "sh", "js", "raises python", "raises js")
        )
        and b.skip is None
    ]
    assert not unknown, (
        "these blocks have no runner; give them a runnable info string or mark them "
        "'<!-- docs-test: skip: REASON -->': " + ", ".join(unknown)
    )
    assert sum(len(blocks) for _, (blocks, _) in ALL) > 30  # the extractor found the docs


def block_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    home = tmp / "home"
    home.mkdir()
    env["HOME"] = str(home)
    for name in ("TWINCACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH"):
        env.pop(name, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize(("blocks", "preludes", "index"), CASES)
def test_doc_block_runs(
    blocks: list[Block], preludes: dict[str, str], index: int, tmp_path: Path
) -> None:
    block = blocks[index]
    if block.skip is not None:
        pytest.skip(f"{block.file}:{block.line} ({block.info or 'no info string'}): {block.skip}")
    if block.runner == "raises python":
        check_raises(block)
        return
    cells = [preludes.get(str(block.runner), ""), *program(blocks, index)]
    code = "".join(cells)
    env = block_env(tmp_path)
    if block.runner == "python" and re.search(r"^%", code, re.M):
        # IPython magics (docs/jupyter.md): each block is one cell of an IPython shell.
        script = tmp_path / "block.py"
        script.write_text(IPYTHON_DRIVER.format(cells=cells), encoding="utf-8")
        cmd = [sys.executable, str(script)]
    elif block.runner == "python":
        script = tmp_path / "block.py"
        script.write_text(code, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    else:
        bash = shutil.which("bash")
        assert bash is not None
        script = tmp_path / "block.sh"
        script.write_text("set -euo pipefail\n" + code, encoding="utf-8")
        cmd = [bash, str(script)]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, (
        f"{block.file}:{block.line} failed (exit {proc.returncode})\n--- code\n{code}"
        f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
    )


IPYTHON_DRIVER = """
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
for cell in {cells!r}:
    shell.run_cell(cell).raise_error()
"""

RAISES_LINE = re.compile(r"^(\S.*?)\s{2,}(\w+): (.*)$")
ERROR_LINE = re.compile(r"^(\w+): (.*)$")


def raises_cases(block: Block) -> list[list[str]]:
    """[expression, error name, message] for each case of a 'raises' block."""
    cases: list[list[str]] = []
    for ln in block.code.splitlines():
        if not ln.strip():
            continue
        if not ln[0].isspace():
            m = RAISES_LINE.match(ln)
            cases.append([m.group(1), m.group(2), m.group(3)] if m else [ln.strip(), "", ""])
            continue
        assert cases, f"{block.file}:{block.line}: an indented line opens the block"
        m = ERROR_LINE.match(ln.strip())
        if not cases[-1][1] and m:
            cases[-1][1:] = [m.group(1), m.group(2)]
        else:
            cases[-1][2] += " " + ln.strip()
    assert cases and all(c[1] for c in cases), f"{block.file}:{block.line}: {cases}"
    return cases


def check_raises(block: Block) -> None:
    """Each case of a 'raises python' block raises exactly that error and message."""
    import twincache

    for expr, error, message in raises_cases(block):
        with pytest.raises(BaseException) as info:
            eval(expr, {"twincache": twincache})  # the docs' own examples
        assert type(info.value).__name__ == error, (expr, info.value)
        assert str(info.value) == message, expr
