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


def decisions(vedtak: pd.DataFrame, periods: pd.DataFrame, rules: RuleSet) -> list[dict[str, Any]]:
    records = step_records(periods, rules)
    out = []
    for r, steps in zip(vedtak.to_dict("records"), records):
        out.append(
            {
                "barn_id": r["barn_id"],
                "husholdning_id": r["husholdning_id"],
                "tilbud": r["tilbud"],
                "kommunenummer": r["kommunenummer"],
                "institusjon": r["institusjon"],
                "fra_maaned": r["fra_maaned"],
                "til_maaned": r["til_maaned"],
                "belop": int(r["belop"]),
                "status": r["status"],
                "inntektsaar": r["inntektsaar"] or None,
                "stadie": r["stadie"] or None,
                "husholdningsinntekt": None if pd.isna(r["husholdningsinntekt"]) else int(r["husholdningsinntekt"]),
                "regelsett": r["regelsett"],
                "steg": steps,
                "forklaring": r["forklaring"],
            }
        )
    return out


def write_json(path: Path, vedtak: pd.DataFrame, periods: pd.DataFrame, rules: RuleSet, meta: dict[str, Any]) -> Path:
    doc = {"kjoering": meta, "vedtak": decisions(vedtak, periods, rules)}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
