"""Fixtures for the twincache-server integration tests: the built binary, Python stubs generated
from proto/twincache/v1/cache.proto at test time (grpcio-tools), and a helper that starts a
server on free ports, reads its JSON log lines, and stops it with SIGTERM.

TWINCACHE_TEST_SERVER_API=async|callback runs every server in that serving mode (passed as
TWINCACHE_API unless a test sets it); scripts/test-server runs the suite once per mode."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"


def server_binary() -> Path | None:
    env = os.environ.get("TWINCACHE_SERVER_BIN")
    path = Path(env) if env else ROOT / "build" / "release" / "server" / "twincache-server"
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(scope="session")
def server_bin() -> Path:
    path = server_binary()
    if path is None:
        pytest.skip(
            "twincache-server is not built (scripts/build release with libgrpc++-dev, "
            "or set TWINCACHE_SERVER_BIN)"
        )
    return path


@pytest.fixture(scope="session")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """cache_pb2 and cache_pb2_grpc, generated now from the .proto."""
    from grpc_tools import protoc

    # Generated from a copy named twincache_v1_cache.proto: under its own path the stubs would be
    # the package `twincache.v1`, which the installed `twincache` package shadows once imported.
    src = tmp_path_factory.mktemp("proto")
    shutil.copyfile(
        PROTO_DIR / "twincache" / "v1" / "cache.proto", src / "twincache_v1_cache.proto"
    )
    out = tmp_path_factory.mktemp("stubs")
    rc = protoc.main(
        [
            "protoc",
            f"-I{src}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(src / "twincache_v1_cache.proto"),
        ]
    )
    assert rc == 0, "protoc failed on cache.proto"
    sys.path.insert(0, str(out))
    import twincache_v1_cache_pb2 as cache_pb2  # type: ignore[import-not-found]
    import twincache_v1_cache_pb2_grpc as cache_pb2_grpc  # type: ignore[import-not-found]

    return cache_pb2, cache_pb2_grpc


class Server:
    """One twincache-server process on free loopback ports."""

    def __init__(self, binary: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCACHE_")}
        if mode := os.environ.get("TWINCACHE_TEST_SERVER_API"):
            full_env["TWINCACHE_API"] = mode
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=full_env,
            text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.listening: dict[str, Any] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(30) or not self.listening:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not start:\n" + "".join(self.lines))
        self.grpc_port = int(self.listening["grpc_port"])
        self.http_port = int(self.listening["http_port"])
        self.target = f"127.0.0.1:{self.grpc_port}"
        mode = (env or {}).get("TWINCACHE_API") or os.environ.get("TWINCACHE_TEST_SERVER_API")
        if mode and "--api" not in args:  # the suite runs in the mode it was asked for
            assert self.listening["api"] == mode, self.listening

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if '"event":"listening"' in line:
                self.listening = json.loads(line)
                self._ready.set()
        self._ready.set()

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.lines if x.startswith("{")]

    def http(self, path: str) -> tuple[int, str, str]:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read().decode()

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        return rc


@pytest.fixture
def start_server(server_bin: Path):  # type: ignore[no-untyped-def]
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        s = Server(server_bin, list(args), env)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def wait_until(pred: Any, timeout: float = 10) -> None:
    """Polls pred() (for a process's state, not for expiry: expiry is tested with injected
    clocks in tests/server/server_test.cpp)."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
