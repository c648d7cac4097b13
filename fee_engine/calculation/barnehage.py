"""Barnehage, month by month (CALCULATION.md; forskrift om foreldrebetaling i barnehager).

Each function is one legal step over whole arrays of child-months. Inputs are the
columns of the merged child-month table (see :mod:`fee_engine.calculation`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .money import div_half_up, percent_of


def ordinary_price(cm: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """§ 1 and § 2: P0 = pris_maaned, or maksimalpris × plass. A given price above the
    maximum for the place is capped and flagged. Returns (P0, maximum for the place, capped)."""
    maks = cm["bh_maks_oere"].to_numpy(np.int64)
    plass = cm["plass_bp"].to_numpy(np.int64)
    pro_rata = percent_of(maks, plass)
    limit = np.where(cm["bh_deltid_forholdsmessig"].to_numpy(bool), pro_rata, maks)
    given = cm["pris_oere"].to_numpy(np.int64)
    has_price = given >= 0
    capped = has_price & (given > limit)
    p0 = np.where(has_price, np.minimum(given, limit), pro_rata)
    return p0, limit, capped


def income_cap(p0: np.ndarray, income_oere: np.ndarray, share_bp: np.ndarray, billed_months: np.ndarray,
               applies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """§ 3b: P1 = min(P0, share × income / billed months). Returns (P1, the cap per month)."""
    cap = div_half_up(np.maximum(income_oere, 0) * share_bp, 10_000 * billed_months)
    p1 = np.where(applies, np.minimum(p0, cap), p0)
    return p1, cap


def core_hours_window(cm: pd.DataFrame) -> np.ndarray:
    """§ 3c age window: from 1 August of the year the child turns ``fra_alder`` until
    1 August of the year it turns ``til_alder``."""
    birth_year = cm["barn_fodselsdato"].dt.year.to_numpy()
    m = cm["maaned"]
    month_index = m.dt.year.to_numpy() * 12 + m.dt.month.to_numpy() - 1
    start = (birth_year + cm["bh_kjerne_fra_alder"].to_numpy()) * 12 + 7
    end = (birth_year + cm["bh_kjerne_til_alder"].to_numpy()) * 12 + 7
    return (month_index >= start) & (month_index < end)


def free_core_hours(p2: np.ndarray, free_hours_c: np.ndarray, fulltime_hours_c: np.ndarray,
                    plass_bp: np.ndarray, applies: np.ndarray) -> np.ndarray:
    """§ 3c: deduction = P2 × min(1, free hours / (full-time hours × plass)). Returns the deduction."""
    place_hours = fulltime_hours_c * plass_bp  # hundredths of an hour × 10 000
    free = free_hours_c * 10_000
    whole = free >= place_hours
    part = div_half_up(p2 * free, np.maximum(place_hours, 1))
    return np.where(applies, np.where(whole, p2, part), 0)
