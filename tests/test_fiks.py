"""KS Fiks's proxy of Summert skattegrunnlag (``--source fiks`` / ``fiks-emulator``), over loopback only."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fee_engine import batch
from fee_engine.cli import app
from fee_engine.identity import make_synthetic
from fee_engine.regelsett import load_rules
from fee_engine.taxdata import fiks, http
from fee_engine.taxdata.client import Feilsvar
from fee_engine.taxdata.emulator import EmulatorServer, Faults, FiksEmulator
from fee_engine.taxdata.errors import AuthenticationError, MissingCredentialsError, TaxConfigurationError
from fee_engine.taxdata.formaal import FIKS_SCOPE, SSG_SCOPE
from fee_engine.taxdata.maskinporten import TokenProvider
from tests.apirun import api_env, client_identity
from tests.caserunner import build, load_cases
from tests.test_taxdata_http import CREDS, DER, PLAN, loenn, population, run, write

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
CASES = load_cases(Path(__file__).parent / "cases")
INTEGRASJON, PASSORD = "5d1f0e4c-8e0b-4a51-9d3c-7f7a2f0c1b11", "hemmelig-fiks-passord-42"
ROLLE = "rolle-0301-foreldrebetaling"
FIKS = FiksEmulator(INTEGRASJON, PASSORD, ROLLE)
runner = CliRunner()


@pytest.fixture
def fiks_env(monkeypatch):
    for k, v in {
        "FEE_ENGINE_FIKS_INTEGRASJON_ID": INTEGRASJON,
        "FEE_ENGINE_FIKS_INTEGRASJON_PASSORD": PASSORD,
        "FEE_ENGINE_FIKS_ROLLE_ID": ROLLE,
    }.items():
        monkeypatch.setenv(k, v)


def fiks_client(server: EmulatorServer, *, scope: str = FIKS_SCOPE, passord: str = PASSORD, rolle: str = ROLLE, **kw):
    tokens = TokenProvider(CREDS, server.base_url + "/token", server.state.issuer, scope=scope)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("max_backoff", 0.05)
    return fiks.client(server.base_url, rolle, INTEGRASJON, passord, tokens, **kw)


def amounts(comp: batch.Computation):
    cm = comp.child_months
    cols = [
        "barn_id",
        "tilbud",
        "maaned",
        "ordinaer_pris",
        "etter_inntektsgrense",
        "soeskenmoderasjon",
        "gratis_timer",
        "belop",
        "status",
    ]
    return cm[cols].sort_values(["barn_id", "tilbud", "maaned"]).reset_index(drop=True)


# -- the held-out fee cases: the same amounts through Fiks as from files ---------------------------------
@pytest.fixture(scope="module")
def fiks_server(tmp_path_factory):
    """One emulator acting as KS Fiks for every case (each case points it at its own folder of answers)."""
    folder = tmp_path_factory.mktemp("fiks")
    key_file, cert_file, trusted = client_identity(folder / "klient")
    (folder / "tom").mkdir()
    with EmulatorServer(folder / "tom", trusted_certs=trusted, fiks=FIKS) as s:
        yield s, key_file, cert_file


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[name for name, _ in CASES])
def test_fee_cases_through_source_fiks_equal_files(case, tmp_path, fiks_server, monkeypatch):
    server, key_file, cert_file = fiks_server
    env = api_env(
        server,
        key_file,
        cert_file,
        FEE_ENGINE_FIKS_URL=server.base_url,
        FEE_ENGINE_FIKS_INTEGRASJON_ID=INTEGRASJON,
        FEE_ENGINE_FIKS_INTEGRASJON_PASSORD=PASSORD,
        FEE_ENGINE_FIKS_ROLLE_ID=ROLLE,
    )
    for k, v in env.items():
        if k.startswith("FEE_ENGINE_"):
            monkeypatch.setenv(k, v)
    opts = build(case, tmp_path)
    rules = load_rules(opts.rules_dir, opts.kommune_config)  # once for both
    from_files = batch.compute(opts, rules=rules)
    server.state.data = opts.tax_data
    server.state.__post_init__()  # index this case's answers
    before = server.state.fiks_requests
    opts.source, opts.cache = "fiks", tmp_path / "skatt.sqlite"
    through_fiks = batch.compute(opts, rules=rules)
    assert amounts(through_fiks).equals(amounts(from_files))
    assert list(through_fiks.runs["manuell_grunn"]) == list(from_files.runs["manuell_grunn"])
    assert through_fiks.lookups == from_files.lookups
    assert server.state.fiks_requests - before == from_files.lookups  # every lookup went through Fiks's path


@pytest.mark.parametrize("feilformat", ["skatteetaten", "innpakket", "fiks"])
def test_the_demo_through_fiks_in_each_error_format(feilformat, tmp_path, fiks_env, monkeypatch):
    """Skatteetaten's errors passed through, wrapped in Fiks's errorJson, or in Fiks's words only: the same amounts."""
    monkeypatch.setattr(http, "fetch_fiks_emulator", functools.partial(http.fetch_fiks_emulator, feilformat=feilformat))
    base = dict(
        enrollment=DEMO / "innskriving.csv",
        period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        tax_data=DEMO / "skatt",
        formats=("csv",),
    )
    from_files = batch.compute(batch.RunOptions(out=tmp_path / "f", source="files", **base))
    through_fiks = batch.compute(batch.RunOptions(out=tmp_path / "k", source="fiks-emulator", **base))
    assert amounts(through_fiks).equals(amounts(from_files))
    reasons_files = list(from_files.runs["manuell_grunn"])
    reasons_fiks = list(through_fiks.runs["manuell_grunn"])
    if feilformat == "fiks":  # Fiks's own words carry no SSG code: still manual, with Fiks's code as the reason
        assert [r == "" for r in reasons_fiks] == [r == "" for r in reasons_files]
        assert any("FIKS-404" in r for r in reasons_fiks) and not any("SSG-007" in r for r in reasons_fiks)
    else:
        assert reasons_fiks == reasons_files


def test_run_through_fiks_writes_identical_files_and_audit_lines_with_korrelasjonsid(
    tmp_path, fiks_env, audit_log_in_tmp
):
    base = dict(
        enrollment=DEMO / "innskriving.csv",
        period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        tax_data=DEMO / "skatt",
        formats=("csv",),
    )
    batch.run(batch.RunOptions(out=tmp_path / "f", source="files", **base))
    batch.run(batch.RunOptions(out=tmp_path / "k", source="fiks-emulator", cache=tmp_path / "c.sqlite", **base))
    for name in ("maanedlig.csv", "vedtak.csv"):
        assert (tmp_path / "k" / name).read_bytes() == (tmp_path / "f" / name).read_bytes()
    lines = [json.loads(x) for x in (tmp_path / "k" / "revisjon.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines and all(x["kilde"] == "emulator" and x["formaal"] == "kommuneforeldrebetaling" for x in lines)
    assert all(x["korrelasjonsid"] for x in lines)  # answers and errors alike carry one


# -- the error bodies Fiks may put in front of Skatteetaten's -------------------------------------------
@pytest.mark.parametrize(
    "body,expected",
    [
        (
            {"kode": "SSG-007", "melding": "Ikke treff", "korrelasjonsid": "k-1"},
            Feilsvar("SSG-007", "Ikke treff", "k-1"),
        ),
        (
            {
                "status": 404,
                "errorId": "e-1",
                "message": "Ingen treff",
                "errorJson": {"kode": "SSG-008", "melding": "Ingen summert", "korrelasjonsid": "k-2"},
            },
            Feilsvar("SSG-008", "Ingen summert", "k-2"),
        ),
        (
            {
                "status": 404,
                "errorId": "e-3",
                "message": "Ingen treff",
                "errorJson": json.dumps({"kode": "SSG-007", "melding": "Ikke treff"}),
            },
            Feilsvar("SSG-007", "Ikke treff", "e-3"),
        ),
        (
            {"status": 410, "errorId": "e-4", "message": "SSG-011: Skattegrunnlag finnes ikke lenger"},
            Feilsvar("SSG-011", "SSG-011: Skattegrunnlag finnes ikke lenger", "e-4"),
        ),
        (
            {"status": 404, "errorId": "e-5", "message": "Ingen treff", "errorCode": None},
            Feilsvar("FIKS-404", "Ingen treff", "e-5", utfall="ingen_data"),
        ),
        (
            {"status": 403, "errorId": "e-6", "message": "Mangler tilgang", "errorCode": "REGISTER-403"},
            Feilsvar("FIKS-REGISTER-403", "Mangler tilgang", "e-6", utfall="ingen_data"),
        ),
    ],
)
def test_fiks_error_bodies_map_to_the_direct_sources_codes(body, expected):
    assert fiks.feilsvar(json.dumps(body).encode()) == expected


@pytest.mark.parametrize(
    "raw", [b"", b"404 NOT FOUND", b"<html>Not found</html>", b"[1, 2]", b'{"foo": 1}', b'{"kode": 7}', b"\xff\xfe"]
)
def test_what_is_not_an_error_body_of_either_kind_reads_as_nothing(raw):
    assert fiks.feilsvar(raw) == Feilsvar()


def test_a_fiks_error_body_never_shows_a_full_fodselsnummer():
    person = make_synthetic(dt.date(1980, 1, 1), 3)
    got = fiks.feilsvar(json.dumps({"status": 404, "errorId": "e", "message": f"Ingen treff på {person}"}).encode())
    assert person not in (got.melding or "") and person[:6] in (got.melding or "")


# -- what the emulated Fiks checks -----------------------------------------------------------------------
def test_every_outcome_through_fiks_is_the_direct_sources(data_dir):
    p = [make_synthetic(dt.date(1980 + i, 1, 1), i) for i in range(5)]
    write(data_dir, p[0], 2023, "oppgjoer", loenn(300000))
    write(data_dir, p[1], 2023, "utkast", loenn(200000))
    write(data_dir, p[2], 2022, "oppgjoer", loenn(100000))
    write(data_dir, p[3], 2023, "oppgjoer", {"_emulator": {"status": 410, "kode": "SSG-011"}})
    write(data_dir, p[3], 2023, "utkast", loenn(5))
    with EmulatorServer(data_dir, trusted_certs=[DER], fiks=FIKS) as s:
        out = run(fiks_client(s), p)
        assert s.state.fiks_requests == s.state.requests > 0
    steps = {k: [(x.inntektsaar, x.stadie, x.kode) for x in v] for k, v in out.items()}
    assert steps[p[0]] == [(2023, "oppgjoer", "200")]
    assert steps[p[1]] == [(2023, "oppgjoer", "SSG-008"), (2023, "utkast", "200")]
    assert steps[p[2]] == [(2023, "oppgjoer", "SSG-008"), (2023, "utkast", "SSG-008"), (2022, "oppgjoer", "200")]
    assert steps[p[3]] == [(2023, "oppgjoer", "SSG-011"), (2023, "utkast", "200")]
    assert [x.kode for x in out[p[4]]] == ["SSG-007"]
    assert all(x.korrelasjonsid for v in out.values() for x in v)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    d = tmp_path / "skatt"
    d.mkdir()
    return d


@pytest.mark.parametrize(
    "what,error,words",
    [
        ("passord", TaxConfigurationError, "FEE_ENGINE_FIKS_INTEGRASJON_PASSORD"),
        ("rolle", TaxConfigurationError, "FEE_ENGINE_FIKS_ROLLE_ID"),
        ("scope", AuthenticationError, "KS Fiks avviste"),
    ],
)
def test_fiks_refuses_a_wrong_password_role_or_scope_and_the_batch_stops_at_once(data_dir, what, error, words):
    persons = [make_synthetic(dt.date(1980, 1, 1 + i), i) for i in range(20)]
    for person in persons:
        write(data_dir, person, 2023, "oppgjoer", loenn(1))
    with EmulatorServer(data_dir, trusted_certs=[DER], fiks=FIKS) as s:
        kw = (
            {"passord": "feil-passord"}
            if what == "passord"
            else {"rolle": "en-annen-rolle"}
            if what == "rolle"
            else {"scope": SSG_SCOPE}
        )  # a token for Skatteetaten directly, not for Fiks
        client = fiks_client(s, **kw)
        with pytest.raises(error, match=words) as err:
            run(client, persons)
        assert s.state.requests <= 2 * client.max_in_flight  # stopped at once
        assert "feil-passord" not in str(err.value) and PASSORD not in str(err.value)


def test_retries_under_faults_through_fiks(data_dir):
    expected = population(data_dir, 120)
    faults = Faults(rate_500=0.1, rate_503=0.1, rate_429=0.1, retry_after_s=0.01, drop_rate=0.05, seed=3)
    with EmulatorServer(
        data_dir, trusted_certs=[DER], fiks=FiksEmulator(INTEGRASJON, PASSORD, ROLLE, "innpakket"), faults=faults
    ) as s:
        client = fiks_client(s, max_attempts=30)
        out = run(client, expected)
    assert {p: v[-1].kode for p, v in out.items()} == expected
    assert client.stats.retries > 10 and client.stats.max_in_flight <= 5


def test_a_404_without_json_through_fiks_stops_the_batch(data_dir):
    write(data_dir, make_synthetic(dt.date(1980, 1, 1), 1), 2023, "oppgjoer", loenn(1))
    with EmulatorServer(data_dir, trusted_certs=[DER], fiks=FIKS) as s:
        client = fiks_client(s)
        client.url_for = fiks.url_builder(s.base_url + "/feil", ROLLE, "kommuneforeldrebetaling")
        with pytest.raises(TaxConfigurationError, match="ukjent adresse hos KS Fiks"):
            run(client, [make_synthetic(dt.date(1980, 1, 1), 1)], PLAN)


# -- settings ---------------------------------------------------------------------------------------------
def test_missing_fiks_settings_are_named_and_stop_with_exit_2(tmp_path, monkeypatch):
    for k in ("FEE_ENGINE_FIKS_INTEGRASJON_ID", "FEE_ENGINE_FIKS_INTEGRASJON_PASSORD", "FEE_ENGINE_FIKS_ROLLE_ID"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(MissingCredentialsError, match="FEE_ENGINE_FIKS_INTEGRASJON_ID.*PASSORD.*ROLLE_ID"):
        http.ApiConfig.load(None, environ={}).fiks()
    for source in ("fiks", "fiks-emulator"):
        res = runner.invoke(
            app,
            [
                "run",
                str(DEMO / "innskriving.csv"),
                "--source",
                source,
                "--tax-data",
                str(DEMO / "skatt"),
                "--period",
                "2024-08..2025-07",
                "--out",
                str(tmp_path / source),
            ],
        )
        said = " ".join(res.output.split())
        assert res.exit_code == 2 and "FEE_ENGINE_FIKS_ROLLE_ID" in said
        assert f"--source {source} mangler" in said  # the source the user asked for


@pytest.mark.parametrize(
    "name,value",
    [
        ("FEE_ENGINE_FIKS_ROLLE_ID", "../../v2/x"),
        ("FEE_ENGINE_FIKS_INTEGRASJON_ID", "id med mellomrom"),
        ("FEE_ENGINE_FIKS_INTEGRASJON_PASSORD", "hemmelig\r\nX-Injected: 1"),
        ("FEE_ENGINE_FIKS_URL", "ftp://api.fiks.ks.no"),
    ],
)
def test_fiks_settings_are_checked_and_a_password_never_shown(name, value):
    from fee_engine.settings import SettingsError

    with pytest.raises(SettingsError, match=name) as err:
        http.ApiConfig.load(None, environ={name: value})
    assert "hemmelig" not in str(err.value)


def test_fiks_defaults_by_environment():
    assert http.ApiConfig.load(None, environ={}).fiks_url == "https://api.fiks.test.ks.no"
    assert http.ApiConfig.load(None, environ={"FEE_ENGINE_ENV": "prod"}).fiks_url == "https://api.fiks.ks.no"
    url = fiks.url_builder("https://api.fiks.ks.no/", "R", "kommuneforeldrebetaling")("utkast", 2024, "01018012345")
    assert url == (
        "https://api.fiks.ks.no/skatteetaten/formueinntekt/summertskatt/api/v2/R/utkast/"
        "kommuneforeldrebetaling/2024/01018012345"
    )


def test_source_fiks_over_http_with_debug_logging_shows_no_password_or_number(tmp_path, caplog):
    """``--source fiks`` as a user runs it: settings from the environment, the emulator as KS Fiks."""
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    with EmulatorServer(DEMO / "skatt", trusted_certs=trusted, fiks=FIKS) as s:
        env = api_env(
            s,
            key_file,
            cert_file,
            FEE_ENGINE_FIKS_URL=s.base_url,
            FEE_ENGINE_FIKS_INTEGRASJON_ID=INTEGRASJON,
            FEE_ENGINE_FIKS_INTEGRASJON_PASSORD=PASSORD,
            FEE_ENGINE_FIKS_ROLLE_ID=ROLLE,
        )
        caplog.set_level(logging.DEBUG)
        res = runner.invoke(
            app,
            [
                "run",
                str(DEMO / "innskriving.csv"),
                "--source",
                "fiks",
                "--period",
                "2024-08..2025-07",
                "--format",
                "csv",
                "--cache",
                str(tmp_path / "c.sqlite"),
                "--out",
                str(tmp_path / "o"),
            ],
            env=env,
        )
        assert res.exit_code == 1, res.output  # the demo's three bad rows
        assert s.state.fiks_requests > 0 and s.state.fiks_requests == s.state.requests
    texts = res.output + caplog.text + (tmp_path / "o" / "revisjon.jsonl").read_text(encoding="utf-8")
    assert PASSORD not in texts
    ids = {
        f
        for line in (DEMO / "innskriving.csv").read_text(encoding="utf-8").splitlines()[1:]
        for f in line.split(";")[3:5]
        if len(f) == 11
    }
    assert ids and not any(i in texts for i in ids)
    assert {json.loads(x)["kilde"] for x in (tmp_path / "o" / "revisjon.jsonl").read_text().splitlines()} == {"fiks"}
