"""Faults around the tax lookups, over loopback: Maskinporten's token answer, incomplete runs, the emulator's log."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pandas as pd
import pytest
from typer.testing import CliRunner

from fee_engine import batch
from fee_engine.cli import app
from fee_engine.identity import make_synthetic
from fee_engine.income import household_incomes, person_incomes
from fee_engine.regelsett import load_rules
from fee_engine.taxdata.base import Lookup
from fee_engine.taxdata.emulator import EmulatorServer, Faults
from fee_engine.taxdata.errors import MaskinportenError
from tests.apirun import api_env, client_identity
from tests.helpers import read_out
from tests.test_taxdata_http import DER, client_for, population, run

runner = CliRunner()


# -- 9: Maskinporten ----------------------------------------------------------------------------------
def test_a_network_error_on_the_token_request_is_retried(tmp_path):
    expected = population(tmp_path / "skatt", 20)
    with EmulatorServer(tmp_path / "skatt", trusted_certs=[DER], faults=Faults(token_drop_first=2)) as s:
        client = client_for(s)
        client.tokens.backoff = 0.01
        out = run(client, expected)
        assert s.state.dropped == 2
    assert {p: v[-1].kode for p, v in out.items()} == expected
    assert client.tokens.retries == 2 and client.tokens.fetched == 1


def test_a_token_endpoint_that_never_answers_stops_the_batch(tmp_path):
    expected = population(tmp_path / "skatt", 5)
    with EmulatorServer(tmp_path / "skatt", trusted_certs=[DER], faults=Faults(token_drop_first=100)) as s:
        client = client_for(s)
        client.tokens.backoff, client.tokens.max_attempts = 0.001, 3
        with pytest.raises(MaskinportenError, match="3 forsøk"):
            run(client, expected)
        assert s.state.requests == 0


TOKEN = "eyJ0eXAiOiJKV1QifQ.abc-_DEF"


@pytest.mark.parametrize(
    "reply,words",
    [
        (b"<html><body>Service Unavailable</body></html>", "ikke JSON"),
        (b'{"token_type": "Bearer", "expires_in": 120}', "access_token mangler"),
        (b'{"access_token": "' + TOKEN.encode() + b'", "expires_in": null}', "expires_in"),
        (b'{"access_token": "' + TOKEN.encode() + b'", "expires_in": "120"}', "expires_in"),
        (b'{"access_token": "' + TOKEN.encode() + b'", "expires_in": 0}', "expires_in"),
        (b'{"access_token": "' + TOKEN.encode() + b'", "expires_in": -30}', "expires_in"),
        (b'{"access_token": "' + TOKEN.encode() + b'\\r\\nX-Injected: 1", "expires_in": 120}', "access_token"),
        (b'{"access_token": "a b", "expires_in": 120}', "access_token"),
        (b'{"access_token": 12345, "expires_in": 120}', "access_token"),
        (b'{"access_token": "' + TOKEN.encode() + b'", "token_type": "MAC", "expires_in": 120}', "Bearer"),
        (b"[1, 2]", "objekt"),
        (b'{"access_token": "' + b"x" * 200_000 + b'"}', "større enn"),
    ],
)
def test_a_token_answer_that_cannot_be_used_stops_the_batch_before_any_lookup(tmp_path, reply, words):
    expected = population(tmp_path / "skatt", 5)
    with EmulatorServer(tmp_path / "skatt", trusted_certs=[DER], faults=Faults(token_reply=reply)) as s:
        with pytest.raises(MaskinportenError, match=words) as err:
            run(client_for(s), expected)
        assert s.state.requests == 0 and s.state.token_requests == 1  # stopped at once, not retried, not sent
    assert TOKEN not in str(err.value)


def test_one_token_serves_the_whole_batch(tmp_path):
    expected = population(tmp_path / "skatt", 50)
    with EmulatorServer(tmp_path / "skatt", trusted_certs=[DER], faults=Faults(token_lifetime_s=5)) as s:
        client = client_for(s)
        run(client, expected)
        assert client.tokens.fetched == 1 and s.state.token_requests == 1


def test_a_garbage_token_answer_exits_2_from_the_command_line(demo, tmp_path):
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    with EmulatorServer(demo / "skatt", trusted_certs=trusted, faults=Faults(token_reply=b"<html>ok</html>")) as s:
        env = api_env(s, key_file, cert_file)
        res = runner.invoke(
            app,
            [
                "run",
                str(demo / "innskriving.csv"),
                "--source",
                "api",
                "--cache",
                str(tmp_path / "c" / "skatt.sqlite"),
                "--period",
                "2024-08..2025-07",
                "--out",
                str(tmp_path / "o"),
            ],
            env=env,
        )
    assert res.exit_code == 2 and "Maskinporten" in res.output and "Traceback" not in res.output


# -- 13: transient failures: manual with their own code, exit 3, a re-run asks only them ----------------
def test_transient_failures_are_their_own_manual_code():
    p, q = make_synthetic(dt.date(1980, 1, 1), 1), make_synthetic(dt.date(1981, 1, 1), 2)
    lookups = {
        p: [Lookup(p, 2023, "oppgjoer", "feil", "HTTP-503", melding="ga opp etter 8 forsøk", midlertidig=True)],
        q: [Lookup(q, 2023, "oppgjoer", "ukjent_person", "SSG-007")],
    }
    incomes = person_incomes(lookups, load_rules())
    assert incomes[p].kode == "midlertidig_feil" and "kjør på nytt" in incomes[p].reason
    hh = pd.DataFrame(
        {
            "husholdning_id": ["H1", "H2"],
            "voksne": [(p,), (q, p)],
            "soekt_redusert": [True, True],
            "dok_inntekt_oere": [-1, -1],
        }
    )
    out = household_incomes(hh, incomes).set_index("husholdning_id")
    assert out.loc["H1", "manuell_kode"] == "midlertidig_feil"
    assert out.loc["H2", "manuell_kode"] == "ukjent_person+midlertidig_feil"


def test_exit_code_precedence():
    r = batch.RunResult(
        rows_in=1,
        rows_rejected=1,
        rows_outside=0,
        children=1,
        children_manual=0,
        child_months=1,
        total_belop=0,
        warnings=[],
        files=[],
        lookups=1,
    )
    assert r.exit_code == 1
    r.lookups_incomplete = 2
    assert r.exit_code == 3  # incomplete over rows rejected (a configuration stop, 2, is raised before any result)


def test_an_incomplete_run_exits_3_and_a_rerun_asks_only_what_failed(demo, tmp_path):
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    cache = tmp_path / "c" / "skatt.sqlite"
    faults = Faults(rate_503=0.4, seed=3)
    with EmulatorServer(demo / "skatt", trusted_certs=trusted, faults=faults) as s:
        env = api_env(s, key_file, cert_file, FEE_ENGINE_MAX_ATTEMPTS="1", FEE_ENGINE_BACKOFF_S="0")
        args = [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "api",
            "--cache",
            str(cache),
            "--period",
            "2024-08..2025-07",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "o"),
        ]
        first = runner.invoke(app, args, env=env)
        assert first.exit_code == 3, first.output  # 3 over the demo's rejected rows (1)
        assert "kjør samme kommando på nytt" in " ".join(first.output.split())
        m = read_out(tmp_path / "o" / "maanedlig.csv", dtype=str, keep_default_na=False)
        transient = m[m.manuell_grunn.str.contains("midlertidig feil – kjør på nytt", regex=False)]
        assert len(transient) > 0 and (transient.status == "manuell").all()
        meta = json.loads((tmp_path / "o" / "kjoering.json").read_text(encoding="utf-8"))
        assert any("Kjør samme kommando på nytt" in w for w in meta["advarsler"])
        answered_before = dict(s.state.served)
        s.state.faults.rate_503 = 0.0
        second = runner.invoke(app, args, env=env)
        assert second.exit_code == 1, second.output  # complete now; the demo's rejected rows remain
        again = [k for k, n in s.state.served.items() if n > answered_before.get(k, 0) and k in answered_before]
        assert again == []  # nothing that was answered and stored was asked again
        assert len(s.state.served) > len(answered_before)  # the failed ones were
    m = read_out(tmp_path / "o" / "maanedlig.csv", dtype=str, keep_default_na=False)
    assert not m.manuell_grunn.str.contains("midlertidig", regex=False).any()


# -- 14: the emulator logs one line per dropped connection ------------------------------------------------
def test_a_dropped_connection_is_one_log_line_not_a_traceback(tmp_path, capfd, caplog):
    expected = population(tmp_path / "skatt", 20)
    caplog.set_level(logging.WARNING, logger="fee_engine.emulator")
    with EmulatorServer(tmp_path / "skatt", trusted_certs=[DER], faults=Faults(drop_rate=0.3, seed=2)) as s:
        out = run(client_for(s, max_attempts=30), expected)
        dropped = s.state.dropped
    err = capfd.readouterr().err
    assert dropped > 0 and {p: v[-1].kode for p, v in out.items()} == expected
    assert "Traceback" not in err and "Exception in ASGI application" not in err
    assert "without completing response" not in err
    ours = [r for r in caplog.records if r.name == "fee_engine.emulator"]
    assert len(ours) == dropped and all(r.exc_info is None for r in ours)
    assert not any(p in r.getMessage() for r in ours for p in expected)  # the path's fødselsnummer is masked


# -- a folder of answer files ---------------------------------------------------------------------------
def test_file_source_tells_no_answer_this_year_from_a_person_it_does_not_know(tmp_path):
    """A file is opened only when asked for; with none, the other years and stages decide: the person has an
    answer elsewhere (SSG-008, the search moves on) or none at all (SSG-007). A name that is not a file name
    is never used as a path."""
    import shutil
    from pathlib import Path

    from fee_engine.taxdata import FileSource, fallback_plan, fetch_with_fallback

    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo" / "skatt"
    older = next((demo / "2022" / "oppgjoer").glob("*.json"))  # given an answer for 2022 only, below
    root = tmp_path / "skatt"
    (root / "2023" / "oppgjoer").mkdir(parents=True)
    (root / "2023" / "utkast").mkdir(parents=True)
    (root / "2022" / "oppgjoer").mkdir(parents=True)
    shutil.copy(older, root / "2022" / "oppgjoer" / older.name)
    (tmp_path / "utenfor.json").write_text(older.read_text(encoding="utf-8"), encoding="utf-8")  # beside root
    source = FileSource(root)
    person = older.stem
    found = fetch_with_fallback(source, [person, make_synthetic(dt.date(1990, 5, 5), 7)], fallback_plan(2024))
    # oppgjør 2023: no file, but an answer elsewhere -> SSG-008; utkast 2023 likewise; oppgjør 2022 read
    assert [(x.kode, x.inntektsaar, x.stadie) for x in found[person]][:2] == [
        ("SSG-008", 2023, "oppgjoer"),
        ("SSG-008", 2023, "utkast"),
    ]
    assert found[person][-1].inntektsaar == 2022 and found[person][-1].status != "ingen_data"
    unknown = next(v for k, v in found.items() if k != person)
    assert [x.kode for x in unknown] == ["SSG-007"]  # no answer in any year: the search stops
    assert source.lookup("../../../utenfor", 2023, "oppgjoer").kode == "SSG-007"  # never a path outside the folder
