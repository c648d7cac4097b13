"""The calculator (fee_engine/kalkulator.py) and its JSON API give exactly the engine's amounts and words.

* Every hand-worked case in tests/cases/ whose households have a plain income (``inntekt``, ``dokumentert``)
  or did not apply (``soekt: nei``): ``POST /api/beregn`` for each expected child and month gives the amounts
  the case expects (the same the batch gives; tests/test_cases.py checks the batch).
* The explanation and step records are those of a batch over the same household and month.
* Errors name the field, in the words of ``fee-engine validate``; no fødselsnummer is needed or kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest

from fee_engine import batch, forklaring, kalkulator
from fee_engine.enrollment import read_enrollment
from fee_engine.forklaring.poster import step_records
from fee_engine.identity import make_synthetic
from fee_engine.regelsett import load_rules

from .caserunner import COLUMNS, load_cases

CASES = load_cases(Path(__file__).parent / "cases")
AMOUNTS = [
    "belop",
    "status",
    "ordinaer_pris",
    "saerskilte_behov_fritak",
    "etter_inntektsgrense",
    "inntektsreduksjon",
    "soeskenmoderasjon",
    "gratis_timer",
]


def _plain(case: dict) -> bool:
    """A case whose every household has a plain income or did not apply (nothing the calculator cannot be told)."""
    specs = case.get("husholdninger") or {}
    for c in case["barn"]:
        spec = specs.get(c["husholdning"])
        if spec is None:
            return False
        keys = set(spec) - {"partner"}
        if keys not in ({"inntekt"}, {"dokumentert"}, {"soekt"}) or ("soekt" in keys and spec["soekt"] != "nei"):
            return False
    return True


PLAIN = [(name, case) for name, case in CASES if _plain(case)]


def _placed(c: dict, month: str) -> bool:
    first = pd.Timestamp(month + "-01")
    last = first + pd.offsets.MonthEnd(0)
    fra, til = c.get("fra"), c.get("til")
    return (not fra or pd.Timestamp(str(fra)) <= last) and (not til or pd.Timestamp(str(til)) >= first)


def api_body(case: dict, month: str) -> dict:
    """The case's children placed in ``month`` as enrollment-column objects, and each household's income."""
    optional = {
        "fodt": "barn_fodselsdato",
        "plass": "plass_prosent",
        "timer": "timer_per_uke",
        "trinn": "trinn",
        "inst": "institusjon",
        "saerskilte_behov": "saerskilte_behov",
        "pris": "pris_maaned",
        "fra": "fra_dato",
        "til": "til_dato",
    }
    barn = []
    for c in case["barn"]:
        if not _placed(c, month):
            continue
        row = {
            "barn_id": str(c["barn_id"]),
            "husholdning_id": c["husholdning"],
            "kommunenummer": str(c.get("kommune", case.get("kommune", "0301"))),
            "tilbud": c.get("tilbud", "barnehage"),
        }
        for key, column in optional.items():
            if key in c:
                row[column] = c[key] if isinstance(c[key], (int, float, str, bool)) else str(c[key])
        barn.append(row)
    inntekt = {}
    for hh, spec in (case.get("husholdninger") or {}).items():
        if "inntekt" in spec:
            inntekt[hh] = sum(spec["inntekt"]) if isinstance(spec["inntekt"], list) else spec["inntekt"]
        elif "dokumentert" in spec:
            inntekt[hh] = spec["dokumentert"]
    return {"maaned": month, "barn": barn, "inntekt": inntekt}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from .webserver import LiveServer, demo_config

    with LiveServer(demo_config(tmp_path_factory.mktemp("web"))) as server, server.client() as client:
        yield client


def test_enough_cases_are_plain():
    assert len(PLAIN) >= 25, [n for n, _ in PLAIN]


@pytest.mark.parametrize("case", [c for _, c in PLAIN], ids=[n for n, _ in PLAIN])
def test_api_gives_the_case_amounts(case, api):
    months = sorted({str(e["maaned"]) for e in case["forventet"]})
    answers = {}
    for month in months:
        r = api.post("/api/beregn", json=api_body(case, month))
        assert r.status_code == 200, r.text
        for b in r.json()["barn"]:
            answers[(b["barn_id"], b["maaned"])] = b
    for exp in case["forventet"]:
        got = answers[(str(exp["barn_id"]), str(exp["maaned"]))]
        compared = [k for k in AMOUNTS if k in exp]
        assert compared, exp
        for key in compared:
            assert str(got[key]) == str(exp[key]), f"{exp['barn_id']} {exp['maaned']} {key}: {got[key]} != {exp[key]}"


def _batch_one_month(tmp_path: Path, rows: list[dict], month: str):
    path = tmp_path / "innskriving.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter=";", restval="")
        w.writeheader()
        w.writerows(rows)
    opts = batch.RunOptions(
        enrollment=path, out=tmp_path / "out", period=batch.parse_period(month), source="files", tax_data=tmp_path
    )
    comp = batch.compute(opts)
    p = forklaring.periods(comp.runs).reset_index(drop=True)
    return p, forklaring.explain(p, comp.rules), step_records(p, comp.rules)


@pytest.mark.parametrize("kommune", ["0301", "4641"])  # bokmål and nynorsk
def test_explanation_and_steps_are_the_batch_s(tmp_path, kommune):
    """Siblings with documented income in a batch of one month, and the same household in the calculator."""
    fnr = make_synthetic(dt.date(1988, 1, 1), 3)
    children = [
        {"barn_id": "A", "barn_fodselsdato": "2021-03-10", "plass_prosent": "100", "tilbud": "barnehage"},
        {"barn_id": "B", "barn_fodselsdato": "2023-01-05", "plass_prosent": "60", "tilbud": "barnehage"},
        {"barn_id": "S", "trinn": "2", "timer_per_uke": "15", "tilbud": "sfo", "saerskilte_behov": "nei"},
    ]
    rows = [
        {**c, "husholdning_id": "H", "foresatt_fnr": fnr, "kommunenummer": kommune, "dokumentert_inntekt": "410000"}
        for c in children
    ]
    p, text, records = _batch_one_month(tmp_path, rows, "2024-10")
    rules = load_rules()
    result = kalkulator.beregn(
        rules, "2024-10", [{**c, "husholdning_id": "H", "kommunenummer": kommune} for c in children], {"H": 410000}
    )
    by_child = {b.barn_id: b for b in result.barn}
    assert len(p) == 3
    for i, child in enumerate(p["barn_id"]):
        got = by_child[child]
        assert got.belop == int(p.loc[i, "belop"])
        assert got.forklaring == text[i]
        assert got.steg == records[i]
    if kommune == "4641":
        assert all(b.maalform == "nynorsk" for b in result.barn) and "hushaldet" in result.barn[0].forklaring


def test_no_income_means_no_application():
    rules = load_rules()
    child = {
        "barn_id": "A",
        "husholdning_id": "H",
        "kommunenummer": "0301",
        "tilbud": "barnehage",
        "barn_fodselsdato": "2021-03-10",
        "plass_prosent": 100,
    }
    without = kalkulator.beregn(rules, "2024-10", [child], {})
    assert without.barn[0].belop == 2000 and "ikke søkt" in without.barn[0].forklaring
    applied = kalkulator.beregn(rules, "2024-10", [child], {"H": "300 000"})
    assert applied.barn[0].belop == 838
    said_no = kalkulator.beregn(rules, "2024-10", [{**child, "soekt_redusert": "nei"}], {"H": 300000})
    assert said_no.barn[0].belop == 2000


def test_errors_name_the_field_in_validate_s_words(api):
    body = {
        "maaned": "2024-13",
        "barn": [
            {
                "barn_id": "A",
                "husholdning_id": "H",
                "kommunenummer": "0301",
                "tilbud": "barnehage",
                "plass_prosent": 130,
            },
            {"barn_id": "B", "husholdning_id": "H", "kommunenummer": "99", "tilbud": "sfo", "trinn": 9, "plass": 1},
        ],
        "inntekt": {"H": "3,000", "X": 1},
    }
    r = api.post("/api/beregn", json=body)
    assert r.status_code == 422
    feil = {(f["felt"], f["kode"]): f for f in r.json()["feil"]}
    assert ("maaned", "maaned") in feil
    assert feil[("barn[0].plass_prosent", "plass")]["aarsak"] == "plass_prosent må være større enn 0 og høyst 100"
    assert ("barn[0].barn_fodselsdato", "mangler") in feil
    assert feil[("barn[1].kommunenummer", "kommune_format")]["aarsak"] == "kommunenummer må ha 4 sifre"
    assert ("barn[1].trinn", "trinn") in feil and ("barn[1].timer_per_uke", "mangler") in feil
    assert ("barn[1].plass", "ukjent_felt") in feil
    assert ("inntekt.H", "tall_tvetydig") in feil and ("inntekt.X", "ukjent_husholdning") in feil
    # the same words as `fee-engine validate` for the same row
    from fee_engine.enrollment import REASONS

    assert feil[("barn[1].trinn", "trinn")]["aarsak"] == REASONS["trinn"][0]
    assert feil[("barn[1].trinn", "trinn")]["aarsak_en"] == REASONS["trinn"][1]
    fnr = make_synthetic(dt.date(1988, 1, 1), 3)  # echoed names and values are masked
    r = api.post("/api/beregn", json={"maaned": "2024-10", "barn": [{fnr: 1}], "inntekt": {fnr: 1}})
    assert r.status_code == 422 and fnr not in r.text and fnr[:6] in r.text


def test_outside_the_month_and_bad_requests(api):
    child = {
        "barn_id": "A",
        "husholdning_id": "H",
        "kommunenummer": "0301",
        "tilbud": "barnehage",
        "barn_fodselsdato": "2021-03-10",
        "plass_prosent": 100,
        "fra_dato": "2024-11-01",
    }
    r = api.post("/api/beregn", json={"maaned": "2024-10", "barn": [child]})
    assert r.status_code == 422 and r.json()["feil"][0]["felt"] == "barn[0].fra_dato"
    json_type = {"content-type": "application/json"}
    assert api.post("/api/beregn", content=b"{not json", headers=json_type).status_code == 400
    assert api.post("/api/beregn", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    big = {"maaned": "2024-10", "barn": [child], "x": "a" * 300_000}
    assert api.post("/api/beregn", json=big).status_code == 413
    r = api.post("/api/beregn", json={"maaned": "2031-10", "barn": [{**child, "fra_dato": ""}]})
    assert r.status_code == 422 and "regelsettet" in r.json()["feil"][0]["aarsak"]


def test_no_fodselsnummer_needed_or_kept(api, tmp_path, monkeypatch):
    """foresatt_fnr is optional; if sent it is not written anywhere (the temporary file has no such column)."""
    import tempfile

    seen = []
    real = read_enrollment

    def spy(path, *a, **kw):
        seen.append(Path(path).read_text(encoding="utf-8"))
        return real(path, *a, **kw)

    monkeypatch.setattr(kalkulator, "read_enrollment", spy)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fnr = make_synthetic(dt.date(1988, 1, 1), 3)
    rules = load_rules()
    r = kalkulator.beregn(
        rules,
        "2024-10",
        [
            {
                "barn_id": "A",
                "husholdning_id": "H",
                "kommunenummer": "0301",
                "tilbud": "barnehage",
                "barn_fodselsdato": "2021-03-10",
                "plass_prosent": 100,
                "foresatt_fnr": fnr,
            }
        ],
        {"H": 300000},
    )
    assert r.barn[0].belop == 838
    assert seen and fnr not in seen[0] and "foresatt_fnr" not in seen[0]
    assert not list(tmp_path.iterdir())  # the temporary folder is gone
    assert fnr not in str(r.as_dict())


def test_openapi_is_served(api):
    spec = api.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/api/beregn"]["post"]
    assert set(post["responses"]) >= {"200", "422"}
    req = post["requestBody"]["content"]["application/json"]["schema"]
    assert req["properties"]["barn"]["items"]["required"] == ["barn_id", "husholdning_id", "kommunenummer", "tilbud"]
    # the example in the description is answered: barnehage 838 (README); SFO grade 1, 15 h in Oslo: 3 299 → 6 % cap
    # 1 636.36 → 12 of 15 hours free: 1 636.36 × 12/15 = 1 309.09 off → 327.27 → 327
    r = api.post("/api/beregn", json=post["requestBody"]["content"]["application/json"]["example"])
    assert r.status_code == 200 and [b["belop"] for b in r.json()["barn"]] == [838, 327]


def test_require_fnr_false_only_relaxes_the_missing_number(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(
        "barn_id;husholdning_id;kommunenummer;tilbud;barn_fodselsdato;plass_prosent;foresatt_fnr\n"
        "A;H;0301;barnehage;2021-03-10;100;\nB;H2;0301;barnehage;2021-03-10;100;12345678901\n",
        encoding="utf-8",
    )
    strict = read_enrollment(path)
    relaxed = read_enrollment(path, require_fnr=False)
    assert set(strict.rejections["kode"]) == {"mangler", "fnr_kontroll"}
    assert list(relaxed.rejections["kode"]) == ["fnr_kontroll"]  # a number that is given is still checked
    os.remove(path)


def test_a_move_inside_a_one_month_period_is_billed_once(tmp_path):
    """The batch over one month (as the calculator computes) bills a mid-month move once, like a longer period."""
    from .caserunner import build

    case = next(c for n, c in CASES if "move to another barnehage mid-month" in n)
    comp = batch.compute(build({**case, "periode": "2024-10"}, tmp_path))
    cm = comp.child_months
    assert len(cm) == 1
    row = cm.iloc[0]
    assert (row["institusjon"], int(row["belop"]), int(row["soeskenmoderasjon"])) == ("Nye", 1200, 0)
