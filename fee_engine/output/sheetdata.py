"""The data rows of a workbook's big tables, written as sheet XML in bulk (docs/utdata.md, docs/skala.md).

XlsxWriter lays out every sheet (column widths and formats, the header, the frozen pane, the filter, the
total row, the front sheet, styles, the package), but it writes each cell through a Python call: about
4 µs a cell, 94 s for the 23 million cells of a 100 000-child ``vedtak.xlsx``. The rows between a
table's header and its total row are made here instead, the way the CSV files are made: each column's
cells once per distinct value in a block of rows, and each row joined in one call. The cells are those
XlsxWriter writes in its constant-memory mode (an inline string or a number, with the column's style), and
an empty value is an empty cell with that style.

After XlsxWriter has closed the workbook (into memory; it is small without the rows), :func:`fill` copies
it to the file and puts the rows into each table's sheet, right after the header row. A sheet's XML is
compressed at level 1: about four times as fast as the usual level 6, for a file about a third larger.

Text is written as XlsxWriter writes it (a tested property, ``tests/test_sheetdata.py``): cut at Excel's
32 767 UTF-16 units, control characters as ``_xHHHH_`` (and a literal ``_xHHHH_`` kept literal), leading
or trailing white space preserved. One difference, on purpose: XlsxWriter writes a text that begins with
``<r>`` and ends with ``</r>`` unescaped, as rich text; here every text is escaped, so such a value
from an enrollment file is shown as it is and can never break the workbook.
"""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
import pandas as pd

BLOCK = 32_768  # rows joined and written at a time
LEVEL = 1  # deflate level of the sheets filled here
TEXT_MAX = 32_767  # Excel's longest cell text, in UTF-16 code units
NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "p": "http://schemas.openxmlformats.org/package/2006/relationships",
}

_LITERAL_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("([\x00-\x08\x0b-\x1f\ufffe\uffff])")
_SPACE_AT_AN_END = re.compile(r"^\s|\s$")


@dataclass
class Data:
    """One column's values: ``kind`` ``number`` (float64, NaN = empty) or ``text`` (objects, None = empty)."""

    kind: str
    values: np.ndarray


@dataclass
class Part:
    """Rows ``start``–``stop`` of a table's columns, to go under the header row of one sheet."""

    columns: list[Data]
    start: int
    stop: int
    tick: Callable[[int], None] | None = None  # told how many rows have been written
    told: int = 0  # rows told so far (a sheet written again does not count its rows twice)


def _cut(text: str) -> str:
    """``text`` cut to Excel's limit in UTF-16 units, never inside a character above U+FFFF."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > TEXT_MAX:
            return text[:i]
    return text


_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff&<>]|_x[0-9a-fA-F]{4}_")


def cell_text(text: str) -> tuple[str, bool]:
    """The content of a cell's ``<t>`` element, and whether it keeps white space at an end."""
    if len(text) > TEXT_MAX // 2:
        text = _cut(text)
    if _NEEDS_ESCAPE.search(text) is not None:
        text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
        text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
        preserve = _SPACE_AT_AN_END.search(text) is not None
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), preserve
    return text, _SPACE_AT_AN_END.search(text) is not None


def _pieces(data: Data, style: int, after: str, rows: slice) -> list[bytes]:
    """Each row's cell in this column, from just after its reference to just before the next cell's row number."""
    codes, uniques = pd.factorize(data.values[rows])
    empty = f'" s="{style}"/>{after}'
    if data.kind == "number":
        made = [
            f'" s="{style}"><v>{u:.16G}</v></c>{after}' if np.isfinite(u) else empty
            for u in np.asarray(uniques, dtype=np.float64) + 0.0  # + 0.0: -0 is written 0
        ]
    else:
        made = []
        for u in uniques:
            text, preserve = cell_text(u)
            space = ' xml:space="preserve"' if preserve else ""
            made.append(f'" s="{style}" t="inlineStr"><is><t{space}>{text}</t></is></c>{after}')
    made.append(empty)  # code -1
    return np.asarray([m.encode("utf-8") for m in made], dtype=object)[codes].tolist()


def rows_xml(part: Part, styles: list[int], first_row: int) -> Iterator[tuple[int, bytes]]:
    """The part's rows as ``<row>`` elements, numbered from ``first_row`` (1-based): (rows, XML) a block at a time."""
    from xlsxwriter.utility import xl_col_to_name  # here: a run without a workbook does not load XlsxWriter

    n = len(part.columns)
    if n == 0:
        return
    letters = [xl_col_to_name(j) for j in range(n)]
    afters = [f'<c r="{letters[j + 1]}' for j in range(n - 1)] + ["</row>"]
    # a row is its number joining: '<row r="', '"><c r="A', cell A + '<c r="B', …, last cell + '</row>'
    head, first_cell = b'<row r="', f'"><c r="{letters[0]}'.encode()
    for b in range(part.start, part.stop, BLOCK):
        rows = slice(b, min(b + BLOCK, part.stop))
        cells = [_pieces(d, styles[j], afters[j], rows) for j, d in enumerate(part.columns)]
        first = first_row + b - part.start
        numbers = [str(i).encode() for i in range(first, first + rows.stop - rows.start)]
        yield rows.stop - rows.start, b"".join(map(bytes.join, numbers, zip(repeat(head), repeat(first_cell), *cells)))


def _sheet_files(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → the sheet's XML file in the package (from the workbook and its relationships)."""
    book = ET.fromstring(z.read("xl/workbook.xml"))
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.findall("p:Relationship", NS)}
    out = {}
    for s in book.findall("m:sheets/m:sheet", NS):
        target = targets[s.get(f"{{{NS['r']}}}id", "")]
        out[s.get("name", "")] = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
    return out


def _styles(sheet: str, columns: int) -> list[int]:
    """Each column's style index, from the sheet's ``<cols>`` (every column of a table has one)."""
    out: dict[int, int] = {}
    for col in ET.fromstring(sheet).findall("m:cols/m:col", NS):
        for j in range(int(col.get("min", "0")), int(col.get("max", "0")) + 1):
            out[j - 1] = int(col.get("style", "0"))
    if any(j not in out for j in range(columns)):
        raise ValueError("the sheet does not give every column of the table a style")
    return [out[j] for j in range(columns)]


def _split(sheet: str, rows: int, columns: int) -> tuple[str, str]:
    """The sheet's XML before and after the place of the rows (right after the header row), its
    dimension (``A1`` or ``A1:X9``) widened to hold them."""
    data = sheet.index("<sheetData>")
    if not sheet.startswith('<row r="1"', data + len("<sheetData>")):
        raise ValueError("the sheet has no header row to put the rows under")
    at = sheet.index("</row>", data) + len("</row>")
    head, tail = sheet[:at], sheet[at:]

    from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

    def widen(m: re.Match[str]) -> str:
        last_row, last_col = xl_cell_to_rowcol(m.group(2) or m.group(1))
        return f'<dimension ref="A1:{xl_rowcol_to_cell(max(last_row, rows), max(last_col, columns - 1))}"/>'

    return re.sub(r'<dimension ref="([A-Z]+[0-9]+)(?::([A-Z]+[0-9]+))?"/>', widen, head, count=1), tail


class TooBig(Exception):
    """A sheet's XML passes the size zipfile writes without ZIP64 (the workbook is then written again with it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def fill(small: bytes, path: Path, parts: dict[str, Part]) -> Path:
    """Write the workbook XlsxWriter made (``small``) to ``path``, each part's rows in its sheet.

    The workbook is written beside ``path`` (with its mode, or a new file's) and put in its place when
    whole: a failure never leaves a workbook that looks finished."""
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    temporary = path.with_name(f".{path.name}.skrives")
    large: set[str] = set()
    try:
        while True:
            # a new file gets what open() gives (0666 less the umask); an existing one keeps its mode exactly
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode & 0o600)
            if mode is not None:
                os.fchmod(fd, mode)
            try:
                with os.fdopen(fd, "wb") as fh:
                    _fill(small, fh, parts, large)
                break
            except TooBig as e:  # ZIP64 only where it must be (Excel is strict about it): on a sheet over the limit
                large.add(e.name)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _fill(small: bytes, fh: BinaryIO, parts: dict[str, Part], large: set[str]) -> None:
    with zipfile.ZipFile(io.BytesIO(small)) as src:
        files = _sheet_files(src)
        if missing := set(parts) - set(files):
            raise ValueError(f"no sheet in the workbook for the rows of {sorted(missing)}")
        where = {files[name]: part for name, part in parts.items()}
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=LEVEL) as out:
            for info in src.infolist():
                part = where.get(info.filename)
                if part is None:
                    out.writestr(info, src.read(info))
                    continue
                sheet = src.read(info).decode("utf-8")
                head, tail = (x.encode("utf-8") for x in _split(sheet, part.stop - part.start, len(part.columns)))
                blocks = rows_xml(part, _styles(sheet, len(part.columns)), 2)
                first = next(blocks, (0, b""))
                # ZIP64 from the start for a sheet whose first block says it will come near the limit
                likely = (len(first[1]) / max(first[0], 1)) * (part.stop - part.start) > zipfile.ZIP64_LIMIT // 2
                if likely:
                    large.add(info.filename)
                size = len(head) + len(tail)
                done = 0
                # zlib lets other threads run while it compresses: a block is compressed and written by a
                # second thread while the next one is made here
                with out.open(info.filename, "w", force_zip64=info.filename in large) as w, ThreadPoolExecutor(1) as t:
                    w.write(head)
                    writing: Future[int] | None = None
                    for n, block in chain([first], blocks):
                        size += len(block)
                        if size > zipfile.ZIP64_LIMIT and info.filename not in large:
                            raise TooBig(info.filename)
                        if writing is not None:
                            writing.result()
                        writing = t.submit(w.write, block)
                        done += n
                        if part.tick and done > part.told:
                            part.tick(done - part.told)
                            part.told = done
                    if writing is not None:
                        writing.result()
                    w.write(tail)
