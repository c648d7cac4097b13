"""Exact integer money: øre in int64 arrays, one rounding rule.

Every intermediate division is rounded to the øre (half up) and nothing else is
rounded; only the amount a household pays for a month is rounded to whole kroner.
"""

from __future__ import annotations

import numpy as np


def div_half_up(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """round(num / den) half up, for non-negative integer arrays, without floats."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    return (2 * num + den) // (2 * den)


def percent_of(amount_oere: np.ndarray, basis_points: np.ndarray | int) -> np.ndarray:
    """amount × bp / 10 000, rounded to the øre."""
    return div_half_up(np.asarray(amount_oere, dtype=np.int64) * basis_points, 10_000)


def to_kroner(oere: np.ndarray) -> np.ndarray:
    """Whole kroner, half up (the monthly amount)."""
    return div_half_up(oere, 100)
