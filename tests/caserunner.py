"""Runs the YAML rule cases in tests/cases (OpenFisca style: households in, monthly amounts out).

A case file is a list of cases::

    - navn: what the case shows
      periode: 2024-10..2024-10
      barn:
        - {barn_id: A, husholdning: H1, fodt: 2021-03-10, plass: 100}      # barnehage by default
        - {barn_id: S, husholdning: H1, tilbud: sfo, trinn: 1, timer: 15, inst: Lilleby skole}
      husholdninger:
        H1: {inntekt: 300000}              # applicant's skatteoppgjør for the year before the period
        H2: {inntekt: [450000, 200000]}    # applicant and partner
        H3: {dokumentert: 200000}          # dokumentert_inntekt
        H4: {soekt: nei}                   # no application, no lookup
        H5: {skatt: [{aar: 2023, stadie: utkast, loenn: 120000}]}   # explicit responses for the applicant
        H6: {skatt: []}                    # the applicant has no data anywhere (SSG-007)
      forventet:
        - {barn_id: A, maaned: 2024-10, belop: 838}   # arithmetic in a comment next to it

Every person id is a synthetic fødselsnummer made by the runner. Income goes through the
real path: a Summert skattegrunnlag response on disk, the file source, the income list.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from fee_engine import batch
from fee_engine.identity import make_synthetic

LOENN = "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt"
COLUMNS = [
    "barn_id",
    "barn_fodselsdato",
    "husholdning_id",
    "foresatt_fnr",
    "partner_fnr",
    "kommunenummer",
    "tilbud",
    "institusjon",
    "plass_prosent",
    "timer_per_uke",
    "trinn",
    "saerskilte_behov",
    "pris_maaned",
    "fra_dato",
    "til_dato",
    "soekt_redusert",
    "dokumentert_inntekt",
]


def load_cases(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for file in sorted(directory.glob("*.yaml")):
        for case in yaml.safe_load(file.read_text(encoding="utf-8")):
            out.append((f"{file.stem}: {case['navn']}", case))
    return out


def _write_response(tax: Path, fnr: str, year: int, stage: str, items: list[dict], skjermet: bool = False) -> None:
    body: dict[str, Any] = {"personidentifikator": fnr, "inntektsaar": str(year), "stadie": stage, "skjermet": skjermet}
    if not skjermet:
        body["grunnlag"] = items
    path = tax / str(year) / stage / f"{fnr}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body), encoding="utf-8")


def _responses_for(tax: Path, fnr: str, spec: list[dict]) -> None:
    for r in spec:
        items = [{"tekniskNavn": LOENN, "beloep": r["loenn"], "kategori": "inntekt"}] if "loenn" in r else []
        items += r.get("poster", [])
        _write_response(tax, fnr, r["aar"], r.get("stadie", "oppgjoer"), items, r.get("skjermet", False))


def build(case: dict[str, Any], tmp: Path) -> batch.RunOptions:
    first, _ = batch.parse_period(case["periode"])
    tax = tmp / "skatt"
    tax.mkdir(parents=True, exist_ok=True)
    serial = iter(range(1, 10_000))
    people: dict[str, tuple[str, str]] = {}
    hh_fields: dict[str, dict[str, str]] = {}
    for hh, spec in (case.get("husholdninger") or {}).items():
        spec = spec or {}
        a = make_synthetic(dt.date(1988, 1, 1), next(serial) * 3)
        b = (
            make_synthetic(dt.date(1989, 2, 2), next(serial) * 3)
            if spec.get("partner") or isinstance(spec.get("inntekt"), list)
            else ""
        )
        people[hh] = (a, b)
        fields = {"soekt_redusert": spec.get("soekt", ""), "dokumentert_inntekt": str(spec.get("dokumentert", ""))}
        hh_fields[hh] = fields
        inc = spec.get("inntekt")
        if inc is not None:
            amounts = inc if isinstance(inc, list) else [inc]
            for fnr, amount in zip((a, b), amounts):
                _write_response(
                    tax,
                    fnr,
                    first.year - 1,
                    "oppgjoer",
                    [{"tekniskNavn": LOENN, "beloep": amount, "kategori": "inntekt"}],
                )
        if "skatt" in spec:
            _responses_for(tax, a, spec["skatt"])
        if "partner_skatt" in spec:
            _responses_for(tax, b, spec["partner_skatt"])
    rows = []
    for c in case["barn"]:
        hh = c["husholdning"]
        a, b = people.get(hh) or (make_synthetic(dt.date(1990, 3, 3), next(serial) * 3), "")
        tilbud = c.get("tilbud", "barnehage")
        rows.append(
            {
                "barn_id": c["barn_id"],
                "barn_fodselsdato": str(c.get("fodt", "")),
                "husholdning_id": hh,
                "foresatt_fnr": a,
                "partner_fnr": b,
                "kommunenummer": str(c.get("kommune", case.get("kommune", "0301"))),
                "tilbud": tilbud,
                "institusjon": str(c.get("inst", "")),
                "plass_prosent": str(c.get("plass", "")),
                "timer_per_uke": str(c.get("timer", "")),
                "trinn": str(c.get("trinn", "")),
                "saerskilte_behov": c.get("saerskilte_behov", ""),
                "pris_maaned": str(c.get("pris", "")),
                "fra_dato": str(c.get("fra", "")),
                "til_dato": str(c.get("til", "")),
                **hh_fields.get(hh, {"soekt_redusert": "", "dokumentert_inntekt": ""}),
            }
        )
    path = tmp / "innskriving.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter=";")
        w.writeheader()
        w.writerows(rows)
    return batch.RunOptions(
        enrollment=path, out=tmp / "out", period=batch.parse_period(case["periode"]), source="files", tax_data=tax
    )
