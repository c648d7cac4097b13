"""The CSV writer's own formatting (:func:`fee_engine.output.csv.csv_bytes`) against pandas' ``to_csv`` as the
oracle: for any table of the kinds it handles, in both dialects, the same bytes; and a table of another kind is
left to pandas."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fee_engine.output import csv as csv_out

# Text with what a CSV writer must care about: separators, quotes, line breaks, formula starts, non-ASCII.
TEXT = st.text(alphabet=st.sampled_from(list(";,\"\r\n\t=+-@ 'aæøå–0") + ["x"]), max_size=8)
PLAIN = st.one_of(TEXT, st.integers(-(10**12), 10**12), st.none(), st.just(pd.NA))


@st.composite
def tables(draw):
    rows = draw(st.integers(0, 6))
    columns = {}
    for i in range(draw(st.integers(2, 5))):
        kind = draw(st.sampled_from(["int", "bool", "str", "object", "text"]))
        name = draw(st.sampled_from([f"k{i}", f"k{i};x", f'k"{i}', f"=k{i}"]))
        if kind == "int":
            dtype = draw(st.sampled_from([np.int64, np.int32, np.int8, np.uint16]))
            info = np.iinfo(dtype)
            ints = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=rows, max_size=rows))
            values = pd.Series(np.array(ints, dtype=dtype))
        elif kind == "bool":
            values = pd.Series(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)), dtype=bool)
        elif kind == "str":  # pandas' own text dtype, with missing values
            values = pd.Series(draw(st.lists(st.one_of(TEXT, st.none()), min_size=rows, max_size=rows)), dtype="str")
        elif kind == "text":
            values = pd.Series(draw(st.lists(TEXT, min_size=rows, max_size=rows)), dtype=object)
        else:  # an object column mixing text, whole numbers and missing values (as husholdningsinntekt)
            values = pd.Series(draw(st.lists(PLAIN, min_size=rows, max_size=rows)), dtype=object)
        columns[f"{len(columns)}{name}"] = values
    return pd.DataFrame(columns)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from(["excel", "maskin"]))
def test_own_writer_writes_what_pandas_writes(df, name):
    d = csv_out.dialect(name)
    assert csv_out.csv_bytes(df, d) == csv_out.by_pandas(df, d)


def test_the_fast_path_is_taken_and_other_kinds_go_to_pandas(monkeypatch):
    calls = []
    real = csv_out.by_pandas
    monkeypatch.setattr(csv_out, "by_pandas", lambda df, d: calls.append(list(df.columns)) or real(df, d))
    d = csv_out.dialect("excel")
    plain = pd.DataFrame({"a": ["x", "=1"], "b": [1, 2]})
    assert csv_out.csv_bytes(plain, d) == b"a;b\r\nx;1\r\n'=1;2\r\n" and calls == []
    note = "=SUM(1;2)"  # one object on three rows (as a note spread to its rows): formatted once, the same each time
    spread = pd.DataFrame({"a": np.array([note, note, "y", note], dtype=object), "b": [1, 2, 3, 4]})
    assert csv_out.csv_bytes(spread, d) == b'a;b\r\n"\'=SUM(1;2)";1\r\n"\'=SUM(1;2)";2\r\ny;3\r\n"\'=SUM(1;2)";4\r\n'
    assert calls == []
    for other in (
        pd.DataFrame({"a": ["x", "y"], "b": [1.5, 2.0]}),  # floats
        pd.DataFrame({"a": ["x", "y"], "b": pd.to_datetime(["2024-08-01", "2024-09-01"])}),  # dates
        pd.DataFrame({"a": ["x", "y"], "b": pd.array([1, None], dtype="Int64")}),  # nullable integers
        pd.DataFrame({"a": ["x", "y"], "b": [True, 1]}),  # a bool among objects (True == 1 to a hash table)
        pd.DataFrame({"a": ["", "y"]}),  # one column: the csv module quotes a lone empty field
    ):
        calls.clear()
        assert csv_out.csv_bytes(other, d) == real(other, d)
        assert calls == [list(other.columns)]


@pytest.mark.parametrize("name", ["excel", "maskin"])
def test_expanded_months_equal_the_expanded_table(name, tmp_path):
    """write_expanded puts each run's line once per month, the month column anywhere in the row."""
    d = csv_out.dialect(name)
    runs = pd.DataFrame({"maaned": ["", "", ""], "id": ["a;1", "b", "=c"], "n": [1, 2, 3]})
    first = np.array(["2024-08", "2024-12", "2025-01"], dtype="datetime64[M]")
    length = np.array([2, 1, 3])
    rows = [
        (str(m), i, n)
        for (i, n), f, k in zip(runs[["id", "n"]].itertuples(index=False), first, length)
        for m in np.arange(f, f + k)
    ]
    # 2 + 1 + 3 = 6 monthly rows: a 2024-08, 2024-09; b 2024-12; =c 2025-01, 2025-02, 2025-03
    expanded = pd.DataFrame(rows, columns=["maaned", "id", "n"])
    assert len(expanded) == 6
    for order in (["maaned", "id", "n"], ["id", "maaned", "n"], ["id", "n", "maaned"]):
        csv_out.write_expanded(runs[order], "maaned", first, length, tmp_path / "fast.csv", d, lambda: None)
        csv_out.write_csv(expanded[order], tmp_path / "slow.csv", d)
        assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.data(), st.sampled_from(["excel", "maskin"]))
def test_expanded_months_equal_the_expanded_table_for_any_runs(df, data, name):
    """write_expanded, which writes each distinct run's fields once, against writing the table expanded to one row
    per month: runs that repeat one another (as a child's runs do), missing values, the month anywhere in the row,
    runs of no month."""
    d = csv_out.dialect(name)
    n = len(df)
    picks = data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=8)) if n else []
    runs = df.iloc[picks].reset_index(drop=True)  # rows repeated, in any order
    at = data.draw(st.integers(0, len(runs.columns)))
    runs.insert(at, "maaned", "")
    first = np.array(
        [np.datetime64("2024-08", "M") + data.draw(st.integers(0, 14)) for _ in picks], dtype="datetime64[M]"
    )
    length = np.array([data.draw(st.integers(0, 3)) for _ in picks], dtype=np.int64)
    line = np.repeat(np.arange(len(picks)), length)  # each monthly row's run
    within = np.arange(len(line)) - np.repeat(np.cumsum(length) - length, length)
    expanded = runs.iloc[line].reset_index(drop=True)
    expanded["maaned"] = [str(m) for m in first[line] + within]
    with TemporaryDirectory() as tmp:
        fast, slow = Path(tmp) / "fast.csv", Path(tmp) / "slow.csv"
        csv_out.write_expanded(runs, "maaned", first, length, fast, d, lambda: expanded)
        csv_out.write_csv(expanded, slow, d)
        assert fast.read_bytes() == slow.read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=5), st.data(), st.sampled_from(["excel", "maskin"]))
def test_a_column_given_by_numbers_and_texts_is_written_as_the_column(texts, data, name):
    """A text column given as each row's number and the texts of the numbers (the explanations of vedtak.csv; a
    text may have several numbers): the same bytes as the column itself."""
    d = csv_out.dialect(name)
    numbers = np.array(data.draw(st.lists(st.integers(0, len(texts) - 1), max_size=8)), dtype=np.int64)
    distinct = np.array(texts, dtype=object)
    df = pd.DataFrame({"id": np.arange(len(numbers)), "tekst": pd.Series(distinct[numbers], dtype=object)})
    with TemporaryDirectory() as tmp:
        given, plain = Path(tmp) / "given.csv", Path(tmp) / "plain.csv"
        written = csv_out.write_first_part([(df, {"tekst": (numbers, distinct)})], given, d)
        assert written == csv_out._own_kinds(df, d)  # else (a lone carriage return here) pandas writes the table
        csv_out.write_csv(df, plain, d)
        if written:
            assert given.read_bytes() == plain.read_bytes()
