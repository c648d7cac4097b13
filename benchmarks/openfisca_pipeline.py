"""Whole-job peer for the benchmarks: the same job as ``fee-engine run --source files --format csv``,
done with pandas and the OpenFisca-core model in ``openfisca_model.py``.

Reads the same enrollment CSV (pandas) and the same tax answers
(``DIR/<inntektsår>/<stadie>/<person>.json``), in the same fallback order (skatteoppgjør Y−1,
utkast Y−1, skatteoppgjør Y−2 for a period starting in year Y), sums the items the rule set's
income list counts (``rules.income_classification(year)``: personinntekt, kapitalinntekt, a
business's surplus), makes a household manual when an adult has no answer, a screened answer
without figures, or (where the municipality says so) an income item no list knows, and computes
every month of the period with the OpenFisca model. Writes one CSV of amounts:
``barn_id;tilbud;maaned;belop``, one row per child, offer and month billed (or free).

What it does not do, so the comparison favours it: no validation of the enrollment file (it
expects a well-formed file such as ``fee-engine synthetic`` writes: ``;``-separated, ISO dates,
plain numbers), no explanations, no decisions file, no audit log, no rejected-rows file.
Municipal settings come from the engine's month table (``month_table``), as inputs to the model.

By default it takes the same shortcut as the engine (households whose placements cover the whole
period are computed once per segment of unchanged parameters); ``--every-month`` computes all months.

Run: ``python benchmarks/openfisca_pipeline.py ENROLLMENT --tax-data DIR --period 2024-08..2025-07 --out FILE.csv``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.openfisca_model import build_system, simulate  # noqa: E402
from fee_engine.beregning import month_range, month_table  # noqa: E402
from fee_engine.regelsett import COUNTED, load_rules  # noqa: E402


def read_enrollment(path: Path) -> pd.DataFrame:
    """The enrollment file as the model's inputs (no checks)."""
    with open(path, encoding="utf-8-sig") as fh:
        sep = ";" if ";" in fh.readline() else ","
    df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    df.columns = [c.strip().lower() for c in df.columns]
    for c in (
        "partner_fnr",
        "plass_prosent",
        "timer_per_uke",
        "trinn",
        "saerskilte_behov",
        "pris_maaned",
        "fra_dato",
        "til_dato",
        "soekt_redusert",
        "dokumentert_inntekt",
        "institusjon",
    ):
        if c not in df:
            df[c] = ""

    def hundredths(s: pd.Series) -> np.ndarray:
        v = pd.to_numeric(s.str.replace(",", "."), errors="coerce").fillna(0).to_numpy()
        return np.round(v * 100).astype(np.int64)

    def oere_or_none(s: pd.Series) -> np.ndarray:
        v = pd.to_numeric(s.str.replace(" ", "").str.replace(",", "."), errors="coerce")
        return np.where(v.isna(), -1, np.round(v.fillna(0).to_numpy() * 100)).astype(np.int64)

    def date(s: pd.Series) -> pd.Series:
        return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")

    return pd.DataFrame(
        {
            "barn_id": df["barn_id"],
            "husholdning_id": df["husholdning_id"],
            "foresatt_fnr": df["foresatt_fnr"],
            "partner_fnr": df["partner_fnr"],
            "kommunenummer": df["kommunenummer"],
            "tilbud": df["tilbud"].str.lower(),
            "barn_fodselsdato": date(df["barn_fodselsdato"]),
            "plass_bp": hundredths(df["plass_prosent"]),
            "timer_c": hundredths(df["timer_per_uke"]),
            "trinn": pd.to_numeric(df["trinn"], errors="coerce").fillna(0).astype(np.int64),
            "saerskilte_behov": (df["saerskilte_behov"].str.lower() == "ja").to_numpy(),
            "pris_oere": oere_or_none(df["pris_maaned"]),
            "fra_dato": date(df["fra_dato"]),
            "til_dato": date(df["til_dato"]),
            "soekt": (df["soekt_redusert"].str.lower() != "nei").to_numpy(),
            "dok_oere": oere_or_none(df["dokumentert_inntekt"]),
        }
    )


def person_income(
    tax: Path, person: str, plan: list[tuple[int, str]], classes: dict[int, dict[str, str]]
) -> tuple[bool, int, bool]:
    """(usable, income in øre, has an unknown income item) for one person, along the fallback plan."""
    for year, stage in plan:
        try:
            with open(tax / str(year) / stage / f"{person}.json", "rb") as fh:
                body = json.loads(fh.read())
        except FileNotFoundError:
            continue
        grunnlag = body.get("grunnlag") or []
        if body.get("skjermet") is True and not grunnlag:
            return False, 0, False
        known = classes[year]
        total, unknown = 0, False
        for item in grunnlag:
            cls = known.get(item.get("tekniskNavn", ""))
            if cls in COUNTED:
                total += int(item["beloep"]) * 100
            elif cls is None:
                kategori = item.get("kategori")
                unknown |= (kategori[0] if isinstance(kategori, list) and kategori else kategori) == "inntekt"
        return True, total, unknown
    return False, 0, False


def household_incomes(rows: pd.DataFrame, tax: Path, plan: list[tuple[int, str]], rules) -> pd.DataFrame:
    """One row per household: husholdning_id, inntekt_oere, inntekt_status (kjent, manuell, ikke_soekt),
    ukjente_poster."""
    first = rows.drop_duplicates("husholdning_id")
    adults = pd.concat(
        [
            rows[["husholdning_id", "foresatt_fnr"]].rename(columns={"foresatt_fnr": "p"}),
            rows.loc[rows["partner_fnr"] != "", ["husholdning_id", "partner_fnr"]].rename(columns={"partner_fnr": "p"}),
        ]
    )
    adults = adults.drop_duplicates()
    lookup = first.loc[first["soekt"] & (first["dok_oere"] < 0), "husholdning_id"]
    adults = adults[adults["husholdning_id"].isin(set(lookup))]
    classes = {year: rules.income_classification(year) for year, _ in plan}
    found = {p: person_income(tax, p, plan, classes) for p in dict.fromkeys(adults["p"])}
    adults = adults.assign(
        ok=[found[p][0] for p in adults["p"]],
        oere=[found[p][1] for p in adults["p"]],
        ukjent=[found[p][2] for p in adults["p"]],
    )
    per_hh = adults.groupby("husholdning_id").agg(ok=("ok", "all"), oere=("oere", "sum"), ukjent=("ukjent", "any"))
    hh = first[["husholdning_id", "soekt", "dok_oere"]].set_index("husholdning_id").join(per_hh)
    documented = hh["dok_oere"] >= 0
    all_ok = hh["ok"].fillna(False).astype(bool)
    status = np.where(~hh["soekt"], "ikke_soekt", np.where(documented | all_ok, "kjent", "manuell"))
    income = np.where(documented, hh["dok_oere"], np.where(status == "kjent", hh["oere"].fillna(0), -1))
    income = income.astype(np.int64)
    unknown = np.where(~documented & (status == "kjent") & hh["ukjent"].fillna(False).astype(bool), "ukjent", "")
    return pd.DataFrame(
        {
            "husholdning_id": hh.index.to_numpy(),
            "inntekt_oere": income,
            "inntekt_status": status,
            "ukjente_poster": unknown,
        }
    )


def run(enrollment: Path, tax: Path, period: tuple[dt.date, dt.date], out: Path, every_month: bool = False) -> int:
    rules = load_rules()
    months = month_range(*period)
    plan = [(period[0].year - 1, "oppgjoer"), (period[0].year - 1, "utkast"), (period[0].year - 2, "oppgjoer")]
    rows = read_enrollment(enrollment)
    households = household_incomes(rows, tax, plan, rules)
    table, sider, _ = month_table(
        rules, months, sorted(rows["kommunenummer"].unique()), tuple(sorted(rows["tilbud"].unique()))
    )
    result = simulate(build_system(rules), rows, households, table, sider, months, shortcut=not every_month)
    ids, offers = rows["barn_id"].to_numpy(), rows["tilbud"].to_numpy()
    pos = np.concatenate([p for p, _ in result.values()])
    amounts = np.concatenate([a for _, a in result.values()])
    labels = np.repeat(np.array(list(result)), [len(p) for p, _ in result.values()])
    out_frame = pd.DataFrame({"barn_id": ids[pos], "tilbud": offers[pos], "maaned": labels, "belop": amounts})
    out_frame.to_csv(out, sep=";", index=False)
    return len(pos)


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    a, b = text.split("..")
    return dt.datetime.strptime(a, "%Y-%m").date(), dt.datetime.strptime(b, "%Y-%m").date()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("enrollment", type=Path)
    ap.add_argument("--tax-data", type=Path, required=True)
    ap.add_argument("--period", required=True, help="2024-08..2025-07")
    ap.add_argument("--out", type=Path, required=True, help="the CSV of amounts")
    ap.add_argument("--every-month", action="store_true", help="compute every month (no segment shortcut)")
    a = ap.parse_args(argv)
    n = run(a.enrollment, a.tax_data, parse_period(a.period), a.out, a.every_month)
    print(f"{n} child-months -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
