"""Decision letters (--format …,brev): rendered to PDF, read back with pdftotext and pdftoppm.

The demo's letters (Oslo, bokmål) and a small Aurland file made here (nynorsk): amounts per child and
period, the appeal paragraph with its deadline and klageinstans, access to the documents, the decision
date and case reference, no fødselsnummer, målform, the address block in the envelope window, who gets
no letter, the municipality's own template.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
import string
import struct
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from fee_engine.brev.gjengi import tekst_fra_html
from fee_engine.brev.tekster import PAKKE
from fee_engine.cli import app
from fee_engine.identity import make_synthetic
from fee_engine.regelsett import load_rules

from .helpers import read_out

pytest.importorskip("typst")
pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="Debian's poppler-utils is not installed (.ci/run installs it)",
)

runner = CliRunner()
DATO = "2026-11-24"
MAANEDER = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
]
LOENN = "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt"
TEKSTER = yaml.safe_load((PAKKE / "tekster.yaml").read_text(encoding="utf-8"))


def run(enrollment: Path, tax: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "run",
            str(enrollment),
            "--source",
            "files",
            "--tax-data",
            str(tax),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(out),
            "--format",
            "csv,brev",
            "--vedtaksdato",
            DATO,
            *extra,
        ],
    )


def pdf_text(path: Path, layout: bool = False) -> str:
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + [str(path), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.replace("\xa0", " ")


def flat(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def periode(fra: str, til: str) -> str:
    def m(s: str) -> str:
        y, mm = s.split("-")
        return f"{MAANEDER[int(mm) - 1]} {y}"

    return m(fra) if fra == til else f"{m(fra)}–{m(til)}"


def kr(v: int) -> str:
    return f"{v:,}".replace(",", " ")


@pytest.fixture(scope="module")
def demo_letters(tmp_path_factory):
    out = tmp_path_factory.mktemp("brev_demo")
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    res = run(demo / "innskriving.csv", demo / "skatt", out)
    assert res.exit_code == 1, res.output  # the demo's three rejected rows
    return out


# -- a small Aurland (nynorsk) file, with synthetic numbers and tax answers written here ---------------
def _response(tax: Path, fnr: str, amount: int) -> None:
    path = tax / "2023" / "oppgjoer" / f"{fnr}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "personidentifikator": fnr,
        "inntektsaar": "2023",
        "stadie": "oppgjoer",
        "skjermet": False,
        "grunnlag": [{"tekniskNavn": LOENN, "beloep": amount, "kategori": "inntekt"}],
    }
    path.write_text(json.dumps(body), encoding="utf-8")


AURLAND_INST = "Vangen #barnehage* [1] <Flåm> @sentrum"  # every character Typst would read as markup


@pytest.fixture(scope="module")
def aurland(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aurland")
    tax = tmp / "skatt"
    a1, p1 = make_synthetic(dt.date(1988, 4, 4), 11), make_synthetic(dt.date(1989, 5, 5), 13)
    a2 = make_synthetic(dt.date(1990, 6, 6), 17)
    a3 = make_synthetic(dt.date(1985, 7, 7), 19)
    _response(tax, a1, 250_000)
    _response(tax, p1, 90_000)
    _response(tax, a2, 380_000)
    cols = [
        "barn_id",
        "barn_fodselsdato",
        "husholdning_id",
        "foresatt_fnr",
        "partner_fnr",
        "kommunenummer",
        "tilbud",
        "institusjon",
        "plass_prosent",
        "timer_per_uke",
        "trinn",
        "soekt_redusert",
        "foresatt_navn",
        "adresse",
        "postnummer",
        "poststed",
    ]
    rows = [
        [
            "A1",
            "2021-03-10",
            "HA",
            a1,
            p1,
            "4641",
            "barnehage",
            AURLAND_INST,
            "100",
            "",
            "",
            "",
            "Kari Nordmann",
            "Vangsvegen 1",
            "5745",
            "Aurland",
        ],
        [
            "A2",
            "2017-09-01",
            "HA",
            a1,
            p1,
            "4641",
            "sfo",
            "Aurland skule",
            "",
            "15",
            "2",
            "",
            "Kari Nordmann",
            "Vangsvegen 1",
            "5745",
            "Aurland",
        ],
        ["A3", "2022-01-15", "HB", a2, "", "4641", "barnehage", "Flåm barnehage", "60", "", "", "", "", "", "", ""],
        ["A4", "2020-02-02", "HC", a3, "", "4641", "barnehage", "Flåm barnehage", "100", "", "", "", "", "", "", ""],
    ]
    path = tmp / "innskriving.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(cols)
        w.writerows(rows)
    res = run(path, tax, tmp / "out")
    assert res.exit_code == 0, res.output
    return {"out": tmp / "out", "enrollment": path, "tax": tax, "fnr": {a1, p1, a2, a3}}


# -- who gets a letter -----------------------------------------------------------------------------
def test_one_letter_per_applying_household_all_decided(demo_letters):
    brev = demo_letters / "brev"
    got = {p.stem for p in brev.glob("*.pdf")} - {"samlet"}
    assert got == {"H01", "H02", "H03", "H05", "H08", "H09", "H10", "H12"}
    assert {p.stem for p in brev.glob("*.html")} == got
    # manual households (H06, H07, H11) and the one that did not apply (H04) get none, and are listed
    liste = read_out(brev / "manuelle.csv", dtype=str)
    assert dict(zip(liste.husholdning_id, liste.kode)) == {
        "H04": "ikke_soekt",
        "H06": "manuell",
        "H07": "manuell",
        "H11": "manuell",
        "H13": "avvist_rad",
        "H14": "avvist_rad",
        "H15": "avvist_rad",
    }
    assert "SSG-007" in liste.set_index("husholdning_id").at["H06", "grunn"]
    for p in brev.iterdir():
        assert p.stat().st_mode & 0o777 == 0o640, p
    # the bundle holds every letter, each starting on an odd page
    pages = subprocess.run(["pdfinfo", str(brev / "samlet.pdf")], capture_output=True, text=True).stdout
    total = int(re.search(r"Pages:\s+(\d+)", pages).group(1))
    singles = [
        int(
            re.search(
                r"Pages:\s+(\d+)",
                subprocess.run(["pdfinfo", str(brev / f"{h}.pdf")], capture_output=True, text=True).stdout,
            ).group(1)
        )
        for h in sorted(got)
    ]
    assert total == sum(n + n % 2 for n in singles[:-1]) + singles[-1]
    bundle = flat(pdf_text(brev / "samlet.pdf"))
    assert all(f"0301-2024-08-{h}" in bundle for h in got)


def test_brev_alle_writes_a_letter_for_households_that_did_not_apply(tmp_path):
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    res = run(demo / "innskriving.csv", demo / "skatt", tmp_path, "--brev", "alle")
    assert res.exit_code == 1, res.output
    got = {p.stem for p in (tmp_path / "brev").glob("*.pdf")} - {"samlet"}
    assert got == {"H01", "H02", "H03", "H04", "H05", "H08", "H09", "H10", "H12"}
    text = flat(pdf_text(tmp_path / "brev" / "H04.pdf"))
    assert "Vedtak om foreldrebetaling" in text and "Vedtak om redusert" not in text
    assert "Husholdningen har ikke søkt om redusert foreldrebetaling" in text
    assert "Du skal betale 2 000 kr per måned for august 2024–juni 2025." in text


def test_household_with_a_rejected_row_waits(tmp_path):
    """A household whose file has a rejected row gets no letter for its other children until the row is fixed."""
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    lines = (demo / "innskriving.csv").read_text(encoding="utf-8").splitlines()
    b01 = next(line for line in lines if line.startswith("B01;"))
    bad = b01.replace("B01;", "B99;", 1).replace(";barnehage;", ";skole;")  # H01's second child: unknown offer
    own = tmp_path / "innskriving.csv"
    own.write_text("\n".join(lines + [bad]) + "\n", encoding="utf-8")
    res = run(own, demo / "skatt", tmp_path / "out")
    assert res.exit_code == 1, res.output
    brev = tmp_path / "out" / "brev"
    assert not (brev / "H01.pdf").exists() and (brev / "H02.pdf").exists()
    liste = read_out(brev / "manuelle.csv", dtype=str).set_index("husholdning_id")
    assert liste.at["H01", "kode"] == "avvist_rad" and liste.at["H01", "barn"] == "B01"


# -- what a letter says ----------------------------------------------------------------------------
@pytest.mark.parametrize("household", ["H01", "H03", "H08", "H12"])
def test_letter_amounts_per_child_and_period(demo_letters, household):
    vedtak = read_out(demo_letters / "vedtak.csv", dtype=str)
    rows = vedtak[vedtak.husholdning_id == household]
    layout = pdf_text(demo_letters / "brev" / f"{household}.pdf", layout=True)
    text = flat(layout)
    for r in rows.itertuples():
        p = periode(r.fra_maaned, r.til_maaned)
        amount = int(r.belop)
        if r.forklaring_kode == "ikke_fakturert":
            assert f"{p[:1].upper()}{p[1:]} er betalingsfri" in text
        else:
            assert f"Du skal betale {kr(amount)} kr per måned for {p}." in text
        # the decision table: the period and the amount on one line
        assert any(p in line and re.search(rf"\b{kr(amount)} kr\b", line) for line in layout.splitlines()), (
            r.barn_id,
            p,
        )
    for child in rows.barn_id.unique():
        assert re.search(rf"^\s*{child}\b", layout, re.M), child


def test_worked_example_grounds(demo_letters):
    text = flat(pdf_text(demo_letters / "brev" / "H01.pdf"))
    assert "Ordinær pris: maksimalprisen 2 000 kr × 100 % plass = 2 000 kr." in text
    assert (
        "6 % av 300 000 kr fordelt på 11 måneder er 1 636 kr, så prisen blir satt ned fra 2 000 kr til 1 636 kr" in text
    )
    assert "20 av 41 timer per uke er gratis, 1 636 kr × 20/41 = 798 kr i fradrag." in text
    # the references as a parent reads them (hjemmel_kort): no caveats such as «(før 2020 § 3 tredje ledd)»
    assert "forskrift om foreldrebetaling i barnehager § 3b" in text and "§ 3c" in text
    assert "før 2020" not in text and "FOR-2005-12-16-1478" not in text and "ikke verifisert" not in text
    assert (
        "Søker: fødselsnummer 128590*****, inntekt 300 000 kr etter skatteoppgjøret for 2023 fra Skatteetaten" in text
    )
    assert "Samlet inntekt for husholdningen er 300 000 kr i året." in text
    assert "Vedtaket bygger på inntekten for 2023." in text  # the hint: apply again with today's income
    assert "Du kan søke om redusert foreldrebetaling ut fra inntekten dere har nå" not in text
    assert "kan du søke om redusert foreldrebetaling ut fra inntekten dere har nå" in text


def test_appeal_access_date_reference(demo_letters):
    rules = load_rules()
    day = dt.date.fromisoformat(DATO)
    klageinstans = rules.value("kommune.0301.brev.klageinstans", day).verdi
    klageadresse = rules.value("kommune.0301.brev.klageadresse", day).verdi
    text = flat(pdf_text(demo_letters / "brev" / "H03.pdf"))
    assert (
        "Du kan klage på vedtaket (forvaltningsloven § 28). Fristen for å klage er 3 uker fra du fikk dette "
        "brevet (forvaltningsloven § 29)." in text
    )
    assert f"sender vi klagen til {klageinstans}, som avgjør saken" in text
    assert all(line in text for line in klageadresse)
    assert "Du har rett til å se dokumentene i saken (forvaltningsloven § 18)." in text
    assert "forvaltningsloven §§ 24 og 25" in text and "forvaltningsloven § 27" in text
    assert "24. november 2026" in text
    assert text.count("0301-2024-08-H03") >= 3  # head, appeal paragraph, every page's footer
    assert re.search(r"Side 1 av [23]", text)
    assert not re.search(r"\d{11}", re.sub(r"(?<=\d) (?=\d)", "", text))  # no 11-digit number, spaces or not


def test_no_fodselsnummer_in_any_letter(demo_letters):
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    enrollment = pd.read_csv(demo / "innskriving.csv", sep=";", dtype=str, keep_default_na=False)
    ids = (set(enrollment.foresatt_fnr) | set(enrollment.partner_fnr)) - {""}
    for p in (demo_letters / "brev").iterdir():
        text = pdf_text(p) if p.suffix == ".pdf" else p.read_text(encoding="utf-8")
        assert not any(fnr in text for fnr in ids), p.name


def test_html_says_what_the_pdf_says(demo_letters):
    for h in ("H02", "H08"):
        html_words = set(
            tekst_fra_html((demo_letters / "brev" / f"{h}.html").read_text(encoding="utf-8"))
            .replace("\xa0", " ")
            .split()
        )
        pdf_words = set(pdf_text(demo_letters / "brev" / f"{h}.pdf").split()) - {"•"}
        assert html_words - pdf_words == set()
        assert pdf_words - html_words <= {"Side", "av", "1", "2", "3"}


# -- målform -------------------------------------------------------------------------------------------
def _fragments(key: str, own: str, other: str) -> list[str]:
    """The fixed parts of a sentence in one målform that the other målform's sentence does not have."""
    parts = [p.strip(" .,:;()") for p, *_ in string.Formatter().parse(" ".join(TEKSTER[key][own].split()))]
    other_text = " ".join(TEKSTER[key][other].split())
    return [p for p in parts if len(p) >= 12 and p not in other_text]


BOKMAAL_ORD = {
    "ikke",
    "hvis",
    "hva",
    "hvor",
    "fra",
    "måned",
    "måneder",
    "uke",
    "uker",
    "husholdningen",
    "inntekten",
    "vennlig",
    "hilsen",
    "Begrunnelse",
    "behandlet",
    "søknaden din om",
    "Søker",
}
NYNORSK_ORD = {
    "ikkje",
    "dersom",
    "kva",
    "kor",
    "frå",
    "månad",
    "månader",
    "veke",
    "veker",
    "hushaldet",
    "inntekta",
    "venleg",
    "helsing",
    "Grunngiving",
    "handsama",
    "Søkjar",
    "forvaltningslova",
}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[\wæøåÆØÅ]+", text))


def test_nynorsk_letter_is_nynorsk(aurland):
    brev = aurland["out"] / "brev"
    assert {p.stem for p in brev.glob("*.pdf")} - {"samlet"} == {"HA", "HB"}
    for h in ("HA", "HB"):
        text = flat(pdf_text(brev / f"{h}.pdf"))
        assert "Grunngiving" in text and "Med venleg helsing" in text
        assert "Fristen for å klage er 3 veker frå du fekk dette brevet (forvaltningslova § 29)." in text
        assert "Du har rett til å sjå dokumenta i saka (forvaltningslova § 18)." in text
        for key in TEKSTER:
            for frag in _fragments(key, "bokmål", "nynorsk"):
                assert frag not in text, (h, key, frag)
        # legal references quoted from the rule set («Heimel: …») are citations, not the letter's sentences
        own = " ".join(line for line in pdf_text(brev / f"{h}.pdf").splitlines() if "Heimel:" not in line)
        assert not (_words(own) & BOKMAAL_ORD), (h, _words(own) & BOKMAAL_ORD)
    html = (brev / "HA.html").read_text(encoding="utf-8")
    assert '<html lang="nn">' in html
    own = tekst_fra_html(re.sub(r'<span class="hjemmel">.*?</span>', " ", html))
    assert not (_words(own) & BOKMAAL_ORD), _words(own) & BOKMAAL_ORD


def test_bokmaal_letter_has_no_nynorsk(demo_letters):
    for h in ("H01", "H03", "H08", "H09"):
        text = flat(pdf_text(demo_letters / "brev" / f"{h}.pdf"))
        for key in TEKSTER:
            for frag in _fragments(key, "nynorsk", "bokmål"):
                assert frag not in text, (h, key, frag)
        assert not (_words(text) & NYNORSK_ORD), (h, _words(text) & NYNORSK_ORD)


def test_every_sentence_exists_in_both_forms():
    for key, forms in TEKSTER.items():
        assert set(forms) == {"bokmål", "nynorsk"}, key
        fields = [{f for _, f, _, _ in string.Formatter().parse(forms[m]) if f} for m in ("bokmål", "nynorsk")]
        assert fields[0] == fields[1], key


def test_aurland_letter_address_grounds_and_escaping(aurland):
    brev = aurland["out"] / "brev"
    text = flat(pdf_text(brev / "HA.pdf"))
    assert "Kari Nordmann Vangsvegen 1 5745 Aurland" in text
    assert AURLAND_INST in text  # Typst markup characters in data print as they are
    assert "Søkjar: Kari Nordmann, fødselsnummer" in text
    assert "inntekt 250 000 kr etter skatteoppgjeret for 2023 frå Skatteetaten" in text
    assert "Samla inntekt for hushaldet er 340 000 kr i året." in text
    assert "Gratis SFO-timar:" in text and "timar per veke" in text
    assert "Aurland kommune" in text
    # no letter for HC: it applied, but Skatteetaten has no data on its applicant (manual treatment)
    liste = read_out(brev / "manuelle.csv", dtype=str)
    assert list(liste.husholdning_id) == ["HC"] and list(liste.kode) == ["manuell"]


def test_address_block_sits_in_the_envelope_window(aurland):
    """A4, and the recipient's lines 45–90 mm from the top and 20–105 mm from the left (C5/C65 window)."""
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(aurland["out"] / "brev" / "HA.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', out)
    assert abs(float(page.group(1)) - 595.3) < 1 and abs(float(page.group(2)) - 841.9) < 1
    mm = 72 / 25.4
    for word in ("Nordmann", "Vangsvegen", "5745"):
        m = re.search(rf'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">{word}<', out)
        x0, y0, x1, y1 = (float(v) / mm for v in m.groups())
        assert 20 <= x0 and x1 <= 105 and 45 <= y0 and y1 <= 90, (word, x0, y0, x1, y1)


def test_letter_renders_to_png(aurland, tmp_path):
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "40",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            str(aurland["out"] / "brev" / "HA.pdf"),
            str(tmp_path / "side"),
        ],
        check=True,
    )
    png = next(tmp_path.glob("side*.png")).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert abs(width / height - 210 / 297) < 0.01
    assert len(png) > 5_000  # not a blank page


# -- the municipality's own template -----------------------------------------------------------------
def _png(width: int, height: int) -> bytes:
    """A small grey PNG, made here (no image library needed)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_brevmal_replaces_template_and_sentences(tmp_path):
    mal = tmp_path / "mal"
    mal.mkdir()
    typ = (PAKKE / "brev.typ.j2").read_text(encoding="utf-8")
    logo = '#image({{ fil("logo.png") }}, width: 25mm)\n\n'  # a file in the template folder
    own = typ.replace("= {{ brev.tittel }}", logo + "= {{ brev.tittel }}\n\nEGEN MAL FRA KOMMUNEN")
    (mal / "brev.typ.j2").write_text(own, encoding="utf-8")
    (mal / "logo.png").write_bytes(_png(40, 20))
    (mal / "tekster.yaml").write_text(
        yaml.safe_dump(
            {"hilsen": {"bokmål": "Hilsen fra oppvekstkontoret", "nynorsk": "Helsing frå oppvekstkontoret"}},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    res = run(demo / "innskriving.csv", demo / "skatt", tmp_path / "out", "--brevmal", str(mal))
    assert res.exit_code == 1, res.output
    text = flat(pdf_text(tmp_path / "out" / "brev" / "H01.pdf"))
    assert "EGEN MAL FRA KOMMUNEN" in text and "Hilsen fra oppvekstkontoret" in text
    assert "Med vennlig hilsen" not in text
    images = subprocess.run(
        ["pdfimages", "-list", str(tmp_path / "out" / "brev" / "H01.pdf")], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^\s*1\s+\d+\s+image\s+40\s+20\b", images, re.M), images
    html = (tmp_path / "out" / "brev" / "H01.html").read_text(encoding="utf-8")
    assert "Hilsen fra oppvekstkontoret" in html  # the package's HTML template, with the municipality's sentence


def test_brevmal_with_unknown_sentence_is_refused(tmp_path):
    mal = tmp_path / "mal"
    mal.mkdir()
    (mal / "tekster.yaml").write_text("hilsn:\n  bokmål: Hei\n  nynorsk: Hei\n", encoding="utf-8")
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    res = run(demo / "innskriving.csv", demo / "skatt", tmp_path / "out", "--brevmal", str(mal))
    assert res.exit_code == 2 and "hilsn" in res.output
    assert not (tmp_path / "out" / "maanedlig.csv").exists()  # nothing half-written


def test_missing_letter_settings_stop_the_run(tmp_path):
    rules = Path(__file__).resolve().parent.parent / "rules" / "kommuner" / "0301.yaml"
    raw = yaml.safe_load(rules.read_text(encoding="utf-8"))
    raw["parametere"] = {k: v for k, v in raw["parametere"].items() if not k.startswith("brev.")}
    own = tmp_path / "0301.yaml"
    own.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    res = run(demo / "innskriving.csv", demo / "skatt", tmp_path / "out", "--kommune-config", str(own))
    assert res.exit_code == 2 and "brev.avsender" in res.output
    # without letters the same settings are not needed
    res = runner.invoke(
        app,
        [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(demo / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path / "o2"),
            "--format",
            "csv",
            "--kommune-config",
            str(own),
        ],
    )
    assert res.exit_code == 1, res.output


def test_forvaltningsloven_references_are_dated_rule_values():
    rules = load_rules()
    day = dt.date.fromisoformat(DATO)
    assert rules.value("forvaltning.klagefrist", day).verdi == "§ 29"
    assert rules.value("forvaltning.klagefrist_uker", day).verdi == 3
    assert rules.value("forvaltning.innsyn", day).verdi == "§ 18"
    v = rules.value("forvaltning.klage", day)
    assert v.verifisert and "LOV-2025-06-20-81" in (v.merknad or "")  # the new act: recorded, not in force here


def test_a_step_the_letters_do_not_know_stops_them(monkeypatch):
    from fee_engine.brev import modell
    from fee_engine.errors import ConfigurationError

    modell.check_steps()  # every step of the calculation has its sentence today
    monkeypatch.setattr(modell, "LETTER_STEPS", modell.LETTER_STEPS - {"gratis_kjernetid"})
    with pytest.raises(ConfigurationError, match="gratis_kjernetid"):
        modell.check_steps()


def test_a_reduction_of_less_than_a_krone_is_said_in_oere(tmp_path):
    """366 665 kr × 6 % / 11 = 1 999,99 kr: the letter says so, not «satt ned fra 2 000 kr til 2 000 kr»."""
    from .caserunner import build, load_cases

    case = next(c for _, c in load_cases(Path(__file__).parent / "cases") if c["navn"].startswith("A cap less than"))
    opts = build(case, tmp_path / "inn")
    res = run(opts.enrollment, opts.tax_data, tmp_path / "ut")
    assert res.exit_code == 0, res.output
    letter = tmp_path / "ut" / "brev" / "H1.pdf"
    text = flat(pdf_text(letter))
    assert (
        "6 % av 366 665 kr fordelt på 11 måneder er 1 999,99 kr, mindre enn 1 krone under prisen, så prisen blir satt "
        "ned til 1 999,99 kr." in text
    )
    assert "fra 2 000 kr til 2 000 kr" not in text
    assert "A, barnehageplass 100 %" in text  # no institution in the file: not «A, , barnehageplass»


def test_a_place_just_over_the_free_hours_and_an_income_just_under_the_limit_are_said_as_computed(tmp_path):
    """H1: 41 hours × 48,80 % = 20,008 hours, of which 20 free. From August 2024 the ordinary price is
    2 000 × 48,80 % = 976 kr; income 500 000 kr is under the kjernetid limit of 642 700 kr, so
    976 × 20/20,008 = 975,61 kr off: 0,39 kr, so 0 kr to pay. The letter said the place was «20 timer, ikke mer enn
    de 20 gratis timene» (the hours rounded down). H2: documented income 642 699,99 kr, under the limit: the letter
    said «642 700 kr», the limit itself."""
    from .caserunner import build

    case = {
        "navn": "Hours and income at the kjernetid edges",
        "periode": "2024-08..2025-07",
        "barn": [
            {"barn_id": "J", "husholdning": "H1", "fodt": "2020-02-02", "plass": "48,80"},
            {"barn_id": "O", "husholdning": "H2", "fodt": "2021-02-02", "plass": 100},
        ],
        "husholdninger": {"H1": {"inntekt": 500000}, "H2": {"dokumentert": "642699,99"}},
    }
    opts = build(case, tmp_path / "inn")
    res = run(opts.enrollment, opts.tax_data, tmp_path / "ut")
    assert res.exit_code == 0, res.output
    one = flat(pdf_text(tmp_path / "ut" / "brev" / "H1.pdf"))
    assert "20 av 20,008 timer per uke er gratis, 976 kr × 20/20,008 = 976 kr i fradrag" in one
    assert "Plassen er på 20 timer" not in one
    two = flat(pdf_text(tmp_path / "ut" / "brev" / "H2.pdf"))
    assert "Dokumentert inntekt for husholdningen er 642 699,99 kr" in two
    assert "642 700 kr." not in two.replace("under 642 700 kr", "")
