"""Numbers and months as Norwegian text: one place for the thousands separator and the month names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .money import to_kroner

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


def thousands(value: int) -> str:
    """12345 -> «12 345» (a plain space, as in the explanations and CSV files)."""
    return f"{int(value):,}".replace(",", " ")


def kroner(value: int) -> str:
    """Whole kroner: «12 345 kr»."""
    return thousands(value) + " kr"


def kroner_from_oere(oere: int) -> str:
    """Øre to whole kroner, half up: 1234550 -> «12 346 kr»."""
    return kroner(int(to_kroner(oere)))


def per_value(values: np.ndarray, write: Callable[[Any], object]) -> np.ndarray:
    """``write`` of each element of ``values`` (numbers, never missing), called once per distinct value: a column
    of a million amounts has a few thousand. An object array."""
    codes, uniques = pd.factorize(np.asarray(values))
    return np.array([write(v) for v in uniques.tolist()], dtype=object)[codes]
