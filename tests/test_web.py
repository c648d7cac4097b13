"""``fee-engine serve`` over HTTP: the run from upload to downloads, access, CSRF, headers, limits, privacy, retention.

A live server on a free loopback port (tests/webserver.py); the demo file and its tax data.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from fee_engine import batch
from fee_engine.cli import app as cli_app
from fee_engine.errors import ConfigurationError
from fee_engine.web import WebConfig

from .webserver import DEMO, ROOT, LiveServer, csrf_of, demo_config, wait_for

SECRET = "et-langt-hemmelig-passord-til-kontoret"
DEMO_FNR = {
    row["foresatt_fnr"]
    for row in csv.DictReader((DEMO / "innskriving.csv").open(encoding="utf-8"), delimiter=";")
    if len(row["foresatt_fnr"]) == 11
}


def upload(
    client: httpx.Client,
    path: Path = DEMO / "innskriving.csv",
    periode: str = "2024/25",
    formats: tuple[str, ...] = ("xlsx", "json", "html"),
    csrf: str | None = None,
) -> httpx.Response:
    token = csrf if csrf is not None else csrf_of(client.get("/").text)
    with path.open("rb") as fh:
        return client.post(
            "/kjoering",
            data={"csrf": token, "periode": periode, "format": list(formats)},
            files={"innskriving": (path.name, fh, "text/csv")},
        )


def finished_run(client: httpx.Client, **kw) -> str:
    r = upload(client, **kw)
    assert r.status_code == 303, r.text
    run = r.headers["location"]
    assert wait_for(client, run + "/status")["tilstand"] == "ferdig"
    page = client.get(run).text
    r = client.post(run + "/start", data={"csrf": csrf_of(page)})
    assert r.status_code == 303
    assert wait_for(client, run + "/status")["tilstand"] == "ferdig"
    return run


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(demo_config(tmp_path_factory.mktemp("web"))) as s:
        yield s


@pytest.fixture(scope="module")
def demo_run(server):
    with server.client() as c:
        run = finished_run(c)
    return run


# -- starting ----------------------------------------------------------------------------------------
def test_refuses_the_network_without_a_secret(tmp_path):
    with pytest.raises(ConfigurationError, match="tilgangsnøkkel"):
        WebConfig(host="0.0.0.0", data_dir=tmp_path, tax_data=DEMO / "skatt").check()
    with pytest.raises(ConfigurationError, match="minst 16"):
        WebConfig(host="0.0.0.0", secret="kort", data_dir=tmp_path, tax_data=DEMO / "skatt").check()
    WebConfig(host="0.0.0.0", secret=SECRET, data_dir=tmp_path, tax_data=DEMO / "skatt").check()
    WebConfig(host="127.0.0.1", data_dir=tmp_path, tax_data=DEMO / "skatt").check()
    WebConfig(data_dir=tmp_path).check()  # a calculator without tax data
    with pytest.raises(ConfigurationError, match="skattedata"):
        WebConfig(data_dir=tmp_path, tax_data=tmp_path / "finnes-ikke").check()
    result = CliRunner().invoke(
        cli_app,
        ["serve", "--host", "0.0.0.0", "--data", str(tmp_path), "--tax-data", str(DEMO / "skatt")],
        env={"FEE_ENGINE_WEB_SECRET": ""},
    )
    assert result.exit_code == 2 and "tilgangsnøkkel" in result.output


def test_default_is_loopback_port_8000():
    c = WebConfig()
    assert (c.host, c.port, c.loopback, c.cookies_secure) == ("127.0.0.1", 8000, True, False)
    assert WebConfig(host="10.0.0.5", secret=SECRET).cookies_secure


# -- headers, cookies, CSRF, hosts -------------------------------------------------------------------
def test_security_headers_and_cookie(server):
    with server.client() as c:
        r = c.get("/")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        script = re.search(r"script-src ([^;]+)", csp).group(1)
        assert script.strip() == "'self'" and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-store"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        for page in ("/", "/kalkulator", "/api"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", c.get(page).text)  # no inline script
            assert not re.search(r"\son[a-z]+=", c.get(page).text)  # no inline event handlers


def test_csrf_is_required(server):
    with server.client() as c:
        before = set((server.config.data_dir / "kjoeringer").iterdir())
        r = upload(c, csrf="feil")
        assert r.status_code == 403
        assert set((server.config.data_dir / "kjoeringer").iterdir()) == before  # nothing kept
        assert c.post("/kalkulator", data={"kommune": "0301"}).status_code == 403
        with server.client() as other:  # another session's token is not this one's
            token = csrf_of(other.get("/").text)
        c.get("/")
        assert upload(c, csrf=token).status_code == 403


def test_unknown_host_header_is_refused(server, tmp_path):
    with server.client() as c:
        assert c.get("/", headers={"host": "angriper.example"}).status_code == 400
        assert c.get("/", headers={"host": "localhost"}).status_code == 200
    with (
        LiveServer(demo_config(tmp_path, secret=SECRET, allowed_hosts=["foreldrebetaling.kommune.no"])) as s,
        s.client() as c,
    ):  # the TLS proxy's name, configured with --vertsnavn
        assert c.get("/logg-inn", headers={"host": "foreldrebetaling.kommune.no"}).status_code == 200
        assert c.get("/logg-inn", headers={"host": "angriper.example"}).status_code == 400


def test_no_secret_means_no_office_pages_through_a_proxy(server, demo_run):
    """Bound to loopback without a secret, yet put behind a proxy: the office's pages refuse the forwarded requests."""
    forwarded = {"x-forwarded-for": "203.0.113.7"}
    with server.client() as c:
        for path in ("/", demo_run, demo_run + "/fil/maanedlig.csv", "/kalkulator", "/api"):
            r = c.get(path, headers=forwarded)
            assert r.status_code == 403 and "tilgangsnøkkel" in r.text.lower(), path
        assert c.post("/api/beregn", json={}, headers=forwarded).status_code == 401
        assert c.get(demo_run).status_code == 200  # from this machine itself


# -- the run -----------------------------------------------------------------------------------------
def test_rejections_shown_before_anything_is_fetched(server):
    with server.client() as c:
        r = upload(c)
        run = r.headers["location"]
        assert wait_for(c, run + "/status")["tilstand"] == "ferdig"
        page = c.get(run).text
        assert "Avviste rader" in page and "Start beregningen" in page
        rows = re.findall(r'<tr><td class="tall">(\d+)</td><td>([a-z_]+)</td>', page)
        assert sorted({int(n) for n, _ in rows}) == [17, 18, 19] and len(rows) >= 3
        assert not (server.config.data_dir / "kjoeringer" / run.rsplit("/", 1)[1] / "kjoering").exists()
        for fnr in DEMO_FNR:
            assert fnr not in page
        assert "126868*****" in page or "*****" in page  # masked as validate masks


def test_run_report_downloads_and_workbook(server, demo_run):
    with server.client() as c:
        page = c.get(demo_run).text
        assert "Resultat av kjøringen" in page and "Manuelle saker" in page
        names = re.findall(r'/fil/([^"]+)" download', page)
        assert {
            "vedtak.xlsx",
            "maanedlig.csv",
            "vedtak.csv",
            "vedtak.json",
            "rapport.html",
            "avvist.csv",
            "kjoering.json",
            "revisjon.jsonl",
        } <= set(names)
        for n in ("B09", "B10", "B12"):  # the demo's three manual cases (CLI: vedtak.csv)
            assert f"<td>{n}</td>" in page
        r = c.get(demo_run + "/fil/vedtak.xlsx")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        wb = load_workbook(io.BytesIO(r.content), read_only=True)
        monthly = c.get(demo_run + "/fil/maanedlig.csv").content.decode("utf-8-sig")  # the Excel dialect: ; and BOM
        rows = list(csv.DictReader(io.StringIO(monthly), delimiter=";"))
        b01 = [r for r in rows if r["barn_id"] == "B01" and r["maaned"] == "2024-10"]
        assert b01 and b01[0]["belop"] == "838"
        assert any("Vedtak" in n for n in wb.sheetnames)
        report = c.get(demo_run + "/rapport")
        assert report.status_code == 200 and "sandbox" in report.headers["content-security-policy"]


def test_outputs_equal_the_command_line(server, demo_run, tmp_path):
    opts = batch.RunOptions(
        enrollment=DEMO / "innskriving.csv",
        out=tmp_path,
        period=batch.parse_period("2024/25"),
        source="files",
        tax_data=DEMO / "skatt",
        formats=("csv",),
    )
    batch.run(opts)
    with server.client() as c:
        for name in ("maanedlig.csv", "avvist.csv"):
            assert c.get(f"{demo_run}/fil/{name}").content == (tmp_path / name).read_bytes()


def test_files_are_private_and_unguessable(server, demo_run):
    token = demo_run.rsplit("/", 1)[1]
    assert len(token) == 43
    run = server.config.data_dir / "kjoeringer" / token
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert stat.S_IMODE((server.config.data_dir / "kjoeringer").stat().st_mode) == 0o700
    for p in run.rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, (p, oct(mode))
    with server.client() as c:
        assert c.get("/kjoering/" + "A" * 43).status_code == 404
        assert c.get("/kjoering/../../etc").status_code == 404
        assert c.get(demo_run + "/fil/..%2Fmeta.json").status_code == 404
        assert c.get(demo_run + "/fil/meta.json").status_code == 404
        assert c.get(demo_run + "/fil/.%2E").status_code == 404


def test_a_run_survives_reload_and_restart(server, demo_run):
    with server.client() as c:
        first = c.get(demo_run).text
    with LiveServer(demo_config(server.config.data_dir)) as again, again.client() as c:
        second = c.get(demo_run).text
    strip = lambda s: re.sub(r'value="[^"]+"', "", s)  # noqa: E731 - the CSRF token differs per session
    assert strip(first) == strip(second)


def test_two_people_run_at_once(server):
    results = {}

    def one(name: str) -> None:
        with server.client() as c:
            results[name] = finished_run(c, formats=())

    threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert len(results) == 2 and results["a"] != results["b"]
    with server.client() as c:
        a, b = (c.get(results[n] + "/fil/maanedlig.csv").text for n in ("a", "b"))
    assert a == b and "B01" in a


def test_upload_limit(tmp_path):
    with LiveServer(demo_config(tmp_path, max_upload_mb=0.001)) as s, s.client() as c:
        r = upload(c)
        assert r.status_code == 413
        assert not list((tmp_path / "kjoeringer").iterdir())


def test_bad_files_and_periods(server, tmp_path):
    bad = tmp_path / "innskriving.pdf"
    bad.write_bytes(b"%PDF-1.4")
    with server.client() as c:
        r = upload(c, path=bad)
        assert r.status_code == 400 and "CSV eller XLSX" in r.text
        r = upload(c, periode="2024-13")
        assert r.status_code == 400 and "ugyldig" in r.text
        r = upload(c, periode="2031/32")  # the rule set does not reach it: the check says so, nothing is fetched
        run = r.headers["location"]
        assert wait_for(c, run + "/status")["tilstand"] == "feilet"
        assert "regelsettet" in c.get(run).text


def test_retention_removes_old_runs(server, tmp_path):
    from fee_engine.web.kjoeringer import RunManager, read_json, write_json

    manager = RunManager(demo_config(tmp_path, retention_hours=1))
    token, run = manager.new_run()
    write_json(run / "meta.json", {"opprettet": time.time() - 2 * 3600})
    young, run2 = manager.new_run()
    write_json(run2 / "meta.json", {"opprettet": time.time()})
    assert manager.cleanup() == 1
    assert not run.exists() and run2.exists() and read_json(run2 / "meta.json")


def test_log_lines_mask_tokens_and_numbers(server, demo_run, caplog):
    caplog.set_level(logging.INFO, logger="fee_engine.web")
    with server.client() as c:
        c.get(demo_run)
        c.get("/kjoering/" + "1" * 43)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /kjoering/… 200" in text
    assert demo_run.rsplit("/", 1)[1] not in text and "1" * 11 not in text


# -- access secret and the public calculator ------------------------------------------------------
def test_access_secret(tmp_path):
    with LiveServer(demo_config(tmp_path, secret=SECRET)) as s, s.client() as c:
        assert c.get("/").headers["location"] == "/logg-inn"
        assert c.get("/kalkulator").status_code == 303
        body = {
            "maaned": "2024-10",
            "barn": [
                {
                    "barn_id": "A",
                    "husholdning_id": "H",
                    "kommunenummer": "0301",
                    "tilbud": "sfo",
                    "trinn": 1,
                    "timer_per_uke": 15,
                }
            ],
        }
        assert c.post("/api/beregn", json=body).status_code == 401
        assert c.post("/api/beregn", json=body, headers={"authorization": f"Bearer {SECRET}"}).status_code == 200
        login = c.get("/logg-inn").text
        r = c.post("/logg-inn", data={"csrf": csrf_of(login), "nokkel": "feil nøkkel"})
        assert r.status_code == 401
        r = c.post("/logg-inn", data={"csrf": csrf_of(login), "nokkel": SECRET})
        assert r.status_code == 303
        assert c.get("/").status_code == 200 and c.post("/api/beregn", json=body).status_code == 200
        run = finished_run(c, formats=())
        with s.client() as stranger:  # the run's address without the secret shows nothing
            assert stranger.get(run).status_code == 303
            assert stranger.get(run + "/fil/maanedlig.csv").status_code == 303


def test_public_calculator_cors_and_rate_limit(tmp_path):
    cfg = demo_config(
        tmp_path,
        secret=SECRET,
        public_calculator=True,
        cors_origins=["https://www.kommune.no"],
        rate_limit_per_minute=5,
    )
    body = {
        "maaned": "2024-10",
        "barn": [
            {
                "barn_id": "A",
                "husholdning_id": "H",
                "kommunenummer": "0301",
                "tilbud": "barnehage",
                "barn_fodselsdato": "2021-03-10",
                "plass_prosent": 100,
            }
        ],
        "inntekt": {"H": 300000},
    }
    with LiveServer(cfg) as s, s.client() as c:
        assert c.get("/").status_code == 303  # the office pages stay behind the secret
        pre = c.options(
            "/api/beregn", headers={"origin": "https://www.kommune.no", "access-control-request-method": "POST"}
        )
        assert pre.headers["access-control-allow-origin"] == "https://www.kommune.no"
        r = c.post("/api/beregn", json=body, headers={"origin": "https://www.kommune.no"})
        assert r.status_code == 200 and r.json()["barn"][0]["belop"] == 838
        assert r.headers["access-control-allow-origin"] == "https://www.kommune.no"
        r = c.post("/api/beregn", json=body, headers={"origin": "https://angriper.example"})
        assert "access-control-allow-origin" not in r.headers
        codes = [c.post("/api/beregn", json=body).status_code for _ in range(5)]
        assert codes[-1] == 429 and "retry-after" in c.post("/api/beregn", json=body).headers
        assert c.get("/kalkulator").status_code == 200  # the page with the same engine, no office links
        assert 'href="/regelendring"' not in c.get("/kalkulator").text


# -- the calculator page -----------------------------------------------------------------------------
def _calculator(c: httpx.Client, **fields) -> httpx.Response:
    page = c.get("/kalkulator" + (f"?kommune={fields['kommune']}" if "kommune" in fields else "")).text
    data = {
        "csrf": csrf_of(page),
        "antall": "2",
        "kommune": "0301",
        "maaned": "2024-10",
        "soekt": "ja",
        "inntektsform": "voksne",
        "inntekt_soeker": "300 000",
        "tilbud_0": "barnehage",
        "fodt_0": "2021-03-10",
        "plass_0": "100",
        "handling": "beregn",
    }
    data.update(fields)
    return c.post("/kalkulator", data=data)


def test_calculator_page(server):
    with server.client() as c:
        r = _calculator(c)
        assert r.status_code == 200
        assert "838\u00a0kr" in r.text and "Å betale: 838 kr i måneden for oktober 2024" in r.text
        # partner's income is added: 300 000 + 400 000 = 700 000 > 642 700, no free core hours: 6 % cap 3 818 > 2 000
        r = _calculator(c, inntekt_partner="400 000")
        assert "Å betale: 2 000 kr i måneden" in r.text
        r = _calculator(c, kommune="4641", inntekt_soeker="")
        assert "Rekn ut" in r.text and "De har ikkje søkt om redusert foreldrebetaling" in r.text
        r = _calculator(c, plass_0="130", inntekt_soeker="3,000")
        assert r.status_code == 422
        assert "plass_prosent må være større enn 0 og høyst 100" in r.text and "kan bety både tusen" in r.text
        r = _calculator(c, handling="flere")
        assert 'name="tilbud_2"' in r.text
        # the place's own price, as pris_maaned in the enrollment file: a 60 % place at 1 000 kr a month, no
        # application (soekt nei): 1 000 kr (under the maximum for the place, 2 000 × 60 % = 1 200)
        r = _calculator(c, soekt="nei", plass_0="60", pris_0="1000")
        assert "Å betale: 1 000 kr i måneden" in r.text
        # SFO with its own price (it was ignored: Oslo's price list was used), 3. trinn, 20 hours, no application:
        # 12 free hours a week, 1 500 × 12/20 = 900 off, 1 500 − 900 = 600 kr
        r = _calculator(c, soekt="nei", tilbud_0="sfo", fodt_0="2017-05-05", trinn_0="3", timer_0="20", pris_0="1500")
        assert "Ordinær pris for plassen er 1 500 kr i måneden" in r.text and "Å betale: 600 kr i måneden" in r.text


def test_calculator_stores_nothing(server):
    before = sorted(p.relative_to(server.config.data_dir) for p in server.config.data_dir.rglob("*"))
    with server.client() as c:
        assert _calculator(c).status_code == 200
    after = sorted(p.relative_to(server.config.data_dir) for p in server.config.data_dir.rglob("*"))
    assert before == after


# -- Regelendring ------------------------------------------------------------------------------------
def test_reform_diff_summary(server, demo_run, tmp_path):
    with server.client() as c:
        page = c.get(demo_run + "/regelendring").text
        assert "maksimalpris_1500" in page
        r = c.post(
            demo_run + "/regelendring",
            data={"csrf": csrf_of(page), "type": "reform", "reform": "maksimalpris_1500"},
            files={"x": ("", b"")},
        )
        assert r.status_code == 303, r.text
        result = r.headers["location"]
        assert wait_for(c, result + "/status")["tilstand"] == "ferdig"
        summary = c.get(result).text
        typo = {
            "csrf": csrf_of(page),
            "type": "verdi",
            "parameter": "barnehage.maksimalpris.generel",
            "fra": "2024-10-01",
            "verdi": "1500",
        }
        r2 = c.post(demo_run + "/regelendring", data=typo, files={"x": ("", b"")})
        assert r2.status_code == 400 and "ukjent parameter" in r2.text
    opts = batch.RunOptions(
        enrollment=DEMO / "innskriving.csv",
        out=tmp_path,
        period=batch.parse_period("2024/25"),
        source="files",
        tax_data=DEMO / "skatt",
        formats=("csv",),
    )
    want = batch.diff(batch.DiffOptions(opts, reforms=[ROOT / "fixtures" / "reformer" / "maksimalpris_1500.yaml"]))
    text = summary.replace("\u00a0", " ")
    for amount in (want.revenue_a, want.revenue_b, want.difference):
        assert f"{amount:,} kr".replace(",", " ") in text
    assert "Husholdninger som betaler mindre" in text and "2024-10" in text


def test_worker_that_dies_is_reported(server, tmp_path):
    from fee_engine.web.kjoeringer import RunManager, write_json

    manager = RunManager(demo_config(tmp_path))
    token, run = manager.new_run()
    write_json(run / "meta.json", {"opprettet": time.time(), "innskriving": "innskriving.csv", "periode": "2024/25"})
    (run / "kontroll").mkdir()
    write_json(run / "kontroll" / "status.json", {"tilstand": "i_gang", "faser": []})
    st = manager.status(run / "kontroll")  # no process: a server restart in the middle
    assert st["tilstand"] == "feilet" and "stoppet" in st["melding"]


def test_a_folder_of_outputs_downloads_as_one_zip(server, demo_run):
    """Letters (brev/, being built elsewhere) and any other folder the batch writes: listed and served as a ZIP."""
    import zipfile

    out = server.config.data_dir / "kjoeringer" / demo_run.rsplit("/", 1)[1] / "kjoering" / "ut"
    (out / "brev").mkdir(mode=0o700)
    (out / "brev" / "H01.pdf").write_bytes(b"%PDF-1.7 test")
    (out / "brev" / "samlet.pdf").write_bytes(b"%PDF-1.7 alle")
    with server.client() as c:
        assert 'fil/brev.zip" download' in c.get(demo_run).text
        r = c.get(demo_run + "/fil/brev.zip")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert names == ["brev/H01.pdf", "brev/samlet.pdf"]
        assert c.get(demo_run + "/fil/brev").status_code == 404
