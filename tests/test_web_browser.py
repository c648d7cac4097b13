"""End to end in a real browser: Debian's Chromium through chromium-driver and Selenium (no browser download).

Upload the demo file, see the rejected rows, start the run and wait for it (the page polls and reloads
itself), download the workbook and read it back, try a reform, use the calculator and compare with the
command line's amount for the same household. A screenshot of each page is taken; with
``FEE_ENGINE_SKJERMBILDER=DIR`` they are written there (``bash scripts/skjermbilder`` writes docs/bilder/).

Skipped where chromium or chromedriver is missing, except in CI (``FEE_ENGINE_REQUIRE_BROWSER=1``, set by
``.ci/run``, which installs both), where a missing browser fails.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from .webserver import DEMO, LiveServer, demo_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = Path(CHROMIUM).exists() and Path(DRIVER).exists()
try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:  # pragma: no cover - [test] installs it
    HAVE_SELENIUM = False

if not (HAVE_BROWSER and HAVE_SELENIUM):
    if os.environ.get("FEE_ENGINE_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium, chromium-driver and selenium are required here (.ci/run installs them)", pytrace=False)
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (.ci/run installs them)", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SECRET = "et-langt-hemmelig-passord-til-kontoret"
WIDTH = 1280


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("FEE_ENGINE_SKJERMBILDER")
    d = Path(target) if target else tmp_path_factory.mktemp("skjermbilder")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nedlastinger")


@pytest.fixture(scope="module")
def browser(downloads):
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-quic",
        "--disable-extensions",
        f"--window-size={WIDTH},900",
        "--lang=nb-NO",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        opts.add_argument(arg)
    opts.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "intl.accept_languages": "nb-NO,nb,no",
        },
    )
    # Norwegian date formats in the screenshots where Debian's chromium-l10n is installed
    env = {**os.environ, "LANGUAGE": "nb_NO:nb", "LANG": "nb_NO.UTF-8"}
    driver = webdriver.Chrome(service=Service(DRIVER, env=env), options=opts)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(demo_config(tmp_path_factory.mktemp("web"))) as s:
        yield s


def shot(driver, directory: Path, name: str) -> Path:
    """The whole page at a readable width (Chromium's own full-page capture, from the top)."""
    import base64

    driver.execute_script("window.scrollTo(0, 0);")
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        time.sleep(0.2)
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path = directory / f"{name}.png"
    path.write_bytes(base64.b64decode(data["data"]))
    assert path.stat().st_size > 10_000, f"{name}: an empty screenshot?"
    return path


def wait_text(driver, text: str, timeout: float = 120) -> None:
    """Until the page shows ``text`` (the page may reload itself meanwhile)."""
    WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=(WebDriverException,)).until(
        lambda d: text in d.find_element(By.TAG_NAME, "body").text
    )


def set_value(driver, element, value: str) -> None:
    """Date and month inputs: the value as the form sends it, whatever the browser's locale shows."""
    driver.execute_script("arguments[0].value = arguments[1];", element, value)


def cli_amount(tmp_path: Path, child: str, month: str) -> int:
    out = tmp_path / "cli"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fee_engine",
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
            str(out),
        ],
        check=False,
        capture_output=True,
        timeout=300,
    )
    with (out / "maanedlig.csv").open(encoding="utf-8-sig") as fh:  # the Excel dialect: ; and a BOM
        return next(
            int(r["belop"]) for r in csv.DictReader(fh, delimiter=";") if r["barn_id"] == child and r["maaned"] == month
        )


def test_the_office_s_run_in_the_browser(browser, server, shots, downloads):
    b = browser
    b.get(server.url + "/")
    assert b.title.startswith("Ny kjøring")
    shot(b, shots, "ny-kjoering")
    period = b.find_element(By.ID, "periode")
    period.clear()
    period.send_keys("2024/25")
    b.find_element(By.ID, "innskriving").send_keys(str(DEMO / "innskriving.csv"))
    b.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_text(b, "Kontroll av innskrivingsfilen")  # the waiting page polled and reloaded itself
    rows = b.find_elements(By.CSS_SELECTOR, ".tabell-ramme tbody tr")
    assert {r.find_elements(By.TAG_NAME, "td")[0].text for r in rows} == {"17", "18", "19"}
    assert "Avvist\n3" in b.find_element(By.CLASS_NAME, "kort").text
    shot(b, shots, "kontroll")

    b.find_element(By.XPATH, "//button[normalize-space()='Start beregningen']").click()
    wait_text(b, "Resultat av kjøringen")
    assert "Sum å fakturere" in b.page_source
    manual = [
        r.find_elements(By.TAG_NAME, "td")[0].text
        for r in b.find_elements(By.XPATH, "//h2[.='Manuelle saker']/following::table[1]/tbody/tr")
    ]
    assert manual == ["B09", "B10", "B12"]
    shot(b, shots, "resultat")

    b.find_element(By.LINK_TEXT, "vedtak.xlsx").click()
    target = downloads / "vedtak.xlsx"
    WebDriverWait(b, 60, poll_frequency=0.2).until(
        lambda _: target.exists() and target.stat().st_size > 0 and not list(downloads.glob("*.crdownload"))
    )
    wb = load_workbook(target, read_only=True)
    sheet = next(wb[n] for n in wb.sheetnames if n.startswith("M"))  # the monthly sheet
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert any("barn" in str(h).lower() for h in rows[0])
    assert 176 <= len(rows) <= 180  # 176 child-months, the header (and a total row)
    assert 838 in [v for r in rows for v in r]  # B01 in October 2024

    run_url = b.current_url
    b.get(run_url + "/rapport")
    wait_text(b, "Til manuell behandling")
    shot(b, shots, "rapport")

    b.get(run_url + "/regelendring")
    assert "maksimalpris_1500" in b.page_source
    shot(b, shots, "regelendring")
    b.find_element(By.CSS_SELECTOR, "input[name=type][value=reform]").click()
    b.find_element(By.XPATH, "//button[normalize-space()='Beregn endringen']").click()
    wait_text(b, "Inntekt per måned")
    cards = b.find_element(By.CLASS_NAME, "kort").text
    assert cards.split("Differanse (B − A)")[1].splitlines()[1].startswith("-")  # a lower maksimalpris: less
    shot(b, shots, "regelendring-resultat")


def test_the_calculator_gives_the_command_line_s_amount(browser, server, shots, tmp_path):
    """The demo's B01 (Oslo, 300 000 kr, born 2021-03-10, full place), October 2024: the page and `fee-engine run`."""
    want = cli_amount(tmp_path, "B01", "2024-10")
    b = browser
    b.get(server.url + "/kalkulator")
    Select(b.find_element(By.ID, "kommune")).select_by_value("0301")
    set_value(b, b.find_element(By.ID, "maaned"), "2024-10")
    b.find_element(By.CSS_SELECTOR, "input[name=inntektsform][value=samlet]").click()
    b.find_element(By.ID, "inntekt_samlet").send_keys("300 000")
    Select(b.find_element(By.ID, "tilbud_0")).select_by_value("barnehage")
    set_value(b, b.find_element(By.ID, "fodt_0"), "2021-03-10")
    plass = b.find_element(By.ID, "plass_0")
    plass.clear()
    plass.send_keys("100")
    Select(b.find_element(By.ID, "tilbud_1")).select_by_value("sfo")
    Select(b.find_element(By.ID, "trinn_1")).select_by_value("1")
    b.find_element(By.ID, "timer_1").send_keys("15")
    b.find_element(By.XPATH, "//button[@value='beregn']").click()
    wait_text(b, "Å betale for oktober 2024")
    first = b.find_elements(By.CSS_SELECTOR, ".barnresultat")[0]
    shown = int(first.find_element(By.CLASS_NAME, "belop").text.replace("\u00a0", " ").split(" kr")[0].replace(" ", ""))
    assert shown == want == 838
    assert f"Å betale: {want} kr i måneden for oktober 2024" in first.text
    first.find_element(By.TAG_NAME, "summary").click()
    shot(b, shots, "kalkulator")

    # nynorsk in Aurland, and the problems of a form listed at once
    b.get(server.url + "/kalkulator?kommune=4641")
    set_value(b, b.find_element(By.ID, "maaned"), "2024-10")
    b.find_element(By.ID, "inntekt_soeker").send_keys("420 000")
    set_value(b, b.find_element(By.ID, "fodt_0"), "2022-06-01")
    b.find_element(By.XPATH, "//button[@value='beregn']").click()
    wait_text(b, "Å betale for oktober 2024")
    assert "Inntekta til hushaldet er 420 000 kr" in b.page_source
    shot(b, shots, "kalkulator-nynorsk")
    plass = b.find_element(By.ID, "plass_0")
    plass.clear()
    plass.send_keys("130")
    b.find_element(By.XPATH, "//button[@value='beregn']").click()
    wait_text(b, "Noko må rettast")
    assert "plass_prosent må være større enn 0 og høyst 100" in b.page_source
    shot(b, shots, "kalkulator-feil")


def test_login_and_api_pages(browser, shots, tmp_path):
    with LiveServer(demo_config(tmp_path / "data", secret=SECRET)) as s:
        b = browser
        b.get(s.url + "/")
        wait_text(b, "Tilgangsnøkkel")
        shot(b, shots, "logg-inn")
        b.find_element(By.ID, "nokkel").send_keys(SECRET)
        b.find_element(By.CSS_SELECTOR, "form.skjema button").click()
        wait_text(b, "Last opp innskrivingsfilen")
        b.get(s.url + "/api")
        wait_text(b, "API for priskalkulator")
        assert '"belop": 838' in b.page_source
        shot(b, shots, "api")
        b.find_element(By.XPATH, "//button[normalize-space()='Logg ut']").click()
        wait_text(b, "Tilgangsnøkkel")


def test_live_progress_bar(browser, shots, tmp_path, monkeypatch):
    """The synthetic Bergen (3 000 children), its answers from Skatteetaten's side (the emulator, 4 ms a call): the
    page shows each phase as it goes, the longest with a moving progress bar, and reloads itself when done."""
    from fee_engine.taxdata.emulator import EmulatorServer, Faults

    from .apirun import api_env, client_identity

    syn = DEMO.parent / "kommune_syntetisk"
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    with EmulatorServer(syn / "skatt", trusted_certs=trusted, faults=Faults(latency_ms=4)) as api:
        for k, v in api_env(api, key_file, cert_file).items():
            monkeypatch.setenv(k, v)  # the run's process takes its API settings from the environment
        config = demo_config(tmp_path / "data", source="api", tax_data=None, cache=tmp_path / "c" / "skatt.sqlite")
        with LiveServer(config) as s:
            b = browser
            b.get(s.url + "/")
            b.find_element(By.ID, "periode").clear()
            b.find_element(By.ID, "periode").send_keys("2024/25")
            b.find_element(By.ID, "innskriving").send_keys(str(syn / "innskriving.csv"))
            b.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            wait_text(b, "Kontroll av innskrivingsfilen")
            assert "Ingen rader er avvist" in b.page_source
            b.find_element(By.XPATH, "//button[normalize-space()='Start beregningen']").click()
            seen: list[int] = []
            phases: list[str] = []

            def fetching(d) -> bool:  # the answers are fetched with a progress bar that moves (caught in its first
                for bar in d.find_elements(
                    By.CSS_SELECTOR, ".fase.pagaar progress[value]"
                ):  # half, long before the end)
                    value, top = int(float(bar.get_attribute("value"))), int(float(bar.get_attribute("max")))
                    seen.append(value)
                    phases[:] = [d.find_element(By.CSS_SELECTOR, ".faser").text]
                    return len(set(seen)) >= 2 and 0.05 * top < value < 0.6 * top
                return False

            WebDriverWait(b, 120, poll_frequency=0.1, ignored_exceptions=(WebDriverException,)).until(fetching)
            shot(b, shots, "fremdrift")
            assert phases[0].count("ferdig") == 1  # reading the file was done by then, fetching was under way
            assert "Henter skattegrunnlag" in phases[0]
            wait_text(b, "Resultat av kjøringen", timeout=300)  # reloaded by the page itself
            cards = b.find_element(By.CLASS_NAME, "kort").text.replace("\u00a0", " ")
            assert "Barn med vedtak\n3 000" in cards and "Rader avvist\n0" in cards
