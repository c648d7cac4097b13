"""CSV outputs (docs/utdata.md): one header row, whole kroner, in one of two dialects.

* ``excel`` (the default): what Norwegian Excel opens correctly by double-click: ``;`` between
  fields, UTF-8 with a byte order mark, CRLF line endings (so every field holding a line break or
  a carriage return is quoted). A text field that begins with ``=``, ``+``, ``-``, ``@``, a tab or
  a carriage return gets a leading ``'`` so that Excel shows it as text and never runs it as a
  formula (OWASP, «CSV injection»). Numbers are never changed.
* ``maskin``: for scripts: ``,`` between fields, UTF-8 without BOM, ``\\n`` line endings, values
  as they are (no ``'``). A field holding a carriage return is quoted here too.

Every CSV file is made by :func:`csv_text` (the fast monthly path included), so the two dialects
hold everywhere.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from ..forklaring import MONTHLY_COLUMNS, monthly, with_flag_text


@dataclass(frozen=True)
class Dialect:
    name: str
    sep: str
    bom: bool
    lineterminator: str
    escape_formulas: bool


EXCEL = Dialect("excel", ";", True, "\r\n", True)
MASKIN = Dialect("maskin", ",", False, "\n", False)
DIALECTS = {d.name: d for d in (EXCEL, MASKIN)}
DEFAULT_DIALECT = EXCEL.name

# What Excel (and other spreadsheets) would read as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def dialect(name: str | Dialect) -> Dialect:
    if isinstance(name, Dialect):
        return name
    if name not in DIALECTS:
        from ..errors import ConfigurationError

        raise ConfigurationError(f"ukjent --csv-dialect «{name}» (velg {' eller '.join(DIALECTS)})")
    return DIALECTS[name]


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or str(s.dtype) in ("str", "string")


def _text_values(s: pd.Series) -> list[str]:
    """The distinct strings of a column (a column has far fewer distinct values than rows)."""
    return [v for v in pd.unique(s.to_numpy(dtype=object)) if isinstance(v, str)]


def _may_start_a_formula(values: np.ndarray) -> bool:
    """Whether any text value starts like a formula (only each value's first character is looked at)."""
    return not {v[:1] for v in values.tolist() if type(v) is str}.isdisjoint(FORMULA_START)


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Text values that a spreadsheet would take for a formula, with a leading ``'``; numbers untouched."""
    out = None
    for c in df.columns:
        s = df[c]
        if not _is_text(s):
            continue
        values = s.to_numpy(dtype=object)
        if not _may_start_a_formula(values):
            continue
        hit = np.fromiter((isinstance(v, str) and v.startswith(FORMULA_START) for v in values), bool, len(values))
        if out is None:
            out = df.copy()
        fixed = values.copy()
        fixed[hit] = ["'" + v for v in values[hit]]
        out[c] = fixed
    return df if out is None else out


def _has_line_break(df: pd.DataFrame, chars: str = "\r\n") -> bool:
    return any(_is_text(df[c]) and any(ch in v for v in _text_values(df[c]) for ch in chars) for c in df.columns)


def csv_text(df: pd.DataFrame, d: Dialect, fh: TextIO | None = None) -> str | None:
    """The header and rows of ``df`` as CSV text in dialect ``d``, returned, or written to ``fh`` (the file
    writer adds the BOM)."""
    if d.escape_formulas:
        df = neutralise_formulas(df)
    # A lone carriage return is not in the line terminator "\n" and Python's csv module would leave
    # it unquoted; such a file quotes every text field instead (valid CSV, read back the same).
    quoting = csv.QUOTE_MINIMAL
    if "\r" not in d.lineterminator and _has_line_break(df, "\r"):
        quoting = csv.QUOTE_NONNUMERIC
    return df.to_csv(fh, index=False, sep=d.sep, lineterminator=d.lineterminator, quoting=quoting)


def _open(path: Path, d: Dialect):  # type: ignore[no-untyped-def]
    return path.open("w", encoding="utf-8-sig" if d.bom else "utf-8", newline="")


def write_csv(df: pd.DataFrame, path: Path, d: str | Dialect = DEFAULT_DIALECT) -> Path:
    d = dialect(d)
    with _open(path, d) as fh:
        csv_text(df, d, fh)
    return path


AVVIST_COLUMNS = ["rad", "kolonne", "verdi", "aarsak", "kode"]


def write_rejections(rejections: pd.DataFrame, path: Path, d: str | Dialect = DEFAULT_DIALECT) -> Path:
    cols = [c for c in AVVIST_COLUMNS if c in rejections.columns]
    out = rejections[cols] if len(rejections) else pd.DataFrame(columns=AVVIST_COLUMNS)
    return write_csv(out, path, d)


OUTSIDE_COLUMNS = ["rad", "barn_id", "husholdning_id", "tilbud", "kommunenummer", "institusjon", "fra_dato", "til_dato"]


def write_outside(outside: pd.DataFrame | None, path: Path, d: str | Dialect = DEFAULT_DIALECT) -> Path:
    """``utenfor_perioden.csv``: accepted rows whose placement lies entirely outside the period."""
    if outside is None or not len(outside):
        return write_csv(pd.DataFrame(columns=OUTSIDE_COLUMNS), path, d)
    out = outside[OUTSIDE_COLUMNS].copy()
    for c in ("fra_dato", "til_dato"):
        out[c] = out[c].dt.strftime("%Y-%m-%d").fillna("")
    return write_csv(out, path, d)


_MONTH_TOKEN = "\x1fMAANED\x1f"


def write_expanded(
    frame: pd.DataFrame,
    month_column: str,
    first: np.ndarray,
    length: np.ndarray,
    path: Path,
    d: str | Dialect,
    expanded: Callable[[], pd.DataFrame],
) -> Path:
    """A table of one row per month written from one row per run of months: each run's line is made
    once and copied for each of its months (``first``: the run's first month as ``datetime64[M]``,
    ``length``: its months; ``frame[month_column]`` is ignored).

    Byte for byte what ``write_csv(expanded(), path, d)`` writes, in a fraction of the time; falls
    back to exactly that when a value holds a line break or a carriage return.
    """
    d = dialect(d)
    body = frame.drop(columns=[month_column])
    if _has_line_break(body):
        return write_csv(expanded(), path, d)
    frame = frame.copy()
    frame[month_column] = _MONTH_TOKEN
    end = d.lineterminator
    lines = str(csv_text(frame, d)).split(end)[:-1]
    first = np.asarray(first, dtype="datetime64[M]")
    length = np.asarray(length, dtype=np.int64)
    start = first.min() if len(first) else np.datetime64("2000-01", "M")
    span = int((first - start).astype(int).max() + length.max()) if len(first) else 0
    labels = [str(start + k) for k in range(span)]
    offsets = (first - start).astype(int)
    with _open(path, d) as fh:
        fh.write(lines[0] + end)
        for line, off, n in zip(lines[1:], offsets.tolist(), length.tolist()):
            a, b = line.split(_MONTH_TOKEN)
            fh.write("".join(f"{a}{m}{b}{end}" for m in labels[off : off + n]))
    return path


def write_monthly_from_runs(
    runs: pd.DataFrame, extra_columns: list[str], path: Path, d: str | Dialect = DEFAULT_DIALECT
) -> Path:
    """``maanedlig.csv`` straight from the runs (:func:`write_expanded`): byte for byte what writing
    ``forklaring.monthly(runs, extra_columns)`` gives in the same dialect (a test checks), in a fraction
    of the time: 1.2 M monthly rows come from about 200 000 runs."""
    columns = MONTHLY_COLUMNS + extra_columns
    runs = with_flag_text(runs)
    frame = runs[columns]
    return write_expanded(
        frame,
        "maaned",
        runs["maaned"].to_numpy("datetime64[M]"),
        runs["antall_maaneder"].to_numpy(),
        path,
        d,
        lambda: monthly(runs, extra_columns),
    )
