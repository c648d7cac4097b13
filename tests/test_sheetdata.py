"""The workbook rows written in bulk (:mod:`fee_engine.output.sheetdata`) against XlsxWriter writing the same
cells one call at a time, as the oracle: for any table, every cell says the same thing (type, value, the
text's XML as written, the format a reader sees), block boundaries included."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from xlsxwriter.utility import xl_cell_to_rowcol

from fee_engine.output import excel, sheetdata

M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"

# What a sheet writer must care about: XML specials, control characters and Excel's own _xHHHH_ escapes,
# white space at the ends, non-ASCII and characters above U+FFFF, formula starts, long texts.
PIECE = st.text(
    alphabet=st.sampled_from(list("&<>\"' \t\n\r\x00\x01\x0b\x1f_x0A9Fz=+-@æøå–") + ["\U0001f600", "\ufffe", "\xa0"]),
    max_size=10,
)
TEXT = st.one_of(
    PIECE,
    st.sampled_from(["_x0041_", "_x005F_x0041_", " lead", "trail ", '=HYPERLINK("x")', ""]),
    st.builds(lambda s, k: s * k, st.sampled_from(["ab", "\U0001f600", "ø"]), st.integers(16_380, 16_400)),
)
NUMBER = st.one_of(
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, 0.5, 1e20, 2**53 + 1.0]),
)


@st.composite
def tables(draw):
    rows = draw(st.integers(0, 9))
    columns = {}
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["text", "mixed", "number", "int", "bool", "month"]))
        if kind == "text":
            name, values = f"t{i}", pd.Series(draw(st.lists(st.one_of(TEXT, st.none()), min_size=rows, max_size=rows)))
        elif kind == "mixed":  # an object column of text, numbers and missing values
            pick = st.one_of(PIECE, st.integers(-5, 5), st.none(), st.just(pd.NA), st.booleans())
            name, values = f"m{i}", pd.Series(draw(st.lists(pick, min_size=rows, max_size=rows)), dtype=object)
        elif kind == "number":
            name, values = "belop", pd.Series(draw(st.lists(NUMBER, min_size=rows, max_size=rows)), dtype=float)
        elif kind == "int":
            name, values = "barn", pd.Series(draw(st.lists(st.integers(-(2**62), 2**62), min_size=rows, max_size=rows)))
        elif kind == "bool":
            name, values = f"b{i}", pd.Series(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)), dtype=bool)
        else:
            months = st.one_of(st.sampled_from(["2024-08", "2025-07", "", "ikke en måned"]), st.none())
            name, values = "maaned", pd.Series(draw(st.lists(months, min_size=rows, max_size=rows)), dtype=object)
        columns[name if name not in columns else f"{name}{i}"] = values
    return pd.DataFrame(columns)


def old_values(name: str, s: pd.Series) -> list:
    """The cell values as the engine gave them to XlsxWriter before the rows were written in bulk: whole numbers
    as int, others as float, text as str, None for an empty cell."""
    kind = excel._kind(name, s)
    if kind == "text":
        t = s.astype(object).where(s.notna(), None).tolist()
        return [None if v is None or v == "" else (v if type(v) is str else str(v)) for v in t]
    if kind == "month":
        v = excel.month_serials(s)
    else:
        num = pd.to_numeric(s.astype(object).where(s.astype(str) != "", None), errors="coerce")
        v = num.to_numpy(dtype=np.float64, na_value=np.nan)
    whole = np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2**53)
    out = np.where(whole, v, 0).astype(np.int64).astype(object)
    frac = np.isfinite(v) & ~whole
    out[frac] = v[frac]
    out[~np.isfinite(v)] = None
    return out.tolist()


def one_call_a_cell(df: pd.DataFrame) -> bytes:
    """The oracle: the same sheet as excel.write_table lays it out, each cell written by XlsxWriter from the
    values as the engine converted them before."""
    book = excel.Book(excel.Path("unused"))  # only its XlsxWriter workbook (in memory) is used
    ws = book.sheet("T")
    cols = [excel.column(c, df[c]) for c in df.columns]
    for j, c in enumerate(cols):
        ws.set_column(j, j, c.width, excel._format(book, c))
        ws.write_string(0, j, c.name, book.header)
    writes = [ws.write_string if c.kind == "text" else ws.write_number for c in cols]
    values = [old_values(name, df[name]) for name in df.columns]
    for i in range(len(df)):  # row by row: XlsxWriter's constant-memory mode writes a row when the next begins
        for j, write in enumerate(writes):
            if values[j][i] is not None:
                write(i + 1, j, values[j][i])
    book.wb.close()
    return book._small.getvalue()


def bulk(df: pd.DataFrame, tmp_path) -> bytes:
    book = excel.Book(tmp_path / "t.xlsx")
    ws = book.sheet("T")
    cols = [excel.column(c, df[c]) for c in df.columns]
    for j, c in enumerate(cols):
        ws.set_column(j, j, c.width, excel._format(book, c))
        ws.write_string(0, j, c.name, book.header)
    if len(df):
        book.parts["T"] = sheetdata.Part([c.data for c in cols], 0, len(df))
    return book.close().read_bytes()


def cells(package: bytes) -> dict[tuple[int, int], tuple]:
    """Each written cell's type, value text and white-space attribute, as the sheet's XML holds them."""
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        root = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    out = {}
    for c in root.iter(f"{M}c"):
        t = c.find(f"{M}is/{M}t")
        v = c.find(f"{M}v")
        if t is None and v is None:
            continue  # an empty cell: nothing to see
        text = (t if t is not None else v).text or ""
        space = t.get("{http://www.w3.org/XML/1998/namespace}space") if t is not None else None
        out[xl_cell_to_rowcol(c.get("r"))] = (c.get("t"), text, space)
    return out


def seen(package: bytes) -> dict[tuple[int, int], tuple]:
    """What a reader sees: each cell's value, type, number format and alignment (an empty cell is not seen: the
    bulk rows write it as an empty cell with the column's format, XlsxWriter leaves it out)."""
    ws = load_workbook(io.BytesIO(package))["T"]
    return {
        (c.row, c.column): (c.value, c.data_type, c.number_format, c.alignment.wrap_text, c.alignment.vertical)
        for row in ws.iter_rows()
        for c in row
        if c.value is not None
    }


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(sheetdata, "BLOCK", 4)  # a table of 0–9 rows spans up to three blocks


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(df=tables())
def test_bulk_rows_say_what_xlsxwriter_writes(df, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("t")
    ours, oracle = bulk(df, tmp), one_call_a_cell(df)
    assert cells(ours) == cells(oracle)
    assert seen(ours) == seen(oracle)


def test_a_text_that_looks_like_rich_text_stays_text(tmp_path):
    # XlsxWriter writes a text that begins with <r> and ends with </r> unescaped (as rich text XML); a value
    # from an enrollment file must never become XML in the workbook
    evil = "<r><t>x</t></r></t></is></c></row></sheetData><sheetData></r>"
    df = pd.DataFrame({"merknad": [evil, "ok"]})
    ws = load_workbook(io.BytesIO(bulk(df, tmp_path)))["T"]
    assert [ws.cell(2, 1).value, ws.cell(3, 1).value] == [evil, "ok"]


def test_an_empty_cell_has_its_columns_format_and_rows_are_counted(tmp_path):
    df = pd.DataFrame({"belop": [1.0, np.nan, 3.0, np.nan, 5.0], "forklaring": ["a", None, "", "d", "e"]})
    book = excel.Book(tmp_path / "t.xlsx")
    told = []
    excel.write_table(book, "T", df, tick=told.append)
    book.close()
    ws = load_workbook(tmp_path / "t.xlsx")["T"]
    assert [ws.cell(r, 1).value for r in range(2, 7)] == [1, None, 3, None, 5]
    assert [ws.cell(r, 2).value for r in range(2, 7)] == ["a", None, None, "d", "e"]
    assert ws.cell(3, 1).number_format == '#,##0 "kr"' and ws.cell(3, 2).alignment.wrap_text  # the empty ones
    assert sum(told) == 5 and len(told) == 2  # blocks of 4 rows: 4 + 1


def test_zip64_only_for_a_sheet_past_the_zip_limit(tmp_path, monkeypatch):
    # zipfile writes an entry of unknown size without ZIP64 up to ZIP64_LIMIT; Excel is strict about ZIP64, so
    # only a sheet that passes the limit gets it (here the limit made small): known from its first block, or
    # found when a later block passes it (the workbook is then written again)
    limit = 2**20 + 50_000
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", limit)
    even = pd.DataFrame({"forklaring": [f"rad {i} " + "x" * 200 for i in range(6_000)], "belop": range(6_000)})
    late = pd.DataFrame({"forklaring": ["kort"] * 8 + [f"rad {i} " + "y" * 200 for i in range(6_000)]})
    small = pd.DataFrame({"belop": [7, 8]})
    path = tmp_path / "t.xlsx"
    path.touch()
    path.chmod(0o600)  # as the invoicing basis's workbook is made before it is written
    book = excel.Book(path)
    told: dict[str, list[int]] = {"Jevn": [], "Sen": []}
    excel.write_table(book, "Jevn", even, tick=told["Jevn"].append)
    excel.write_table(book, "Sen", late, tick=told["Sen"].append)
    excel.write_table(book, "Liten", small)
    writings = []
    real = sheetdata._fill
    monkeypatch.setattr(sheetdata, "_fill", lambda *a: writings.append(1) or real(*a))
    book.close()
    assert len(writings) == 2  # «Sen» looked small from its first block: written again
    with zipfile.ZipFile(path) as z:
        files = sheetdata._sheet_files(z)
        infos = [z.getinfo(files[n]) for n in ("Jevn", "Sen", "Liten")]
    assert [info.extra[:2] == b"\x01\x00" for info in infos] == [True, True, False]  # the ZIP64 extra field's id
    assert infos[0].file_size > limit and infos[1].file_size > limit
    wb = load_workbook(path)
    assert wb["Jevn"].cell(6_001, 1).value == "rad 5999 " + "x" * 200 and wb["Jevn"].cell(6_001, 2).value == 5_999
    assert wb["Sen"].cell(6_009, 1).value == "rad 5999 " + "y" * 200 and wb["Liten"].cell(3, 1).value == 8
    assert sum(told["Jevn"]) == 6_000 and sum(told["Sen"]) == 6_008  # counted once, not again when rewritten
    assert (path.stat().st_mode & 0o777) == 0o600 and not list(tmp_path.glob(".*"))  # its mode kept, nothing left


def test_a_failure_leaves_no_workbook_that_looks_finished(tmp_path, monkeypatch):
    path = tmp_path / "t.xlsx"
    book = excel.Book(path)
    excel.write_table(book, "T", pd.DataFrame({"belop": range(20)}))

    def broken(*a):
        raise OSError("disken er full")

    monkeypatch.setattr(sheetdata, "rows_xml", broken)
    with pytest.raises(OSError):
        book.close()
    assert list(tmp_path.iterdir()) == []


def test_the_sheets_dimension_holds_the_rows(tmp_path):
    # a reader that trusts <dimension> (openpyxl's read-only mode) sees every row, with or without a total row
    df = pd.DataFrame({"barn_id": [f"B{i}" for i in range(9)]})
    book = excel.Book(tmp_path / "t.xlsx")
    excel.write_table(book, "Uten", df)
    excel.write_table(book, "Med", df, total=excel.Totals("Antall", count=True))
    book.close()
    wb = load_workbook(tmp_path / "t.xlsx", read_only=True)
    assert wb["Uten"].max_row == 10 and wb["Uten"].calculate_dimension() == "A1:A10"
    assert wb["Med"].max_row == 12 and wb["Med"].calculate_dimension() == "A1:B12"  # the total row: 2 columns
    assert [r[0] for r in wb["Uten"].iter_rows(values_only=True)][-1] == "B8"
