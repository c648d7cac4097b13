"""Barnehage, month by month (CALCULATION.md; forskrift om foreldrebetaling i barnehager).

Each function is one legal step over whole arrays of child-months. Inputs are the
columns of the merged child-month table (see :mod:`fee_engine.calculation`).
"""

from __future__ import annotations

import numpy as np

from .money import div_half_up, percent_of


def ordinary_price(maks: np.ndarray, plass_bp: np.ndarray, given: np.ndarray,
                   pro_rata_cap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """§ 1 and § 2: P0 = pris_maaned (``given``, -1 = none), or maksimalpris × plass. A given price above
    the maximum for the place (pro rata, or the full maksimalpris, a municipal setting) is capped and
    flagged. Returns (P0, maximum for the place, capped)."""
    pro_rata = percent_of(maks, plass_bp)
    limit = np.where(pro_rata_cap, pro_rata, maks)
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


def core_hours_window(birth: np.ndarray, month_index: np.ndarray, from_age: np.ndarray, to_age: np.ndarray) -> np.ndarray:
    """§ 3c age window: from 1 August of the year the child turns ``from_age`` until 1 August of the
    year it turns ``to_age``. ``birth`` is datetime64[D]; ``month_index`` = year × 12 + month − 1."""
    birth_year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    start = (birth_year + from_age) * 12 + 7
    end = (birth_year + to_age) * 12 + 7
    return (month_index >= start) & (month_index < end)


def free_core_hours(p2: np.ndarray, free_hours_c: np.ndarray, fulltime_hours_c: np.ndarray,
                    plass_bp: np.ndarray, applies: np.ndarray) -> np.ndarray:
    """§ 3c: deduction = P2 × min(1, free hours / (full-time hours × plass)). Returns the deduction."""
    place_hours = fulltime_hours_c * plass_bp  # hundredths of an hour × 10 000
    free = free_hours_c * 10_000
    whole = free >= place_hours
    part = div_half_up(p2 * free, np.maximum(place_hours, 1))
    return np.where(applies, np.where(whole, p2, part), 0)
