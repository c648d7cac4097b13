"""Helpers a step's sentences are built with: the period rows, masks, numbers as text, legal references.

Sentences are built column-wise, and only for the rows they apply to (:meth:`Setninger.when`).
Numbers shown in kroner are rounded half up from øre, the same rule as the amount paid.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..beregning import has_flag
from ..money import to_kroner
from ..regelsett import RuleSet
from ..steg import REKKEFOLGE, Steg
from ..text import thousands

MONTHS_NB = ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
             "november", "desember"]


def kr(values: pd.Series | np.ndarray) -> pd.Series:
    """Whole kroner from øre (half up), formatted «1 234» (mapped per distinct value)."""
    k = pd.Series(to_kroner(np.asarray(values, dtype=np.int64)))
    return k.map({v: thousands(v) for v in pd.unique(k)})


def kr_hel(values: pd.Series | np.ndarray) -> pd.Series:
    """Whole kroner formatted «1 234»."""
    s = pd.Series(np.asarray(values, dtype=np.int64))
    return s.map({v: thousands(v) for v in pd.unique(s)})


def num(values: pd.Series | np.ndarray, div: int = 100) -> pd.Series:
    """Hundredths (hours, percent) to «20» or «20,5»."""
    s = pd.Series(np.asarray(values, dtype=np.int64))
    uniq = {}
    for v in pd.unique(s):
        q, r = divmod(int(v), div)
        uniq[v] = f"{q}" if r == 0 else f"{v / div:.2f}".rstrip("0").replace(".", ",")
    return s.map(uniq)


def maaned_tekst(ts: pd.Series) -> pd.Series:
    uniq = pd.DatetimeIndex(pd.unique(ts))
    names = dict(zip(uniq, [f"{MONTHS_NB[t.month - 1]} {t.year}" for t in uniq]))
    return ts.map(names)


class Setninger:
    """The vedtak periods (``p``, one row each) and what a step needs to write about them."""

    kr = staticmethod(kr)
    kr_hel = staticmethod(kr_hel)
    num = staticmethod(num)
    maaned_tekst = staticmethod(maaned_tekst)

    def __init__(self, p: pd.DataFrame, rules: RuleSet) -> None:
        self.p = p.reset_index(drop=True)
        self.rules = rules
        self.n = len(self.p)
        self._flagg = self.p["flagg"].to_numpy(np.int64)
        self.bh = (self.p["tilbud"] == "barnehage").to_numpy()
        self.sfo = ~self.bh
        self.manuell = (self.p["status"] == "manuell").to_numpy()
        self.fakturert = self.col("fakturert", bool)
        self.oppgitt_pris = (self.p["pris_oere"] >= 0).to_numpy()
        self.inntekt_kjent = (self.p["inntekt_status"].astype(str).to_numpy() == "kjent") & ~self.manuell

    def col(self, name: str, dtype: type | None = None) -> np.ndarray:
        values = self.p[name].to_numpy()
        return values.astype(dtype) if dtype is not None else values

    def har(self, *flags: str) -> np.ndarray:
        return has_flag(self._flagg, *flags)

    def when(self, cond: np.ndarray, build: Callable[[pd.DataFrame], pd.Series] | str) -> np.ndarray:
        cond = np.asarray(cond, dtype=bool)
        out = np.full(self.n, "", dtype=object)
        if cond.any():
            out[cond] = build if isinstance(build, str) else np.asarray(build(self.p[cond].reset_index(drop=True)),
                                                                        dtype=object)
        return out

    @staticmethod
    def series(values: np.ndarray) -> pd.Series:
        return pd.Series(values)

    def hjemmel(self, step: Steg, tilbud: str, r: pd.DataFrame | None = None) -> str | pd.Series:
        """The legal reference of ``step`` for ``tilbud``, from the rule file.

        A national parameter's reference is one text; a municipal one is each row's municipality's
        (pass the rows ``r``)."""
        path = step.hjemmel[tilbud]
        if not path.startswith("kommune."):
            return self.rules.hjemmel(path)
        if r is None:
            raise ValueError(f"{step.kode}: the reference for {tilbud} is municipal; pass the rows")
        kommuner = r["kommunenummer"].astype(str)
        refs = {k: self.rules.hjemmel(path, k) for k in pd.unique(kommuner)}
        return kommuner.map(refs)

    def foer(self, step: Steg) -> str:
        """The column with the amount before ``step`` (the previous step's amount after)."""
        i = REKKEFOLGE.index(step)
        return REKKEFOLGE[i - 1].etter

    def reduksjon(self, step: Steg, r: pd.DataFrame) -> np.ndarray:
        """What ``step`` took off, in whole kroner (each amount rounded, as in the output columns)."""
        return to_kroner(r[self.foer(step)].to_numpy(np.int64)) - to_kroner(r[step.etter].to_numpy(np.int64))

    def periode(self, r: pd.DataFrame) -> pd.Series:
        first, last = maaned_tekst(r["maaned"]), maaned_tekst(r["til"])
        return first.where(r["maaned"] == r["til"], first + "–" + last)
