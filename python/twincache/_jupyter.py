"""The %%cache cell magic (`%load_ext twincache`): a cell that runs again with the same source and
the same contents of the variables it reads is not executed; the magic restores the variables the
cell assigns and replays its printed output and its value instead. Entries live in a DiskCache
(the default cache directory, or `%%cache --path DIR`), so they survive a kernel restart.
docs/jupyter.md is the user guide.

How a cell is keyed: SHA-256 of its syntax tree (comments and whitespace ignored), plus, for each
name the cell reads that exists in the namespace, a fingerprint of its value: modules by name,
functions by module, qualified name and source hash, numbers/strings/containers/numpy arrays/
pandas objects by the key encoding of their content, anything else by a SHA-256 of its pickle.
A cell reading a value that has no fingerprint (unpicklable) simply runs, every time.

What is stored: the variables the cell binds at top level (assignments, for/with targets,
imports, def/class) that pickle, its stdout and stderr, and the value of a final expression.
Rich outputs made with display() are not replayed. If a stored variable cannot be restored (for
example a function defined in the cell, pickled by reference), the cell runs instead.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import inspect
import io
import pickle
import shlex
import sys
import types
import warnings
from typing import Any, TextIO

from ._backend import impl
from ._disk import DiskCache, _key_part, source_hash

_FORMAT = "twincache.cell/1"


class _Tee(io.TextIOBase):
    """Writes to the real stream (so output still shows as the cell runs) and records it."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.buffer_ = io.StringIO()

    def write(self, s: str) -> int:
        self.buffer_.write(s)
        return self.real.write(s)

    def flush(self) -> None:
        self.real.flush()


def _stored_names(tree: ast.Module) -> list[str]:
    """Names the cell binds at its top level (not inside functions or classes it defines)."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.append((alias.asname or alias.name).split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return list(dict.fromkeys(n for n in names if n != "_"))


def _loaded_names(tree: ast.Module) -> list[str]:
    return sorted(
        {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    )


def fingerprint(value: object) -> str | None:
    """A content fingerprint of a value the cell reads; None when it has none."""
    if isinstance(value, types.ModuleType):
        return "module:" + value.__name__
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)) or (
        callable(value) and hasattr(value, "__wrapped__")
    ):
        target = inspect.unwrap(value)
        name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
        try:
            return f"callable:{name}:{source_hash(target)}"
        except Exception:
            return "callable:" + name
    try:
        encoded: bytes = impl.encode_key(_key_part(value))
        return "key:" + hashlib.sha256(encoded).hexdigest()
    except (TypeError, ValueError):
        pass
    try:
        return "pickle:" + hashlib.sha256(pickle.dumps(value, protocol=4)).hexdigest()
    except Exception:
        return None


def cell_key(cell: str, namespace: dict[str, Any]) -> tuple[Any, ast.Module] | None:
    """The key of a cell run against a namespace, or None when a value it reads has no
    fingerprint."""
    tree = ast.parse(cell)
    source = hashlib.sha256(
        ast.dump(tree, annotate_fields=True, include_attributes=False).encode()
    ).hexdigest()
    reads: list[list[str]] = []
    for name in _loaded_names(tree):
        if name not in namespace or name.startswith("_"):
            continue
        fp = fingerprint(namespace[name])
        if fp is None:
            return None
        reads.append([name, fp])
    return [_FORMAT, source, reads], tree


def _run(tree: ast.Module, namespace: dict[str, Any], filename: str) -> Any:
    """Executes the cell; returns the value of a final expression statement (else None)."""
    body = list(tree.body)
    last: ast.expr | None = None
    if body and isinstance(body[-1], ast.Expr):
        last = body.pop().value  # type: ignore[attr-defined]
    exec(compile(ast.Module(body=body, type_ignores=[]), filename, "exec"), namespace)
    if last is None:
        return None
    return eval(compile(ast.Expression(body=last), filename, "eval"), namespace)


class CellCache:
    """The state behind %%cache in one IPython shell: caches per directory, counters."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.caches: dict[str | None, DiskCache] = {}
        self.hits = 0
        self.misses = 0

    def cache_for(self, path: str | None) -> DiskCache:
        if path not in self.caches:
            self.caches[path] = DiskCache(path)
        return self.caches[path]

    def run(self, line: str, cell: str) -> Any:
        parser = argparse.ArgumentParser(prog="%%cache", add_help=False)
        parser.add_argument("--path", default=None)
        parser.add_argument("--verbose", "-v", action="store_true")
        args = parser.parse_args(shlex.split(line))
        ns: dict[str, Any] = self.shell.user_ns
        keyed = cell_key(cell, ns)
        if keyed is None:
            if args.verbose:
                print("%%cache: a variable the cell reads cannot be fingerprinted; running it")
            return _run(ast.parse(cell), ns, "<%%cache cell>")
        key, tree = keyed
        cache = self.cache_for(args.path)
        entry = cache.get(key)
        if entry is not None:
            try:
                restored = pickle.loads(entry["vars"])
                result = pickle.loads(entry["result"]) if entry["result"] is not None else None
            except Exception:
                entry = None  # e.g. a function defined in the cell: run it instead
            else:
                ns.update(restored)
                sys.stdout.write(entry["stdout"])
                sys.stderr.write(entry["stderr"])
                self.hits += 1
                if args.verbose:
                    print(f"%%cache: restored {', '.join(sorted(restored)) or 'nothing'}")
                return result
        self.misses += 1
        out, err = _Tee(sys.stdout), _Tee(sys.stderr)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = _run(tree, ns, "<%%cache cell>")
        saved: dict[str, Any] = {}
        for name in _stored_names(tree):
            if name in ns:
                try:
                    pickle.dumps(ns[name], protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:
                    continue  # not restorable: left out (a hit then re-runs the cell)
                saved[name] = ns[name]
        try:
            blob = pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL)
            result_blob = (
                None if result is None else pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            )
        except Exception as exc:
            warnings.warn(f"%%cache: the cell's results cannot be stored ({exc})", stacklevel=2)
            return result
        cache[key] = {
            "vars": blob,
            "result": result_blob,
            "stdout": out.buffer_.getvalue(),
            "stderr": err.buffer_.getvalue(),
        }
        if args.verbose:
            print(f"%%cache: stored {', '.join(sorted(saved)) or 'nothing'}")
        return result


def load_ipython_extension(ipython: Any) -> None:
    """%load_ext twincache: registers the %%cache cell magic."""
    state = CellCache(ipython)
    ipython.register_magic_function(state.run, magic_kind="cell", magic_name="cache")
    ipython.user_ns.setdefault("_twincache_cell_cache", state)
