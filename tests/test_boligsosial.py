"""``fee-engine inntekt`` (boligsosial bistand): sums, masking, audit lines, and the purpose limitation's refusals."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import re
import sqlite3
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from fee_engine.boligsosial import aordning
from fee_engine.boligsosial.personer import read_persons
from fee_engine.cli import app
from fee_engine.identity import fnr_problems, make_synthetic
from fee_engine.taxdata.cache import LookupCache
from fee_engine.taxdata.client import SsgClient
from fee_engine.taxdata.emulator import EmulatorServer, Faults
from fee_engine.taxdata.errors import TaxConfigurationError
from fee_engine.taxdata.formaal import DELEGERINGER, INNTEKT_SCOPE, SSG_SCOPE, Formaal, PurposeError
from fee_engine.taxdata.maskinporten import TokenProvider
from tests.apirun import api_env, client_identity
from tests.test_taxdata_http import CREDS, DER

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "boligsosial"
DATO, FIRST, LAST = "2025-11-12", "2025-08", "2025-10"
COUNTED = {
    "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt",
    "samledeOpptjenteRenterIInnenlandskeBanker",
    "arbeidsavklaringspenger",
}  # the fixtures' items the income list counts (read off the list by hand)
runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def inntekt(out: Path, *extra: str, persons: Path = FIX / "personer.csv", env: dict | None = None):
    return runner.invoke(
        app, ["inntekt", str(persons), "--formaal", "boligsosial", "--dato", DATO, "--out", str(out), *extra], env=env
    )


# -- what the test expects, from the fixture files alone ---------------------------------------------------
def persons_by_case() -> dict[str, list[tuple[str, str]]]:
    rows = list(csv.DictReader((FIX / "personer.csv").open(encoding="utf-8"), delimiter=";"))
    cases: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        cases.setdefault(r["sak_id"], []).append((r["personidentifikator"], r["rolle"]))
    return {k: v for k, v in cases.items() if sum(1 for _, role in v if role == "soeker") == 1}


def expected_person(fnr: str) -> dict:
    out: dict = {"ssg_lines": 0}
    for year in (2024, 2023):
        out["ssg_lines"] += 1
        f = FIX / "summertskattegrunnlag" / str(year) / "oppgjoer" / f"{fnr}.json"
        if f.exists():
            body = json.loads(f.read_text(encoding="utf-8"))
            items = body.get("grunnlag") or []
            out["year"] = year
            out["skjermet"] = body.get("skjermet") and not items
            out["inntekt"] = sum(i["beloep"] for i in items if i["tekniskNavn"] in COUNTED)
            out["unknown"] = sorted(
                i["tekniskNavn"] for i in items if i["kategori"] == "inntekt" and i["tekniskNavn"] not in COUNTED
            )
            named = {i["tekniskNavn"]: i["beloep"] for i in items}
            out.update(bruttoformue=named.get("bruttoformue"), samlet_gjeld=named.get("samletGjeld"))
            break
        known = any((FIX / "summertskattegrunnlag").glob(f"*/oppgjoer/{fnr}.json"))
        if not known:
            break  # unknown person: the fallback stops at the first step
    f = FIX / "inntekt" / f"{fnr}.json"
    if f.exists():
        cells: dict[tuple[str, str], Decimal] = {}
        for o in json.loads(f.read_text(encoding="utf-8"))["oppgaveInntektsmottaker"]:
            if FIRST <= o["kalendermaaned"] <= LAST:
                key = (o["opplysningspliktigId"], o["kalendermaaned"])
                cells[key] = cells.get(key, Decimal(0)) + sum(Decimal(str(i["beloep"])) for i in o["inntekt"])
        out["aordning"] = sum(cells.values(), Decimal(0)) if cells else None
        out["cells"] = cells
    return out


def avg(total: Decimal) -> Decimal:
    return (total / 3).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def files_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bolig") / "ut"
    res = inntekt(out, "--tax-data", str(FIX))
    return res, out


def test_sums_match_what_the_test_derives_from_the_fixture_files(files_run):
    res, out = files_run
    assert res.exit_code == 1, res.output  # S5 has two søkere: rejected whole
    data = json.loads((out / "inntekt.json").read_text(encoding="utf-8"))
    cases = persons_by_case()
    assert [s["sak_id"] for s in data["saker"]] == list(cases)
    for sak in data["saker"]:
        members = cases[sak["sak_id"]]
        exp = {fnr: expected_person(fnr) for fnr, _ in members}
        for p, (fnr, role) in zip(sak["personer"], members):
            e = exp[fnr]
            assert p["rolle"] == role and p["person"] == fnr[:6] + "*****"
            s = p["skatteoppgjoer"]
            if "year" in e and not e["skjermet"]:
                assert (s["status"], s["inntektsaar"], s["inntekt"]) == ("ok", e["year"], e["inntekt"])
                assert s["ukjente_poster"] == e["unknown"]
                assert (s["bruttoformue"], s["samlet_gjeld"]) == (e["bruttoformue"], e["samlet_gjeld"])
            else:
                assert s["status"] != "ok" and s["inntekt"] is None and s["grunn"]  # never zero income
            a = p["aordning"]
            if e.get("aordning") is not None:
                assert Decimal(str(a["sum"])) == e["aordning"]
                assert Decimal(str(a["snitt_per_maaned"])) == avg(e["aordning"])
                by_cell: dict[tuple[str, str], Decimal] = {}
                for r in a["rader"]:
                    key = (r["opplysningspliktig"], r["maaned"])
                    by_cell[key] = by_cell.get(key, Decimal(0)) + Decimal(str(r["sum"]))
                assert by_cell == {(k if len(k) == 9 else k[:6] + "*****", m): v for (k, m), v in e["cells"].items()}
            elif "cells" in e:  # a file, but nothing in the months asked for
                assert a["status"] == "ingen_data" and a["sum"] == 0
            else:
                assert a["status"] == "ukjent_person" and a["sum"] is None
        known_income = [e["inntekt"] for e in exp.values() if "year" in e and not e["skjermet"]]
        assert sak["sum"]["inntekt"] == (sum(known_income) if known_income else None)
        totals = [e["aordning"] for e in exp.values() if e.get("aordning") is not None]
        assert Decimal(str(sak["sum"]["aordning"])) == sum(totals, Decimal(0))
        assert Decimal(str(sak["sum"]["aordning_snitt_per_maaned"])) == avg(sum(totals, Decimal(0)))
        complete = all("year" in e and not e["skjermet"] for e in exp.values()) and all(
            "cells" in e for e in exp.values()
        )
        assert sak["komplett"] is complete


def test_the_workbook_and_the_pages_say_the_same_as_the_json(files_run):
    _, out = files_run
    data = {s["sak_id"]: s for s in json.loads((out / "inntekt.json").read_text(encoding="utf-8"))["saker"]}
    wb = openpyxl.load_workbook(out / "saker.xlsx")
    assert wb.sheetnames == ["Forside", "Saker", "Personer", "A-ordningen", "Skatteposter", "Avvist"]
    rows = list(wb["Saker"].iter_rows(values_only=True))
    head = rows[0]
    for r in rows[1:]:
        rec = dict(zip(head, r))
        s = data[rec["sak_id"]]
        assert rec["inntekt"] == s["sum"]["inntekt"] and rec["samlet_gjeld"] == s["sum"]["samlet_gjeld"]
        assert Decimal(str(rec["aordning_sum"])).quantize(Decimal("0.01")) == Decimal(str(s["sum"]["aordning"]))
        assert (rec["komplett"] == "ja") is s["komplett"]
    assert wb["Saker"]["J2"].number_format == '#,##0.00 "kr"' and wb["Saker"]["E2"].number_format == '#,##0 "kr"'
    assert {r[0] for r in list(wb["Avvist"].iter_rows(values_only=True))[1:]} == {9, 10}
    for sak_id, s in data.items():
        page = (out / "sak" / f"{sak_id}.html").read_text(encoding="utf-8")
        assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
        total = Decimal(str(s["sum"]["aordning"]))
        whole, part = divmod(int(total * 100), 100)
        assert f"{whole:,}".replace(",", "\u00a0") + f",{part:02d}\u00a0kr" in page
    assert sorted(p.name for p in (out / "sak").iterdir()) == [f"{k}.html" for k in sorted(data)]


def test_identifiers_are_masked_in_every_output(files_run, tmp_path):
    res, out = files_run
    numbers = {r["personidentifikator"] for r in csv.DictReader((FIX / "personer.csv").open(), delimiter=";")}
    for f in (FIX / "inntekt").glob("*.json"):  # the payers that are persons
        for o in json.loads(f.read_text())["oppgaveInntektsmottaker"]:
            if len(o["opplysningspliktigId"]) == 11:
                numbers.add(o["opplysningspliktigId"])
    texts = [res.output]
    for f in out.rglob("*"):
        if f.suffix == ".xlsx":
            with zipfile.ZipFile(f) as z:
                texts += [z.read(n).decode("utf-8", "replace") for n in z.namelist()]
        elif f.is_file():
            texts.append(f.read_text(encoding="utf-8"))
    blob = "\n".join(texts)
    assert not [n for n in numbers if n in blob]
    found = set(re.findall(r"(?<![0-9])[0-9]{11}(?![0-9])", blob))
    import pandas as pd

    assert not found or (fnr_problems(pd.Series(sorted(found))) != "").all()  # no valid fødselsnummer at all
    assert any(n[:6] + "*****" in blob for n in numbers)


def test_the_audit_log_has_one_line_per_lookup_with_its_purpose(files_run, tmp_path):
    _, out = files_run
    lines = [json.loads(x) for x in (out / "revisjon.jsonl").read_text(encoding="utf-8").splitlines()]
    people = [fnr for members in persons_by_case().values() for fnr, _ in members]
    ssg = [x for x in lines if "inntektsaar" in x]
    aord = [x for x in lines if x.get("tjeneste") == "inntekt"]
    assert len(ssg) == sum(expected_person(p)["ssg_lines"] for p in people)
    assert len(aord) == len(people) and {x["periode"] for x in aord} == {f"{FIRST}..{LAST}"}
    assert len(lines) == len(ssg) + len(aord)
    assert {x["formaal"] for x in lines} == {"kommuneboligsosialeformaal"}
    assert {x["kommando"] for x in lines} == {"inntekt"} and {x["stadie"] for x in ssg} == {"oppgjoer"}
    assert {x["inntektsaar"] for x in ssg} <= {2024, 2023}
    assert sorted(x["person"] for x in aord) == sorted(p[:6] + "*****" for p in people)


def test_the_emulator_and_files_give_the_same_cases_and_a_second_run_asks_nothing(files_run, tmp_path):
    _, files_out = files_run
    cache = tmp_path / "bolig.sqlite"
    res = inntekt(tmp_path / "e", "--tax-data", str(FIX), "--source", "emulator", "--cache", str(cache))
    assert res.exit_code == 1, res.output
    a = json.loads((files_out / "inntekt.json").read_text())["saker"]
    b = json.loads((tmp_path / "e" / "inntekt.json").read_text())["saker"]
    assert a == b
    lines = [json.loads(x) for x in (tmp_path / "e" / "revisjon.jsonl").read_text().splitlines()]
    assert {x["kilde"] for x in lines} == {"emulator"} and all(x["korrelasjonsid"] for x in lines)
    again = inntekt(tmp_path / "e2", "--tax-data", str(FIX), "--source", "emulator", "--cache", str(cache))
    assert again.exit_code == 1
    lines2 = [json.loads(x) for x in (tmp_path / "e2" / "revisjon.jsonl").read_text().splitlines()]
    assert {x["kilde"] for x in lines2} == {"lager"} and len(lines2) == len(lines)
    assert json.loads((tmp_path / "e2" / "inntekt.json").read_text())["saker"] == a
    assert LookupCache.owner_of(cache) == (Formaal.BOLIGSOSIAL, None)


def test_inntekt_api_faults_are_retried_and_end_in_the_same_cases(files_run, tmp_path):
    _, files_out = files_run
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    faults = Faults(rate_500=0.15, rate_503=0.1, rate_429=0.1, retry_after_s=0.01, drop_rate=0.05, seed=5)
    with EmulatorServer(
        FIX / "summertskattegrunnlag", inntekt_data=FIX / "inntekt", trusted_certs=trusted, faults=faults
    ) as s:
        env = api_env(
            s,
            key_file,
            cert_file,
            FEE_ENGINE_INNTEKT_URL=s.base_url,
            FEE_ENGINE_MAX_ATTEMPTS="20",
            FEE_ENGINE_BACKOFF_S="0.01",
        )
        res = inntekt(tmp_path / "a", "--source", "api", "--cache", str(tmp_path / "c.sqlite"), env=env)
        assert res.exit_code == 1, res.output
        lookups = len((tmp_path / "a" / "revisjon.jsonl").read_text().splitlines())
        assert s.state.requests > lookups and s.state.inntekt_requests >= 7  # faults were met and retried
    a = json.loads((files_out / "inntekt.json").read_text())["saker"]
    assert json.loads((tmp_path / "a" / "inntekt.json").read_text())["saker"] == a


# -- the purpose limitation: each refusal -------------------------------------------------------------------
def test_inntekt_refuses_the_fee_purpose(tmp_path):
    res = runner.invoke(
        app,
        [
            "inntekt",
            str(FIX / "personer.csv"),
            "--formaal",
            "foreldrebetaling",
            "--tax-data",
            str(FIX),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "bare for boligsosial bistand" in flat(res.output)
    assert not (tmp_path / "o").exists()


def test_run_refuses_the_boligsosial_package_in_its_settings(tmp_path, demo):
    cfg = tmp_path / "api.yaml"
    cfg.write_text("rettighetspakke: kommuneboligsosialeformaal\n", encoding="utf-8")
    res = runner.invoke(
        app,
        [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "api",
            "--api-config",
            str(cfg),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "kommuneboligsosialeformaal" in flat(res.output)
    assert "hører ikke til foreldrebetaling" in flat(res.output)


def test_inntekt_refuses_the_fee_package_in_its_settings(tmp_path):
    res = inntekt(tmp_path / "o", "--source", "api", env={"FEE_ENGINE_RETTIGHETSPAKKE": "kommuneforeldrebetaling"})
    assert res.exit_code == 2 and "hører ikke til boligsosial bistand" in flat(res.output)


def test_the_fee_client_refuses_the_boligsosial_package_and_back():
    tokens = TokenProvider(CREDS, "http://127.0.0.1:9/token", "http://127.0.0.1:9/")
    with pytest.raises(PurposeError, match="kan ikke brukes til foreldrebetaling"):
        SsgClient("http://127.0.0.1:9", tokens, rettighetspakke="kommuneboligsosialeformaal")
    with pytest.raises(PurposeError, match="kan ikke brukes til boligsosial"):
        SsgClient("http://127.0.0.1:9", tokens, formaal=Formaal.BOLIGSOSIAL, rettighetspakke="kommuneforeldrebetaling")
    with pytest.raises(PurposeError, match="ingen rettighetspakke i Inntekt API"):
        aordning.InntektClient(
            "http://127.0.0.1:9", "/x/{rettighetspakke}/{personidentifikator}", tokens, formaal=Formaal.FORELDREBETALING
        )
    with pytest.raises(PurposeError, match="kan ikke brukes mot Inntekt API"):
        aordning.InntektClient(
            "http://127.0.0.1:9",
            "/x/{rettighetspakke}/{personidentifikator}",
            tokens,
            rettighetspakke="kommuneforeldrebetaling",
        )


def test_the_boligsosial_client_never_asks_for_an_utkast(tmp_path):
    with EmulatorServer(tmp_path, trusted_certs=[DER]) as s:
        client = SsgClient(
            s.base_url, TokenProvider(CREDS, s.base_url + "/token", s.state.issuer), formaal=Formaal.BOLIGSOSIAL
        )
        person = make_synthetic(dt.date(1980, 1, 1), 1)
        with pytest.raises(PurposeError, match="bare stadie oppgjoer"):
            asyncio.run(client.fetch_all([person], [(2024, "oppgjoer"), (2024, "utkast")]))
        assert s.state.requests == 0 and s.state.token_requests == 0


def test_a_cache_of_one_purpose_is_refused_for_the_other(tmp_path, demo):
    fee = tmp_path / "skatt.sqlite"
    LookupCache(fee).close()
    with pytest.raises(PurposeError, match="laget for formålet foreldrebetaling"):
        aordning.AordningCache(fee)
    bolig = tmp_path / "boligsosial.sqlite"
    aordning.AordningCache(bolig).close()
    with pytest.raises(PurposeError, match="laget for formålet boligsosial"):
        LookupCache(bolig)
    res = inntekt(tmp_path / "o", "--tax-data", str(FIX), "--source", "emulator", "--cache", str(fee))
    assert res.exit_code == 2 and "brukes aldri til et annet" in flat(res.output)
    res = runner.invoke(
        app,
        [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "emulator",
            "--tax-data",
            str(demo / "skatt"),
            "--cache",
            str(bolig),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 2 and "brukes aldri til et annet" in flat(res.output)


def test_an_answer_moved_from_one_purposes_cache_to_the_others_is_not_read(tmp_path, monkeypatch):
    """Even with one key for both (a setting allows it), a row of one purpose does not decrypt in the other."""
    from fee_engine.taxdata.answer import decode
    from fee_engine.taxdata.base import Lookup

    key = "k" * 43
    monkeypatch.setenv("FEE_ENGINE_CACHE_KEY", key)
    monkeypatch.setenv("FEE_ENGINE_BOLIGSOSIAL_CACHE_KEY", key)
    person = make_synthetic(dt.date(1980, 1, 1), 1)
    raw = json.dumps(
        {
            "grunnlag": [
                {
                    "tekniskNavn": "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt",
                    "beloep": 500000,
                    "kategori": "inntekt",
                }
            ]
        }
    ).encode()
    body = decode(raw, person, 2024, "oppgjoer")
    bolig = aordning.AordningCache(tmp_path / "b.sqlite")
    bolig.put(Lookup(person, 2024, "oppgjoer", "ok", "200", body))
    assert bolig.get(person, 2024, "oppgjoer") is not None
    bolig.close()
    fee = LookupCache(tmp_path / "f.sqlite")
    fee.close()
    row = sqlite3.connect(tmp_path / "b.sqlite").execute("SELECT * FROM oppslag").fetchone()
    con = sqlite3.connect(tmp_path / "f.sqlite")
    con.execute("INSERT INTO oppslag VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    con.commit()
    con.close()
    fee = LookupCache(tmp_path / "f.sqlite")
    assert fee.person_key(person) == row[0]  # the same key, the same row key: only the purpose differs
    assert fee.get(person, 2024, "oppgjoer") is None and fee.unreadable == 1  # not served; asked again


def test_an_audit_log_opened_for_the_fee_takes_no_boligsosial_lookup(tmp_path):
    from fee_engine.audit import AuditLog
    from fee_engine.errors import ConfigurationError

    with EmulatorServer(tmp_path, trusted_certs=[DER]) as s:
        client = SsgClient(
            s.base_url, TokenProvider(CREDS, s.base_url + "/token", s.state.issuer), formaal=Formaal.BOLIGSOSIAL
        )
        with AuditLog(tmp_path / "r.jsonl", command="run") as log:
            with pytest.raises(ConfigurationError, match="formålet"):
                asyncio.run(client.fetch_all(["01018012345"], [(2024, "oppgjoer")], audit=log))
        assert s.state.requests == 0


def test_the_inntekt_command_has_no_fiks_source(tmp_path):
    res = inntekt(tmp_path / "o", "--source", "fiks")
    assert res.exit_code == 2 and "ingen proxy for Inntekt API" in flat(res.output)


# -- a vendor: both delegations -------------------------------------------------------------------------------
def test_a_vendor_needs_both_delegations_for_boligsosial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    both = {DELEGERINGER[SSG_SCOPE], DELEGERINGER[INNTEKT_SCOPE]}
    delegations = {"311000011": both, "311000022": {DELEGERINGER[SSG_SCOPE]}}
    with EmulatorServer(
        FIX / "summertskattegrunnlag", inntekt_data=FIX / "inntekt", trusted_certs=trusted, delegeringer=delegations
    ) as s:
        ok = inntekt(
            tmp_path / "a",
            "--source",
            "api",
            env=api_env(s, key_file, cert_file, FEE_ENGINE_INNTEKT_URL=s.base_url, FEE_ENGINE_CONSUMER_ORG="311000011"),
        )
        assert ok.exit_code == 1, ok.output
        assert (tmp_path / ".fee-engine" / "311000011" / "boligsosial.sqlite").is_file()
        refused = inntekt(
            tmp_path / "b",
            "--source",
            "api",
            env=api_env(s, key_file, cert_file, FEE_ENGINE_INNTEKT_URL=s.base_url, FEE_ENGINE_CONSUMER_ORG="311000022"),
        )
        assert refused.exit_code == 2
        text = flat(refused.output)
        assert "«Summert skattegrunnlag API - På vegne av» og «Inntekt API - På vegne av» (begge må delegeres)" in text


# -- the Inntekt API's own errors and answers ----------------------------------------------------------------
def test_an_unknown_inntekt_url_stops_and_a_forbidden_package_stops(tmp_path):
    person = "12848600006"
    with EmulatorServer(FIX / "summertskattegrunnlag", inntekt_data=FIX / "inntekt", trusted_certs=[DER]) as s:
        tokens = TokenProvider(CREDS, s.base_url + "/token", s.state.issuer, scope=f"{SSG_SCOPE} {INNTEKT_SCOPE}")
        wrong = aordning.InntektClient(s.base_url, "/api/feil/{rettighetspakke}/{personidentifikator}", tokens)
        with pytest.raises(TaxConfigurationError, match="FEE_ENGINE_INNTEKT_STI"):
            asyncio.run(wrong.fetch_all([person], FIRST, LAST))
        no_scope = TokenProvider(CREDS, s.base_url + "/token", s.state.issuer, scope=SSG_SCOPE)
        client = aordning.InntektClient(
            s.base_url,
            "/api/innrapportert/inntektsmottaker/{rettighetspakke}/{personidentifikator}/oppgave/inntekt",
            no_scope,
        )
        with pytest.raises(TaxConfigurationError, match="IM-005"):
            asyncio.run(client.fetch_all([person], FIRST, LAST))


@pytest.mark.parametrize(
    "change,reason",
    [
        (lambda o: o["inntekt"][0].update(beloep=100.125), "mer enn to desimaler"),
        (lambda o: o["inntektsmottaker"].update(personidentifikator="01018012345"), "en annen person"),
        (lambda o: o.update(kalendermaaned="2025-13"), "feil form"),
        (lambda o: o["inntekt"][0].update(beloep="mye"), ""),
    ],
)
def test_an_answer_that_does_not_fit_is_a_failed_lookup_never_zero(change, reason):
    person = "12848600006"
    body = json.loads((FIX / "inntekt" / f"{person}.json").read_text())
    body["oppgaveInntektsmottaker"] = [
        o for o in body["oppgaveInntektsmottaker"] if FIRST <= o["kalendermaaned"] <= LAST
    ]
    change(body["oppgaveInntektsmottaker"][0])
    res = aordning._lookup_from(json.dumps(body).encode(), person, FIRST, LAST, None)
    assert res.status == "feil" and res.kode == "UGYLDIG-SVAR" and reason in res.melding
    from fee_engine.boligsosial.sammendrag import aordning_for

    summary = aordning_for(res)
    assert summary.total_oere is None and summary.status == "feil"


def test_months_complete_from_the_tenth():
    assert aordning.complete_months(dt.date(2025, 11, 9), 3) == ("2025-07", "2025-09")
    assert aordning.complete_months(dt.date(2025, 11, 10), 3) == ("2025-08", "2025-10")
    assert aordning.complete_months(dt.date(2026, 1, 10), 1) == ("2025-12", "2025-12")
    assert aordning.complete_months(dt.date(2026, 2, 1), 12) == ("2025-01", "2025-12")
    assert aordning.months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    from fee_engine.errors import ConfigurationError

    for bad in (0, 25, True):
        with pytest.raises(ConfigurationError):
            aordning.complete_months(dt.date(2025, 1, 1), bad)


# -- the persons file -------------------------------------------------------------------------------------------
A, B, C = (make_synthetic(dt.date(1980 + i, 2, 3), 5 * i + 1) for i in range(3))


@pytest.mark.parametrize(
    "rows,code,rejected",
    [
        ([("S1", A, "soeker"), ("S1", "", "ektefelle")], "mangler", {2, 3}),
        ([("S1", A, "soeker"), ("S1", B[:-1] + str((int(B[-1]) + 1) % 10), "ektefelle")], "fnr_kontroll", {2, 3}),
        ([("S1", A, "soeker"), ("S1", B, "kjæreste")], "rolle", {2, 3}),
        ([("S1", A, "soeker"), ("S1", B, "soeker")], "soeker_antall", {2, 3}),
        ([("S1", A, "ektefelle")], "soeker_antall", {2}),
        ([("S1", A, "soeker"), ("S1", B, "ektefelle"), ("S1", C, "samboer")], "partner_antall", {2, 3, 4}),
        ([("S1", A, "soeker"), ("S1", A, "husstandsmedlem")], "person_dobbel", {2, 3}),
        ([(A, A, "soeker")], "sak_id_sifre", {2}),
        ([("../S1", A, "soeker")], "sak_id_form", {2}),
        ([("S1", A, "soeker"), ("S2", B, "soeker")], None, set()),
    ],
)
def test_the_persons_file_is_checked_row_by_row_and_case_by_case(tmp_path, rows, code, rejected):
    f = tmp_path / "personer.csv"
    f.write_text("sak_id;personidentifikator;rolle\n" + "".join(f"{a};{b};{c}\n" for a, b, c in rows), encoding="utf-8")
    got = read_persons(f)
    assert set(got.rejections["rad"]) == rejected
    if code:
        assert code in set(got.rejections["kode"])
    assert got.n_rows == len(rows) and len(got.rows) + got.rejected_rows == len(rows)
    for n in (A, B, C):  # every echoed identifier masked
        assert not got.rejections["verdi"].astype(str).str.contains(n).any()


def test_the_persons_file_from_excel_with_a_lost_leading_zero(tmp_path):
    person = make_synthetic(dt.date(1990, 1, 5), 3)  # 05… : Excel drops the 0 of a number
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Sak_ID", "Personidentifikator", "Rolle"])
    ws.append(["S1", int(person), "Søker"])
    wb.save(tmp_path / "p.xlsx")
    got = read_persons(tmp_path / "p.xlsx")
    assert got.rejected_rows == 0 and got.cases() == {"S1": [(person, "soeker")]}


def test_cache_purge_empties_the_boligsosial_cache_and_a_vendors_too(tmp_path):
    cache = tmp_path / "bolig.sqlite"
    res = inntekt(tmp_path / "e", "--tax-data", str(FIX), "--source", "emulator", "--cache", str(cache))
    assert res.exit_code == 1
    con = sqlite3.connect(cache)
    assert con.execute("SELECT COUNT(*) FROM aordning").fetchone()[0] > 0
    con.close()
    purged = runner.invoke(app, ["cache", "purge", "--days", "0", "--cache", str(cache)])
    assert purged.exit_code == 0, purged.output
    con = sqlite3.connect(cache)
    assert con.execute("SELECT COUNT(*) FROM aordning").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM oppslag").fetchone()[0] == 0
    con.close()
    vendor = tmp_path / "kommune.sqlite"
    LookupCache(vendor, kommune="311000011").close()
    assert runner.invoke(app, ["cache", "purge", "--days", "0", "--cache", str(vendor)]).exit_code == 0
