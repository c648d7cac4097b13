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


def ordinary_price(cm: pd.DataFrame, prices: dict) -> np.ndarray:
    """P0 = pris_maaned, or the municipal price list for the agreed hours per week."""
    p0 = cm["pris_oere"].to_numpy(np.int64).copy()
    need = (p0 < 0) & (cm["tilbud"].to_numpy() == "sfo")
    if need.any():
        sub = cm.loc[need, ["kommunenummer", "maaned", "timer_c"]]
        out = np.empty(len(sub), dtype=np.int64)
        for (kommune, month), grp_idx in sub.groupby(["kommunenummer", "maaned"]).indices.items():
            steps, steps_price = prices[(kommune, month)]
            hours = sub["timer_c"].to_numpy()[grp_idx] / 100.0
            pos = np.searchsorted(steps, hours, side="right") - 1
            out[grp_idx] = steps_price[np.maximum(pos, 0)]
        p0[need] = out
    return p0


def free_hours(p1: np.ndarray, timer_c: np.ndarray, free_c: np.ndarray, fixed: np.ndarray,
               fixed_oere: np.ndarray, applies: np.ndarray) -> np.ndarray:
    """12 free hours a week: deduction = P1 × min(1, 12 / agreed hours), or a fixed monthly
    value (municipal setting), never more than P1. Returns the deduction."""
    share = np.where(free_c >= timer_c, p1, div_half_up(p1 * free_c, np.maximum(timer_c, 1)))
    value = np.where(fixed, np.minimum(p1, fixed_oere), share)
    return np.where(applies, value, 0)
