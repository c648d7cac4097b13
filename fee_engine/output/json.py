"""``vedtak.json``: decisions with the calculation as structured step records, for other systems.

Each period: the child, period, amount, status, income basis, and ``steg``: the legal steps applied
in order, each with its legal reference (from the rule files), the amount before and after (whole
kroner) and the parameter values it used (see :mod:`fee_engine.forklaring.poster`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..forklaring.poster import step_records
from ..regelsett import RuleSet


def _plain(v: Any) -> Any:
    """A cell as JSON: numpy integers as int, missing as null, everything else as it is."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def decisions(vedtak: pd.DataFrame, periods: pd.DataFrame, rules: RuleSet) -> list[dict[str, Any]]:
    """One object per row of ``vedtak.csv``, with every one of its columns in its order, then ``steg``."""
    records = step_records(periods, rules)
    columns = list(vedtak.columns)
    out = []
    for r, steps in zip(vedtak.to_dict("records"), records):
        d = {c: _plain(r[c]) for c in columns}
        d["belop"] = int(r["belop"])
        d["inntektsaar"] = r["inntektsaar"] or None
        d["stadie"] = r["stadie"] or None
        hh = r["husholdningsinntekt"]
        d["husholdningsinntekt"] = None if pd.isna(hh) else int(hh)
        d["steg"] = steps
        out.append(d)
    return out


def write_json(path: Path, vedtak: pd.DataFrame, periods: pd.DataFrame, rules: RuleSet, meta: dict[str, Any]) -> Path:
    doc = {"kjoering": meta, "vedtak": decisions(vedtak, periods, rules)}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
