"""Exact integer money and units: one definition of each conversion and of the rounding rule.

Money is integer øre in int64 arrays. Every intermediate division is rounded to the øre, half
up, and nothing else is rounded; only the amount a household pays for a month is rounded to
whole kroner (half up). Rule values from YAML (kroner, percent, hours) are converted exactly,
once, when the month table is built: kroner to øre, percent to basis points, hours to
hundredths of an hour, a list of grades to a bitmask.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np


def div_half_up(num: np.ndarray | int, den: np.ndarray | int) -> np.ndarray:
    """round(num / den) half up, for non-negative integers (arrays or scalars), without floats."""
    if type(num) is int and type(den) is int:  # one amount: the same rule without numpy's overhead
        return (2 * num + den) // (2 * den)  # type: ignore[return-value]
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    return (2 * num + den) // (2 * den)


def percent_of(amount_oere: np.ndarray, basis_points: np.ndarray | int) -> np.ndarray:
    """amount × bp / 10 000, rounded to the øre."""
    return div_half_up(np.asarray(amount_oere, dtype=np.int64) * basis_points, 10_000)


def to_kroner(oere: np.ndarray | int) -> np.ndarray:
    """Whole kroner, half up (the monthly amount; also every amount shown in kroner)."""
    return div_half_up(oere, 100)


# -- exact conversions of rule values (scalars, once per table cell) ---------------------------
def _dec(x: Any) -> Decimal:
    return Decimal(str(x))


def oere(kroner: Any) -> int:
    """Kroner (int, float or str from YAML) to integer øre, half up."""
    return int((_dec(kroner) * 100).to_integral_value(ROUND_HALF_UP))


def bp(percent: Any) -> int:
    """Percent to basis points (6 -> 600), exact for up to two decimals."""
    return int((_dec(percent) * 100).to_integral_value(ROUND_HALF_UP))


def centi(hours: Any) -> int:
    """Hours to hundredths of an hour (41 -> 4100)."""
    return int((_dec(hours) * 100).to_integral_value(ROUND_HALF_UP))


def grade_mask(grades: list[int]) -> int:
    """Grades to a bitmask: bit g is grade g."""
    mask = 0
    for g in grades:
        mask |= 1 << g
    return mask


def in_grades(trinn: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True where grade ``trinn`` is in the grade bitmask."""
    return ((np.asarray(mask, dtype=np.int64) >> np.asarray(trinn, dtype=np.int64)) & 1).astype(bool)


def hundredths(values: Any) -> np.ndarray:
    """Hundredths (of a percent or an hour) as numbers people read: 600 -> 6, 1250 -> 12.5 (object array)."""
    v = np.asarray(values, dtype=np.int64)
    return np.array([int(x) // 100 if x % 100 == 0 else int(x) / 100 for x in v.tolist()], dtype=object)
