"""Numbers and months as Norwegian text: one place for the thousands separator and the month names."""

from __future__ import annotations

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
