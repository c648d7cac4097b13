"""``vedtak.json``: decisions with the explanation as structured steps, for other systems.

Each period: the child, period, amount, status, income basis, and ``steg``: the rules
applied in order, each with its legal reference and the amount before and after (kroner).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..parameters import RuleSet

STEPS = [
    # (flag in forklaring_kode or None for always, rule, parameter whose hjemmel is the reference, column with the reduction)
    (None, "ordinaer_pris", "barnehage.maksimalpris.generell", None),
    ("saerskilte_behov", "gratis_sfo_saerskilte_behov", "sfo.saerskilte_behov_gratis.trinn", "saerskilte_behov_fritak"),
    ("inntekt_6_prosent", "redusert_foreldrebetaling", "barnehage.redusert_betaling.maks_andel_av_inntekt", "inntektsreduksjon"),
    ("gratis_timer_sfo", "gratis_timer_sfo", "sfo.gratis_timer.trinn", "gratis_timer"),
    ("soesken_", "soeskenmoderasjon", "barnehage.soeskenmoderasjon.barn_2", "soeskenmoderasjon"),
    ("gratis_kjernetid", "gratis_kjernetid", "barnehage.gratis_kjernetid.inntektsgrense", "gratis_timer"),
]


def decisions(vedtak: pd.DataFrame, rules: RuleSet) -> list[dict[str, Any]]:
    refs = {p: rules.parameter(p).hjemmel for _, _, p, _ in STEPS}
    refs["sfo.redusert_betaling.trinn"] = rules.parameter("sfo.redusert_betaling.trinn").hjemmel
    out = []
    for r in vedtak.to_dict("records"):
        code = str(r["forklaring_kode"])
        amount = int(r["ordinaer_pris"])
        steps = []
        if "ikke_fakturert" in code:
            steps.append({"regel": "ikke_fakturert", "hjemmel": None, "for": 0, "etter": 0})
        else:
            for flag, rule, param, col in STEPS:
                if flag is None:
                    ref = refs[param] if r["tilbud"] == "barnehage" else "kommunal forskrift om SFO (prisliste)"
                    steps.append({"regel": rule, "hjemmel": ref, "for": None, "etter": amount})
                    continue
                if flag not in code:
                    continue
                ref = refs[param]
                if rule == "redusert_foreldrebetaling" and r["tilbud"] == "sfo":
                    ref = refs["sfo.redusert_betaling.trinn"]
                if rule == "soeskenmoderasjon" and r["tilbud"] == "sfo":
                    ref = "kommunal forskrift om SFO"
                before, amount = amount, amount - int(r[col])
                steps.append({"regel": rule, "hjemmel": ref, "for": before, "etter": amount})
            if "manuell" in code:  # the income-tested steps wait for a caseworker
                steps.append({"regel": "manuell_behandling", "hjemmel": None, "for": amount, "etter": amount})
        out.append({
            "barn_id": r["barn_id"], "husholdning_id": r["husholdning_id"], "tilbud": r["tilbud"],
            "kommunenummer": r["kommunenummer"], "institusjon": r["institusjon"],
            "fra_maaned": r["fra_maaned"], "til_maaned": r["til_maaned"], "belop": int(r["belop"]),
            "status": r["status"], "inntektsaar": r["inntektsaar"] or None, "stadie": r["stadie"] or None,
            "husholdningsinntekt": None if pd.isna(r["husholdningsinntekt"]) else int(r["husholdningsinntekt"]),
            "regelsett": r["regelsett"], "steg": steps, "forklaring": r["forklaring"],
        })
    return out


def write_json(path: Path, vedtak: pd.DataFrame, rules: RuleSet, meta: dict[str, Any]) -> Path:
    doc = {"kjoering": meta, "vedtak": decisions(vedtak, rules)}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
