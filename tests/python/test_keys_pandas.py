"""pandas arguments keyed by content (docs/keys.md, "pandas objects"): a Series, DataFrame or Index
is keyed as a documented plain list (names, dtypes, index, the values' arrays), the same bytes in
native and pure mode; an object column keys by its elements or is a TypeError naming the argument;
pandas is never imported for other values."""

from __future__ import annotations

import decimal
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import twincache
from twincache import _keys
from twincache._backend import impl

pd = pytest.importorskip("pandas", reason="pandas (scripts/requirements-dev.txt) is not installed")


def key(value: Any) -> bytes:
    return impl.encode_key(value)


def test_a_dataframe_is_keyed_as_the_documented_list() -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    columns = ["pandas.Index", [None], [str(df.columns.dtype)], [["a", "b"]]]
    index = ["pandas.Index", [None], ["int64"], [np.array([0, 1], dtype=np.int64)]]
    values = [np.array([1, 2], dtype=np.int64), ["x", "y"]]
    plain = ["pandas.DataFrame", columns, ["int64", str(df["b"].dtype)], index, values]
    assert key(df) == key(plain)
    assert key(df) == _keys.encode(plain)


def test_a_series_and_an_index_are_keyed_as_the_documented_lists() -> None:
    s = pd.Series([1.5, 2.5], index=pd.Index(["p", "q"], name="k"), name="price")
    index = ["pandas.Index", ["k"], [str(s.index.dtype)], [["p", "q"]]]
    assert key(s) == key(["pandas.Series", "price", "float64", index, np.array([1.5, 2.5])])
    assert key(s.index) == key(index)
    mi = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["n", "l"])
    level_dtypes = [str(d) for d in mi.dtypes]
    plain = ["pandas.Index", ["n", "l"], level_dtypes, [np.array([1, 2]), ["a", "b"]]]
    assert level_dtypes[0] == "int64"
    assert key(mi) == key(plain)


def frames() -> list[Any]:
    """Pairwise different pandas values (and a plain list that is none of them)."""
    base = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})
    return [
        base,
        base.astype({"a": "float64"}),  # dtype
        base.rename(columns={"a": "c"}),  # column name
        base[["b", "a"]],  # column order
        base.set_axis([10, 11, 12]),  # index values
        base.rename_axis("row"),  # index name
        base.assign(b=[0.5, 1.5, 3.5]),  # one value
        base.iloc[:2],  # shape
        base["a"],  # a Series of the same column
        base["a"].rename("z"),  # its name
        base["a"].astype("Int64"),  # a nullable dtype
        base.index,  # an Index
        pd.Index([0, 1, 2], name="row"),
        pd.DataFrame({"a": pd.Categorical(["x", "y", "x"])}),
        pd.DataFrame({"a": ["x", "y", "x"]}),
        pd.DataFrame({"a": pd.to_datetime(["2024-01-01", "2024-01-02", "NaT"])}),
        pd.DataFrame(),
        pd.Series([], dtype="float64"),
        [1, 2, 3],
    ]


def test_different_content_gives_different_keys() -> None:
    values = frames()
    keys = [key(v) for v in values]
    assert len(set(keys)) == len(keys)


def test_native_and_pure_encoders_agree() -> None:
    for v in frames():
        assert key(v) == _keys.encode(v), repr(v)


def test_equal_content_gives_one_key() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})
    same = [
        df.copy(),
        pd.DataFrame.from_records([(1, 0.5), (2, 1.5), (3, 2.5)], columns=["a", "b"]),
        pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}, index=pd.Index([0, 1, 2])),
        pd.DataFrame({"b": [0.5, 1.5, 2.5], "a": [1, 2, 3]})[["a", "b"]],
    ]
    assert {key(x) for x in same} == {key(df)}
    # Strided column views of one 2-D block key as the columns' values in C order.
    block = pd.DataFrame(np.arange(6, dtype=np.int64).reshape(3, 2), columns=["x", "y"])
    split = pd.DataFrame({"x": np.array([0, 2, 4]), "y": np.array([1, 3, 5])})
    assert key(block) == key(split)


def test_object_columns_key_by_their_elements() -> None:
    a = pd.DataFrame({"o": [[1, 2], {"k": "v"}, None]}, dtype=object)
    b = pd.DataFrame({"o": [[1, 2], {"k": "v"}, None]}, dtype=object)
    c = pd.DataFrame({"o": [[1, 3], {"k": "v"}, None]}, dtype=object)
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_unkeyable_elements_are_a_type_error_naming_the_argument() -> None:
    @twincache.cache(maxsize=10)
    def report(frame: Any) -> int:
        return len(frame)

    bad = pd.DataFrame({"price": [decimal.Decimal("1.5")]})
    with pytest.raises(TypeError) as info:
        report(bad)
    message = str(info.value)
    assert "argument 'frame' of" in message
    assert "decimal.Decimal" in message
    with pytest.raises(TypeError, match="argument 'frame' of"):
        report(pd.Series([pd.Timestamp("2024-01-01", tz="UTC")]))  # tz-aware: Timestamps
    assert report.stats()["items"] == 0


def test_cached_functions_hit_on_equal_content() -> None:
    calls = []

    @twincache.cache(maxsize=10)
    def total(frame: Any, column: str) -> float:
        calls.append(1)
        return float(frame[column].sum())

    df = pd.DataFrame({"a": [1, 2, 3]})
    assert total(df, "a") == 6.0
    assert total(df.copy(), "a") == 6.0
    assert len(calls) == 1
    assert total(df.assign(a=[1, 2, 4]), "a") == 7.0
    assert len(calls) == 2
    assert total.invalidate(df.copy(), "a") is True
    assert total(df, "a") == 6.0
    assert len(calls) == 3
    assert total.stats()["hits"] == 1


def test_pandas_objects_nested_in_containers() -> None:
    df = pd.DataFrame({"a": [1, 2]})
    assert key({"f": df, "i": [df.index]}) == key({"i": [df.index.copy()], "f": df.copy()})
    assert key({"f": df}) != key({"f": df.assign(a=[1, 3])})


def test_pandas_is_not_imported_for_other_values() -> None:
    code = (
        "import sys, numpy as np\n"
        "from twincache._backend import impl\n"
        "impl.encode_key([1, 'a', {'k': (2.5, None)}, np.arange(3), b'x'])\n"
        "try:\n"
        "    impl.encode_key(1j)\n"
        "except TypeError:\n"
        "    pass\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ), cwd="/")
