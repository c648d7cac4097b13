"""Synthetic population (benchmarks, golden snapshot): enrollment CSV + matching tax fixture folder, by seed.

Households of one or two adults with log-normal incomes around Norwegian levels (a
low-income tail that triggers the reductions), one to three children in barnehage
(ages 1–5, mostly full places) or SFO (grades 1–7). Every id is a synthetic
fødselsnummer (month + 80). Run: ``python -m fee_engine.synthetic N OUT_DIR [SEED [KOMMUNE]]``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fee_engine.identity import make_synthetic

KOMMUNER = ["0301", "4601", "4641", "5601"]
LOENN = "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt"


def unique_adults(n: int) -> list[str]:
    """``n`` distinct synthetic fødselsnumre of adults born 1970–1994."""
    seen: set[str] = set()
    out: list[str] = []
    day0 = dt.date(1970, 1, 1)
    i = 0
    while len(out) < n:
        fnr = make_synthetic(day0 + dt.timedelta(days=i % 9000), 2 * (i // 9000))
        if fnr not in seen:
            seen.add(fnr)
            out.append(fnr)
        i += 1
    return out


def generate(n_children: int, out: Path, seed: int = 1, income_year: int = 2023, with_tax_files: bool = True,
             kommune: str | None = None) -> Path:
    """Write ``out/innskriving.csv`` and ``out/skatt/``; all in ``kommune`` if given, else spread over four."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    kids_per_hh = rng.choice([1, 2, 3], size=n_children, p=[0.55, 0.35, 0.10])
    hh_of_child = np.repeat(np.arange(n_children), kids_per_hh)[:n_children]
    n_hh = int(hh_of_child[-1]) + 1
    two_adults = rng.random(n_hh) < 0.7
    income = np.round(np.exp(rng.normal(np.log(420_000), 0.45, size=(n_hh, 2)))).astype(np.int64)
    adults = unique_adults(2 * n_hh)
    sfo = rng.random(n_children) < 0.45
    birth_year = np.where(sfo, rng.integers(2013, 2019, n_children), rng.integers(2019, 2024, n_children))
    births = pd.to_datetime(pd.DataFrame({"year": birth_year, "month": rng.integers(1, 13, n_children),
                                          "day": rng.integers(1, 29, n_children)}))
    kommune = (np.array(KOMMUNER)[rng.choice(4, size=n_hh, p=[0.5, 0.35, 0.05, 0.10])][hh_of_child]
               if kommune is None else np.full(n_children, kommune))
    df = pd.DataFrame({
        "barn_id": [f"B{i:07d}" for i in range(n_children)],
        "barn_fodselsdato": births.dt.strftime("%Y-%m-%d"),
        "husholdning_id": [f"H{h:07d}" for h in hh_of_child],
        "foresatt_fnr": [adults[2 * h] for h in hh_of_child],
        "partner_fnr": [adults[2 * h + 1] if two_adults[h] else "" for h in hh_of_child],
        "kommunenummer": kommune,
        "tilbud": np.where(sfo, "sfo", "barnehage"),
        "institusjon": [f"Enhet {k}-{i % 40}" for i, k in enumerate(kommune)],
        "plass_prosent": np.where(sfo, "", rng.choice(["100", "100", "100", "80", "60"], n_children)),
        "timer_per_uke": np.where(sfo, rng.choice(["10", "15", "20"], n_children), ""),
        "trinn": np.where(sfo, (2024 - 6 - birth_year + 1).clip(1, 7).astype(str), ""),
        "soekt_redusert": np.where(rng.random(n_children) < 0.1, "nei", ""),
    })
    # one household, one answer; a few households document their income instead
    df["soekt_redusert"] = df.groupby("husholdning_id")["soekt_redusert"].transform("first")
    documented = rng.random(n_hh) < 0.02
    df["dokumentert_inntekt"] = np.where(documented[hh_of_child] & (df["soekt_redusert"] != "nei"),
                                         income[hh_of_child, 0].astype(str), "")
    df.to_csv(out / "innskriving.csv", sep=";", index=False)
    if with_tax_files:
        # where the data is: 92 % skatteoppgjør, 5 % only an utkast, 3 % nothing (SSG-007, manual)
        where = rng.choice(["oppgjoer", "utkast", "ingen"], size=n_hh, p=[0.92, 0.05, 0.03])
        for stage in ("oppgjoer", "utkast"):
            (out / "skatt" / str(income_year) / stage).mkdir(parents=True, exist_ok=True)
        for h in range(n_hh):
            if where[h] == "ingen":
                continue
            for a in range(2 if two_adults[h] else 1):
                fnr = adults[2 * h + a]
                body = {"personidentifikator": fnr, "inntektsaar": str(income_year), "skjermet": False, "stadie": where[h],
                        "grunnlag": [{"tekniskNavn": LOENN, "beloep": int(income[h, a]), "kategori": "inntekt"}]}
                (out / "skatt" / str(income_year) / where[h] / f"{fnr}.json").write_text(json.dumps(body))
    return out


if __name__ == "__main__":
    generate(int(sys.argv[1]), Path(sys.argv[2]), seed=int(sys.argv[3]) if len(sys.argv) > 3 else 1,
             kommune=sys.argv[4] if len(sys.argv) > 4 else None)
