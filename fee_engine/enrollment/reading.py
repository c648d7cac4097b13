"""The enrollment file as a table of strings: bytes decoded, records split, cells as text.

What the office saves from Excel must be read as Excel wrote it:

* CSV in UTF-8 (with or without BOM), Windows-1252 («CSV (semikolonseparert)», Norwegian
  Excel's default; a notice says it was read so), or UTF-16 with a BOM («Unicode-tekst»,
  tab-separated). A file with bytes Windows-1252 does not define is refused.
* The separator is the one of ``;``, ``,`` and tab that the header line uses most.
* Each record is split on its own: an unbalanced quote spoils only its own row (it is
  rejected), never the rows after it; trailing separators (``A;B;``) do not shift columns.
* XLSX: the first sheet, cells as text; dates as ``YYYY-MM-DD``; whole numbers without ``.0``.

Row numbers are spreadsheet rows: the header is row 1. A blank line is a row with no data
(not counted as a row in, as Excel shows it). Problems found while splitting become
:class:`RowProblem` objects that the validation reports like any other.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..parallel import forks, in_two

# NUL and other control characters (a tab and a carriage return are allowed in text).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Bytes that Windows-1252 leaves undefined.
_CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}


@dataclass(frozen=True)
class RowProblem:
    rad: int
    kolonne: str
    verdi: str
    kode: str
    fmt: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Column:
    """A column of a plain file (:func:`_plain`) as a code per row and its distinct texts, in the order they first
    appear: what ``pandas.factorize`` gives for the column's texts, made without a text object per cell."""

    codes: np.ndarray  # int64, one per row
    values: np.ndarray  # object: the distinct texts

    def texts(self) -> np.ndarray:
        return self.values[self.codes]

    @classmethod
    def of(cls, codes: np.ndarray, texts: bytes) -> Column:
        """The column from its codes and its distinct texts as UTF-8, each followed by a line end (none holds one):
        decoded and split in one piece (a decode per text took 0.5 s for 500 000 children's identifiers), and sent
        between processes as one bytes object, not a Python text each."""
        values = np.empty(texts.count(b"\n"), dtype=object)
        values[:] = texts.decode().split("\n")[:-1]
        return cls(codes, values)


@dataclass
class Table:
    header: list[str]  # as written in the file (case kept)
    rows: list[list[str]]  # data rows, each padded/truncated to len(header)
    row_numbers: list[int]  # spreadsheet row of each data row
    problems: list[RowProblem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    from_excel: bool = False
    maybe_control: bool = True  # False when the whole text was found free of control characters
    columns: list[Column] | None = None  # the data by column instead of ``rows`` (a plain file, :func:`_plain`)

    def frame(self, names: list[str], skip: Collection[str] = ()) -> pd.DataFrame:
        """The data as a DataFrame of objects, with these column names; a plain file's columns named in ``skip`` are
        left out (the caller makes them from their codes)."""
        if self.columns is not None:  # by position: two columns of the same name stay two columns
            kept = [i for i, name in enumerate(names) if name not in skip]
            texts = {i: self.columns[i].texts() for i in kept}
            df = pd.DataFrame(texts, columns=kept, index=pd.RangeIndex(len(self.row_numbers)), dtype=object)
            df.columns = [names[i] for i in kept]
            return df
        return pd.DataFrame(self.rows, columns=names, dtype=object)


def read_table(path: Path) -> Table:
    if not path.exists():
        raise InputError(f"fant ikke innskrivingsfilen {path}")
    if not path.is_file():
        raise InputError(f"{path} er ikke en fil")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"kan ikke lese {path}: {exc.strerror}") from None
    text, notice = decode(raw, path)
    if not text.strip():
        raise InputError(f"{path}: filen er tom")
    table = split_csv(text, path)
    if table.columns is None:  # a plain file's was found as its bytes were split
        table.maybe_control = CONTROL.search(text) is not None
    if notice:
        table.notices.append(notice)
    return table


def decode(raw: bytes, path: Path) -> tuple[str, str | None]:
    """The file's text and, when it was not UTF-8, a notice saying how it was read."""
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        try:
            return raw.decode("utf-16"), None
        except UnicodeDecodeError:
            raise InputError(
                f"{path}: filen begynner som UTF-16 («Unicode-tekst»), men kan ikke leses som det"
            ) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    bad = next((i for i, b in enumerate(raw) if b in _CP1252_UNDEFINED), None)
    if bad is not None:
        line = raw.count(b"\n", 0, bad) + 1
        raise InputError(
            f"{path}: filen er verken UTF-8 eller Windows-1252 (byte 0x{raw[bad]:02X} på linje {line}); "
            "lagre den i Excel som «CSV UTF-8 (kommadelt)» eller «CSV (semikolonseparert)»"
        )
    return raw.decode("cp1252"), (
        f"{path.name} er ikke UTF-8 og er lest som Windows-1252 (Excels «CSV (semikolonseparert)»); "
        "kontroller at æ, ø og å ser riktige ut i resultatene"
    )


def _separator(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in (";", ",", "\t")}
    return max(counts, key=lambda s: (counts[s], s == ";"))


_CR = "\ue000"  # stands in for a carriage return inside a cell while Python's csv splits the line


def split_csv(text: str, path: Path | None = None) -> Table:
    text = text.replace("\r\n", "\n")
    has_cr = "\r" in text
    if has_cr:  # a lone carriage return inside a cell: kept, but csv would stop at it
        text = text.replace("\r", _CR)
    head_line = text.partition("\n")[0]
    n_lines = text.count("\n") + (bool(text) and not text.endswith("\n"))  # text.split("\n"), no last empty line
    sep = _separator(head_line)
    header = next(csv.reader([head_line], delimiter=sep))
    header = _trim_header(header)
    width = len(header)
    if not has_cr and '"' not in text and "\0" not in text:  # a plain file: split as bytes, not into lines
        plain = _plain(text, len(head_line), n_lines - 1, sep, width)
        if plain is not None:
            columns, control = plain
            return Table(
                header=header,
                rows=[],
                row_numbers=list(range(2, n_lines + 1)),
                columns=columns,
                maybe_control=control or CONTROL.search(head_line) is not None,
            )
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    reader = csv.reader((line + "\n" for line in lines[1:]), delimiter=sep, strict=False)
    rows: list[list[str]] = []
    numbers: list[int] = []
    problems: list[RowProblem] = []
    row_no = 1
    consumed = 0
    try:
        for rec in reader:
            span = reader.line_num - consumed
            first_line = consumed + 1
            consumed = reader.line_num
            if span > 1 and (len(rec) != width or any("\n" in v and sep in v for v in rec)):
                # an unbalanced quote ran on into the next lines (a cell with a line break and separators is
                # whole rows swallowed, not a cell Excel wrote): take each physical line on its own
                for k in range(span):
                    row_no += 1
                    line = lines[first_line + k]
                    single = next(csv.reader([line], delimiter=sep, strict=False), [])
                    broken = line.count('"') % 2 == 1
                    if broken:  # counted as a row in and rejected, even when nothing else is on it
                        problems.append(RowProblem(row_no, "", _short(line), "anfoerselstegn"))
                    _take(single, line, width, row_no, rows, numbers, problems, keep_blank=broken)
                continue
            row_no += 1
            raw_line = "\n".join(lines[first_line : first_line + span])
            _take(rec, raw_line, width, row_no, rows, numbers, problems)
    except csv.Error as exc:  # a field longer than the csv module's limit (128 KiB): not an enrollment file
        where = f"{path}: " if path else ""
        why = (
            f"et felt er lengre enn {csv.field_size_limit():,} tegn".replace(",", " ")
            if "field limit" in str(exc)
            else f"kan ikke leses som CSV ({exc})"
        )
        raise InputError(f"{where}linje {consumed + 2}: {why}; er dette innskrivingsfilen?") from None
    if has_cr:
        header = [h.replace(_CR, "\r") for h in header]
        rows = [[v.replace(_CR, "\r") if _CR in v else v for v in r] for r in rows]
    return Table(header=header, rows=rows, row_numbers=numbers, problems=problems)


def _plain(text: str, header_length: int, n_rows: int, sep: str, width: int) -> tuple[list[Column], bool] | None:
    """The columns of a file as a system writes it: no quotes (and no NUL) anywhere, every line a row with exactly
    the header's number of fields and something in it; None for any other file, which is then read row by row with
    its problems found and named. ``text`` has ``\\n`` line ends, its first line (``header_length`` characters) is
    the header, and ``n_rows`` lines follow it.

    The body is split as bytes, in one pass with numpy: the field boundaries are where the separators and line ends
    are, and each column is coded from its cells' bytes, eight at a time (:func:`_coded`). Only the distinct texts
    of a column become text objects: at 500 000 children a text object per cell was 10 million objects, whose
    hashing (``pandas.factorize``) slowed tenfold a row as they outgrew the processor's caches.

    Also returns whether the body holds a control character (:data:`CONTROL`), found from its bytes: each is one
    byte below 0x80 in UTF-8, which no other character's bytes are (a regular expression over the text took 0.2 s
    at 500 000 children)."""
    if not n_rows:
        return None
    data = text[header_length + 1 :].encode()
    if data.endswith(b"\n"):
        data = data[:-1]  # the file's last line end
    buf = np.frombuffer(data, dtype=np.uint8)
    control = _control_bytes(buf)
    is_end = buf == ord(sep)
    is_end |= buf == 10
    ends = np.flatnonzero(is_end)  # every field's end but the last one's
    del is_end
    if len(ends) != n_rows * width - 1:
        return None
    at_line_end = np.append(buf[ends] == 10, True).reshape(n_rows, width)
    if not at_line_end[:, -1].all() or at_line_end[:, :-1].any():
        return None  # a line with more or fewer fields than the header
    line_ends = np.append(ends[width - 1 :: width], len(buf))
    line_bytes = np.diff(line_ends, prepend=-1) - 1
    if line_bytes.max() > csv.field_size_limit():  # perhaps a field too long for the csv module: read row by row
        return None
    # field j (row j // width, column j % width) is data[bounds[j] + 1 : bounds[j + 1]]
    bounds = np.concatenate([[-1], ends, [len(buf)]])
    del ends
    padded = np.concatenate([buf, np.zeros(8, dtype=np.uint8)])  # eight bytes can be read from any cell's start
    columns = _coded_columns(data, padded, bounds, n_rows, width)
    blank = np.ones(n_rows, dtype=bool)
    # a blank row (only spaces between the separators) is skipped row by row; the columns of fewest distinct texts
    # first: no row is blank in every column so far, then none is (usually after the first: «tilbud» has two)
    for c in sorted(columns, key=lambda c: len(c.values)):
        blank &= np.array([not v.strip() for v in c.values.tolist()], dtype=bool)[c.codes]
        if not blank.any():
            break
    return None if blank.any() else (columns, control)


# Rows from which a plain file's columns are coded by two processes (:func:`_coded_columns`).
SPLIT_ROWS = 50_000


def _coded_columns(data: bytes, padded: np.ndarray, bounds: np.ndarray, n_rows: int, width: int) -> list[Column]:
    """Every column of a plain file (:func:`_plain`), coded (:func:`_coded`). From :data:`SPLIT_ROWS` rows, on two
    cores, a forked child codes about half of the file's bytes, the columns taken in turn by size; only its
    columns' codes and distinct texts come back (at 500 000 children the coding took 1.1 s in one process)."""

    def coded(ks: list[int]) -> list[tuple[np.ndarray, bytes]]:
        return [_coded(data, padded, bounds[k::width][:n_rows] + 1, bounds[k + 1 :: width][:n_rows]) for k in ks]

    if n_rows < SPLIT_ROWS or not forks():
        return [Column.of(*c) for c in coded(list(range(width)))]
    # each column's bytes: the distance from its first cell's start to its last cell's end, less the other cells'
    size = [int((bounds[k + 1 :: width][:n_rows] - bounds[k::width][:n_rows] - 1).sum()) for k in range(width)]
    here: list[int] = []
    there: list[int] = []
    for k in sorted(range(width), key=lambda k: -size[k]):  # the largest first, each to the lighter side
        (here if sum(size[j] for j in here) <= sum(size[j] for j in there) else there).append(k)
    mine, theirs = in_two(lambda: coded(here), lambda: coded(there))
    by_column = dict(zip(here, mine)) | dict(zip(there, theirs))
    return [Column.of(*by_column[k]) for k in range(width)]


def _control_bytes(buf: np.ndarray) -> bool:
    """Whether the UTF-8 bytes ``buf`` hold a character of :data:`CONTROL`: first a count of the bytes below 0x20
    against the tabs and line ends among them, which is all a file usually has."""
    low = int(np.count_nonzero(buf < 0x20))
    if low and low > int(np.count_nonzero(buf == 0x0A)) + int(np.count_nonzero(buf == 0x09)) + int(
        np.count_nonzero(buf == 0x0D)
    ):
        return True
    return bool(np.count_nonzero(buf == 0x7F))


_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
# Longer cells than this (free text in a column of the office's own) are coded cell by cell: a word at a time,
# a column's time grows with its longest cell.
LONG_CELL = 64


def _coded(data: bytes, padded: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, bytes]:
    """The cells ``data[start:end]`` as a :class:`Column`'s codes and texts (:meth:`Column.of`). A cell is read as
    8-byte words (the bytes past its end set to zero; a file with a NUL byte never comes here), and each word of the
    column is coded in turn, the codes so far and the next word's together: equal cells have equal words, and only
    equal cells do."""
    size = end - start
    longest = int(size.max(initial=0))
    if longest > LONG_CELL:
        cells = np.empty(len(start), dtype=object)
        cells[:] = [data[a:b] for a, b in zip(start.tolist(), end.tolist())]
        codes, found = pd.factorize(cells)
        return codes.astype(np.int64), b"".join(v + b"\n" for v in found.tolist())
    # element i: the eight bytes from byte i (any alignment); read little-endian, the first byte is the lowest
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, offset=0, strides=(1,))
    codes = np.zeros(len(start), dtype=np.int64)
    for at in range(0, longest, 8):
        left = np.clip(size - at, 0, 8)
        word = words[np.minimum(start + at, len(words) - 1)] & _LOW_BYTES[left]
        word_codes, word_values = pd.factorize(word)
        if at == 0:  # the first word's codes are the codes so far (numbered as they first appear, as below)
            codes = word_codes
            continue
        codes, _ = pd.factorize(codes * len(word_values) + word_codes)
    # codes are numbered as they first appear: a code's first row is where the highest code so far goes up
    highest = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.r_[True, highest[1:] > highest[:-1]])
    return codes.astype(np.int64), _texts(padded, start[first], end[first])


def _texts(padded: np.ndarray, start: np.ndarray, end: np.ndarray) -> bytes:
    """The cells ``padded[start:end]`` (UTF-8; none holds a line end, as :func:`_plain` checked) gathered one after
    another, each followed by a line end, as :meth:`Column.of` takes them."""
    if not len(start):
        return b""
    size = end - start + 1  # the cell and its line end
    at = np.cumsum(size) - size  # where each cell begins in the gathered bytes
    gathered = padded[np.repeat(start - at, size) + np.arange(int(size.sum()))]
    gathered[at + size - 1] = 10  # the byte after each cell (a separator, a line end, padding) becomes a line end
    return gathered.tobytes()


def _take(
    rec: list[str],
    line: str,
    width: int,
    row_no: int,
    rows: list[list[str]],
    numbers: list[int],
    problems: list[RowProblem],
    keep_blank: bool = False,
) -> None:
    if not keep_blank and not any(v.strip() for v in rec):
        return  # a blank row: no data
    if len(rec) > width:
        extra = rec[width:]
        if any(v.strip() for v in extra):
            problems.append(RowProblem(row_no, "", _short(line), "felt_antall", (("n", len(rec)), ("m", width))))
        rec = rec[:width]
    elif len(rec) < width:
        rec = rec + [""] * (width - len(rec))
    rows.append(rec)
    numbers.append(row_no)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _trim_header(header: list[str]) -> list[str]:
    """Drop trailing empty header cells (a trailing separator); name an empty cell in the middle."""
    while header and not header[-1].strip():
        header.pop()
    return [h if h.strip() else f"kolonne_{i + 1}" for i, h in enumerate(header)]


# -- XLSX -------------------------------------------------------------------------------------
def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputError(f"{path}: kan ikke lese Excel-filen ({type(exc).__name__})") from None
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows()  # cells, not only values: a number's format can change what the cell shows (a percent)
        first = next(it, None)
        if first is None:
            raise InputError(f"{path}: første ark er tomt")
        header = _trim_header([_cell_text(c.value) for c in first])
        width = len(header)
        rows: list[list[str]] = []
        numbers: list[int] = []
        row_no = 1
        for values in it:
            row_no += 1
            cells = [_shown(c) for c in values[:width]]
            if len(cells) < width:
                cells += [""] * (width - len(cells))
            if any(c.strip() for c in cells):
                rows.append(cells)
                numbers.append(row_no)
    finally:
        wb.close()
    return Table(header=header, rows=rows, row_numbers=numbers, from_excel=True)


def _shown(cell: Any) -> str:
    """A cell as text (:func:`_cell_text`), a number in a percent format as the percent the cell shows: 0.8 in a
    cell formatted ``0%`` is «80%», not «0.8» (read as 0.8 %)."""
    v = cell.value
    if type(v) in (int, float):
        signs = _percent_signs(cell.number_format, v < 0)
        if signs:
            return _percent_text(v, signs)
    return _cell_text(v)


def _percent_signs(number_format: str | None, negative: bool = False) -> int:
    """How many times a number format multiplies by 100: the ``%`` signs of the section that shows the number (the
    second for a negative number, when there is one), not counting quoted text, an escaped character, the character
    after ``_`` (a space as wide as it) or ``*`` (a fill), or anything in brackets (a colour, a condition, a
    currency and locale code)."""
    if not number_format or "%" not in number_format:
        return 0
    sections = re.sub(r'"[^"]*"|\\.|_.|\*.|\[[^\]]*\]', "", number_format).split(";")
    return sections[1 if negative and len(sections) > 1 else 0].count("%")


def _percent_text(v: float, signs: int) -> str:
    """``v`` × 100 per percent sign, from the number's shortest decimal form, to 15 significant digits: the
    digits a spreadsheet keeps (a sum such as 0.7 + 0.1, stored as 0.7999999999999999, is 80 %, not
    79.99999999999999 %)."""
    with localcontext() as ctx:
        ctx.prec = 15
        exact = +(Decimal(repr(v)) * (100**signs))
    text = format(exact.normalize(), "f") if exact else "0"
    return text + "%" * signs


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, (dt.datetime, dt.date, pd.Timestamp)):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, bool):
        return "ja" if v else "nei"
    if isinstance(v, float):
        if v != v:  # NaN
            return ""
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


EXCEL_EPOCH = dt.date(1899, 12, 30)


def excel_serial_dates(values: pd.Series) -> pd.Series:
    """Whole numbers in a date column of a workbook (a date cell without a date format) as ``YYYY-MM-DD``."""
    serial = values.str.fullmatch(r"[0-9]{1,6}")
    if not serial.any():
        return values
    days = pd.to_numeric(values[serial])
    ok = (days >= 1) & (days <= 2_958_465)  # 1900-01-01 .. 9999-12-31
    dates = (pd.Timestamp(EXCEL_EPOCH) + pd.to_timedelta(days[ok], unit="D")).dt.strftime("%Y-%m-%d")
    out = values.copy()
    out[dates.index] = dates
    return out
