"""Prepared inputs for the calculation benchmarks: a synthetic population without tax files.

The population is ``generate(..., endringer=True)`` (placements starting and ending inside the
period, mid-month moves, barnehage to SFO in August, children moving household, twins, SFO in
every grade). Household income is drawn directly (log-normal around 420 000 kr; 3 % manual, 10 %
not applied, 0.5 % with an income item no list knows, which the municipality treats as manual),
so the benchmarks of the calculation measure the calculation alone.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from fee_engine.batch import build_households
from fee_engine.beregning import month_range, month_table
from fee_engine.enrollment import read_enrollment
from fee_engine.regelsett import load_rules
from fee_engine.synthetic import generate

PERIOD = (dt.date(2024, 8, 1), dt.date(2025, 7, 1))


@lru_cache(maxsize=4)
def calc_inputs(n_children: int, seed: int = 1):
    rules = load_rules()
    with tempfile.TemporaryDirectory() as tmp:
        generate(n_children, Path(tmp), seed=seed, with_tax_files=False, endringer=True)
        enr = read_enrollment(Path(tmp) / "innskriving.csv", set(rules.municipalities))
    rows = enr.rows
    hh = build_households(rows)
    rng = np.random.default_rng(seed)
    n = len(hh)
    status = rng.choice(["kjent", "manuell", "ikke_soekt"], size=n, p=[0.87, 0.03, 0.10])
    status = np.where(~hh["soekt_redusert"].to_numpy(), "ikke_soekt", np.where(status == "ikke_soekt", "kjent", status))
    income = np.round(np.exp(rng.normal(np.log(420_000), 0.5, size=n))).astype(np.int64) * 100
    unknown = (status == "kjent") & (rng.random(n) < 0.005)
    households = pd.DataFrame(
        {
            "husholdning_id": hh["husholdning_id"],
            "inntekt_oere": np.where(status == "kjent", income, -1),
            "inntekt_status": status,
            "manuell_grunn": np.where(status == "manuell", "ingen skattegrunnlag (SSG-008)", ""),
            "inntektsaar": "2023",
            "stadie": "oppgjoer",
            "inntekt_kilde": "",
            "ukjente_poster": np.where(unknown, "inntektFraKildeSomIkkeErKlassifisert", ""),
        }
    )
    months = month_range(*PERIOD)
    table, prices, _ = month_table(rules, months, sorted(rows["kommunenummer"].unique()), ("barnehage", "sfo"))
    return rows, households, table, prices, months
