"""Reform overlays, diff, and the golden snapshot."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fee_engine import batch, forklaring
from fee_engine.cli import app
from fee_engine.diff import compare
from fee_engine.errors import RuleSetError
from fee_engine.regelsett import load_rules
from fee_engine.regelsett.reform import apply_overlay, read_overlay

from .helpers import read_out

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
GOLDEN = ROOT / "fixtures" / "kommune_syntetisk"


def write(tmp_path, text, name="reform.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_overlay_several_dates_and_parameters(tmp_path):
    f = write(
        tmp_path,
        """
barnehage.maksimalpris.generell:
  2024-10-01: 1500
  2025-01-01: 1000
barnehage.gratis_kjernetid.inntektsgrense:
  2024-08-01: 700000
kommune.0301.sfo.prisliste:
  2024-08-01: [{fra_timer: 0, pris: 1000}]
""",
    )
    base = load_rules()
    r = apply_overlay(base, read_overlay(f), "test")
    v = lambda p, d: r.value(p, dt.date.fromisoformat(d)).verdi  # noqa: E731
    assert v("barnehage.maksimalpris.generell", "2024-09-01") == 2000  # before the reform: unchanged
    assert v("barnehage.maksimalpris.generell", "2024-10-01") == 1500
    assert v("barnehage.maksimalpris.generell", "2025-01-01") == 1000
    assert v("barnehage.maksimalpris.generell", "2025-08-01") == 1200  # the base set's later value still applies
    assert v("barnehage.gratis_kjernetid.inntektsgrense", "2024-08-01") == 700000  # replaces the value on that date
    assert v("kommune.0301.sfo.prisliste", "2024-09-01")[0].pris == 1000
    assert base.value("barnehage.maksimalpris.generell", dt.date(2024, 10, 1)).verdi == 2000  # base untouched
    assert r.version == base.version + "+test"


@pytest.mark.parametrize(
    "text,message",
    [
        ("barnehage.maksimalpris.generel:\n  2024-10-01: 1500\n", "Mente du: barnehage.maksimalpris.generell"),
        ("kommune.0301.sone:\n  2024-10-01: sentrum\n", "kommune.0301.sone"),
        ("barnehage.maksimalpris.generell:\n  oktober: 1500\n", "er ikke en dato"),
        ("barnehage.maksimalpris.generell: 1500\n", "forventet datoer med verdier"),
        ("kommune.9999.sone:\n  2024-10-01: generell\n", "ukjent parameter"),
    ],
)
def test_invalid_overlays(tmp_path, text, message):
    with pytest.raises(RuleSetError, match=message):
        apply_overlay(load_rules(), read_overlay(write(tmp_path, text)), "x")


def test_diff_with_nothing_changed_has_only_the_header(tmp_path):
    res = runner.invoke(
        app,
        [
            "diff",
            str(DEMO / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(DEMO / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 1, res.output  # the demo's rejected rows
    lines = (tmp_path / "endringer.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines == [
        "barn_id;husholdning_id;tilbud;kommunenummer;institusjon;maaned;belop_a;belop_b;differanse;"
        "status_a;status_b;steg"
    ]
    summary = read_out(tmp_path / "oppsummering.csv")
    assert (summary["differanse"] == 0).all() and (summary["inntekt_a"] == summary["inntekt_b"]).all()


def test_reform_lowering_maksimalpris_worked_by_hand(tmp_path):
    reform = write(tmp_path, "barnehage.maksimalpris.generell:\n  2024-10-01: 1500\n")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "diff",
            str(DEMO / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(DEMO / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--reform",
            str(reform),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 1, res.output
    ch = read_out(out / "endringer.csv", dtype={"maaned": str})
    # only barnehage children, only October 2024 to June 2025 (July is not billed)
    assert set(ch["tilbud"]) == {"barnehage"}
    assert ch["maaned"].min() == "2024-10" and ch["maaned"].max() == "2025-06" and "2025-07" not in set(ch["maaned"])
    # B01 (worked example): P0 1 500 < 6 % cap 1 636.36 → 1 500; kjernetid 1 500 × 20/41 = 731.71
    # 1 500 − 731.71 = 768.29 → 768 (was 838)
    b01 = ch[ch["barn_id"] == "B01"]
    assert len(b01) == 9 and (b01["belop_b"] == 768).all() and (b01["differanse"] == -70).all()
    # B07 (no application, full place): 2 000 → 1 500
    assert (ch.loc[ch["barn_id"] == "B07", "differanse"] == -500).all()
    # B06 is the third child (free) and stays 0; the manual children are billed the ordinary price: 2 000 → 1 500
    assert "B06" not in set(ch["barn_id"])
    assert (ch.loc[ch["barn_id"] == "B09", ["belop_a", "belop_b"]].to_numpy() == [2000, 1500]).all()
    # SFO children do not change
    assert not ch["barn_id"].str.startswith("S").any()
    summary = read_out(out / "oppsummering.csv")
    assert summary["differanse"].sum() == ch["differanse"].sum()
    assert summary["inntekt_b"].sum() - summary["inntekt_a"].sum() == ch["differanse"].sum()
    assert (out / "endringer.xlsx").exists() and "<svg" in (out / "endringer.html").read_text(encoding="utf-8")


def test_compare_names_the_step_that_changed():
    a = pd.DataFrame(
        {
            "barn_id": ["A"],
            "tilbud": ["barnehage"],
            "maaned": ["2024-10"],
            "husholdning_id": ["H"],
            "kommunenummer": ["0301"],
            "institusjon": ["X"],
            "belop": [838],
            "ordinaer_pris": [2000],
            "saerskilte_behov_fritak": [0],
            "inntektsreduksjon": [364],
            "soeskenmoderasjon": [0],
            "gratis_timer": [798],
            "status": ["ok"],
        }
    )
    b = a.assign(belop=[0], soeskenmoderasjon=[838])
    r = compare(a, b, "a", "b")
    assert r.changes.iloc[0]["steg"] == "soeskenmoderasjon" and r.difference == -838


def test_golden_snapshot():
    """A realistic synthetic municipality (3 000 children, Bergen): any change in an amount fails here.

    After an intended rule change run ``bash scripts/update-golden`` and commit the new snapshot.
    """
    opts = batch.RunOptions(
        enrollment=GOLDEN / "innskriving.csv",
        out=Path("unused"),
        period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        source="files",
        tax_data=GOLDEN / "skatt",
    )
    comp = batch.compute(opts)
    now = forklaring.monthly(comp.runs, comp.enrollment.extra_columns)
    now = now.astype({"maaned": str})
    expected = pd.read_csv(
        GOLDEN / "forventet" / "maanedlig.csv", dtype={"maaned": str, "kommunenummer": str}, keep_default_na=False
    )
    expected = expected.astype(
        {c: now[c].dtype for c in expected.columns if c in now.columns and str(now[c].dtype).startswith("int")}
    )
    result = compare(expected, now, "snapshot", comp.rules.version)
    if len(result.changes) or len(now) != len(expected):
        by_step = result.changes["steg"].value_counts().to_dict()
        pytest.fail(
            f"the amounts differ from the golden snapshot: {len(result.changes)} child-months, "
            f"{result.changes[['barn_id', 'tilbud']].drop_duplicates().shape[0]} children, revenue "
            f"{result.revenue_a} → {result.revenue_b} ({result.difference:+}); steps: {by_step}\n"
            f"{result.changes.head(10).to_string()}\n"
            "If the change is intended: bash scripts/update-golden, review and commit the snapshot."
        )
    assert now["status"].tolist() == expected["status"].tolist()
    assert (now["status"] == "manuell").sum() > 0 and (now["forklaring_kode"].str.contains("soesken")).any()


def test_diff_workbook_reads_as_finance_expects(tmp_path):
    from openpyxl import load_workbook

    from .helpers import sheet_frame

    reform = write(tmp_path, "barnehage.maksimalpris.generell:\n  2024-10-01: 1500\n")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "diff",
            str(DEMO / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(DEMO / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--reform",
            str(reform),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 1, res.output
    wb = load_workbook(out / "endringer.xlsx", data_only=True)
    assert wb.sheetnames == ["Forside", "Endringer", "Oppsummering"]
    ws = wb["Endringer"]
    header = [c.value for c in ws[1]]
    assert "Differanse (B − A)" in header and "Beløp A" in header and ws.freeze_panes == "A2"
    cell = ws.cell(row=2, column=header.index("Differanse (B − A)") + 1)
    assert isinstance(cell.value, int) and cell.number_format == '#,##0 "kr"'
    changes = sheet_frame(ws)
    csv = read_out(out / "endringer.csv")
    assert changes["differanse"].sum() == csv["differanse"].sum()
    assert list(ws.iter_rows(values_only=True))[-1][header.index("Differanse (B − A)")] == csv["differanse"].sum()
    front = {r[0]: r[1] for r in wb["Forside"].iter_rows(values_only=True) if r and r[0]}
    assert front["Differanse (B − A)"] == csv["differanse"].sum() and front["Rader avvist i innskrivingsfilen"] == 3
