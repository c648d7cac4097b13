"""Property-based tests over enrollment reading: whatever a file holds, no traceback, and every row is
accounted for (rows in = rows accepted + rows rejected), with every echoed value free of a full fødselsnummer."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fee_engine.enrollment import read_enrollment
from fee_engine.errors import InputError
from fee_engine.identity import make_synthetic

F1 = make_synthetic(dt.date(1988, 1, 1), 1)
HEADER = [
    "barn_id",
    "barn_fodselsdato",
    "husholdning_id",
    "foresatt_fnr",
    "partner_fnr",
    "kommunenummer",
    "tilbud",
    "plass_prosent",
    "timer_per_uke",
    "trinn",
    "saerskilte_behov",
    "pris_maaned",
    "fra_dato",
    "til_dato",
    "soekt_redusert",
    "dokumentert_inntekt",
]
GOOD = ["A", "2021-03-10", "H1", F1, "", "0301", "barnehage", "100", "", "", "", "", "", "", "", ""]
NASTY = st.sampled_from(
    [
        "",
        " ",
        "1e308",
        "inf",
        "-1",
        "NaN",
        "1,500",
        "300.000",
        "٣",
        "\x00",
        "\r",
        "\t",
        '"',
        '"a;b"',
        ";",
        "=HYPERLINK(1)",
        "2024-13-45",
        "31.02.2024",
        "99999999999999999999",
        "ja",
        "JA",
        "nei",
        "sfo",
        "barnehage",
        "0301",
        F1,
        F1[:10],
        "12345678901",
        "Å",
        "æøå",
        "0",
        "100",
        "7",
        "8",
        "12,5",
    ]
)
CELL = st.one_of(NASTY, st.text(max_size=12))


def _accounted(enr) -> None:
    assert enr.n_rows == len(enr.rows) + enr.rejected_rows
    text = enr.rejections.to_csv() + enr.rows.drop(columns=["foresatt_fnr", "partner_fnr"]).to_csv()
    assert F1 not in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(CELL, min_size=0, max_size=20), min_size=1, max_size=6),
    sep=st.sampled_from([";", ",", "\t"]),
)
def test_any_rows_are_accounted_for(tmp_path, rows, sep):
    lines = [sep.join(HEADER)] + [sep.join(r) for r in rows] + [sep.join(GOOD)]
    p = tmp_path / "inn.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        enr = read_enrollment(p, {"0301"})
    except InputError:
        return  # a whole-file problem (e.g. a duplicated header made by a separator in a cell) is a clear error
    _accounted(enr)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_any_bytes_give_a_clear_error_or_rows(tmp_path, data):
    p = tmp_path / "inn.csv"
    p.write_bytes((";".join(HEADER) + "\n").encode() + data)
    try:
        enr = read_enrollment(p, {"0301"})
    except InputError as exc:
        assert not re.search(r"[0-9]{11}", str(exc))
        return
    _accounted(enr)


CELL = st.text(alphabet=st.sampled_from(["a", "Å", "1", " ", "\t", ";", ",", "\x00", "\ufeff", "-", "é"]), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(st.sampled_from(["a", "b", "c", "", " d"]), min_size=1, max_size=4),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=5), max_size=6),
    sep=st.sampled_from([";", ",", "\t"]),
    final_newline=st.booleans(),
)
def test_a_plain_file_split_in_one_pass_is_the_same_as_row_by_row(header, rows, sep, final_newline):
    """A file with no quotes is split into columns in one pass (``reading._plain``), when every line has the
    header's number of fields and something in it. Whatever the lines hold, the table (values, row numbers,
    problems) is the one the row-by-row reading gives, which reads every file."""
    from fee_engine.enrollment import reading

    text = "\n".join([sep.join(header)] + [sep.join(r) for r in rows]) + ("\n" if final_newline else "")
    if not text.strip():
        return
    fast = reading.split_csv(text)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(reading, "_plain", lambda *a: None)
        slow = reading.split_csv(text)
    assert slow.columns is None
    names = [f"k{i}" for i in range(len(fast.header))]
    assert fast.header == slow.header
    assert fast.row_numbers == slow.row_numbers
    assert fast.problems == slow.problems
    assert fast.frame(names).equals(slow.frame(names))
    assert len(fast.frame(names)) == len(fast.row_numbers)
    for k, column in enumerate(fast.columns or []):  # coded as pandas.factorize codes the column's texts
        codes, values = pd.factorize(slow.frame(names)[f"k{k}"].to_numpy(dtype=object))
        assert column.codes.tolist() == codes.tolist() and column.values.tolist() == values.tolist()


def test_a_plain_file_is_split_in_one_pass_and_any_other_row_by_row():
    """The one-pass split is taken for a plain file only; a quote, a short row or a blank row sends the file
    through the row-by-row reading (which names each problem)."""
    from fee_engine.enrollment import reading

    columns = reading.split_csv("a;b\n1;2\n3;4\n1;x\n").columns
    assert [(c.codes.tolist(), c.values.tolist()) for c in columns] == [
        ([0, 1, 0], ["1", "3"]),
        ([0, 1, 2], ["2", "4", "x"]),
    ]
    # two columns of the same name stay two columns, as read row by row (the callers refuse such a header)
    assert reading.split_csv("a;a\n1;2\n").frame(["a", "a"]).values.tolist() == [["1", "2"]]
    for text in ('a;b\n"1";2\n', "a;b\n1\n3;4\n", "a;b\n1;2\n;\n", "a;b\n1;2;3\n"):
        assert reading.split_csv(text).columns is None, text


def test_a_plain_files_cells_are_told_apart_by_every_byte_whatever_their_length():
    """The one-pass split codes each cell 8 bytes at a time: cells that differ only past the 8th or 16th byte, only
    in length, or in a letter of two bytes across a word's edge are different values; equal cells share a code."""
    from fee_engine.enrollment import reading

    cells = ["abcdefg", "abcdefgh", "abcdefghi", "abcdefgh", "abcdefghijklmnop", "abcdefghijklmnopq", "", "abcdefgå",
             "abcdefgæ", "abcdefgå", "  ", "abcdefghijklmnopq"]  # fmt: skip
    columns = reading.split_csv("x;y\n" + "".join(f"{c};{i}\n" for i, c in enumerate(cells))).columns
    assert columns is not None
    assert columns[0].texts().tolist() == cells
    # first appearances in order; the repeated "abcdefgh", "abcdefgå" and "abcdefghijklmnopq" share their first code
    assert columns[0].codes.tolist() == [0, 1, 2, 1, 3, 4, 5, 6, 7, 6, 8, 4]
    assert columns[1].values.tolist() == [str(i) for i in range(len(cells))]


def test_a_plain_files_long_cells_are_coded_cell_by_cell_to_the_same_table(monkeypatch):
    """A column with a cell longer than ``LONG_CELL`` bytes (free text) is coded cell by cell: the same codes and
    texts as the word-by-word coding and as the row-by-row reading."""
    from fee_engine.enrollment import reading

    long = "Merknad: " + "æ" * 40  # 89 bytes in UTF-8
    cells = [long, "kort", long + ".", long, ""]
    text = "x;y\n" + "".join(f"{c};{i}\n" for i, c in enumerate(cells))
    by_cell = reading.split_csv(text).columns
    monkeypatch.setattr(reading, "LONG_CELL", 1_000)
    by_word = reading.split_csv(text).columns
    monkeypatch.setattr(reading, "_plain", lambda *a: None)
    by_row = reading.split_csv(text).frame(["x", "y"])
    for columns in (by_cell, by_word):
        assert columns is not None
        assert columns[0].codes.tolist() == [0, 1, 2, 0, 3]
        assert columns[0].values.tolist() == [long, "kort", long + ".", ""]
        assert columns[0].texts().tolist() == by_row["x"].tolist()


@pytest.mark.parametrize("quote", ["", '"'])
def test_a_field_too_long_for_csv_stops_the_file_naming_the_line_with_or_without_quotes(quote):
    """A field of 200 000 characters (no enrollment value is; a file of something else) is refused naming its line,
    whether the file would be split in one pass or read row by row: not a traceback, not read by one path only."""
    from fee_engine.enrollment import reading

    text = f"a;b\n{quote}1{quote};2\n3;{'x' * 200_000}\n"
    with pytest.raises(InputError, match=r"^linje 3: et felt er lengre enn 131 072 tegn"):
        reading.split_csv(text)
