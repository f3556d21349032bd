"""A real Redis Cluster for the Redis tier's cluster tests: 3 masters and 3 replicas of Debian's
redis-server on free loopback ports in a temporary directory (cluster-enabled, no persistence,
cluster-node-timeout 1000 ms so a replica is promoted about 2 s after its master dies), joined by
`redis-cli --cluster create ... --cluster-replicas 1`, and stopped at the end. Faults are real:
kill() SIGKILLs a node.

Used through `cluster_fixture()` (one cluster per test module). Without redis-server, redis-cli
or redis-py the module is skipped and the reason printed."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redis_server import RedisServer, redis_server_binary, require_redis_py

START_TIMEOUT = 20.0  # seconds for the cluster to reach cluster_state:ok
NODE_TIMEOUT_MS = 1000


def _free_cluster_port() -> int:
    """A free loopback port p <= 55535 with p + 10000 (the cluster bus) free too."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            port = random.randrange(20000, 55535)
            try:
                s.bind(("127.0.0.1", port))
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bus:
                    bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for a cluster node")


class ClusterNode(RedisServer):
    """One node: a RedisServer started with the cluster options. With `certs` (a directory
    holding ca.crt, server.crt/.key and client.crt/.key) it speaks only TLS, on clients, the
    cluster bus and replication alike, and requires client certificates."""

    def __init__(self, binary: str, workdir: Path, certs: Path | None = None) -> None:
        super().__init__(binary, workdir)
        self.port = _free_cluster_port()
        self.certs = certs
        self.extra_args = ["--cluster-enabled", "yes",
                           "--cluster-config-file", str(workdir / "nodes.conf"),
                           "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                           # a replica may take over however long ago it last heard its
                           # master (a fresh cluster's replicas have barely synced)
                           "--cluster-replica-validity-factor", "0"]  # fmt: skip
        if certs is not None:
            self.extra_args += ["--port", "0", "--tls-port", str(self.port),
                                "--tls-cert-file", str(certs / "server.crt"),
                                "--tls-key-file", str(certs / "server.key"),
                                "--tls-ca-cert-file", str(certs / "ca.crt"),
                                # the node's own outgoing links (bus, replication) present
                                # the client certificate (the server's is serverAuth only)
                                "--tls-client-cert-file", str(certs / "client.crt"),
                                "--tls-client-key-file", str(certs / "client.key"),
                                "--tls-cluster", "yes", "--tls-replication", "yes",
                                "--tls-auth-clients", "yes"]  # fmt: skip

    def ready(self) -> bool:
        if self.certs is None:
            return super().ready()
        try:  # the TLS port accepts connections
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def client(self) -> Any:
        if self.certs is None:
            return super().client()
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=5, ssl=True,
            ssl_ca_certs=str(self.certs / "ca.crt"), ssl_certfile=str(self.certs / "client.crt"),
            ssl_keyfile=str(self.certs / "client.key"),
        )  # fmt: skip

    def cli_tls(self) -> list[str]:
        """redis-cli's TLS options for this node."""
        if self.certs is None:
            return []
        c = self.certs
        return ["--tls", "--cacert", str(c / "ca.crt"), "--cert", str(c / "client.crt"),
                "--key", str(c / "client.key")]  # fmt: skip


class RedisCluster:
    def __init__(
        self, binary: str, cli: str, workdir: Path, size: int = 6, certs: Path | None = None
    ) -> None:
        self.cli = cli
        self.nodes: list[ClusterNode] = []
        for i in range(size):
            d = workdir / f"node{i}"
            d.mkdir()
            self.nodes.append(ClusterNode(binary, d, certs))

    @property
    def url(self) -> str:
        scheme = "redis" if self.nodes[0].certs is None else "rediss"
        return f"{scheme}://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        made = subprocess.run(
            [self.cli, *self.nodes[0].cli_tls(), "--cluster", "create", *addresses,
             "--cluster-replicas", "1",
             "--cluster-yes"],
            capture_output=True, timeout=30, text=True,
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{made.stdout}{made.stderr}")
        self.wait_ok()

    def wait_ok(self, timeout: float = START_TIMEOUT) -> None:
        """Until every live node says cluster_state:ok and the slots are all served."""
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for node in self.nodes:
                if node.proc is None:
                    continue
                try:
                    info = node.client().cluster("INFO")  # parsed: {field: value}
                except Exception:
                    info = {}
                ok = info.get("cluster_state") == "ok"
                states.append(ok and str(info.get("cluster_slots_ok")) == "16384")
            if all(states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def client(self) -> Any:
        """A plain redis-py cluster client, for looking at what the cache wrote."""
        import redis.cluster

        return redis.cluster.RedisCluster.from_url(self.url, socket_timeout=5)

    def master_of(self, name: str) -> ClusterNode:
        """The live node that serves name's slot now."""
        c = self.client()
        try:
            node = c.nodes_manager.get_node_from_slot(c.keyslot(name))
            return next(n for n in self.nodes if n.port == node.port)
        finally:
            c.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def cluster_fixture() -> Any:
    """A module-scoped fixture: `redis_cluster = cluster_fixture()` in a test module."""

    @pytest.fixture(scope="module")
    def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
        require_redis_py()
        binary = redis_server_binary()
        cli = shutil.which("redis-cli")
        if binary is None or cli is None:
            pytest.skip("redis-server/redis-cli are not installed (scripts/setup installs them)")
        for attempt in (1, 2):  # a port taken between its check and its use: once more
            cluster = RedisCluster(binary, cli, tmp_path_factory.mktemp("cluster"))
            try:
                cluster.start()
                break
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                cluster.stop()
                if attempt == 2:
                    raise
                print(f"the cluster did not start ({exc}); trying again on other ports")
        try:
            yield cluster
        finally:
            cluster.stop()

    return redis_cluster
