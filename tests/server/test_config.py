"""twincache-server's configuration: a bad flag or TWINCACHE_* value exits 2 with a message that
names the flag (or the variable) and the allowed range; flags win over variables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest

LIMIT = "an integer in [1, 9223372036854775807] or 'unlimited'"


def run(binary: Path, args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("TWINCACHE_")}
    e.update(env or {})
    p = subprocess.run(
        [str(binary), *args], env=e, capture_output=True, text=True, timeout=30, check=False
    )
    return p.returncode, p.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--max-items", "0"], {}, f"--max-items must be {LIMIT} (got '0')"),
        (["--max-items=-5"], {}, f"--max-items must be {LIMIT} (got '-5')"),
        ([], {"TWINCACHE_MAX_BYTES": "12k"}, f"TWINCACHE_MAX_BYTES must be {LIMIT} (got '12k')"),
        (
            ["--max-value-bytes", "99999999999999999999"],
            {},
            f"--max-value-bytes must be {LIMIT} (got '99999999999999999999')",
        ),
        (
            ["--default-ttl", "0"],
            {},
            "--default-ttl must be a number of seconds > 0 and <= 315360000, or 'none' (got '0')",
        ),
        (
            [],
            {"TWINCACHE_DEFAULT_TTL": "1e12"},
            "TWINCACHE_DEFAULT_TTL must be a number of seconds > 0 and <= 315360000, or 'none' "
            "(got '1e12')",
        ),
        (["--policy", "fifo"], {}, "--policy must be one of 'lru', 'tinylfu' (got 'fifo')"),
        (
            ["--listen", "127.0.0.1:70000"],
            {},
            "--listen must be HOST:PORT with PORT in [0, 65535] (got '127.0.0.1:70000')",
        ),
        (
            [],
            {"TWINCACHE_HTTP": "nohost"},
            "TWINCACHE_HTTP must be HOST:PORT with PORT in [0, 65535], or 'off' (got 'nohost')",
        ),
        (
            ["--shutdown-timeout", "-1"],
            {},
            "--shutdown-timeout must be a number of seconds in [0, 3600] (got '-1')",
        ),
        (
            ["--max-message-bytes", "10"],
            {},
            "--max-message-bytes must be an integer in [1024, 2147483647] (got '10')",
        ),
        (
            ["--log-level", "loud"],
            {},
            "--log-level must be one of 'debug', 'info', 'warn', 'error' (got 'loud')",
        ),
        (
            ["--name", "has space"],
            {},
            "--name must be 1 to 64 characters of [A-Za-z0-9_.:-] (got 'has space')",
        ),
        (
            ["--tls-cert", "/nonexistent.pem"],
            {},
            "--tls-cert must be a readable PEM file (got '/nonexistent.pem')",
        ),
        (["--api", "sync"], {}, "--api must be one of 'async', 'callback' (got 'sync')"),
        (
            [],
            {"TWINCACHE_IO_THREADS": "0"},
            "TWINCACHE_IO_THREADS must be an integer in [1, 64] (got '0')",
        ),
        (["--frobnicate"], {}, "unknown argument '--frobnicate' (see --help)"),
        (["--max-items"], {}, f"--max-items needs a value: {LIMIT}"),
    ],
)
def test_bad_value_exits_2_naming_it_and_its_range(
    server_bin: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    rc, err = run(server_bin, args, env)
    assert rc == 2
    assert err == f"twincache-server: {message}\n"


def test_tls_cert_without_key_exits_2(server_bin: Path, tmp_path: Path) -> None:
    pem = tmp_path / "c.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    rc, err = run(server_bin, ["--tls-cert", str(pem)])
    assert rc == 2
    assert "--tls-cert and --tls-key" in err and "must be given together" in err
    rc, err = run(server_bin, ["--tls-client-ca", str(pem)])
    assert rc == 2
    assert "--tls-client-ca (TWINCACHE_TLS_CLIENT_CA) needs --tls-cert and --tls-key" in err


def test_help_lists_every_flag_with_its_variable(server_bin: Path) -> None:
    p = subprocess.run([str(server_bin), "--help"], capture_output=True, text=True, check=False)
    assert p.returncode == 0
    for flag, var in [
        ("--listen", "TWINCACHE_LISTEN"),
        ("--http", "TWINCACHE_HTTP"),
        ("--max-items", "TWINCACHE_MAX_ITEMS"),
        ("--max-bytes", "TWINCACHE_MAX_BYTES"),
        ("--max-value-bytes", "TWINCACHE_MAX_VALUE_BYTES"),
        ("--default-ttl", "TWINCACHE_DEFAULT_TTL"),
        ("--policy", "TWINCACHE_POLICY"),
        ("--tls-cert", "TWINCACHE_TLS_CERT"),
        ("--tls-key", "TWINCACHE_TLS_KEY"),
        ("--tls-client-ca", "TWINCACHE_TLS_CLIENT_CA"),
        ("--api", "TWINCACHE_API"),
        ("--io-threads", "TWINCACHE_IO_THREADS"),
    ]:
        assert f"{flag} ({var})" in p.stdout


def test_variables_apply_and_flags_win(start_server: Any, stubs: Any) -> None:
    pb, pbg = stubs
    s = start_server(
        "--max-items",
        "7",
        env={
            "TWINCACHE_MAX_ITEMS": "3",
            "TWINCACHE_MAX_VALUE_BYTES": "99",
            "TWINCACHE_POLICY": "lru",
        },
    )
    with grpc.insecure_channel(s.target) as ch:
        st = pbg.CacheStub(ch).Stats(pb.StatsRequest())
    assert (st.max_items, st.max_value_bytes, st.policy) == (7, 99, "lru")


def test_address_in_use_exits_1(start_server: Any, server_bin: Path) -> None:
    s = start_server()
    rc, err = run(server_bin, ["--listen", f"127.0.0.1:{s.grpc_port}", "--http", "off"])
    assert rc == 1
    assert '"event":"start_failed"' in err and f"127.0.0.1:{s.grpc_port}" in err
