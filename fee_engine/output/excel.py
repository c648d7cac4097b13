"""``vedtak.xlsx`` for finance, written with openpyxl in write-only mode.

Sheets: Forside (rule set, sources, warnings), Vedtak (one row per child and period),
Månedlig (one row per child and month; split over several sheets past Excel's
1 048 576 rows), Oppsummering (per institution and month), Avvist og manuell.
Amounts are real numbers with the format ``#,##0 "kr"`` (US-locale codes, which
Norwegian Excel shows as «1 234 kr»), months are real dates shown as ``mmm yyyy``,
headers are frozen and filtered, and columns get sensible widths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from .summary import totals

KR = '#,##0 "kr"'
MONTH = "mmm yyyy"
EXCEL_MAX_ROWS = 1_048_576
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")

MONEY_COLUMNS = {"ordinaer_pris", "saerskilte_behov_fritak", "etter_inntektsgrense", "inntektsreduksjon",
                 "soeskenmoderasjon", "gratis_timer", "belop", "husholdningsinntekt"}
MONTH_COLUMNS = {"maaned", "fra_maaned", "til_maaned"}
WIDE = {"forklaring": 100, "manuell_grunn": 60, "aarsak": 60, "institusjon": 26}


def _month(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y-%m").dt.date


class _Styled:
    """A cell template per number format, so each cell only copies a style reference."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.templates: dict[str, Any] = {}

    def cell(self, value: Any, fmt: str | None) -> Any:
        if fmt is None:
            return value
        c = WriteOnlyCell(self.ws, value)
        t = self.templates.get(fmt)
        if t is None:
            t = WriteOnlyCell(self.ws, None)
            t.number_format = fmt
            self.templates[fmt] = t
        c._style = t._style
        return c


def write_table(wb: Workbook, title: str, df: pd.DataFrame, tick: Callable[[int], None] | None = None) -> None:
    """One or more sheets for ``df`` (a new sheet every EXCEL_MAX_ROWS − 1 rows)."""
    chunk = EXCEL_MAX_ROWS - 1
    starts = range(0, max(len(df), 1), chunk)
    for i, start in enumerate(starts):
        part = df.iloc[start:start + chunk]
        ws = wb.create_sheet(title if i == 0 else f"{title} ({i + 1})")
        _write_sheet(ws, part, tick)


def _write_sheet(ws: Any, df: pd.DataFrame, tick: Callable[[int], None] | None) -> None:
    cols = list(df.columns)
    formats: list[str | None] = []
    data: list[np.ndarray] = []
    for c in cols:
        s = df[c]
        if c in MONTH_COLUMNS:
            formats.append(MONTH)
            data.append(np.asarray(_month(s), dtype=object))
        elif c in MONEY_COLUMNS:
            formats.append(KR)
            num = pd.to_numeric(s, errors="coerce")
            data.append(np.array([None if pd.isna(v) else int(v) for v in num], dtype=object))
        elif pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
            formats.append(None)
            data.append(s.astype(np.int64).to_numpy().astype(object))
        else:
            formats.append(None)
            data.append(s.astype(object).where(s.notna(), None).to_numpy())
    for i, c in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(i)].width = WIDE.get(c, max(12, min(len(c) + 4, 30)))
    ws.freeze_panes = "A2"
    last = get_column_letter(len(cols))
    ws.auto_filter.ref = f"A1:{last}{len(df) + 1}"
    styled = _Styled(ws)
    header = []
    for c in cols:
        h = WriteOnlyCell(ws, c)
        h.font, h.fill = _HEADER_FONT, _HEADER_FILL
        header.append(h)
    ws.append(header)
    n = len(df)
    for r in range(n):
        ws.append([styled.cell(col[r], fmt) if col[r] is not None else None for col, fmt in zip(data, formats)])
        if tick and r % 10_000 == 9_999:
            tick(10_000)
    if tick:
        tick(n % 10_000)


FRONT_LABELS = {
    "periode": "Periode", "regelsett": "Regelsett (versjon)", "regelsett_mappe": "Regelsettets mappe",
    "innskriving": "Innskrivingsfil", "skattekilde": "Skattegrunnlag fra", "laget": "Laget",
    "rader_inn": "Rader i innskrivingsfilen", "rader_avvist": "Rader avvist", "oppslag": "Oppslag i skattegrunnlaget",
    "advarsler": "Advarsler",
}


def write_front(wb: Workbook, meta: dict[str, Any], totals: dict[str, int]) -> None:
    ws = wb.create_sheet("Forside")
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 120
    title = WriteOnlyCell(ws, "Foreldrebetaling: vedtak og fakturagrunnlag")
    title.font = Font(bold=True, size=14)
    ws.append([title])
    ws.append([])
    styled = _Styled(ws)
    for label, key in (("Barn med vedtak", "barn"), ("Til manuell behandling", "barn_manuell")):
        ws.append([label, totals[key]])
    for label, key in (("Ordinær pris i perioden", "ordinaer_pris"), ("Å fakturere i perioden", "belop")):
        ws.append([label, styled.cell(totals[key], KR)])
    ws.append([])
    for key, value in meta.items():
        label = FRONT_LABELS.get(key, key)
        if isinstance(value, list):
            ws.append([label, "(ingen)" if not value else None])
            for v in value:  # one line each; long text runs on into the empty cells to the right
                ws.append([None, v])
        else:
            ws.append([label, value])


def write_workbook(path: Path, *, meta: dict[str, Any], vedtak: pd.DataFrame, monthly: pd.DataFrame,
                   summary: pd.DataFrame, rejected: pd.DataFrame, manual: pd.DataFrame,
                   tick: Callable[[int], None] | None = None) -> Path:
    wb = Workbook(write_only=True)
    write_front(wb, meta, totals(monthly))
    write_table(wb, "Vedtak", vedtak, tick)
    write_table(wb, "Månedlig", monthly.drop(columns=["flagg"], errors="ignore"), tick)
    write_table(wb, "Oppsummering", summary)
    problems = pd.concat([
        rejected.assign(type="avvist rad")[["type", "rad", "kolonne", "verdi", "aarsak"]],
        manual.assign(type="manuell", rad=pd.NA, kolonne="", verdi=manual["barn_id"], aarsak=manual["manuell_grunn"])[
            ["type", "rad", "kolonne", "verdi", "aarsak"]],
    ], ignore_index=True)
    write_table(wb, "Avvist og manuell", problems)
    wb.save(path)
    return path
