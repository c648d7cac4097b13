"""The Maskinporten grant, the SSG client and the emulator, over loopback HTTP only."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from fee_engine import batch
from fee_engine.identity import make_synthetic
from fee_engine.taxdata import fallback_plan
from fee_engine.taxdata.cache import LookupCache
from fee_engine.taxdata.client import SsgClient
from fee_engine.taxdata.emulator import EmulatorServer, Faults
from fee_engine.taxdata.errors import (
    AuthenticationError,
    MaskinportenError,
    MissingCredentialsError,
    TaxConfigurationError,
)
from fee_engine.taxdata.formaal import Formaal
from fee_engine.taxdata.http import ApiConfig, throwaway_identity, write_identity
from fee_engine.taxdata.maskinporten import GRANT_TYPE, SCOPE, Credentials, TokenProvider, make_grant, x5c_chain

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
KEY, CERT = throwaway_identity()
DER = CERT.public_bytes(serialization.Encoding.DER)
CREDS = Credentials("test-klient", KEY, x5c=x5c_chain([CERT]))
PLAN = fallback_plan(2024)


def write(data: Path, person: str, year: int, stage: str, body: dict) -> None:
    p = data / str(year) / stage / f"{person}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(body), encoding="utf-8")


def loenn(amount: int) -> dict:
    return {
        "grunnlag": [
            {
                "tekniskNavn": "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt",
                "beloep": amount,
                "kategori": "inntekt",
            }
        ]
    }


@pytest.fixture
def data(tmp_path) -> Path:
    d = tmp_path / "skatt"
    d.mkdir()
    return d


def client_for(server: EmulatorServer, **kw) -> SsgClient:
    tokens = TokenProvider(CREDS, server.base_url + "/token", server.state.issuer)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("max_backoff", 0.05)
    return SsgClient(server.base_url, tokens, **kw)


def run(client: SsgClient, persons, plan=PLAN, **kw):
    return asyncio.run(client.fetch_all(list(persons), plan, **kw))


# -- the JWT grant -------------------------------------------------------------------------------
def post_grant(server: EmulatorServer, assertion: str) -> httpx.Response:
    return httpx.post(server.base_url + "/token", data={"grant_type": GRANT_TYPE, "assertion": assertion})


def signed(claims: dict, headers: dict | None = None, key=KEY) -> str:
    return jwt.encode(
        claims, key, algorithm="RS256", headers=headers if headers is not None else {"x5c": x5c_chain([CERT])}
    )


def good_claims(server: EmulatorServer, **over) -> dict:
    now = int(time.time())
    c = {
        "aud": server.state.issuer,
        "iss": "test-klient",
        "scope": SCOPE,
        "iat": now,
        "exp": now + 100,
        "jti": str(uuid.uuid4()),
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def test_grant_claims_and_header():
    g = make_grant(CREDS, "https://test.maskinporten.no/", consumer_org="964338531")
    header = jwt.get_unverified_header(g)
    claims = jwt.decode(g, options={"verify_signature": False})
    assert header["alg"] == "RS256" and isinstance(header["x5c"], list) and "kid" not in header
    assert claims["aud"] == "https://test.maskinporten.no/" and claims["iss"] == "test-klient"
    assert claims["scope"] == SCOPE and claims["consumer_org"] == "964338531"
    assert 0 < claims["exp"] - claims["iat"] <= 120 and claims["jti"]
    assert (
        make_grant(CREDS, "a")[:20]
        and jwt.decode(make_grant(CREDS, "a"), options={"verify_signature": False})["jti"] != claims["jti"]
    )


def test_good_grant_gives_a_token(data):
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        r = post_grant(s, signed(good_claims(s)))
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer" and r.json()["expires_in"] > 0


@pytest.mark.parametrize(
    "case,expected",
    [
        ("wrong_key", "signature"),
        ("wrong_aud", "aud"),
        ("too_long", "at most 120"),
        ("expired", "expired"),
        ("iat_future", "10 seconds"),
        ("no_scope", "scope"),
        ("no_x5c_or_kid", "kid or x5c"),
        ("untrusted_cert", "not registered"),
        ("replay", "MP-012"),
    ],
)
def test_bad_grants_are_refused(data, case, expected):
    other_key, other_cert = throwaway_identity("another")
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        now = int(time.time())
        if case == "wrong_key":
            a = signed(good_claims(s), key=other_key)
        elif case == "wrong_aud":
            a = signed(good_claims(s, aud="https://maskinporten.no/"))
        elif case == "too_long":
            a = signed(good_claims(s, exp=now + 300))
        elif case == "expired":
            a = signed(good_claims(s, iat=now - 200, exp=now - 100))
        elif case == "iat_future":
            a = signed(good_claims(s, iat=now + 60, exp=now + 100))
        elif case == "no_scope":
            a = signed(good_claims(s, scope="skatteetaten:noeannet"))
        elif case == "no_x5c_or_kid":
            a = signed(good_claims(s), headers={})
        elif case == "untrusted_cert":
            a = signed(good_claims(s), headers={"x5c": x5c_chain([other_cert])}, key=other_key)
        else:
            a = signed(good_claims(s))
            assert post_grant(s, a).status_code == 200
        r = post_grant(s, a)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error"] in ("invalid_grant", "invalid_scope") and expected in body["error_description"]


def test_kid_instead_of_x5c(data):
    with EmulatorServer(data, registered_kids={"nokkel-1": KEY.public_key()}) as s:
        creds = Credentials("test-klient", KEY, kid="nokkel-1")
        tokens = TokenProvider(creds, s.base_url + "/token", s.state.issuer)
        person = make_synthetic(dt.date(1990, 1, 1), 1)
        write(data, person, 2023, "oppgjoer", loenn(1))
        s.state.__post_init__()
        out = run(SsgClient(s.base_url, tokens), [person])
        assert out[person][-1].status == "ok"


def test_refused_grant_stops_the_batch(data):
    other_key, other_cert = throwaway_identity("another")
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        creds = Credentials("x", other_key, x5c=x5c_chain([other_cert]))
        client = SsgClient(s.base_url, TokenProvider(creds, s.base_url + "/token", s.state.issuer))
        with pytest.raises(MaskinportenError, match="not registered"):
            run(client, [make_synthetic(dt.date(1990, 1, 1), 1)])


# -- SSG outcomes ----------------------------------------------------------------------------------
def test_every_outcome_and_the_fallback_order(data):
    p = [make_synthetic(dt.date(1980 + i, 1, 1), i) for i in range(6)]
    write(data, p[0], 2023, "oppgjoer", loenn(300000))  # oppgjør Y-1
    write(data, p[1], 2023, "utkast", loenn(200000))  # only utkast Y-1
    write(data, p[2], 2022, "oppgjoer", loenn(100000))  # only oppgjør Y-2
    write(data, p[3], 2020, "oppgjoer", loenn(1))  # known, nothing in the plan: SSG-008 ×3
    write(data, p[4], 2023, "oppgjoer", {"_emulator": {"status": 410, "kode": "SSG-011"}})
    write(data, p[4], 2023, "utkast", loenn(5))  # deleted oppgjør → next step
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        out = run(client_for(s), p)
    steps = {k: [(x.inntektsaar, x.stadie, x.kode) for x in v] for k, v in out.items()}
    assert steps[p[0]] == [(2023, "oppgjoer", "200")]
    assert steps[p[1]] == [(2023, "oppgjoer", "SSG-008"), (2023, "utkast", "200")]
    assert steps[p[2]] == [(2023, "oppgjoer", "SSG-008"), (2023, "utkast", "SSG-008"), (2022, "oppgjoer", "200")]
    assert [x.kode for x in out[p[3]]] == ["SSG-008"] * 3
    assert steps[p[4]] == [(2023, "oppgjoer", "SSG-011"), (2023, "utkast", "200")]
    assert [x.kode for x in out[p[5]]] == ["SSG-007"]
    assert all(x.korrelasjonsid for x in out[p[5]])  # kept from the error body


@pytest.mark.parametrize(
    "setup,error",
    [
        ("forbidden", TaxConfigurationError),
        ("wrong_base", TaxConfigurationError),
        ("bad_accept", TaxConfigurationError),
    ],
)
def test_configuration_errors_stop_the_batch_at_once(data, setup, error):
    persons = [make_synthetic(dt.date(1980, 1, 1 + i), i) for i in range(20)]
    for p in persons:
        write(data, p, 2023, "oppgjoer", loenn(1))
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        s.state.__post_init__()
        plan = PLAN
        if setup == "forbidden":  # a package the organisation has no agreement for: 403
            s.state.rettighetspakker = ("kommuneforeldrebetaling",)
            client = client_for(s, formaal=Formaal.BOLIGSOSIAL)
            plan = [(2023, "oppgjoer")]
        elif setup == "wrong_base":
            client = client_for(s)
            client.base_url += "/feil"
        else:
            inner = httpx.AsyncHTTPTransport()

            class CsvOnly(httpx.AsyncBaseTransport):
                async def handle_async_request(self, request):
                    request.headers["Accept"] = "text/csv"
                    return await inner.handle_async_request(request)

            client = client_for(s, transport=CsvOnly())
        with pytest.raises(error):
            run(client, persons, plan)
        assert s.state.requests <= client.max_in_flight  # stopped at once: no hammering


def test_invalid_person_id_is_a_lookup_failure_not_a_stop(data):
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        out = run(client_for(s), ["1234"])
    assert out["1234"][-1].status == "feil" and out["1234"][-1].kode == "SSG-006"


def test_401_renews_the_token_once(data):
    person = make_synthetic(dt.date(1990, 1, 1), 1)
    write(data, person, 2023, "oppgjoer", loenn(1))
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        client = client_for(s)
        out1 = run(client, [person])
        s.state.tokens.clear()  # every token the client holds is now unknown to the server
        out2 = run(client, [person])
        assert out1[person][-1].status == out2[person][-1].status == "ok"
        assert client.tokens.fetched == 2


def test_401_after_a_fresh_token_stops(data):
    person = make_synthetic(dt.date(1990, 1, 1), 1)
    with EmulatorServer(data, trusted_certs=[DER], faults=Faults(token_lifetime_s=0)) as s:
        with pytest.raises(AuthenticationError):
            run(client_for(s), [person])


# -- faults, cache, resume ----------------------------------------------------------------------
def population(data: Path, n: int) -> dict[str, str]:
    """n persons: most with oppgjør, some utkast only, some unknown. Returns the expected final code."""
    expected = {}
    for i in range(n):
        p = make_synthetic(dt.date(1960, 1, 1) + dt.timedelta(days=i), i % 400)
        if i % 10 == 0:
            expected[p] = "SSG-007"
        elif i % 10 == 1:
            write(data, p, 2023, "utkast", loenn(1000 + i))
            expected[p] = "200"
        else:
            write(data, p, 2023, "oppgjoer", loenn(1000 + i))
            expected[p] = "200"
    return expected


def test_retries_under_faults_end_in_the_right_outcome_and_cache_once(data, tmp_path):
    expected = population(data, 200)
    faults = Faults(rate_500=0.1, rate_503=0.1, rate_429=0.1, retry_after_s=0.01, drop_rate=0.05, seed=7)
    cache = LookupCache(tmp_path / "cache.sqlite")
    with EmulatorServer(data, trusted_certs=[DER], faults=faults) as s:
        client = client_for(s, max_attempts=30)
        out = run(client, expected, cache=cache)
    assert {p: v[-1].kode for p, v in out.items()} == expected
    assert client.stats.retries > 20
    # one row per (person, year, stage) asked: utkast-only persons were asked twice (oppgjør → SSG-008, then utkast)
    utkast_only = sum(1 for i in range(200) if i % 10 == 1)
    assert cache.count() == len(expected) + utkast_only
    assert max(s.state.served.values()) == 1  # no answer was served twice to the cache path
    assert client.stats.max_in_flight <= 5


def test_interrupted_batch_resumes_without_asking_again(data, tmp_path):
    expected = population(data, 120)
    cache_file = tmp_path / "cache.sqlite"
    with EmulatorServer(data, trusted_certs=[DER], faults=Faults(latency_ms=5)) as s:
        done = {"n": 0}

        class Killed(Exception):
            """Stands for the process dying: the batch stops in the middle of its lookups."""

        def stop_after_40():
            done["n"] += 1
            if done["n"] == 40:
                raise Killed

        cache = LookupCache(cache_file)
        with pytest.raises(ExceptionGroup):
            run(client_for(s), expected, cache=cache, progress=stop_after_40)
        cache.close()
        answered_before = dict(s.state.served)
        assert 40 <= len(answered_before) < len(expected) + 12
        cache = LookupCache(cache_file)
        in_cache_before = cache.count()
        client = client_for(s)
        out = run(client, expected, cache=cache)
        assert {p: v[-1].kode for p, v in out.items()} == expected
        # nothing stored before the interruption was asked again
        assert client.stats.cache_hits >= in_cache_before
        repeated = [k for k, n in s.state.served.items() if n > 1]
        assert len(repeated) <= 5  # at most the answers that were in flight when it stopped
        # a third run asks nothing at all
        before = s.state.requests
        run(client_for(s), expected, cache=cache)
        assert s.state.requests == before


def test_token_expiry_mid_batch(data):
    expected = population(data, 60)
    with EmulatorServer(data, trusted_certs=[DER], faults=Faults(latency_ms=50, token_lifetime_s=0.3)) as s:
        client = client_for(s)
        client.tokens.margin = 0.0
        out = run(client, expected)  # about 0.7 s: the server forgets the first token(s) mid-batch
    assert {p: v[-1].kode for p, v in out.items()} == expected
    assert 2 <= client.tokens.fetched <= 12  # renewed when refused (401), not once per lookup


def test_cache_is_private_and_keyed_by_hash(data, tmp_path):
    person = make_synthetic(dt.date(1990, 1, 1), 1)
    write(data, person, 2023, "oppgjoer", loenn(1))
    f = tmp_path / "c" / "cache.sqlite"
    cache = LookupCache(f)
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        run(client_for(s), [person], cache=cache)
    cache.close()
    assert f.stat().st_mode & 0o777 == 0o600
    assert (f.with_name(f.name + ".nokkel")).stat().st_mode & 0o777 == 0o600
    raw = b"".join(p.read_bytes() for p in f.parent.iterdir())
    assert person.encode() not in raw
    import sqlite3

    keys = [r[0] for r in sqlite3.connect(f).execute("SELECT person FROM oppslag")]
    assert keys and all(len(k) == 64 and person not in k for k in keys)
    c2 = LookupCache(f)
    assert c2.purge(0) == 1 and c2.count() == 0


# -- the batch through --source emulator and --source api -----------------------------------------
def test_emulator_source_gives_the_same_decisions_as_files(tmp_path):
    base = dict(
        enrollment=DEMO / "innskriving.csv",
        period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        tax_data=DEMO / "skatt",
        formats=("csv",),
    )
    batch.run(batch.RunOptions(out=tmp_path / "f", source="files", **base))
    batch.run(batch.RunOptions(out=tmp_path / "e", source="emulator", **base))
    for name in ("maanedlig.csv", "vedtak.csv"):
        assert (tmp_path / "f" / name).read_text(encoding="utf-8") == (tmp_path / "e" / name).read_text(
            encoding="utf-8"
        )


def test_api_source_against_the_emulator_with_pem_files(tmp_path, monkeypatch, caplog):
    key_file, cert_file = write_identity(tmp_path / "klient")
    from cryptography import x509

    trusted = [
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(cert_file.read_bytes())
    ]
    with EmulatorServer(DEMO / "skatt", trusted_certs=trusted) as s:
        for k, v in {
            "FEE_ENGINE_SSG_URL": s.base_url,
            "FEE_ENGINE_TOKEN_URL": s.base_url + "/token",
            "FEE_ENGINE_AUDIENCE": s.state.issuer,
            "FEE_ENGINE_CLIENT_ID": "demo-klient",
            "FEE_ENGINE_KEY_FILE": str(key_file),
            "FEE_ENGINE_CERT_FILE": str(cert_file),
        }.items():
            monkeypatch.setenv(k, v)
        caplog.set_level(logging.DEBUG)
        opts = batch.RunOptions(
            enrollment=DEMO / "innskriving.csv",
            out=tmp_path / "a",
            source="api",
            period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
            formats=("csv",),
            cache=tmp_path / "cache.sqlite",
        )
        result = batch.run(opts)
        assert result.lookups > 0
        requests_first = s.state.requests
        batch.run(opts)  # the second run asks nothing: everything is in the cache
        assert s.state.requests == requests_first
    enrollment = (DEMO / "innskriving.csv").read_text(encoding="utf-8")
    ids = {f for line in enrollment.splitlines()[1:] for f in line.split(";")[3:5] if len(f) == 11}
    texts = caplog.text + (tmp_path / "a" / "revisjon.jsonl").read_text(encoding="utf-8")
    assert not any(i in texts for i in ids)


def test_missing_credentials_name_what_is_missing(tmp_path):
    with pytest.raises(MissingCredentialsError, match="klient-id.*privatnøkkel"):
        ApiConfig.load(None, environ={}).credentials()
    with pytest.raises(MissingCredentialsError, match="sertifikat"):
        ApiConfig.load(None, environ={"FEE_ENGINE_CLIENT_ID": "x", "FEE_ENGINE_KEY_FILE": "k.pem"}).credentials()
    from typer.testing import CliRunner

    from fee_engine.cli import app

    res = CliRunner().invoke(
        app,
        [
            "run",
            str(DEMO / "innskriving.csv"),
            "--source",
            "api",
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path / "o"),
        ],
        env={"FEE_ENGINE_CLIENT_ID": ""},
    )
    assert res.exit_code == 2 and "FEE_ENGINE_CLIENT_ID" in res.output


def test_pkcs12_with_password_from_environment(tmp_path):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    p12 = tmp_path / "virksomhet.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"v", KEY, CERT, None, BestAvailableEncryption(b"hemmelig")))
    cfg = ApiConfig.load(
        None,
        environ={"FEE_ENGINE_CLIENT_ID": "x", "FEE_ENGINE_P12_FILE": str(p12), "FEE_ENGINE_KEY_PASSWORD": "hemmelig"},
    )
    creds = cfg.credentials()
    assert creds.x5c == x5c_chain([CERT])
    bad = ApiConfig.load(
        None, environ={"FEE_ENGINE_CLIENT_ID": "x", "FEE_ENGINE_P12_FILE": str(p12), "FEE_ENGINE_KEY_PASSWORD": "feil"}
    )
    with pytest.raises(MissingCredentialsError, match="PKCS#12") as err:
        bad.credentials()
    assert "hemmelig" not in str(err.value)


def test_killed_batch_resumes_with_identical_outputs(tmp_path):
    """SIGKILL a real ``fee-engine run --source api`` mid-fetch, run again: same outputs, stored answers not asked again."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys

    from fee_engine.synthetic import generate

    pop = generate(300, tmp_path / "pop", seed=3, kommune="0301")
    key_file, cert_file = write_identity(tmp_path / "klient")
    from cryptography import x509

    trusted = [
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(cert_file.read_bytes())
    ]
    cache = tmp_path / "cache.sqlite"
    with EmulatorServer(pop / "skatt", trusted_certs=trusted, faults=Faults(latency_ms=15)) as s:
        env = {
            **os.environ,
            "FEE_ENGINE_SSG_URL": s.base_url,
            "FEE_ENGINE_TOKEN_URL": s.base_url + "/token",
            "FEE_ENGINE_AUDIENCE": s.state.issuer,
            "FEE_ENGINE_CLIENT_ID": "demo",
            "FEE_ENGINE_KEY_FILE": str(key_file),
            "FEE_ENGINE_CERT_FILE": str(cert_file),
        }
        cmd = [
            sys.executable,
            "-m",
            "fee_engine",
            "run",
            str(pop / "innskriving.csv"),
            "--source",
            "api",
            "--cache",
            str(cache),
            "--period",
            "2024-08..2025-07",
            "--format",
            "csv",
        ]
        proc = subprocess.Popen(
            cmd + ["--out", str(tmp_path / "killed")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline:
            if cache.exists():
                try:
                    stored = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM oppslag").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
            if stored >= 60:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 60 <= stored
        assert not (tmp_path / "killed" / "maanedlig.csv").exists()  # nothing half-written presented as complete
        served_before = dict(s.state.served)
        stored_keys = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM oppslag").fetchone()[0]
        subprocess.run(
            cmd + ["--out", str(tmp_path / "resumed")], env=env, check=False, capture_output=True, timeout=120
        )
        repeated = [k for k, n in s.state.served.items() if n > served_before.get(k, 0) and k in served_before]
        assert len(repeated) <= 5  # only answers that were in flight when the process died
        assert len(served_before) >= stored_keys - 5
    # the same batch from files, never interrupted
    batch.run(
        batch.RunOptions(
            enrollment=pop / "innskriving.csv",
            out=tmp_path / "files",
            source="files",
            tax_data=pop / "skatt",
            period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
            formats=("csv",),
        )
    )
    for name in ("maanedlig.csv", "vedtak.csv"):
        assert (tmp_path / "resumed" / name).read_text(encoding="utf-8") == (tmp_path / "files" / name).read_text(
            encoding="utf-8"
        )


class _Watched:
    """A result that counts how often it is written out with repr()."""

    reprs = 0

    def __repr__(self) -> str:
        type(self).reprs += 1
        return "_Watched()"


def test_the_fetch_result_comes_back_without_being_written_out():
    import signal

    from fee_engine.taxdata.base import run_coroutine

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("asyncio.run sets no Ctrl-C handler here, so there is nothing to compare with")

    async def result() -> _Watched:
        return _Watched()

    _Watched.reprs = 0
    asyncio.run(result())  # what run_coroutine avoids: leaving writes out the main task with its result
    if sys.version_info < (3, 13):  # Python 3.13's signal module no longer formats the old handler
        assert _Watched.reprs >= 1
    _Watched.reprs = 0
    got = run_coroutine(result())
    assert isinstance(got, _Watched) and _Watched.reprs == 0

    async def fails() -> None:
        raise ValueError("nei")

    with pytest.raises(ValueError, match="nei"):
        run_coroutine(fails())
