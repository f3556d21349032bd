"""%%cache for real: a notebook executed by nbclient in an ipykernel kernel, three times, each
in a fresh kernel (a restart). A file that the cell and a backend="disk" function append to
counts what actually ran: the second run executes neither (the cell's variables and output are
restored, the function hits on disk); changing a variable the cell reads runs it again."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in scripts/requirements-dev.txt")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in scripts/requirements-dev.txt")

SETUP = """\
import os
import twincache
COUNTER = os.environ["TC_COUNTER"]

@twincache.cache(backend="disk")
def slow_square(x):
    with open(COUNTER, "a") as f:
        f.write("f")
    return x * x
"""

CELL = """\
%%cache
# the expensive cell
with open(COUNTER, "a") as f:
    f.write("c")
total = sum(slow_square(v) for v in data)
squares = {v: slow_square(v) for v in data[:3]}
print("total is", total)
total * 2
"""


def notebook(n: int) -> object:
    cells = [
        nbformat.v4.new_code_cell("%load_ext twincache"),
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(f"data = list(range({n}))"),
        nbformat.v4.new_code_cell(CELL),
        nbformat.v4.new_code_cell('print("after", total, squares, slow_square(3))'),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def execute(nb: object, cwd: Path) -> list[str]:
    client = nbclient.NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    texts = []
    for cell in nb.cells:  # type: ignore[attr-defined]
        parts = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            elif out.get("output_type") == "execute_result":
                parts.append("OUT:" + out["data"]["text/plain"])
            elif out.get("output_type") == "error":
                parts.append("ERROR:" + out["ename"] + ": " + out["evalue"])
        texts.append("".join(parts))
    return texts


def test_cell_and_disk_function_survive_a_kernel_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = tmp_path / "counter"
    monkeypatch.setenv("TWINCACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TC_COUNTER", str(counter))

    def ran() -> str:
        return counter.read_text() if counter.exists() else ""

    first = execute(notebook(10), tmp_path)
    assert "total is 285" in first[3] and "OUT:570" in first[3], first
    assert "after 285 {0: 0, 1: 1, 2: 4} 9" in first[4], first
    assert ran() == "c" + "f" * 10  # the cell once, the function once per distinct argument

    second = execute(notebook(10), tmp_path)  # a new kernel: nothing in memory
    assert second[3] == first[3], second  # printed output and value replayed
    assert second[4] == first[4], second  # the restored variables
    assert ran() == "c" + "f" * 10  # neither the cell nor the function ran again

    third = execute(notebook(11), tmp_path)  # a variable the cell reads changed
    assert "total is 385" in third[3], third
    assert ran() == "c" + "f" * 10 + "c" + "f"  # the cell ran; only slow_square(10) was new


def test_cell_key_depends_on_source_and_values() -> None:
    from twincache._jupyter import cell_key

    ns = {"a": [1, 2], "b": 3}
    k1 = cell_key("x = a[0] + b  # comment", ns)
    k2 = cell_key("x = a[0]+b", ns)
    k3 = cell_key("x = a[0] + b", {"a": [1, 2], "b": 4})
    k4 = cell_key("x = a[1] + b", ns)
    assert k1 is not None and k2 is not None and k3 is not None and k4 is not None
    assert k1[0] == k2[0]
    assert k1[0] != k3[0] and k1[0] != k4[0]
