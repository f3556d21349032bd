"""The Redis tier over TLS against Debian's redis-server on its tls-port (plain port off), with
certificates the test makes with the openssl CLI: a CA, a server certificate for 127.0.0.1
(subjectAltName IP), a client certificate, and a second, unrelated CA. A round trip with
mutual TLS (sync, asyncio, the decorator); a client without a certificate is refused while the
server requires one (tls-auth-clients yes) and accepted when it is optional; a server
certificate from another CA fails verification. A refused cache fails open: reads are misses,
the decorator computes, a warning says what failed; the tls options are checked up front. And a
3+3 Redis Cluster speaking only TLS (tests/python/redis_cluster.py with certificates)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import twincache
from redis_server import RedisServer

SECRET = "tls-secret-0123456789abcdef"
T = 2.0  # a TLS handshake (RSA) on a loaded machine can take longer than the default 0.25 s


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout",
            f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}", cwd=d)  # fmt: skip


def make_cert(d: Path, name: str, ca: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt",
            "-extfile", f"{name}.ext", cwd=d)  # fmt: skip


class TlsServer(RedisServer):
    """redis-server with only its TLS port open (port 0 tls-port <free>)."""

    def __init__(self, binary: str, workdir: Path, certs: Path) -> None:
        super().__init__(binary, workdir)
        self.extra_args = ["--port", "0", "--tls-port", str(self.port),
                           "--tls-cert-file", str(certs / "server.crt"),
                           "--tls-key-file", str(certs / "server.key"),
                           "--tls-ca-cert-file", str(certs / "ca.crt"),
                           "--tls-auth-clients", "yes"]  # fmt: skip

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsServer, Path]]:
    pytest.importorskip("redis", reason="redis-py is not installed (pip install twincache[redis])")
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("redis-server or openssl is not installed (scripts/setup installs them)")
    certs = tmp_path_factory.mktemp("certs")
    make_ca(certs, "ca")
    make_ca(certs, "otherca")
    make_cert(certs, "server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    make_cert(certs, "client", "ca", "extendedKeyUsage=clientAuth\n")
    make_cert(certs, "othercl", "otherca", "extendedKeyUsage=clientAuth\n")
    server = TlsServer(binary, tmp_path_factory.mktemp("redis-tls"), certs)
    try:
        server.start()
    except RuntimeError as exc:
        if "TLS" in str(exc) and "not" in str(exc):
            pytest.skip(f"this redis-server was built without TLS: {exc}")
        raise
    try:
        yield server, certs
    finally:
        server.stop()


def mtls(certs: Path) -> dict[str, Any]:
    return {"ca": certs / "ca.crt", "cert": certs / "client.crt", "key": certs / "client.key"}


def admin(server: TlsServer, certs: Path) -> Any:
    import redis

    return redis.Redis(
        host="127.0.0.1", port=server.port, ssl=True, ssl_ca_certs=str(certs / "ca.crt"),
        ssl_certfile=str(certs / "client.crt"), ssl_keyfile=str(certs / "client.key"),
        socket_timeout=5,
    )  # fmt: skip


def test_round_trip_with_client_certificate(tls: tuple[TlsServer, Path]) -> None:
    server, certs = tls
    a = twincache.RedisCache(server.url, tls=mtls(certs), secret=SECRET, timeout=T, namespace="t1")
    b = twincache.RedisCache(server.url, tls=mtls(certs), secret=SECRET, timeout=T, namespace="t1")
    a.set("k", {"over": "tls"})
    a.set_many({i: i for i in range(10)})
    assert b.get("k") == {"over": "tls"} and b.get_many(range(10)) == {i: i for i in range(10)}
    assert len(b) == 11 and b.stats()["l2_errors"] == 0
    assert admin(server, certs).exists(a._name(twincache._redis.env.encode_key("k"))) == 1

    async def main() -> None:
        c = twincache.RedisCache(
            server.url, tls=mtls(certs), secret=SECRET, timeout=T, namespace="t1"
        )
        got = await c.aget("k")
        assert got == {"over": "tls"}, c.stats()
        await c.aset("k2", 2)
        assert b.get("k2") == 2
        await c.aclose()

    asyncio.run(main())
    calls: list[int] = []

    @twincache.cache(backend="redis", url=server.url, tls=mtls(certs), secret=SECRET, timeout=T)
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    assert double(4) == 8 and double.__wrapped__ is not None  # type: ignore[attr-defined]
    again = twincache.cache(
        backend="redis", url=server.url, tls=mtls(certs), secret=SECRET, timeout=T
    )(
        double.__wrapped__  # type: ignore[attr-defined]
    )
    assert again(4) == 8 and calls == [4]  # read back over TLS


def test_no_client_certificate_refused_then_optional(tls: tuple[TlsServer, Path]) -> None:
    import redis

    server, certs = tls
    only_ca = {"ca": str(certs / "ca.crt")}
    plain = redis.Redis.from_url(server.url, ssl_ca_certs=only_ca["ca"], socket_timeout=2)
    with pytest.raises(redis.ConnectionError, match=r"(?i)ssl"):  # the server hangs up
        plain.ping()
    cache = twincache.RedisCache(server.url, tls=only_ca, secret=SECRET, timeout=T, namespace="t2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache.set("k", 1)  # L1 only
        assert cache.get("absent") is None
    said = [str(w.message) for w in caught if "TLS connection to Redis failed" in str(w.message)]
    assert len(said) == 1 and "no client certificate was given" in said[0]  # once per cache
    assert cache.stats()["l2_errors"] >= 1 and cache.stats()["l2_sets"] == 0
    calls: list[int] = []

    def triple(x: int) -> int:
        calls.append(x)
        return 3 * x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = twincache.cache(backend="redis", url=server.url, tls=only_ca, secret=SECRET, timeout=T)(
            triple
        )
        assert f(2) == 6 and f(3) == 9 and calls == [2, 3]  # fail open: computed
    a = admin(server, certs)
    a.config_set("tls-auth-clients", "optional")
    try:
        ok = twincache.RedisCache(server.url, tls=only_ca, secret=SECRET, timeout=T, namespace="t2")
        ok.set("k", "no client cert")
        assert a.get(ok._name(twincache._redis.env.encode_key("k"))) is not None
        assert ok.stats()["l2_errors"] == 0 and ok.stats()["l2_sets"] == 1
    finally:
        a.config_set("tls-auth-clients", "yes")


def test_wrong_ca_fails_verification(tls: tuple[TlsServer, Path]) -> None:
    import redis

    server, certs = tls
    wrong = {"ca": certs / "otherca.crt", "cert": certs / "client.crt", "key": certs / "client.key"}
    plain = redis.Redis.from_url(server.url, ssl_ca_certs=str(wrong["ca"]), socket_timeout=2)
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        plain.ping()
    cache = twincache.RedisCache(server.url, tls=wrong, secret=SECRET, timeout=T, namespace="t3")
    with pytest.warns(RuntimeWarning, match="CERTIFICATE_VERIFY_FAILED"):
        assert cache.get("k") is None
    assert cache.stats()["l2_errors"] == 1
    # A client certificate the server's CA did not sign is refused too.
    stranger = {"ca": certs / "ca.crt", "cert": certs / "othercl.crt", "key": certs / "othercl.key"}
    refused = twincache.RedisCache(
        server.url, tls=stranger, secret=SECRET, timeout=T, namespace="t3"
    )
    with pytest.warns(RuntimeWarning, match="TLS connection to Redis failed"):
        refused.set("k", 1)
    assert refused.stats()["l2_sets"] == 0


def test_tls_options_checked(tls: tuple[TlsServer, Path]) -> None:
    import redis

    server, certs = tls
    with pytest.raises(ValueError, match=r"tls needs a rediss:// url"):
        twincache.RedisCache(
            "redis://127.0.0.1:1/0", tls={"ca": certs / "ca.crt"}, secret=SECRET, timeout=T
        )
    with pytest.raises(ValueError, match=r"tls\['cert'\] must name an existing file"):
        twincache.RedisCache(server.url, tls={"cert": certs / "nope.crt"}, secret=SECRET, timeout=T)
    with pytest.raises(ValueError, match=r"tls takes the keys ca, cert, key, check_hostname"):
        twincache.RedisCache(server.url, tls={"cafile": "x"}, secret=SECRET, timeout=T)
    with pytest.raises(TypeError, match=r"tls must be a dict"):
        twincache.RedisCache(server.url, tls="ca.crt", secret=SECRET, timeout=T)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tls\['ca'\] must be a path"):
        twincache.RedisCache(server.url, tls={"ca": 3}, secret=SECRET, timeout=T)
    with pytest.raises(ValueError, match=r"tls\['key'\] applies with tls\['cert'\]"):
        twincache.RedisCache(
            server.url, tls={"key": certs / "client.key"}, secret=SECRET, timeout=T
        )
    with pytest.raises(TypeError, match=r"tls applies with url only"):
        twincache.RedisCache(
            client=redis.Redis(socket_timeout=0.1), tls={}, secret=SECRET, timeout=T
        )
    with pytest.raises(ValueError, match=r"tls\['ca'\] must name an existing file"):
        twincache.cache(
            backend="redis", url=server.url, tls={"ca": "/nonexistent"}, secret=SECRET, timeout=T
        )
    # ssl options of a client passed in are the client's own.
    client = redis.Redis.from_url(
        server.url, ssl_ca_certs=str(certs / "ca.crt"), ssl_certfile=str(certs / "client.crt"),
        ssl_keyfile=str(certs / "client.key"), socket_timeout=0.25,
    )  # fmt: skip
    cache = twincache.RedisCache(client=client, secret=SECRET, timeout=T, namespace="t4")
    cache.set("k", "via client")
    assert twincache.RedisCache(
        server.url, tls=mtls(certs), secret=SECRET, timeout=T, namespace="t4"
    )["k"] == ("via client")
    assert os.path.exists(certs / "ca.crt")


def test_cluster_over_tls(tls: tuple[TlsServer, Path], tmp_path: Path) -> None:
    """A 3+3 cluster speaking only TLS (clients, bus, replication), client certificates
    required: round trips across slots, sync and async, and coherence on every primary."""
    from redis_cluster import RedisCluster

    server, certs = tls
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli is not installed (scripts/setup installs it)")
    cluster = RedisCluster(server.binary, cli, tmp_path, certs=certs)
    try:
        cluster.start()
        opts: dict[str, Any] = {"cluster": True, "tls": mtls(certs), "secret": SECRET}
        a = twincache.RedisCache(cluster.url, timeout=T, namespace="ctls", **opts)
        b = twincache.RedisCache(cluster.url, timeout=T, namespace="ctls", coherent=True, **opts)
        a.set_many({i: i for i in range(30)})
        assert b.get_many(range(30)) == {i: i for i in range(30)} and len(b) == 30
        assert b.wait_coherent(10)  # a TLS listener on each primary

        async def main() -> None:
            c = twincache.RedisCache(cluster.url, timeout=T, namespace="ctls", **opts)
            assert await c.aget_many(range(5)) == {i: i for i in range(5)}
            await c.aclear()
            await c.aclose()

        asyncio.run(main())
        assert len(a) == 0 and a.stats()["l2_errors"] == 0
    finally:
        cluster.stop()
