"""SFO, month by month (CALCULATION.md; forskrift til opplæringslova kap. 1B / opplæringsforskrifta).

There is no national maximum price for SFO: the ordinary price is the municipality's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .money import div_half_up


def in_grades(trinn: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True where grade ``trinn`` is in the grade bitmask (bit g = grade g)."""
    return ((mask >> trinn) & 1).astype(bool)


def ordinary_price(given: np.ndarray, is_sfo: np.ndarray, kommune: np.ndarray, month_i: np.ndarray,
                   timer_c: np.ndarray, prices: dict, months: list) -> np.ndarray:
    """P0 = pris_maaned (``given``, -1 = none), or the municipal price list for the agreed hours per week."""
    p0 = given.copy()
    need = np.flatnonzero((p0 < 0) & is_sfo)
    if need.size:
        keys = pd.DataFrame({"k": kommune[need], "m": month_i[need]})
        for (k, m), grp in keys.groupby(["k", "m"]).indices.items():
            steps, steps_price = prices[(k, pd.Timestamp(months[m]))]
            rows = need[grp]
            pos = np.searchsorted(steps, timer_c[rows] / 100.0, side="right") - 1
            p0[rows] = steps_price[np.maximum(pos, 0)]
    return p0


def free_hours(p1: np.ndarray, timer_c: np.ndarray, free_c: np.ndarray, fixed: np.ndarray,
               fixed_oere: np.ndarray, applies: np.ndarray) -> np.ndarray:
    """12 free hours a week: deduction = P1 × min(1, 12 / agreed hours), or a fixed monthly
    value (municipal setting), never more than P1. Returns the deduction."""
    share = np.where(free_c >= timer_c, p1, div_half_up(p1 * free_c, np.maximum(timer_c, 1)))
    value = np.where(fixed, np.minimum(p1, fixed_oere), share)
    return np.where(applies, value, 0)
