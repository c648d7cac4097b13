"""Which months each child is billed, computed once per run of months with unchanged inputs.

Rules change on a few dates a year, so a child's amount is constant between them. The period is
cut into *segments*: runs of months in which no parameter of any municipality changes, billing
does not change, and no 1 August falls (the kjernetid age window turns then). A child whose
household's placements all cover the whole period gets one run per segment; a household where
some placement starts or ends inside the period gets one run per month, so that sibling ranks
follow who is present each month. Output expands runs to one row per child and month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..sortering import lexsort
from ..text import fresh_copies


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def segments(table: pd.DataFrame, sider: dict[str, dict], months: list[dt.date]) -> np.ndarray:
    """Index of the first month of each segment (see the module docstring)."""
    n = len(months)
    start = np.zeros(n, dtype=bool)
    start[0] = True
    for i, m in enumerate(months):
        if m.month == 8:
            start[i] = True
    cols = [c for c in table.columns if c not in ("kommunenummer", "maaned")]
    t = table.sort_values(["kommunenummer", "maaned"], kind="stable")
    month_pos = {pd.Timestamp(m): i for i, m in enumerate(months)}
    for _, grp in t.groupby("kommunenummer", sort=False):
        values = grp[cols].to_numpy()
        idx = [month_pos[m] for m in grp["maaned"]]
        for j in range(1, len(idx)):
            if not (values[j] == values[j - 1]).all():
                start[idx[j]] = True
    for side in sider.values():
        for k in {k for k, _ in side}:
            for i in range(1, n):
                a, b = side.get((k, pd.Timestamp(months[i - 1]))), side.get((k, pd.Timestamp(months[i])))
                if a is not None and b is not None and not all(np.array_equal(x, y) for x, y in zip(a, b)):
                    start[i] = True
    return np.flatnonzero(start)


def factorize_sorted(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=True, use_na_sentinel=False)``: codes, and the distinct values in sorted order.

    For a column of texts the distinct values are sorted as numpy's variable-width strings (UTF-8, whose byte
    order is the code points' order, as Python compares texts): 0.23 s for 500 000 children's ids against
    0.84 s for pandas' sort of Python objects. Anything else (a missing value, a number, a text with a NUL or
    one UTF-8 cannot hold) is factorized by pandas."""
    if str(values.dtype) in ("str", "string"):
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        distinct = np.asarray(uniques, dtype=object)
        order = _text_order(distinct)
        if order is not None:
            rank = np.empty(len(order), dtype=np.intp)
            rank[order] = np.arange(len(order))
            return rank[codes], distinct[order]
    return pd.factorize(values, sort=True, use_na_sentinel=False)


def _text_order(distinct: np.ndarray) -> np.ndarray | None:
    """The order of ``distinct`` (Python texts) by numpy's strings; None where it could differ from Python's."""
    if pd.isna(distinct).any() or "\x00" in "".join(distinct):  # numpy's strings are equal past a NUL
        return None
    try:
        return distinct.astype(np.dtypes.StringDType()).argsort(kind="stable")
    except UnicodeEncodeError:  # a lone surrogate
        return None


# The runs' column holding each placement's code (:attr:`Koder.plass`). In upper case: no column of the enrollment
# file can have this name (its headers are read in lower case), so it never meets one of the file's own columns.
PLASS = "Plass"


@dataclass(frozen=True)
class Koder:
    """The children's identifiers as integer codes, hashed once per calculation: hashing and sorting them as
    Python strings in each step that groups or orders by them grew faster than the file (150 ns an id at
    500 000 children against 48 ns at 100 000).

    Per row of the children: ``barn`` ranks the child in ``barn_id``'s text order; ``plass`` ranks the child and
    offer in the text order of (``barn_id``, ``tilbud``); ``husholdning`` numbers the households as they first
    appear, ``husholdninger[husholdning]`` being their ids; ``barnehage`` says whether the offer is barnehage;
    ``barn_ider[barn]`` are the children's ids.
    """

    barn: np.ndarray
    plass: np.ndarray
    husholdning: np.ndarray
    husholdninger: np.ndarray
    barnehage: np.ndarray
    barn_ider: np.ndarray

    @classmethod
    def of(cls, children: pd.DataFrame) -> Koder:
        # use_na_sentinel=False: a missing identifier is one more value (none passes the enrollment checks)
        barn, barn_ider = factorize_sorted(children["barn_id"])
        tilbud, offers = pd.factorize(children["tilbud"], sort=True, use_na_sentinel=False)
        hh, households = pd.factorize(children["husholdning_id"], use_na_sentinel=False)
        barn = barn.astype(np.int64)
        return cls(
            barn=barn,
            plass=barn * max(len(offers), 1) + tilbud,
            husholdning=hh.astype(np.int64),
            husholdninger=np.asarray(households, dtype=object),
            barnehage=(np.asarray(offers, dtype=object) == "barnehage")[tilbud] if len(tilbud) else np.zeros(0, bool),
            barn_ider=np.asarray(barn_ider, dtype=object),
        )


@dataclass
class Runs:
    child: np.ndarray  # index into the children
    first: np.ndarray  # index of the run's first month
    length: np.ndarray  # months in the run
    moved: np.ndarray  # the child had another placement in the same offer that month (it was not billed)


def plan_runs(children: pd.DataFrame, months: list[dt.date], seg_starts: np.ndarray, koder: Koder) -> Runs:
    n, m = len(children), len(months)
    starts = pd.DatetimeIndex([pd.Timestamp(x) for x in months])
    ends = (starts + pd.offsets.MonthEnd(0)).to_numpy()
    starts = starts.to_numpy()
    fra = children["fra_dato"].to_numpy("datetime64[ns]")
    til = children["til_dato"].to_numpy("datetime64[ns]")
    # first and last month the placement touches (a started month counts)
    lo = np.where(np.isnat(fra), 0, np.searchsorted(ends, fra, side="left"))
    hi = np.where(np.isnat(til), m - 1, np.searchsorted(starts, til, side="right") - 1)
    # a child with two placements in one offer is never on the simple path (in a one-month period both can
    # touch every month): its months go through one_bill_per_month
    twice = np.bincount(koder.plass)[koder.plass] > 1 if n else np.zeros(0, dtype=bool)
    whole = (lo == 0) & (hi == m - 1) & ~twice
    hh = koder.husholdning
    hh_whole = np.ones(hh.max() + 1 if n else 0, dtype=bool)
    np.logical_and.at(hh_whole, hh, whole)
    simple = hh_whole[hh] if n else np.zeros(0, dtype=bool)
    seg_len = np.diff(np.append(seg_starts, m))
    s_idx = np.flatnonzero(simple)
    c1 = np.repeat(s_idx, len(seg_starts))
    f1 = np.tile(seg_starts, len(s_idx))
    l1 = np.tile(seg_len, len(s_idx))
    # the others: one run per month inside the placement
    o_idx = np.flatnonzero(~simple)
    span = np.maximum(hi[o_idx] - lo[o_idx] + 1, 0)
    c2 = np.repeat(o_idx, span)
    offs = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    f2 = np.repeat(lo[o_idx], span) + offs
    c2, f2, moved2 = one_bill_per_month(koder.plass, c2, f2, fra, til, starts, ends)
    child = np.concatenate([c1, c2]).astype(np.int64)
    first = np.concatenate([f1, f2]).astype(np.int64)
    length = np.concatenate([l1, np.ones(len(c2), dtype=np.int64)]).astype(np.int64)
    moved = np.concatenate([np.zeros(len(c1), dtype=bool), moved2])
    order = lexsort([child, first])
    return Runs(child[order], first[order], length[order], moved[order])


def one_bill_per_month(
    plass: np.ndarray,
    c: np.ndarray,
    f: np.ndarray,
    fra: np.ndarray,
    til: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One child, one offer, one month, one bill (docs/utvikling.md; the README, «The rules», step 7).

    When a child's placements in the same offer meet inside a month (a move, a new place size), the
    month is billed once, for the placement with the most days in that month; a tie goes to the
    later placement. ``plass``: the child and offer of each row of the children (:attr:`Koder.plass`). Returns
    the kept (child, month) pairs and whether another placement of the same child and offer was dropped that month.
    """
    if len(c) == 0:
        return c, f, np.zeros(0, dtype=bool)
    who = plass[c]
    day = np.timedelta64(1, "D")
    lo = np.where(np.isnat(fra[c]), starts[f], np.maximum(fra[c], starts[f]))
    hi = np.where(np.isnat(til[c]), ends[f], np.minimum(til[c], ends[f]))
    days = ((hi - lo) // day).astype(np.int64) + 1
    start_key = np.where(
        np.isnat(fra[c]), np.iinfo(np.int64).min + 1, fra[c].astype(np.int64)
    )  # negated below: no overflow
    order = lexsort([who, f, -days, -start_key])
    w, m = who[order], f[order]
    first_of_group = np.ones(len(order), dtype=bool)
    first_of_group[1:] = (w[1:] != w[:-1]) | (m[1:] != m[:-1])
    group_size = np.diff(np.append(np.flatnonzero(first_of_group), len(order)))
    keep = order[first_of_group]
    return c[keep], f[keep], group_size > 1


def month_runs(length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of ``length`` months: each child-month's run, and its month counted from the run's first."""
    rep = np.repeat(np.arange(len(length)), length)
    return rep, np.arange(len(rep)) - np.repeat(np.cumsum(length) - length, length)


def expand_runs(runs: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """One row per child and month from one row per run (``maaned`` = the run's first month)."""
    rep, offset = month_runs(runs["antall_maaneder"].to_numpy())
    first = runs["maaned"].to_numpy("datetime64[M]")[rep]
    out = {}
    for c in columns or list(runs.columns):  # in the order asked for, without antall_maaneder
        if c == "maaned":
            out[c] = (first + offset).astype("datetime64[ns]")
        elif c != "antall_maaneder":
            out[c] = take(runs[c], rep)
    # copy=False: every array above is new, and each stays its own block; stacking them into 2-D blocks by
    # dtype copied the whole table once more (0.65 s of 1.1 s at 100 000 children, 1.16 M child-months)
    return pd.DataFrame(out, copy=False)


def take_coded(
    column: pd.Series, index: np.ndarray, uniques: np.ndarray, codes: np.ndarray
) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """``take(column, index)``, for a text column of many distinct values (the children's and the households'
    ids) whose rows are ``uniques[codes]``: made from fresh copies of the distinct values
    (:func:`fee_engine.text.fresh_copies`), so the runs' ids lie together in memory, not among the enrollment rows."""
    if str(column.dtype) not in ("str", "string") or pd.isna(uniques).any():
        return take(column, index)
    return pd.array(fresh_copies(uniques), dtype=column.dtype).take(codes[index])


def take(column: pd.Series | np.ndarray, index: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """``column`` at ``index`` as an array: a text column stays pandas' string array (a DataFrame made from it
    does not check every value again: 0.3 s for the 1.16 M child-months), the rest (and an array) by numpy indexing."""
    if isinstance(column, np.ndarray):
        return column[index]
    if str(column.dtype) in ("str", "string"):
        return column.array.take(index)
    return column.to_numpy()[index]
