"""Numbers and months as Norwegian text: one place for the thousands separator and the month names."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .sortering import factorize

MAANEDER = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
]  # the same in bokmål and nynorsk


def maaned_navn(d: dt.date) -> str:
    """«august 2024» (the same in bokmål and nynorsk)."""
    return f"{MAANEDER[d.month - 1]} {d.year}"


def periode_tekst(fra: dt.date, til: dt.date) -> str:
    """«august 2024» for one month, «august 2024–juli 2025» for longer."""
    return (
        maaned_navn(fra) if (fra.year, fra.month) == (til.year, til.month) else f"{maaned_navn(fra)}–{maaned_navn(til)}"
    )


def thousands(value: int) -> str:
    """12345 -> «12 345» (a plain space, as in the explanations and CSV files)."""
    return f"{int(value):,}".replace(",", " ")


def thousands_of(values: list[int]) -> list[str]:
    """:func:`thousands` of each whole number, formatted together (a quarter faster than one by one)."""
    if not values:
        return []
    return _SEP.join(map("{:,}".format, values)).replace(",", " ").split(_SEP)


_SEP = "\x1f"  # in no number's text


def thousands_each(values: np.ndarray, known: dict[int, str] | None = None) -> np.ndarray:
    """:func:`thousands` of each whole number in ``values`` (an object array), each distinct one formatted once,
    the new ones together. ``known``: numbers already formatted, kept between calls (a household's income is
    shown in several sentences); those formatted here are added."""
    codes, distinct = pd.factorize(np.asarray(values, dtype=np.int64))
    numbers = distinct.tolist()
    if known is None:
        return np.array(thousands_of(numbers), dtype=object)[codes]
    new = [v for v in numbers if v not in known]
    known.update(zip(new, thousands_of(new)))
    return np.array([known[v] for v in numbers], dtype=object)[codes]


def kroner(value: int) -> str:
    """Whole kroner: «12 345 kr»."""
    return thousands(value) + " kr"


def kroner_og_oere(oere: int) -> str:
    """Øre as kroner with two decimals: 199999 -> «1 999,99» (where whole kroner would hide a difference), -150 ->
    «−1,50» (a minus sign)."""
    sign = "−" if oere < 0 else ""
    whole, part = divmod(abs(int(oere)), 100)
    return f"{sign}{thousands(whole)},{part:02d}"


def kroner_eksakt(oere: int) -> str:
    """Øre as kroner, with the øre only where there are some: 64270000 -> «642 700», 64269999 -> «642 699,99» (an
    income just under a limit is never shown as the limit)."""
    return thousands(int(oere) // 100) if int(oere) % 100 == 0 else kroner_og_oere(oere)


def is_text(values: pd.Series) -> bool:
    """Whether a column holds texts: as Python objects, or in pandas' string dtype (``str``)."""
    return values.dtype == object or isinstance(values.dtype, pd.StringDtype)


def per_value(values: np.ndarray, write: Callable[[Any], object]) -> np.ndarray:
    """``write`` of each element of ``values`` (numbers or texts, never missing), called once per distinct value: a
    column of a million amounts has a few thousand. An object array."""
    codes, uniques = factorize(np.asarray(values))
    return np.array([write(v) for v in uniques.tolist()], dtype=object)[codes]


def year_months(values: pd.Series | np.ndarray) -> np.ndarray:
    """Dates (no missing ones) as «2024-08», what ``.dt.strftime("%Y-%m")`` writes, each distinct month written
    once: a batch's periods begin in a dozen months."""
    months = np.asarray(values, dtype="datetime64[M]").view(np.int64)
    return per_value(months, lambda m: str(np.datetime64(m, "M")))


# Why text columns share their string objects. The runs are shared with the processes forked to write the outputs
# (copy-on-write), and reading a text value there writes to its string object (Python counts the references).
# That copies the whole page holding the object. One string object per row, scattered among millions of
# others, cost a copied page for a few values each: at 100 000 children about 45 MB per column for
# a column such as ``stadie``, and 57 MB for ``barn_id``.


def one_object_per_text(values: np.ndarray | pd.Series) -> np.ndarray:
    """``values`` (texts) as an object array in which equal texts are one string object. For columns of few
    distinct values made row by row (``np.where`` over texts makes a new string for every row)."""
    return per_value(values, str)  # str of a text is that text: each distinct text becomes one object


def fresh_copies(texts: Sequence[str]) -> list[str]:
    """New string objects equal to ``texts``, made one after another so they lie together in memory (their
    originals lie among the rows they were read from).

    Joined into one text and split again (8 ms for 110 000 ids, where pickling them there and back took 30 ms);
    where a text holds the separator, pickled."""
    texts = list(texts)
    if len(texts) > 1:  # (one text would be joined and split into itself)
        copies = _SEP.join(texts).split(_SEP)
        if len(copies) == len(texts):  # no text held the separator
            return copies
    return pickle.loads(pickle.dumps(texts, protocol=pickle.HIGHEST_PROTOCOL))
