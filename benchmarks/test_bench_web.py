"""``fee-engine serve``: how fast each page answers, and the 100 000-child batch through the page against the CLI.

The server runs in this process on a loopback port (uvicorn in a thread); requests go through httpx with
keep-alive, as a browser's would. The pages are those of a finished demo run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.webserver import DEMO, LiveServer, csrf_of, demo_config, wait_for  # noqa: E402

from .conftest import MAIN  # noqa: E402

CALC = {
    "maaned": "2024-10",
    "barn": [
        {
            "barn_id": "1",
            "husholdning_id": "H",
            "kommunenummer": "0301",
            "tilbud": "barnehage",
            "barn_fodselsdato": "2021-03-10",
            "plass_prosent": 100,
        },
        {
            "barn_id": "2",
            "husholdning_id": "H",
            "kommunenummer": "0301",
            "tilbud": "barnehage",
            "barn_fodselsdato": "2023-01-05",
            "plass_prosent": 60,
        },
        {
            "barn_id": "3",
            "husholdning_id": "H",
            "kommunenummer": "0301",
            "tilbud": "sfo",
            "trinn": 1,
            "timer_per_uke": 15,
        },
    ],
    "inntekt": {"H": 520000},
}


def _start_run(c: httpx.Client, path: Path, period: str, formats: list[str]) -> tuple[str, float, float]:
    """Upload and check; returns the run's address, the upload's and the check's seconds."""
    token = csrf_of(c.get("/").text)
    t0 = time.perf_counter()
    with path.open("rb") as fh:
        r = c.post(
            "/kjoering",
            data={"csrf": token, "periode": period, "format": formats},
            files={"innskriving": (path.name, fh, "text/csv")},
        )
    uploaded = time.perf_counter() - t0
    assert r.status_code == 303, r.text
    run = r.headers["location"]
    assert wait_for(c, run + "/status", timeout=600)["tilstand"] == "ferdig"
    return run, uploaded, time.perf_counter() - t0 - uploaded


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`fee-engine serve` in a process of its own (as in use: the client does not share its interpreter)."""
    port = _free_port()
    data = tmp_path_factory.mktemp("web")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fee_engine",
            "serve",
            "--port",
            str(port),
            "--data",
            str(data),
            "--tax-data",
            str(DEMO / "skatt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False, timeout=60) as c:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if c.get("/helse").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            run, _, _ = _start_run(c, DEMO / "innskriving.csv", "2024/25", ["xlsx", "json", "html"])
            c.post(run + "/start", data={"csrf": csrf_of(c.get(run).text)})
            assert wait_for(c, run + "/status")["tilstand"] == "ferdig"
            yield c, run
    finally:
        proc.terminate()
        proc.wait(timeout=30)


PAGES = [
    "/",
    "/kalkulator",
    "kalkulator-beregn",
    "api-beregn",
    "/api",
    "/api/openapi.json",
    "run",
    "run-status",
    "run-regelendring",
]


@pytest.mark.parametrize("page", PAGES)
def test_page_response(benchmark, site, page):
    c, run = site
    csrf = csrf_of(c.get("/kalkulator").text)
    form = {
        "csrf": csrf,
        "antall": "2",
        "kommune": "0301",
        "maaned": "2024-10",
        "soekt": "ja",
        "inntektsform": "voksne",
        "inntekt_soeker": "300 000",
        "inntekt_partner": "220 000",
        "tilbud_0": "barnehage",
        "fodt_0": "2021-03-10",
        "plass_0": "100",
        "tilbud_1": "sfo",
        "trinn_1": "1",
        "timer_1": "15",
        "handling": "beregn",
    }
    requests = {
        "kalkulator-beregn": lambda: c.post("/kalkulator", data=form),
        "api-beregn": lambda: c.post("/api/beregn", json=CALC),
        "run": lambda: c.get(run),
        "run-status": lambda: c.get(run + "/status"),
        "run-regelendring": lambda: c.get(run + "/regelendring"),
    }
    call = requests.get(page, lambda: c.get(page))
    r = call()
    assert r.status_code == 200, (page, r.status_code)
    benchmark.pedantic(call, rounds=30, iterations=1, warmup_rounds=2)
    benchmark.extra_info["bytes"] = len(r.content)


def test_batch_through_the_page(benchmark, population_main, tmp_path):
    """Upload and check, then the run (start to done), against `fee-engine run` in a fresh process (CSV outputs)."""
    pop = Path(population_main)

    def cli_run() -> float:  # before and after the page's run: this VM's timings drift
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fee_engine",
                "run",
                str(pop / "innskriving.csv"),
                "--source",
                "files",
                "--tax-data",
                str(pop / "skatt"),
                "--period",
                "2024/25",
                "--format",
                "csv",
                "--out",
                str(tmp_path / "cli"),
            ],
            capture_output=True,
            check=False,
            timeout=900,
        )
        return time.perf_counter() - t

    cli_before = cli_run()
    with (
        LiveServer(demo_config(tmp_path / "web", tax_data=pop / "skatt", max_upload_mb=200)) as server,
        server.client() as c,
    ):
        run, uploaded, checked = _start_run(c, pop / "innskriving.csv", "2024/25", [])

        def start_and_wait() -> float:
            t0 = time.perf_counter()
            c.post(run + "/start", data={"csrf": csrf_of(c.get(run).text)})
            assert wait_for(c, run + "/status", timeout=900)["tilstand"] == "ferdig"
            return time.perf_counter() - t0

        web = benchmark.pedantic(start_and_wait, rounds=1, iterations=1)
        page = c.get(run)
        lookups = json.loads((tmp_path / "cli" / "kjoering.json").read_text(encoding="utf-8"))["oppslag"]
        assert f"{lookups:,}".replace(",", "\u00a0") in page.text  # the same lookups as the command line
        t0 = time.perf_counter()
        page = c.get(run)
        result_page = time.perf_counter() - t0
    cli_after = cli_run()
    web_csv = Path(server.config.data_dir) / "kjoeringer" / run.rsplit("/", 1)[1] / "kjoering" / "ut" / "maanedlig.csv"
    assert web_csv.read_bytes() == (tmp_path / "cli" / "maanedlig.csv").read_bytes()
    info = {
        "cli_before_s": round(cli_before, 2),
        "cli_after_s": round(cli_after, 2),
        "web_upload_s": round(uploaded, 2),
        "web_check_s": round(checked, 2),
        "web_run_s": round(web, 2),
        "result_page_s": round(result_page, 3),
        "upload_mb": round((pop / "innskriving.csv").stat().st_size / 1e6, 1),
    }
    info["children"] = MAIN
    benchmark.extra_info.update(info)
    print(json.dumps(info))
