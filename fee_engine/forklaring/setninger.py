"""What a step's sentences are built with: the period rows, masks, numbers as text, legal references.

Sentences speak to a parent, in the municipality's målform. Each step keeps its sentences as
templates per målform (``TEKST = {"bokmål": {...}, "nynorsk": {...}}``) with ``{named}`` fields;
:func:`fill` fills them column-wise, and :meth:`Setninger.when` builds a sentence only for the rows
it applies to. Amounts shown in kroner are rounded half up from øre, the rule of the amount paid;
legal references are the short ones in force in the period's first month (``hjemmel_kort``).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from itertools import repeat

import numpy as np
import pandas as pd

from ..beregning import has_flag
from ..money import to_kroner
from ..regelsett import RuleSet
from ..sortering import distinct_codes, distinct_rows, factorize
from ..steg import REKKEFOLGE, Steg
from ..text import kroner_og_oere, maaned_navn, per_value, periode_tekst, thousands_each

_FORMATTER = string.Formatter()


def _text(value: object, n: int) -> np.ndarray | str:
    """A field's values as an object array of str (or one str)."""
    if isinstance(value, pd.Series):
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":  # numbers: each distinct value written once
            return per_value(value, str)
        if value.dtype != object or (n and not isinstance(value[0], str)):
            value = value.astype(str)
        return value.astype(object, copy=False)
    return str(value)


def fill(template: str, **fields: pd.Series | np.ndarray | str | int) -> np.ndarray | str:
    """``template`` with each ``{name}`` replaced, element-wise, by ``fields[name]`` (Series, arrays or scalars)."""
    n = next((len(v) for v in fields.values() if isinstance(v, (pd.Series, np.ndarray))), None)
    pieces: list[np.ndarray | str] = []
    for literal, name, _, _ in _FORMATTER.parse(template):
        if literal:
            pieces.append(literal)
        if name is not None:
            pieces.append(_text(fields[name], n or 0))
    if n is None:
        return "".join(pieces)  # type: ignore[arg-type]
    # each row's sentence joined once from its pieces (not built up piece by piece)
    columns = [p.tolist() if isinstance(p, np.ndarray) else repeat(p, n) for p in pieces]
    return np.fromiter(map("".join, zip(*columns)), dtype=object, count=n) if columns else np.full(n, "", object)


def num(values: pd.Series | np.ndarray, div: int = 100) -> pd.Series:
    """Hundredths (hours, percent) to «20» or «20,5», each distinct value written once (:func:`per_value`)."""

    def write(v: int) -> str:
        q, r = divmod(v, div)
        return f"{q}" if r == 0 else f"{v / div:.2f}".rstrip("0").replace(".", ",")

    return pd.Series(per_value(np.asarray(values, dtype=np.int64), write))


def maaned_tekst(ts: pd.Series) -> pd.Series:
    """«august 2024» for each month, each distinct month written once."""
    s = pd.Series(ts)
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    names = np.array([maaned_navn(t) for t in pd.DatetimeIndex(uniq)], dtype=object)
    return pd.Series(names[codes], index=s.index)


class _NotListed(Exception):
    """A sentence read a column it had not read before (:meth:`Setninger.when`)."""


class Rader:
    """Some rows of the periods, a column taken only when a sentence asks for it (as a fresh Series). ``values``
    gives a column's values for all the periods (:meth:`Setninger.values`), ``columns`` the columns there are.
    ``read``: the columns asked for. With ``only``, asking for another column raises :class:`_NotListed`."""

    def __init__(
        self,
        values: Callable[[str], np.ndarray | pd.api.extensions.ExtensionArray],
        columns: frozenset[str],
        index: np.ndarray,
        only: frozenset[str] | None = None,
    ) -> None:
        self._values, self._columns, self._index, self._cache, self._only = values, columns, index, {}, only
        self.read: set[str] = set()

    def __getitem__(self, column: str) -> pd.Series:
        if column not in self._cache:
            if self._only is not None and column not in self._only:
                raise _NotListed(column)
            if column not in self._columns:
                raise KeyError(column)
            self.read.add(column)
            # a text column taken as it is: as text, not checked value by value again
            self._cache[column] = pd.Series(self._values(column).take(self._index))
        return self._cache[column]

    def __contains__(self, column: str) -> bool:
        return column in self._columns

    @property
    def rows(self) -> np.ndarray:
        """These rows' positions in the periods."""
        return self._index

    def __len__(self) -> int:
        return len(self._index)


# The columns each sentence's code was seen to read (:meth:`Setninger.when`), in this process.
_READS: dict[object, frozenset[str]] = {}
# Rows of one sentence from which they are written once per distinct combination of what it reads.
DISTINCT_FROM = 64


class Setninger:
    """The vedtak periods of one målform (``p``, one row each) and what a step needs to write about them."""

    num = staticmethod(num)
    fill = staticmethod(fill)
    maaned_tekst = staticmethod(maaned_tekst)

    def __init__(
        self, p: pd.DataFrame, rules: RuleSet, maalform: str = "bokmål", rows: np.ndarray | None = None
    ) -> None:
        """``rows``: the positions in ``p`` of these periods (None: all of ``p``). A column is taken at them when
        something first reads it, once for all the sentences (:meth:`values`): a table of the rows of one målform
        copied out whole, each sentence's columns looked up in it again and again, cost some 10 % of the
        explanations."""
        self._source, self._rows = p, rows
        self._arrays: dict[str, np.ndarray | pd.api.extensions.ExtensionArray] = {}
        self.rules = rules
        self.maalform = maalform
        self.n = len(p) if rows is None else len(rows)
        self._flagg = self.col("flagg", np.int64)
        self.bh = (self.series("tilbud") == "barnehage").to_numpy()
        self.sfo = ~self.bh
        self.manuell = (self.series("status") == "manuell").to_numpy()
        self.fakturert = self.col("fakturert", bool)
        self.oppgitt_pris = (self.series("pris_oere") >= 0).to_numpy()
        self.inntekt_kjent = (self.series("inntekt_status").astype(str).to_numpy() == "kjent") & ~self.manuell
        self._kroner: dict[int, str] = {}  # whole kroner as text, by amount
        self._refs: dict[str, np.ndarray] = {}  # a parameter's legal reference at each of :meth:`_places`, or None
        self._place: tuple[np.ndarray, np.ndarray] | None = None
        self._numbered_columns: dict[str, tuple[np.ndarray, int]] = {}  # :meth:`_column_numbers`
        self._columns = frozenset(p.columns)  # a sentence that read a column these periods lack: every row
        self._numbers: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}  # by id: a sentence, its rows' numbers

    def values(self, column: str) -> np.ndarray | pd.api.extensions.ExtensionArray:
        """``column``'s values for these periods: a numpy array, or pandas' string array for a text column (taken
        as it is, not checked again). Taken once; read-only to every reader."""
        known = self._arrays.get(column)
        if known is None:
            values = self._source[column]
            known = values.array if isinstance(values.dtype, pd.StringDtype) else values.to_numpy()
            if self._rows is not None:
                known = known.take(self._rows)
            if isinstance(known, np.ndarray):  # shared by every sentence: none may change it
                known = known.view()
                known.flags.writeable = False
            self._arrays[column] = known
        return known

    def series(self, column: str) -> pd.Series:
        """``column`` for these periods as a new Series (over the values of :meth:`values`)."""
        return pd.Series(self.values(column))

    def numbers(self, sentence: np.ndarray) -> tuple[np.ndarray, int] | None:
        """For a sentence made by :meth:`when` here: each row's number (rows with the same number have the same
        text; -1: no sentence) and how many numbers there are. None for any other array."""
        known = self._numbers.get(id(sentence))
        return (known[1], known[2]) if known is not None and known[0] is sentence else None

    def _numbered(self, out: np.ndarray, numbers: np.ndarray, size: int) -> np.ndarray:
        """``out``, read-only from here on (its numbers stay true), with its rows' numbers kept."""
        out.flags.writeable = False
        self._numbers[id(out)] = (out, numbers, size)  # holds ``out``: its id is not reused while kept
        return out

    def kr(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Whole kroner from øre (half up), formatted «1 234» (:meth:`kr_hel`)."""
        return self.kr_hel(to_kroner(np.asarray(values, dtype=np.int64)))

    def kr_eksakt(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Øre as kroner, «642 700», or with the øre where there are some, «642 699,99»: for an amount compared
        exactly with a limit (a documented income may have øre; whole kroner would show it as the limit)."""
        v = np.asarray(values, dtype=np.int64)
        out = self.kr(v)
        some = np.flatnonzero(v % 100 != 0)
        if len(some):
            out = out.copy()
            out[some] = per_value(v[some], kroner_og_oere)
        return out

    def kr_hel(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Whole kroner formatted «1 234», each amount formatted once for all the sentences about these periods."""
        return thousands_each(values, self._kroner)

    def tekst(self, templates: Mapping[str, Mapping[str, str]]) -> Mapping[str, str]:
        """A step's templates in this målform."""
        return templates[self.maalform]

    def col(self, name: str, dtype: type | None = None) -> np.ndarray:
        values = self.series(name).to_numpy()
        return values.astype(dtype) if dtype is not None else values

    def har(self, *flags: str) -> np.ndarray:
        return has_flag(self._flagg, *flags)

    def when(self, cond: np.ndarray, build: Callable[[Rader], pd.Series | np.ndarray] | str) -> np.ndarray:
        """A sentence for the rows in ``cond`` ('' elsewhere); ``build`` gets just those rows.

        A sentence is written from the columns it reads, row by row. So once a ``build`` (its code) is known to
        read a set of columns, it is given one row for each distinct combination of them among the rows, and the
        rows that share one share its sentence (the same string object). Should it read another column (a
        different closure of the same code), or have read one these periods lack, it is given all the rows
        instead, and the columns it read are kept for the next time.

        The sentence comes back read-only, its rows numbered by the combination they share (:meth:`numbers`): the
        explanations are then joined once per combination of their sentences."""
        cond = np.asarray(cond, dtype=bool)
        out = np.full(self.n, "", dtype=object)
        numbers = np.full(self.n, -1, dtype=np.int64)
        if not cond.any():
            return self._numbered(out, numbers, 0)
        if isinstance(build, str):
            out[cond] = build
            numbers[cond] = 0
            return self._numbered(out, numbers, 1)
        rows = np.flatnonzero(cond)
        code = getattr(build, "__code__", None)
        columns = _READS.get(code) if code is not None else None
        if columns is not None and len(rows) >= DISTINCT_FROM and columns <= self._columns:
            row, first = self.distinct(columns, rows)
            try:
                written = np.asarray(build(Rader(self.values, self._columns, rows[first], only=columns)), dtype=object)
            except _NotListed:
                pass
            else:
                if written.ndim:
                    out[cond] = written[row]
                    numbers[cond] = row
                    return self._numbered(out, numbers, len(first))
                out[cond] = written[()]  # one text (no field from r): every row
                numbers[cond] = 0
                return self._numbered(out, numbers, 1)
        r = Rader(self.values, self._columns, rows)
        written = np.asarray(build(r), dtype=object)
        out[cond] = written
        if code is not None:
            _READS[code] = frozenset(r.read)
        if written.ndim:  # each row a number of its own
            numbers[cond] = np.arange(len(rows))
            return self._numbered(out, numbers, len(rows))
        numbers[cond] = 0
        return self._numbered(out, numbers, 1)

    def distinct(self, columns: frozenset[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`~fee_engine.sortering.distinct_rows` of ``columns`` among ``rows``: each row's combination, and
        where each first appears among ``rows``. Each column's values are numbered once for all the sentences."""
        codes, sizes = [], []
        alone = np.zeros(len(rows), dtype=bool)
        for c in sorted(columns):
            numbers, size = self._column_numbers(c)
            these = numbers[rows]
            alone |= these < 0  # a missing value is never taken to equal another
            codes.append(np.maximum(these, 0))
            sizes.append(size)
        return distinct_codes(codes, sizes, alone if alone.any() else None, n=len(rows))

    def _column_numbers(self, column: str) -> tuple[np.ndarray, int]:
        """Each period's value of ``column`` numbered (:func:`~fee_engine.sortering.factorize`: -1 for a missing
        value), and how many."""
        known = self._numbered_columns.get(column)
        if known is None:
            numbers, distinct = factorize(self.series(column).to_numpy())
            known = self._numbered_columns[column] = (numbers, len(distinct))
        return known

    def hjemmel(self, step: Steg, tilbud: str, r: Rader) -> pd.Series:
        """The legal reference of ``step`` for ``tilbud`` as a parent reads it, for each row of ``r`` (rows of these
        periods, as :meth:`when` gives them): the short reference in force in the period's first month (a municipal
        one: the row's municipality's). Looked up once per parameter and place (municipality and month)."""
        path = step.hjemmel[tilbud]
        kommune = r["kommunenummer"]  # both read through r, so that r knows it read them
        r["maaned"]
        place, first = self._places()
        at = place[r.rows]
        refs = self._refs.get(path)
        if refs is None:
            refs = self._refs[path] = np.full(len(first), None, dtype=object)
        for k in np.unique(at).tolist():  # only these rows' places: another may lack the parameter
            if refs[k] is None:
                row = first[k]
                month = pd.Timestamp(self.values("maaned")[row]).date()
                refs[k] = self.rules.hjemmel_kort(path, month, str(self.values("kommunenummer")[row]))
        return pd.Series(refs[at], index=kommune.index)

    def _places(self) -> tuple[np.ndarray, np.ndarray]:
        """Each period's place, its municipality and first month (:func:`~fee_engine.sortering.distinct_rows`, once
        for all the sentences), and where each place first appears."""
        if self._place is None:
            self._place = distinct_rows([self.col("kommunenummer"), self.col("maaned")])
        return self._place

    def foer(self, step: Steg) -> str:
        """The column with the amount before ``step`` (the previous step's amount after)."""
        return REKKEFOLGE[REKKEFOLGE.index(step) - 1].etter

    def reduksjon(self, step: Steg, r: pd.DataFrame) -> np.ndarray:
        """What ``step`` took off, in whole kroner (each amount rounded, as in the output columns)."""
        return to_kroner(r[self.foer(step)].to_numpy(np.int64)) - to_kroner(r[step.etter].to_numpy(np.int64))

    def periode(self, r: pd.DataFrame) -> pd.Series:
        """«august 2024» for a period of one month, «august 2024–juli 2025» for longer: written once per distinct
        first and last month."""
        start, end = r["maaned"].to_numpy("datetime64[M]"), r["til"].to_numpy("datetime64[M]")
        pair, first = distinct_rows([start, end])

        texts = [periode_tekst(a, b) for a, b in zip(start[first].tolist(), end[first].tolist())]
        return pd.Series(np.array(texts, dtype=object)[pair] if len(pair) else np.array([], dtype=object))
