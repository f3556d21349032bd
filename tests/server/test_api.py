"""twincache-server through a real grpcio client: values, the error contract by status code,
batches, request ids, oversize messages and abrupt disconnects."""

from __future__ import annotations

import socket
from types import ModuleType
from typing import Any

import grpc
import pytest


@pytest.fixture
def api(start_server: Any, stubs: tuple[ModuleType, ModuleType]) -> Any:
    pb, pbg = stubs
    s = start_server("--max-value-bytes", "1000", "--max-bytes", "100000", "--max-items", "50")
    ch = grpc.insecure_channel(s.target)
    stub = pbg.CacheStub(ch)
    stub.pb = pb
    stub.server = s
    yield stub
    ch.close()


def code_of(fn: Any, req: Any, **kw: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        fn(req, timeout=10, **kw)
    return e.value.code(), e.value.details()


def test_set_get_delete_round_trip_bytes(api: Any) -> None:
    pb = api.pb
    key = b"\x00\xffbinary key\n"
    value = bytes(range(256))
    assert api.Get(pb.GetRequest(key=key)).found is False
    assert api.Set(pb.SetRequest(key=key, value=value)).updated is False
    got = api.Get(pb.GetRequest(key=key))
    assert (got.found, got.value) == (True, value)
    assert api.Set(pb.SetRequest(key=key, value=b"v2")).updated is True
    assert api.Get(pb.GetRequest(key=key)).value == b"v2"
    assert api.Delete(pb.DeleteRequest(key=key)).deleted is True
    # Delete is idempotent: OK again, deleted = false (no NOT_FOUND).
    assert api.Delete(pb.DeleteRequest(key=key)).deleted is False
    assert api.Get(pb.GetRequest(key=key)).found is False
    st = api.Stats(pb.StatsRequest())
    assert (st.hits, st.misses, st.inserts, st.updates, st.deleted) == (2, 2, 1, 1, 1)
    assert (st.items, st.max_items, st.max_bytes, st.max_value_bytes) == (0, 50, 100000, 1000)
    assert (st.policy, st.default_ttl_ms) == ("tinylfu", 0)


def test_empty_value_is_a_value(api: Any) -> None:
    pb = api.pb
    api.Set(pb.SetRequest(key=b"k", value=b""))
    got = api.Get(pb.GetRequest(key=b"k"))
    assert (got.found, got.value) == (True, b"")


@pytest.mark.parametrize("key", [b"", b"x" * 4097])
def test_bad_key_is_invalid_argument(api: Any, key: bytes) -> None:
    pb = api.pb
    for fn, req in [
        (api.Get, pb.GetRequest(key=key)),
        (api.Set, pb.SetRequest(key=key, value=b"v")),
        (api.Delete, pb.DeleteRequest(key=key)),
    ]:
        code, details = code_of(fn, req)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details == f"key must be 1 to 4096 bytes (got {len(key)})"
    assert api.Stats(pb.StatsRequest()).items == 0


def test_longest_key_is_accepted(api: Any) -> None:
    pb = api.pb
    api.Set(pb.SetRequest(key=b"k" * 4096, value=b"v"))
    assert api.Get(pb.GetRequest(key=b"k" * 4096)).value == b"v"


@pytest.mark.parametrize("ttl", [0, -1, 315360000001, 2**63 - 1])
def test_bad_ttl_is_invalid_argument_and_cache_unchanged(api: Any, ttl: int) -> None:
    pb = api.pb
    api.Set(pb.SetRequest(key=b"k", value=b"old"))
    code, details = code_of(api.Set, pb.SetRequest(key=b"k", value=b"new", ttl_ms=ttl))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == (
        f"ttl_ms must be 1 to 315360000000 when present (absent: the server's default) (got {ttl})"
    )
    assert api.Get(pb.GetRequest(key=b"k")).value == b"old"


def test_largest_ttl_is_accepted(api: Any) -> None:
    pb = api.pb
    api.Set(pb.SetRequest(key=b"k", value=b"v", ttl_ms=315360000000))
    assert api.Get(pb.GetRequest(key=b"k")).found


def test_oversize_value_is_resource_exhausted(api: Any) -> None:
    pb = api.pb
    api.Set(pb.SetRequest(key=b"k", value=b"old"))
    code, details = code_of(api.Set, pb.SetRequest(key=b"k", value=b"x" * 1001))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details == "value must be at most 1000 bytes (--max-value-bytes) (got 1001)"
    assert api.Get(pb.GetRequest(key=b"k")).value == b"old"
    api.Set(pb.SetRequest(key=b"k", value=b"x" * 1000))  # the limit itself is fine


def test_item_limit_evicts(api: Any) -> None:
    pb = api.pb
    for i in range(60):
        api.Set(pb.SetRequest(key=b"k%d" % i, value=b"v"))
    st = api.Stats(pb.StatsRequest())
    assert st.items == 50
    assert st.evicted_items == 10


def test_get_many_and_set_many(api: Any) -> None:
    pb = api.pb
    r = api.SetMany(
        pb.SetManyRequest(
            entries=[pb.SetRequest(key=b"a", value=b"1"), pb.SetRequest(key=b"b", value=b"2")]
        )
    )
    assert [x.updated for x in r.results] == [False, False]
    got = api.GetMany(pb.GetManyRequest(keys=[b"b", b"zz", b"a"]))
    assert [(x.found, x.value) for x in got.results] == [(True, b"2"), (False, b""), (True, b"1")]


def test_set_many_checks_every_entry_first(api: Any) -> None:
    pb = api.pb
    entries = [
        pb.SetRequest(key=b"a", value=b"1"),
        pb.SetRequest(key=b"b", value=b"2", ttl_ms=0),
    ]
    code, details = code_of(api.SetMany, pb.SetManyRequest(entries=entries))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("entries[1].ttl_ms must be 1 to 315360000000")
    assert api.Get(pb.GetRequest(key=b"a")).found is False  # nothing stored
    entries = [pb.SetRequest(key=b"a", value=b"1"), pb.SetRequest(key=b"b", value=b"x" * 2000)]
    code, details = code_of(api.SetMany, pb.SetManyRequest(entries=entries))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details == "entries[1].value must be at most 1000 bytes (--max-value-bytes) (got 2000)"
    assert api.Stats(pb.StatsRequest()).items == 0


def test_batches_name_the_bad_key_and_their_limit(api: Any) -> None:
    pb = api.pb
    code, details = code_of(api.GetMany, pb.GetManyRequest(keys=[b"a", b""]))
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "keys[1] must be 1 to 4096 bytes (got 0)",
    )
    code, details = code_of(api.GetMany, pb.GetManyRequest(keys=[b"k"] * 10001))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "keys must hold at most 10000 keys (got 10001)"


def test_oversize_message_is_resource_exhausted(start_server: Any, stubs: Any) -> None:
    pb, pbg = stubs
    s = start_server("--max-message-bytes", "2048", "--max-value-bytes", "unlimited")
    with grpc.insecure_channel(s.target) as ch:
        stub = pbg.CacheStub(ch)
        code, _ = code_of(stub.Set, pb.SetRequest(key=b"k", value=b"x" * 5000))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub.Stats(pb.StatsRequest()).items == 0
        stub.Set(pb.SetRequest(key=b"k", value=b"x" * 100))  # the server is still fine


def test_request_id_is_echoed_or_made(api: Any) -> None:
    pb = api.pb
    _, call = api.Get.with_call(pb.GetRequest(key=b"k"), metadata=[("x-request-id", "req-42")])
    assert dict(call.initial_metadata())["x-request-id"] == "req-42"
    _, call = api.Get.with_call(pb.GetRequest(key=b"k"))
    made = dict(call.initial_metadata())["x-request-id"]
    assert made and made != "req-42"
    # Not printable ASCII (a space): replaced by a new id.
    _, call = api.Get.with_call(pb.GetRequest(key=b"k"), metadata=[("x-request-id", "a b")])
    assert dict(call.initial_metadata())["x-request-id"] not in ("a b", made)


def test_abrupt_disconnects_leave_the_server_serving(api: Any) -> None:
    pb = api.pb
    port = api.server.grpc_port
    # A half-sent HTTP/2 preface, garbage, and a reset mid-frame.
    for payload in [b"PRI * HTTP/2.0\r\n", b"\x00" * 100, b"GET / HTTP/1.1\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(payload)
    # Calls whose client goes away around the reply (cancelled at once, or a deadline far too
    # short): each may or may not have completed; the server must not care.
    batch = pb.SetManyRequest(
        entries=[pb.SetRequest(key=b"k%d" % i, value=b"v") for i in range(40)]
    )
    for i in range(20):
        f = api.SetMany.future(batch, timeout=0.000001 if i % 2 else 10)
        f.cancel()
    api.Set(pb.SetRequest(key=b"alive", value=b"yes"))
    assert api.Get(pb.GetRequest(key=b"alive")).value == b"yes"


def test_default_ttl_is_reported(start_server: Any, stubs: Any) -> None:
    pb, pbg = stubs
    s = start_server("--default-ttl", "2.5", "--policy", "lru")
    with grpc.insecure_channel(s.target) as ch:
        st = pbg.CacheStub(ch).Stats(pb.StatsRequest())
    assert (st.default_ttl_ms, st.policy) == (2500, "lru")
