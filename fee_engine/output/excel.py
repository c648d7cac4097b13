"""Workbooks for finance (``vedtak.xlsx``, ``endringer.xlsx``, ``fakturagrunnlag.xlsx``), laid out with XlsxWriter.

XlsxWriter makes the workbook: styles, the front sheet, and each table's sheet with its columns, header,
filter and total row. The table rows themselves are written in bulk by :mod:`.sheetdata` when the book is
closed (XlsxWriter's call per cell took 94 s for a 100 000-child ``vedtak.xlsx``), one block of rows
at a time, so memory stays flat however many children a run has. What Norwegian finance gets:

* readable Norwegian headers (:mod:`fee_engine.output.navn`), bold on blue, frozen, with a filter;
* amounts as numbers with the format ``#,##0 "kr"`` (US-locale codes, which Norwegian Excel
  shows as «1 234 kr»), counts and years as numbers, months as real dates shown as ``mmm yyyy``;
* every text cell written as text (an inline string): a value such as ``=HYPERLINK(…)`` from the
  enrollment file stays text and never becomes a formula;
* ``forklaring`` and other long text wrapped in wide columns;
* a total row under each table (``SUBTOTAL``, so it follows the filter; the value as computed is
  stored with it, for readers that do not calculate);
* a table longer than Excel's 1 048 576 rows continued on «Name (2)», «Name (3)» …;
* a front sheet (Forside) with the totals, the run's sources and warnings, and what each sheet holds.

XlsxWriter is used through its public API; :mod:`.sheetdata` reads the shape of the sheet XML it wrote
(the header row, the columns' styles, the dimension) to put the rows in. Each table column's format is
its column format too, so a value typed into the column later looks like the rest.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..steg import STEGKOLONNER
from .navn import overskrift
from .sheetdata import Data, Part, fill
from .summary import totals

KR = '#,##0 "kr"'
COUNT = "#,##0"
PLAIN = "0"
MONTH = "mmm yyyy"
EXCEL_MAX_ROWS = 1_048_576
HEADER_BLUE = "#305496"
EXCEL_EPOCH = np.datetime64("1899-12-30", "D")

MONEY_COLUMNS = {
    *STEGKOLONNER,
    "belop",
    "husholdningsinntekt",
    "belop_a",
    "belop_b",
    "differanse",
    "inntekt_a",
    "inntekt_b",
    "reduksjon",
}
COUNT_COLUMNS = {"barn", "manuell", "husholdninger_bedre", "husholdninger_verre", "linjer"}
PLAIN_NUMBER_COLUMNS = {"inntektsaar", "rad"}  # numbers without a thousands separator
MONTH_COLUMNS = {"maaned", "fra_maaned", "til_maaned"}
WRAPPED = {"forklaring", "aarsak", "manuell_grunn"}
WIDTHS = {
    "forklaring": 100,
    "manuell_grunn": 45,
    "aarsak": 60,
    "institusjon": 26,
    "forklaring_kode": 34,
    "steg": 34,
    "verdi": 18,
    "betaler_fnr": 14,
    "kommunenummer": 11,
}


class Book:
    """An XlsxWriter workbook in constant-memory mode and the cell formats this project uses."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parts: dict[str, Part] = {}  # sheet name → the table rows that go under its header
        self._small = io.BytesIO()  # the workbook without those rows
        import xlsxwriter  # here, not at the top: a run without a workbook does not load it (30 ms of every start)

        self.wb = xlsxwriter.Workbook(
            self._small,
            {
                "constant_memory": True,
                # text stays text: no formulas, links or numbers made from strings
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self.wb.set_properties({"title": path.stem, "comments": "fee-engine"})
        top = {"valign": "top"}
        self.header = self.wb.add_format(
            {"bold": True, "font_color": "#FFFFFF", "bg_color": HEADER_BLUE, "text_wrap": True, "valign": "top"}
        )
        self.text = self.wb.add_format(top)
        self.wrap = self.wb.add_format({**top, "text_wrap": True})
        self.kr = self.wb.add_format({**top, "num_format": KR})
        self.count = self.wb.add_format({**top, "num_format": COUNT})
        self.plain = self.wb.add_format({**top, "num_format": PLAIN})
        self.month = self.wb.add_format({**top, "num_format": MONTH})
        self.bold = self.wb.add_format({"bold": True})
        self.total_label = self.wb.add_format({"bold": True, "top": 1})
        self.total_kr = self.wb.add_format({"bold": True, "top": 1, "num_format": KR})
        self.total_count = self.wb.add_format({"bold": True, "top": 1, "num_format": COUNT})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.names: set[str] = set()

    def sheet(self, name: str) -> Any:
        name = name[:31]
        self.names.add(name)
        return self.wb.add_worksheet(name)

    def close(self) -> Path:
        self.wb.close()
        return fill(self._small.getvalue(), self.path, self.parts)


# -- columns ------------------------------------------------------------------------------------
@dataclass
class Column:
    name: str
    kind: str  # text, kr, count, plain, month
    data: Data  # the values as numbers (NaN = an empty cell) or texts (None = an empty cell)
    width: float


def _kind(name: str, s: pd.Series) -> str:
    if name in MONTH_COLUMNS:
        return "month"
    if name in MONEY_COLUMNS:
        return "kr"
    if name in PLAIN_NUMBER_COLUMNS:
        return "plain"
    if name in COUNT_COLUMNS or pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return "count"
    return "text"


def month_serials(s: pd.Series) -> np.ndarray:
    """``YYYY-MM`` text (or dates) as Excel date serial numbers of the month's first day (NaN where empty)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        d = s.to_numpy("datetime64[D]")
    else:
        d = pd.to_datetime(
            s.astype(object).where(s.notna() & (s.astype(str) != ""), None), format="%Y-%m", errors="coerce"
        ).to_numpy("datetime64[D]")
    out = (d - EXCEL_EPOCH).astype("timedelta64[D]").astype(np.float64)
    out[np.isnat(d)] = np.nan
    return out


def _numbers(s: pd.Series) -> np.ndarray:
    """Numbers as float64, NaN where a value is missing, empty or not a number."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    num = pd.to_numeric(s.astype(object).where(s.astype(str) != "", None), errors="coerce")
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _texts(s: pd.Series) -> np.ndarray:
    """Texts as str objects, None where a value is missing or empty."""
    a = s.astype(object).to_numpy(copy=True)
    a[pd.isna(a)] = None
    if pd.api.types.infer_dtype(a, skipna=True) not in ("string", "empty"):
        a = np.array([v if v is None or type(v) is str else str(v) for v in a], dtype=object)
    a[a == ""] = None
    return a


def column(name: str, s: pd.Series) -> Column:
    kind = _kind(name, s)
    if kind == "month":
        data = Data("number", month_serials(s))
    elif kind == "text":
        data = Data("text", _texts(s))
    else:
        data = Data("number", _numbers(s))
    width = WIDTHS.get(name) or max({"kr": 14}.get(kind, 10), min(len(overskrift(name)) + 3, 30))
    return Column(name, kind, data, width)


# -- tables ---------------------------------------------------------------------------------------
@dataclass
class Totals:
    """The row under a table: ``sum`` columns added up (SUBTOTAL 109), or the number of rows (SUBTOTAL 103)."""

    label: str = "Sum"
    sum: list[str] = field(default_factory=list)
    count: bool = False


def sum_totals(df: pd.DataFrame) -> Totals:
    return Totals("Sum", [c for c in df.columns if c in MONEY_COLUMNS or c in COUNT_COLUMNS])


def write_table(
    book: Book, title: str, df: pd.DataFrame, tick: Callable[[int], None] | None = None, total: Totals | None = None
) -> list[str]:
    """``df`` on one sheet, continued on «title (2)» … past Excel's row limit; returns the sheet names."""
    cols = [column(c, df[c]) for c in df.columns]
    chunk = EXCEL_MAX_ROWS - 1 - (2 if total else 0)  # the header, and a blank row and the total row
    n = len(df)
    names = []
    for i, start in enumerate(range(0, max(n, 1), chunk)):
        name = title if i == 0 else f"{title} ({i + 1})"
        names.append(name)
        ws = book.sheet(name)
        _write_part(book, ws, cols, start, min(start + chunk, n), df, total, tick)
    return names


def _format(book: Book, c: Column) -> Any:
    """The column's format, which each of its cells has."""
    number = {"kr": book.kr, "count": book.count, "plain": book.plain, "month": book.month}.get(c.kind)
    return number or (book.wrap if c.name in WRAPPED else book.text)


def _write_part(
    book: Book,
    ws: Any,
    cols: list[Column],
    start: int,
    stop: int,
    df: pd.DataFrame,
    total: Totals | None,
    tick: Callable[[int], None] | None,
) -> None:
    for j, c in enumerate(cols):
        ws.set_column(j, j, c.width, _format(book, c))
        ws.write_string(0, j, overskrift(c.name), book.header)
    ws.freeze_panes(1, 0)
    rows = stop - start
    ws.autofilter(0, 0, max(rows, 1), max(len(cols) - 1, 0))
    if rows and cols:  # the rows go under the header when the workbook is closed (sheetdata)
        book.parts[ws.get_name()] = Part([c.data for c in cols], start, stop, tick)
    if total and cols:
        _write_total(book, ws, cols, df.iloc[start:stop], rows, total)


def _write_total(book: Book, ws: Any, cols: list[Column], part: pd.DataFrame, rows: int, total: Totals) -> None:
    from xlsxwriter.utility import xl_rowcol_to_cell

    r = rows + 2  # one blank row below the data, outside the filter
    first, last = 1, max(rows, 1)
    if total.count:
        ws.write_string(r, 0, total.label, book.total_label)
        rng = f"{xl_rowcol_to_cell(first, 0)}:{xl_rowcol_to_cell(last, 0)}"
        ws.write_formula(r, 1, f"=SUBTOTAL(103,{rng})", book.total_count, rows)
        return
    ws.write_string(r, 0, total.label, book.total_label)
    for j, c in enumerate(cols):
        if c.name not in total.sum or j == 0:
            continue
        rng = f"{xl_rowcol_to_cell(first, j)}:{xl_rowcol_to_cell(last, j)}"
        value = int(pd.to_numeric(part[c.name], errors="coerce").fillna(0).sum())
        fmt = book.total_kr if c.kind == "kr" else book.total_count
        ws.write_formula(r, j, f"=SUBTOTAL(109,{rng})", fmt, value)


# -- the front sheet ------------------------------------------------------------------------------
FRONT_LABELS = {
    "periode": "Periode",
    "regelsett": "Regelsett (versjon)",
    "regelsett_mappe": "Regelsettets mappe",
    "innskriving": "Innskrivingsfil",
    "skattekilde": "Skattegrunnlag fra",
    "laget": "Laget",
    "rader_inn": "Rader i innskrivingsfilen",
    "rader_beregnet": "Rader beregnet",
    "rader_avvist": "Rader avvist",
    "rader_utenfor_perioden": "Rader utenfor perioden",
    "merknader": "Merknader",
    "oppslag": "Oppslag i skattegrunnlaget",
    "advarsler": "Advarsler",
}


@dataclass
class FrontLine:
    label: str
    value: Any = None
    kind: str = "auto"  # auto, kr


def write_front(
    book: Book,
    title: str,
    lines: Iterable[FrontLine | None],
    sheets: dict[str, str] | None = None,
    name: str = "Forside",
) -> None:
    """A title, label–value lines (``None`` = a blank line; a list value = one line each), the sheets."""
    ws = book.sheet(name)
    ws.set_column(0, 0, 32)
    ws.set_column(1, 1, 120, book.wrap)
    ws.write_string(0, 0, title, book.title)
    r = 2
    for line in lines:
        if line is None:
            r += 1
            continue
        ws.write_string(r, 0, line.label, book.bold)
        value = line.value
        if isinstance(value, list):
            if not value:
                ws.write_string(r, 1, "(ingen)")
            for k, v in enumerate(value):
                ws.write_string(r + k, 1, str(v), book.wrap)
            r += max(len(value), 1)
            continue
        if isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, (int, np.integer, float)):
            ws.write_number(r, 1, value, book.kr if line.kind == "kr" else book.count)
        else:
            ws.write_string(r, 1, str(value), book.wrap)
        r += 1
    if sheets:
        r += 1
        ws.write_string(r, 0, "Arkene", book.bold)
        for k, (sheet, what) in enumerate(sheets.items()):
            ws.write_string(r + k, 1, f"{sheet}: {what}", book.wrap)


def meta_lines(meta: dict[str, Any]) -> list[FrontLine]:
    return [FrontLine(FRONT_LABELS.get(k, k), v) for k, v in meta.items()]


# -- vedtak.xlsx ----------------------------------------------------------------------------------
SHEETS = {
    "Vedtak": "ett vedtak per barn og periode med samme beløp, med hele beregningen (forklaring)",
    "Månedlig": "ett beløp per barn og måned, som maanedlig.csv (over 1 048 576 rader: «Månedlig (2)» …)",
    "Oppsummering": "per enhet og måned: barn, ordinær pris, reduksjonene, manuelle og beløpet å fakturere",
    "Avvist og manuell": "avviste rader i innskrivingsfilen og barn som venter på saksbehandler",
}


def problems_table(rejected: pd.DataFrame, manual: pd.DataFrame) -> pd.DataFrame:
    cols = ["type", "rad", "kolonne", "verdi", "aarsak"]
    return pd.concat(
        [
            rejected.assign(type="avvist rad")[cols],
            manual.assign(
                type="manuell", rad=pd.NA, kolonne="", verdi=manual["barn_id"], aarsak=manual["manuell_grunn"]
            )[cols],
        ],
        ignore_index=True,
    )


def write_workbook(
    path: Path,
    *,
    meta: dict[str, Any],
    vedtak: pd.DataFrame,
    monthly: pd.DataFrame,
    summary: pd.DataFrame,
    rejected: pd.DataFrame,
    manual: pd.DataFrame,
    tick: Callable[[int], None] | None = None,
) -> Path:
    t = totals(monthly)
    book = Book(path)
    front = [
        FrontLine("Barn med vedtak", t["barn"]),
        FrontLine("Til manuell behandling", t["barn_manuell"]),
        FrontLine("Barn-måneder", len(monthly)),
        FrontLine("Ordinær pris i perioden", t["ordinaer_pris"], "kr"),
        FrontLine("Å fakturere i perioden", t["belop"], "kr"),
        None,
        *meta_lines(meta),
    ]
    write_front(book, "Foreldrebetaling: vedtak og fakturagrunnlag", front, SHEETS)
    write_table(book, "Vedtak", vedtak, tick, Totals("Antall vedtak", count=True))
    write_table(book, "Månedlig", monthly.drop(columns=["flagg"], errors="ignore"), tick, sum_totals(monthly))
    write_table(book, "Oppsummering", summary, total=sum_totals(summary))
    write_table(book, "Avvist og manuell", problems_table(rejected, manual), total=Totals("Antall", count=True))
    return book.close()
