"""A real redis-server for the Redis tier's tests: started on a free loopback port with no
persistence in a temporary directory, and stopped at the end. Faults are real signals: kill()
(SIGKILL), restart() on the same port, pause() (SIGSTOP) and resume() (SIGCONT). And Proxy, a
loopback TCP proxy in front of it that adds latency or blackholes traffic (accepts and reads,
forwards nothing), as a slow or partitioned network would.

Used through the `redis_server` fixture factory below (one server per test module, not per
test). Without redis-server on PATH or without redis-py, the module is skipped and the reason
printed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 10.0  # seconds for a fresh redis-server to answer PING


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server_binary() -> str | None:
    """Debian's redis-server: on PATH, else /usr/bin's; None without one."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )


def require_redis_py() -> None:
    """Skips the module, saying why, without redis-py."""
    pytest.importorskip("redis", reason="redis-py is not installed (pip install twincache[redis])")


class RedisServer:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.extra_args: list[str] = []  # more redis-server options (cluster, TLS: subclasses)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), *self.extra_args]  # fmt: skip
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{text}")
            time.sleep(0.02)

    def ready(self) -> bool:
        """Whether the started server answers."""
        return _pings(self.port)

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown, connections reset."""
        assert self.proc is not None
        if self.paused:
            self.resume()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """A fresh (empty) server on the same port."""
        if self.proc is not None:
            self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel does) but nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.paused:
            self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def client(self) -> Any:
        """A plain redis-py client for looking at what the cache wrote."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def command_calls(self) -> dict[str, int]:
        """{command: calls} from INFO commandstats (counted by the server itself)."""
        info = self.client().info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


class Proxy:
    """127.0.0.1:<port> -> the server, run by an asyncio loop in a thread of its own. `latency`
    (seconds) delays every chunk in each direction (order kept); `blackhole` drops every byte
    from then on (connections stay open, nothing answers)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.latency = 0.0
        self.blackhole = False
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)
        assert self.port, "the proxy did not start"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                if not self.blackhole:
                    writer.write(data)
                    await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def server_fixture(scope: str = "module") -> Any:
    """A fixture: `redis_server = server_fixture()` in a test module (one server per module);
    `server_fixture("function")` gives a test a server no other test's caches are connected to."""

    @pytest.fixture(scope=scope)
    def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
        require_redis_py()
        binary = redis_server_binary()
        if binary is None:
            pytest.skip("redis-server is not installed (scripts/setup installs Debian's)")
        server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
        server.start()
        try:
            yield server
        finally:
            server.stop()

    return redis_server
