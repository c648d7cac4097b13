"""A vendor acting for municipalities (``consumer_org``, Altinn «på vegne av»), and the emulator's settings to copy."""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.taxdata.emulator import EmulatorServer, read_delegations
from fee_engine.taxdata.formaal import DELEGERINGER, INNTEKT_SCOPE, SSG_SCOPE
from tests.apirun import api_env, client_identity

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
SSG_DELEGERING = DELEGERINGER[SSG_SCOPE]
INNTEKT_DELEGERING = DELEGERINGER[INNTEKT_SCOPE]
KOMMUNE_A, KOMMUNE_B, KOMMUNE_C = "311000011", "311000022", "311000033"
runner = CliRunner()


def flat(text: str) -> str:
    """The console wraps long lines; compare words, not line breaks."""
    return " ".join(text.split())


def run_for(server: EmulatorServer, key_file: Path, cert_file: Path, org: str, out: Path, *extra: str):
    env = api_env(server, key_file, cert_file, FEE_ENGINE_CONSUMER_ORG=org)
    return runner.invoke(
        app,
        [
            "run",
            str(DEMO / "innskriving.csv"),
            "--source",
            "api",
            "--period",
            "2024-08..2025-07",
            "--format",
            "csv",
            "--out",
            str(out),
            *extra,
        ],
        env=env,
    )


@pytest.fixture
def vendor(tmp_path, monkeypatch):
    """One vendor key; municipalities A and B have delegated Summert skattegrunnlag, C nothing."""
    monkeypatch.chdir(tmp_path)  # the default caches go to ./.fee-engine/<orgnr>/
    key_file, cert_file, trusted = client_identity(tmp_path / "leverandor")
    delegations = {KOMMUNE_A: {SSG_DELEGERING}, KOMMUNE_B: {SSG_DELEGERING}}
    with EmulatorServer(DEMO / "skatt", trusted_certs=trusted, delegeringer=delegations) as s:
        yield s, key_file, cert_file


def test_one_vendor_key_two_municipalities_in_a_row(vendor, tmp_path, audit_log_in_tmp):
    server, key_file, cert_file = vendor
    for org in (KOMMUNE_A, KOMMUNE_B):
        res = run_for(server, key_file, cert_file, org, tmp_path / f"ut-{org}")
        assert res.exit_code == 1, res.output  # the demo's three bad rows; everyone else decided
    assert dict(server.state.consumer_orgs) == {KOMMUNE_A: 1, KOMMUNE_B: 1}  # one token per municipality
    files = runner.invoke(
        app,
        [
            "run",
            str(DEMO / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(DEMO / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "filer"),
        ],
    )
    assert files.exit_code == 1
    for org in (KOMMUNE_A, KOMMUNE_B):
        for name in ("maanedlig.csv", "vedtak.csv"):
            assert (tmp_path / f"ut-{org}" / name).read_text() == (tmp_path / "filer" / name).read_text()
        # each municipality its own cache (and key) under .fee-engine/<orgnr>/
        assert (tmp_path / ".fee-engine" / org / "skatt.sqlite").is_file()
        assert (tmp_path / ".fee-engine" / org / "skatt.sqlite.nokkel").is_file()
        lines = [json.loads(x) for x in (tmp_path / f"ut-{org}" / "revisjon.jsonl").read_text().splitlines()]
        assert lines and {x["paa_vegne_av"] for x in lines} == {org} and {x["kilde"] for x in lines} == {"skatteetaten"}
    files_lines = [json.loads(x) for x in (tmp_path / "filer" / "revisjon.jsonl").read_text().splitlines()]
    assert files_lines and not any("paa_vegne_av" in x for x in files_lines)


def test_a_municipality_without_delegation_stops_with_exit_2_naming_the_delegation(vendor, tmp_path):
    server, key_file, cert_file = vendor
    res = run_for(server, key_file, cert_file, KOMMUNE_C, tmp_path / "ut-c")
    assert res.exit_code == 2
    text = flat(res.output)
    assert f"«{SSG_DELEGERING}»" in text and "consumer_org" in text and "Altinn" in text
    assert server.state.requests == 0  # not a single lookup
    assert not (tmp_path / "ut-c" / "maanedlig.csv").exists()


def test_one_municipalitys_cache_is_never_used_for_another(vendor, tmp_path):
    server, key_file, cert_file = vendor
    shared = tmp_path / "felles.sqlite"
    assert run_for(server, key_file, cert_file, KOMMUNE_A, tmp_path / "a", "--cache", str(shared)).exit_code == 1
    requests = server.state.requests
    res = run_for(server, key_file, cert_file, KOMMUNE_B, tmp_path / "b", "--cache", str(shared))
    assert res.exit_code == 2 and "en annen kommune" in flat(res.output)
    assert server.state.requests == requests  # nothing of A's was served to B, nothing asked either


def test_the_emulator_refuses_only_what_was_not_delegated(tmp_path):
    """Maskinporten's check in the emulator: every requested scope's Altinn service must be delegated."""
    import asyncio

    import httpx

    from fee_engine.taxdata.errors import MaskinportenError
    from fee_engine.taxdata.maskinporten import TokenProvider
    from tests.test_taxdata_http import CREDS, DER

    delegations = {KOMMUNE_A: {SSG_DELEGERING, INNTEKT_DELEGERING}, KOMMUNE_B: {SSG_DELEGERING}}
    with EmulatorServer(tmp_path, trusted_certs=[DER], delegeringer=delegations) as s:

        async def token(org: str | None, scope: str) -> str:
            async with httpx.AsyncClient() as client:
                return await TokenProvider(
                    CREDS, s.base_url + "/token", s.state.issuer, scope=scope, consumer_org=org
                ).get(client)

        both = f"{SSG_SCOPE} {INNTEKT_SCOPE}"
        assert asyncio.run(token(KOMMUNE_A, both))
        assert asyncio.run(token(KOMMUNE_B, SSG_SCOPE))
        assert asyncio.run(token(None, both))  # the organisation for itself: no delegation involved
        with pytest.raises(MaskinportenError) as err:
            asyncio.run(token(KOMMUNE_B, both))
        text = str(err.value)
        assert f"«{SSG_DELEGERING}» og «{INNTEKT_DELEGERING}» (begge må delegeres)" in text
        assert KOMMUNE_B not in text  # an organisation number is shown masked like every run of 9+ digits
        assert s.state.consumer_orgs == {KOMMUNE_A: 1, KOMMUNE_B: 1}


def test_delegations_file_is_checked(tmp_path):
    good = tmp_path / "d.yaml"
    good.write_text(
        f'{KOMMUNE_A}: ["{SSG_DELEGERING}"]\n"{KOMMUNE_B}": ["{SSG_DELEGERING}", "{INNTEKT_DELEGERING}"]\n',
        encoding="utf-8",
    )
    assert read_delegations(good) == {KOMMUNE_A: {SSG_DELEGERING}, KOMMUNE_B: {SSG_DELEGERING, INNTEKT_DELEGERING}}
    from fee_engine.errors import ConfigurationError

    for text in ('"12345": []\n', f'{KOMMUNE_A}: "{SSG_DELEGERING}"\n', f'{KOMMUNE_A}: ["Summert skattegrunnlag"]\n'):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError):
            read_delegations(bad)


# -- fee-engine emulator --write-client: every setting to copy, one per line ---------------------------------
def test_write_client_prints_every_setting_and_a_run_works_with_exactly_those(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEE_ENGINE_") or k == "FEE_ENGINE_AUDIT_LOG"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fee_engine",
            "emulator",
            "--data",
            str(DEMO / "skatt"),
            "--port",
            "0",
            "--write-client",
            str(tmp_path / "klient"),
            "--fiks",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    settings: dict[str, str] = {}
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while "FEE_ENGINE_FIKS_ROLLE_ID" not in settings and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            assert line.startswith("export FEE_ENGINE_"), line  # whole lines, never wrapped
            name, _, value = line[len("export ") :].rstrip("\n").partition("=")
            settings[name] = shlex.split(value)[0]
        assert {
            "FEE_ENGINE_SSG_URL",
            "FEE_ENGINE_TOKEN_URL",
            "FEE_ENGINE_AUDIENCE",
            "FEE_ENGINE_CLIENT_ID",
            "FEE_ENGINE_KEY_FILE",
            "FEE_ENGINE_CERT_FILE",
            "FEE_ENGINE_FIKS_URL",
            "FEE_ENGINE_FIKS_INTEGRASJON_ID",
            "FEE_ENGINE_FIKS_INTEGRASJON_PASSORD",
            "FEE_ENGINE_FIKS_ROLLE_ID",
        } <= set(settings)
        for source in ("api", "fiks"):
            res = runner.invoke(
                app,
                [
                    "run",
                    str(DEMO / "innskriving.csv"),
                    "--source",
                    source,
                    "--period",
                    "2024-08..2025-07",
                    "--format",
                    "csv",
                    "--out",
                    str(tmp_path / source),
                ],
                env={**env, **settings},
            )
            assert res.exit_code == 1, res.output  # the demo's three bad rows; the lookups all worked
            assert (tmp_path / source / "maanedlig.csv").read_text() == (tmp_path / "api" / "maanedlig.csv").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
