"""The standard grpc.health.v1 service (grpcio-health-checking), the HTTP probes, /metrics parsed
with prometheus_client's text parser, JSON logs with request ids, and SIGTERM."""

from __future__ import annotations

import json
import socket
import time
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_service_serving_for_server_and_cache(start_server: Any) -> None:
    s = start_server()
    with grpc.insecure_channel(s.target) as ch:
        h = health_pb2_grpc.HealthStub(ch)
        for service in ["", "twincache.v1.Cache"]:
            r = h.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert r.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as e:
            h.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_http_probes(start_server: Any) -> None:
    s = start_server()
    assert s.http("/live") == (200, "application/json", '{"status":"live"}\n')
    assert s.http("/ready") == (200, "application/json", '{"status":"ready"}\n')
    status, _, body = s.http("/health")
    assert status == 200
    assert json.loads(body) == {"status": "ready", "items": 0, "bytes": 0}
    assert s.http("/nope")[0] == 404


def test_http_rejects_other_methods_and_garbage(start_server: Any) -> None:
    s = start_server()

    def raw(req: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", s.http_port), timeout=5) as sock:
            sock.sendall(req)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data

    assert raw(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    assert raw(b"hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    head = raw(b"HEAD /live HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
    assert s.http("/live")[0] == 200  # still serving


def test_metrics_follow_docs_metrics_md(
    start_server: Any, stubs: tuple[ModuleType, ModuleType]
) -> None:
    pb, pbg = stubs
    s = start_server("--max-items", "3", "--max-bytes", "100000", "--max-value-bytes", "500")
    with grpc.insecure_channel(s.target) as ch:
        c = pbg.CacheStub(ch)
        for i in range(5):
            c.Set(pb.SetRequest(key=b"k%d" % i, value=b"v" * 10))
        c.Get(pb.GetRequest(key=b"k4"))
        c.Get(pb.GetRequest(key=b"missing"))
        c.Delete(pb.DeleteRequest(key=b"k4"))
        with pytest.raises(grpc.RpcError):
            c.Get(pb.GetRequest(key=b""))
    status, ctype, text = s.http("/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    m = samples(text)
    cache = (("cache", "server"),)
    assert m[("twincache_sets_total", cache)] == 5
    assert m[("twincache_hits_total", cache)] == 1
    assert m[("twincache_misses_total", cache)] == 1
    assert m[("twincache_deletes_total", cache)] == 1
    assert m[("twincache_evictions_total", (("cache", "server"), ("reason", "max_items")))] == 2
    assert m[("twincache_evictions_total", (("cache", "server"), ("reason", "max_bytes")))] == 0
    assert m[("twincache_expirations_total", cache)] == 0
    assert m[("twincache_rejected_total", cache)] == 0
    assert m[("twincache_items", cache)] == 2
    assert m[("twincache_bytes", cache)] == 2 * (2 + 10 + 64)
    assert m[("twincache_max_items", cache)] == 3
    assert m[("twincache_max_bytes", cache)] == 100000
    assert m[("twincache_max_value_bytes", cache)] == 500
    assert m[("twincache_requests_total", (("code", "OK"), ("method", "Set")))] == 5
    assert m[("twincache_requests_total", (("code", "OK"), ("method", "Get")))] == 2
    assert m[("twincache_requests_total", (("code", "INVALID_ARGUMENT"), ("method", "Get")))] == 1
    assert m[("twincache_request_duration_seconds_count", (("method", "Get"),))] == 3
    assert (
        m[("twincache_request_duration_seconds_bucket", (("le", "+Inf"), ("method", "Set")))] == 5
    )
    assert m[("twincache_request_duration_seconds_count", (("method", "SetMany"),))] == 0
    buckets = [
        v
        for (name, labels), v in m.items()
        if name == "twincache_request_duration_seconds_bucket" and ("method", "Set") in labels
    ]
    assert len(buckets) == 14 and sorted(buckets) == buckets


def test_unlimited_limits_have_no_sample_and_name_is_the_label(start_server: Any) -> None:
    s = start_server("--max-items", "unlimited", "--max-bytes", "unlimited", "--name", "edge-1")
    m = samples(s.http("/metrics")[2])
    names = {name for name, _ in m}
    assert "twincache_max_items" not in names and "twincache_max_bytes" not in names
    assert m[("twincache_items", (("cache", "edge-1"),))] == 0
    assert m[("twincache_max_value_bytes", (("cache", "edge-1"),))] == 1048576


def test_json_logs_carry_the_request_id(start_server: Any, stubs: Any) -> None:
    pb, pbg = stubs
    s = start_server("--log-level", "debug")
    with grpc.insecure_channel(s.target) as ch:
        c = pbg.CacheStub(ch)
        c.Get(pb.GetRequest(key=b"k"), metadata=[("x-request-id", "trace-7")])
        with pytest.raises(grpc.RpcError):
            c.Set(pb.SetRequest(key=b"", value=b"v"), metadata=[("x-request-id", "trace-8")])
    assert s.stop() == 0
    logs = s.logs()
    assert all({"ts", "level", "event"} <= set(x) for x in logs)
    by_id = {x.get("request_id"): x for x in logs if x["event"] == "request"}
    assert by_id["trace-7"]["method"] == "Get" and by_id["trace-7"]["code"] == "OK"
    assert by_id["trace-8"]["code"] == "INVALID_ARGUMENT"
    assert by_id["trace-8"]["message"] == "key must be 1 to 4096 bytes (got 0)"
    assert [x["event"] for x in logs][-2:] == ["stopping", "stopped"]
    assert logs[-1]["drained"] is True


def test_info_level_does_not_log_successful_calls(start_server: Any, stubs: Any) -> None:
    pb, pbg = stubs
    s = start_server()
    with grpc.insecure_channel(s.target) as ch:
        pbg.CacheStub(ch).Get(pb.GetRequest(key=b"k"))
    assert s.stop() == 0
    assert [x["event"] for x in s.logs()] == ["listening", "stopping", "stopped"]


def test_sigterm_stops_serving_and_exits_0(start_server: Any, stubs: Any) -> None:
    pb, pbg = stubs
    s = start_server("--shutdown-timeout", "2")
    with grpc.insecure_channel(s.target) as ch:
        pbg.CacheStub(ch).Set(pb.SetRequest(key=b"k", value=b"v"))
    assert s.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.grpc_port), timeout=2).close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.http_port), timeout=2).close()


def test_listening_line_names_the_serving_mode(start_server: Any) -> None:
    s = start_server("--api", "async", "--io-threads", "3")
    assert (s.listening["api"], s.listening["io_threads"]) == ("async", 3)
    assert s.stop() == 0
    s = start_server(env={"TWINCACHE_API": "callback"})
    assert (s.listening["api"], s.listening["io_threads"]) == ("callback", 0)


@pytest.mark.parametrize("mode", ["async", "callback"])
def test_sigterm_with_calls_in_flight_drains(start_server: Any, stubs: Any, mode: str) -> None:
    """Hundreds of batch calls in flight when SIGTERM lands: each is answered or refused
    (never another error), the server reports a full drain and exits 0 within the timeout."""
    pb, pbg = stubs
    s = start_server("--api", mode, "--io-threads", "2", "--shutdown-timeout", "20")
    batch = pb.SetManyRequest(
        entries=[pb.SetRequest(key=b"k%d" % i, value=b"v" * 100) for i in range(200)]
    )
    with grpc.insecure_channel(s.target) as ch:
        stub = pbg.CacheStub(ch)
        stub.SetMany(batch, timeout=10)  # connected and warm
        futures = [stub.SetMany.future(batch, timeout=30) for _ in range(300)]
        t0 = time.monotonic()
        assert s.stop(20) == 0  # SIGTERM, then the exit code
        elapsed = time.monotonic() - t0
        codes: dict[str, int] = {}
        for f in futures:
            e = f.exception()
            name = "OK" if e is None else e.code().name
            codes[name] = codes.get(name, 0) + 1
    assert set(codes) <= {"OK", "UNAVAILABLE", "CANCELLED"}, codes
    stopped = [x for x in s.logs() if x["event"] == "stopped"]
    assert stopped and stopped[0]["drained"] is True, s.lines
    assert elapsed < 15, elapsed
