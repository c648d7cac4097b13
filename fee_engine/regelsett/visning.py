"""Parameter values as people read them."""

from __future__ import annotations

from typing import Any

from .skjema import PriceStep, SiblingRates


def format_value(verdi: Any) -> str:
    """«2000», «1, 2, 3», «fra 0 t: 1700 kr; fra 12.5 t: 3299 kr», «barn 2: 30 %, barn 3+: 50 %»."""
    if isinstance(verdi, float) and verdi.is_integer():
        return str(int(verdi))
    if isinstance(verdi, list):
        if verdi and isinstance(verdi[0], PriceStep):
            return "; ".join(f"fra {format_value(x.fra_timer)} t: {format_value(x.pris)} kr" for x in verdi)
        return ", ".join(format_value(x) for x in verdi) or "(ingen)"
    if isinstance(verdi, dict):
        return "; ".join(f"{k}: {format_value(v)}" for k, v in verdi.items()) or "(ingen)"
    if isinstance(verdi, SiblingRates):
        return f"barn 2: {format_value(verdi.barn_2)} %, barn 3+: {format_value(verdi.barn_3_og_flere)} %"
    if verdi is None:
        return "(ingen)"
    return str(verdi)
