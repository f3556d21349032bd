"""TLS and mTLS with certificates the test makes with openssl: a TLS client that trusts the CA
gets through, a plaintext client does not; under mTLS a client without a certificate (or with
one from another CA) is refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest

if shutil.which("openssl") is None:
    pytest.skip("openssl is not installed (Debian: openssl)", allow_module_level=True)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.pem",
        "-subj",
        f"/CN={name}",
        cwd=d,
    )


def make_leaf(d: Path, name: str, ca: str, server: bool) -> None:
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={name}",
        cwd=d,
    )
    ext = d / f"{name}.ext"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        if server
        else "extendedKeyUsage=clientAuth\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.pem",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        f"{name}.pem",
        "-extfile",
        ext.name,
        cwd=d,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_leaf(d, "server", "ca", server=True)
    make_leaf(d, "client", "ca", server=False)
    make_leaf(d, "stranger", "otherca", server=False)
    return d


def creds(pki: Path, client: str | None = None) -> grpc.ChannelCredentials:
    root = (pki / "ca.pem").read_bytes()
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=(pki / f"{client}.key").read_bytes(),
        certificate_chain=(pki / f"{client}.pem").read_bytes(),
    )


def call(target: str, stubs: Any, credentials: grpc.ChannelCredentials | None) -> Any:
    pb, pbg = stubs
    ch = (
        grpc.insecure_channel(target)
        if credentials is None
        else grpc.secure_channel(
            target, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
        )
    )
    with ch:
        stub = pbg.CacheStub(ch)
        stub.Set(pb.SetRequest(key=b"k", value=b"v"), timeout=10)
        return stub.Get(pb.GetRequest(key=b"k"), timeout=10)


def tls_args(pki: Path, mtls: bool) -> list[str]:
    a = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    return a + (["--tls-client-ca", str(pki / "ca.pem")] if mtls else [])


def test_tls(start_server: Any, stubs: Any, pki: Path) -> None:
    s = start_server(*tls_args(pki, mtls=False))
    assert s.listening["tls"] is True and s.listening["mtls"] is False
    assert call(s.target, stubs, creds(pki)).value == b"v"
    with pytest.raises(grpc.RpcError) as e:
        call(s.target, stubs, None)  # plaintext to a TLS port
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_requires_a_client_certificate_from_the_ca(
    start_server: Any, stubs: Any, pki: Path
) -> None:
    s = start_server(*tls_args(pki, mtls=True))
    assert s.listening["mtls"] is True
    assert call(s.target, stubs, creds(pki, "client")).value == b"v"
    for refused in [creds(pki), creds(pki, "stranger")]:
        with pytest.raises(grpc.RpcError) as e:
            call(s.target, stubs, refused)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_files_that_are_not_pem_exit_2(server_bin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    p = subprocess.run(
        [str(server_bin), "--tls-cert", str(bad), "--tls-key", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert p.returncode == 2
    assert p.stderr == f"twincache-server: --tls-cert must be a readable PEM file (got '{bad}')\n"


def tls_pair(pki: Path) -> list[str]:
    return ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "ca.pem")]


def test_pem_that_is_not_a_key_and_certificate_fails_to_start(server_bin: Path, pki: Path) -> None:
    # PEM blocks, but the CA certificate is no private key: the TLS stack refuses it at start.
    p = subprocess.run(
        [str(server_bin), "--listen", "127.0.0.1:0", "--http", "off", *tls_pair(pki)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert p.returncode == 1
    assert '"event":"start_failed"' in p.stderr
