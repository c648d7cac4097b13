"""Every tax answer is checked against the API's shape and the request; a misfit is manual, never zero income.

Property-based (Hypothesis): any bytes, any JSON, and mutations of a real-shaped answer go through the
file source and the income step without a traceback, and either give exactly the income of the items
that count or make the case manual with a reason.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fee_engine import batch
from fee_engine.identity import make_synthetic
from fee_engine.income import person_incomes
from fee_engine.regelsett import load_rules
from fee_engine.taxdata import FileSource, fallback_plan, fetch_with_fallback
from fee_engine.taxdata.answer import MAX_BYTES, answer_lookup

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
RULES = load_rules()
P = make_synthetic(dt.date(1985, 4, 12), 3)
OTHER = make_synthetic(dt.date(1986, 5, 13), 4)
LOENN = "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt"


def real_shaped(person: str = P, year: str = "2023", stage: str = "oppgjoer", amount: int = 719038) -> dict:
    """The shape of Skatteetaten's own v2 example: spesifisering, formue items, dates, extra fields."""
    return {
        "personidentifikator": person,
        "inntektsaar": year,
        "grunnlag": [
            {
                "tekniskNavn": "samledeOpptjenteRenterIInnenlandskeBanker",
                "beloep": 19667,
                "kategori": "inntekt",
                "spesifisering": [
                    {
                        "type": "Konto",
                        "kontonummer": "95751752084",
                        "bankensNavn": "FORSIKTIG EMPATISK TIGER AS",
                        "organisasjonsnummer": "310827002",
                        "innskudd": 983351,
                        "opptjenteRenter": 19667,
                    }
                ],
            },
            {"tekniskNavn": "innskudd", "beloep": 983351, "kategori": "formue", "andelSkattefritt": 2000},
            {"tekniskNavn": "minstefradragIInntekt", "beloep": 104450, "kategori": "inntektsfradrag"},
            {
                "tekniskNavn": LOENN,
                "beloep": amount,
                "kategori": "inntekt",
                "spesifisering": [
                    {
                        "type": "LoennOgTilsvarendeYtelser",
                        "arbeidsgiversNavn": "UTAKKNEMLIG TANKEFULL TIGER AS",
                        "organisasjonsnummer": "312917408",
                        "beloep": amount,
                    }
                ],
            },
        ],
        "skjermet": False,
        "skatteoppgjoersdato": "2024-02-20",
        "stadie": stage,
        "ajourholdstidspunkt": "2024-02-20T08:38:37.72Z",
    }


def counted_income_oere(body: dict) -> int:
    classes = RULES.income_classification(2023)
    from fee_engine.regelsett import COUNTED

    # gross: an item that counts adds its amount, a negative one (a deficit, a loss) adds nothing
    items = body.get("grunnlag") or []
    return sum(max(int(i["beloep"]), 0) * 100 for i in items if classes.get(i["tekniskNavn"]) in COUNTED)


def through_files(tmp: Path, raw: bytes, person: str = P, year: int = 2023, stage: str = "oppgjoer"):
    """One answer on disk, read by the file source along the fallback, then the income step."""
    d = tmp / str(year) / stage
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{person}.json").write_bytes(raw)
    lookups = fetch_with_fallback(FileSource(tmp), [person], fallback_plan(2024))
    return lookups[person], person_incomes(lookups, RULES)[person]


def test_a_real_shaped_answer_gives_the_income_of_the_items_that_count(tmp_path):
    body = real_shaped()
    tried, pi = through_files(tmp_path, json.dumps(body).encode())
    assert tried[-1].status == "ok" and pi.ok
    assert pi.income_oere == counted_income_oere(body) == (19667 + 719038) * 100


@pytest.mark.parametrize(
    "grunnlag",
    [
        {"tekniskNavn": LOENN, "beloep": 500000, "kategori": "inntekt"},  # a dict
        "samletLoennsinntekt 500000",  # a string
        ["samletLoennsinntekt", "500000"],  # a list of strings
        [{"tekniskNavn": LOENN, "beloep": 500000.5, "kategori": "inntekt"}],  # a fraction of a krone
        [{"tekniskNavn": LOENN, "beloep": True, "kategori": "inntekt"}],
        [{"beloep": 500000, "kategori": "inntekt"}],  # no tekniskNavn
        [{"tekniskNavn": LOENN, "beloep": 500000, "kategori": 7}],
        7,
    ],
)
def test_a_grunnlag_of_the_wrong_shape_is_manual_not_zero_income(tmp_path, grunnlag):
    body = {**real_shaped(), "grunnlag": grunnlag}
    tried, pi = through_files(tmp_path, json.dumps(body).encode())
    assert tried[-1].status == "feil" and tried[-1].kode == "UGYLDIG-SVAR"
    assert not pi.ok and pi.kode == "ugyldig_svar" and pi.reason and pi.income_oere == 0
    assert P not in pi.reason


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("personidentifikator", OTHER, "annen person"),
        ("inntektsaar", "2022", "inntektsår 2022"),
        ("inntektsaar", 2022, "inntektsår 2022"),
        ("stadie", "utkast", "stadie"),
    ],
)
def test_an_answer_about_another_person_year_or_stage_is_manual(tmp_path, field, value, words):
    body = {**real_shaped(), field: value}
    tried, pi = through_files(tmp_path, json.dumps(body).encode())
    assert tried[-1].kode == "UGYLDIG-SVAR" and not pi.ok and words in pi.reason
    assert OTHER not in pi.reason and P not in pi.reason


@pytest.mark.parametrize(
    "raw",
    [
        b'{"grunnlag": [{"tekniskNavn": "%s", "beloep": Infinity, "kategori": "inntekt"}]}' % LOENN.encode(),
        b'{"grunnlag": [{"tekniskNavn": "%s", "beloep": NaN, "kategori": "inntekt"}]}' % LOENN.encode(),
        b'{"grunnlag": [{"tekniskNavn": "%s", "beloep": 1e308, "kategori": "inntekt"}]}' % LOENN.encode(),
        b'{"grunnlag": [{"tekniskNavn": "%s", "beloep": %d, "kategori": "inntekt"}]}' % (LOENN.encode(), 10**30),
        b'{"grunnlag": [{"tekniskNavn": "%s", "beloep": -%d, "kategori": "inntekt"}]}' % (LOENN.encode(), 10**12),
        b'{"grunnlag": [{"tekniskNavn": "%s", "beloep": "999999999999", "kategori": "inntekt"}]}' % LOENN.encode(),
        b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"grunnlag": [{"tekniskNavn": "a", "beloep": 1, "spesifisering": '
        + b'{"a": ' * 50_000
        + b"1"
        + b"}" * 50_000
        + b"}]}",
        b"[1, 2, 3]",
        b'"tekst"',
        b"null",
        b"",
        b"\xff\xfe not json",
        b'{"grunnlag": [',
        b"<html>500</html>",
    ],
)
def test_numbers_out_of_range_and_deep_nesting_are_manual_without_a_traceback(tmp_path, raw):
    tried, pi = through_files(tmp_path, raw)
    assert tried[-1].kode == "UGYLDIG-SVAR" and not pi.ok and pi.reason


def test_an_answer_over_the_size_bound_is_refused_without_reading_it_whole(tmp_path):
    body = real_shaped()
    body["padding"] = "x" * (MAX_BYTES + 10)
    tried, pi = through_files(tmp_path, json.dumps(body).encode())
    assert tried[-1].kode == "UGYLDIG-SVAR" and "større enn" in pi.reason


def test_lenient_where_the_api_varies(tmp_path):
    """kategori as a list (v1), amounts as digit strings, absent arrays and unknown fields are fine."""
    body = {
        "personidentifikator": P,
        "inntektsaar": "2023",
        "nyttFelt": {"a": [1, 2]},
        "grunnlag": [{"tekniskNavn": LOENN, "beloep": "300000", "kategori": ["inntekt"], "nytt": None}],
    }
    tried, pi = through_files(tmp_path, json.dumps(body).encode())
    assert pi.ok and pi.income_oere == 30_000_000
    _, pi = through_files(tmp_path / "b", json.dumps({"skjermet": False}).encode())
    assert pi.ok and pi.income_oere == 0


def test_a_bad_answer_makes_the_household_manual_in_the_whole_batch(tmp_path):
    """The demo's B01 (applicant 300 000 kr): an answer whose grunnlag is a dict must not give a free place."""
    skatt = tmp_path / "skatt"
    shutil.copytree(DEMO / "skatt", skatt)
    f = skatt / "2023" / "oppgjoer" / "12859000019.json"
    body = json.loads(f.read_text(encoding="utf-8"))
    body["grunnlag"] = {"tekniskNavn": LOENN, "beloep": 300000}
    f.write_text(json.dumps(body), encoding="utf-8")
    opts = batch.RunOptions(
        enrollment=DEMO / "innskriving.csv",
        out=tmp_path / "o",
        period=(dt.date(2024, 10, 1),) * 2,
        source="files",
        tax_data=skatt,
    )
    comp = batch.compute(opts)
    b01 = comp.child_months.query("barn_id == 'B01'").iloc[0]
    assert b01["status"] == "manuell" and b01["belop"] == 2000  # the ordinary price until a caseworker decides
    assert "ugyldig svar" in b01["manuell_grunn"]
    hh = comp.households.set_index("husholdning_id").loc["H01"]
    assert hh["manuell_kode"] == "ugyldig_svar" and hh["inntekt_status"] == "manuell"


def test_the_http_client_checks_answers_the_same_way(tmp_path):
    from fee_engine.taxdata.emulator import EmulatorServer
    from tests.test_taxdata_http import DER, client_for, run

    d = tmp_path / "skatt" / "2023" / "oppgjoer"
    d.mkdir(parents=True)
    good, other, string, big = (make_synthetic(dt.date(1980, 1, 1 + i), i) for i in range(4))
    (d / f"{good}.json").write_text(json.dumps(real_shaped(good)))
    (d / f"{other}.json").write_text(json.dumps(real_shaped(OTHER)))
    (d / f"{string}.json").write_text(json.dumps({**real_shaped(string), "grunnlag": "ingenting"}))
    (d / f"{big}.json").write_text(json.dumps({**real_shaped(big), "padding": "x" * (MAX_BYTES + 10)}))
    with EmulatorServer(tmp_path / "skatt", trusted_certs=[DER]) as s:
        out = run(client_for(s), [good, other, string, big])
    assert out[good][-1].status == "ok"
    for p in (other, string, big):
        assert out[p][-1].kode == "UGYLDIG-SVAR" and not person_incomes({p: out[p]}, RULES)[p].ok
    assert "større enn" in out[big][-1].melding


# -- properties ---------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
items = st.fixed_dictionaries(
    {
        "tekniskNavn": st.sampled_from(
            [LOENN, "minstefradragIInntekt", "nyPost", "samledeOpptjenteRenterIInnenlandskeBanker"]
        ),
        "beloep": st.integers(min_value=-(10**11), max_value=10**11),
        "kategori": st.sampled_from(["inntekt", "inntektsfradrag", "formue", ["inntekt"]]),
    },
    optional={"spesifisering": json_values, "ekstra": json_values},
)


def _check(tmp: Path, raw: bytes) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    tried, pi = through_files(tmp, raw)
    last = tried[-1]
    if pi.ok:
        assert last.status == "ok"
        body = json.loads(raw)
        assert pi.income_oere == counted_income_oere(body)
    else:
        assert pi.reason and pi.income_oere == 0 and pi.kode
        assert P not in pi.reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_any_bytes_give_no_traceback(tmp_path, raw):
    _check(tmp_path / "h", raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_any_json_is_an_answer_or_manual_with_a_reason(tmp_path, body):
    _check(tmp_path / "h", json.dumps(body).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(grunnlag=st.lists(items, max_size=6), extra=st.dictionaries(st.text(max_size=10), json_values, max_size=3))
def test_well_shaped_answers_give_exactly_the_counted_income(tmp_path, grunnlag, extra):
    body = {
        **{
            k: v
            for k, v in extra.items()
            if k not in ("grunnlag", "personidentifikator", "inntektsaar", "stadie", "skjermet")
        },
        "personidentifikator": P,
        "inntektsaar": "2023",
        "stadie": "oppgjoer",
        "grunnlag": grunnlag,
    }
    tried, pi = through_files(tmp_path / "h", json.dumps(body).encode())
    shutil.rmtree(tmp_path / "h")
    assert pi.ok and pi.income_oere == counted_income_oere(body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        [
            "grunnlag",
            "grunnlag.0",
            "grunnlag.0.beloep",
            "grunnlag.0.tekniskNavn",
            "grunnlag.0.kategori",
            "inntektsaar",
            "personidentifikator",
            "stadie",
            "skjermet",
        ]
    ),
    value=json_values,
)
def test_any_field_replaced_by_any_value_never_gives_a_wrong_income(tmp_path, path, value):
    body = real_shaped()
    target, *rest = path.split(".")
    node = body
    keys = [target, *[int(k) if k.isdigit() else k for k in rest]]
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    _check(tmp_path / "h", json.dumps(body).encode())


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=300), korr=st.none() | st.text(max_size=50))
def test_answer_lookup_never_raises(raw, korr):
    res = answer_lookup(raw, P, 2023, "oppgjoer", korr)
    assert res.status in ("ok", "feil") and (res.status == "ok" or res.melding)
