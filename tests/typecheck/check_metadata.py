"""The release metadata, checked by scripts/test-types:

- The version is written once, in package.json. pyproject.toml reads it (scikit-build-core's
  regex provider), CMakeLists.txt reads it (project() VERSION, after a configure), and the
  installed distribution, twincache.__version__ (native and pure) and Node's `version` (CommonJS
  and ES module entries) must all equal it.
- LICENSE is the MIT license both manifests name, and ships in the sdist, the installed wheel and
  the npm tarball.
- Every relative link in the Markdown files the npm tarball ships points at a file it ships (the
  README's docs/ links included).

Prints every failure, exits non-zero if there is one.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"^(```|~~~).*?^\1|`[^`\n]*`", re.S | re.M)
failures: list[str] = []


def expect(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(cmd: list[str], cwd: Path | str = ROOT, **env: str) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        failures.append(f"{' '.join(cmd)} exited with {result.returncode}: {result.stderr[-2000:]}")
        return ""
    return result.stdout.strip()


def check_version() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    version = package["version"]
    print(f"package.json version: {version}")

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    expect(
        "version" not in project["project"] and "version" in project["project"]["dynamic"],
        "pyproject.toml: [project] version is dynamic (no second copy)",
    )
    settings = project["tool"]["scikit-build"]["metadata"]["version"]
    from scikit_build_core.metadata.regex import dynamic_metadata

    os.chdir(ROOT)  # the provider opens its input relative to the project, as pip's build does
    read = dynamic_metadata("version", {k: v for k, v in settings.items() if k != "provider"})
    expect(
        settings["input"] == "package.json" and read == version,
        f"pyproject.toml reads {read!r} from {settings['input']}",
    )

    with tempfile.TemporaryDirectory(prefix="twincache-cmake-") as build:
        run(["cmake", "-S", str(ROOT), "-B", build, "-DTWINCACHE_BUILD_TESTS=OFF"])
        cache = Path(build, "CMakeCache.txt")
        found = re.search(r"^CMAKE_PROJECT_VERSION:STATIC=(.*)$", cache.read_text(), re.M)
        cmake = found.group(1) if found else None
        expect(cmake == version, f"CMake project() VERSION: {cmake}")

    installed = importlib.metadata.version("twincache")
    expect(installed == version, f"installed distribution (pip install .): {installed}")
    for pure in ("0", "1"):
        code = "import twincache; print(twincache.__version__, twincache.native)"
        out = run([sys.executable, "-c", code], cwd=tempfile.gettempdir(), TWINCACHE_PURE=pure)
        expect(
            out == f"{version} {pure == '0'}",
            f"twincache.__version__ (TWINCACHE_PURE={pure}): {out}",
        )
    cjs = run(["node", "-p", "require('twincache').version"])
    expect(cjs == version, f"Node require('twincache').version: {cjs}")
    esm = run(
        ["node", "--input-type=module", "-e", "console.log((await import('twincache')).version)"]
    )
    expect(esm == version, f"Node import('twincache') version: {esm}")


def check_license_and_files() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    expect(
        license_text.startswith("MIT License")
        and "Copyright (c)" in license_text
        and "the twincache authors" in license_text,
        "LICENSE: the MIT license, copyright the twincache authors",
    )
    package = json.loads((ROOT / "package.json").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expect(
        package["license"] == "MIT" and project["license"] == {"text": "MIT"},
        "package.json and pyproject.toml both say MIT",
    )

    dist_files = [str(f) for f in importlib.metadata.files("twincache") or []]
    expect(
        any(f.endswith("LICENSE") and ".dist-info" in f for f in dist_files),
        "the installed wheel carries LICENSE in its .dist-info",
    )

    from scikit_build_core.build import build_sdist

    with tempfile.TemporaryDirectory(prefix="twincache-sdist-") as out:
        name = build_sdist(out)
        with tarfile.open(Path(out, name)) as sdist:
            members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
        expect(
            {"LICENSE", "package.json", "pyproject.toml"} <= members,
            "the sdist carries LICENSE and package.json (the version's source)",
        )

    listing = run(["npm", "pack", "--dry-run", "--json", "--ignore-scripts"])
    shipped = {f["path"] for f in json.loads(listing)[0]["files"]} if listing else set()
    expect("LICENSE" in shipped, "the npm tarball carries LICENSE")
    for doc in sorted(p for p in shipped if p.endswith(".md")):
        prose = CODE.sub("", (ROOT / doc).read_text())  # links, not code that looks like one
        for target in LINK.findall(prose):
            if re.match(r"^[a-z]+:|^#", target):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(doc), target.split("#")[0]))
            if path not in shipped:
                expect(False, f"npm tarball: {doc} links {target}, which it does not ship")
    print(f"checked the relative links of {sum(p.endswith('.md') for p in shipped)} shipped .md")


def main() -> int:
    check_version()
    check_license_and_files()
    if failures:
        print("\ncheck_metadata.py: FAILED\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("check_metadata.py: version, license and shipped files check out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
