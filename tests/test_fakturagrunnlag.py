"""The invoicing basis: payers, codes, private owners, what adds up, and who may see the full numbers."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.enrollment import read_enrollment
from fee_engine.errors import RuleSetError
from fee_engine.identity import make_synthetic
from fee_engine.regelsett import load_rules

from .helpers import read_out, sheet_frame

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
PAYER_B01 = make_synthetic(dt.date(1960, 5, 5), 11)  # a grandparent pays for B01
MOVER_A = make_synthetic(dt.date(1985, 7, 7), 12)
MOVER_PAYER = make_synthetic(dt.date(1986, 8, 8), 13)
OWNER = "999999905"  # 9 digits, mod 11 valid
STR = {
    "betaler_fnr": str,
    "maaned": str,
    "kommunenummer": str,
    "ansvar": str,
    "tjeneste": str,
    "art": str,
    "eier_orgnr": str,
}


def enrollment(tmp_path: Path) -> Path:
    """The demo's 15 good rows, with a payer for B01, an owner for B06 and a child who moves on 21 October."""
    lines = (DEMO / "innskriving.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0] + ";betaler_fnr;eier_orgnr"
    rows = []
    for line in lines[1:16]:
        child = line.split(";")[0]
        rows.append(line + {"B01": f";{PAYER_B01};", "B06": f";;{OWNER}"}.get(child, ";;"))
    mover = "M1;2021-04-04;H20;{fnr};;0301;barnehage;Solsikken barnehage;100;;;;;{fra};{til};nei;;{payer};"
    rows.append(mover.format(fnr=MOVER_A, fra="", til="2024-10-20", payer=""))
    rows.append(mover.format(fnr=MOVER_A, fra="2024-10-21", til="", payer=MOVER_PAYER))
    path = tmp_path / "inn.csv"
    path.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    return path


def run(tmp_path: Path, src: Path, *extra: str) -> Path:
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "run",
            str(src),
            "--source",
            "files",
            "--tax-data",
            str(DEMO / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(out),
            *extra,
        ],
    )
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faktura")
    return run(tmp, enrollment(tmp))


def test_lines_and_owner_lists_add_up_exactly_to_the_monthly_amounts(out):
    monthly = read_out(out / "maanedlig.csv", dtype={"maaned": str})
    lines = read_out(out / "fakturagrunnlag.csv", dtype=STR)
    owner = read_out(out / f"reduksjoner_eier_{OWNER}.csv", dtype=STR)
    assert (lines["belop"] > 0).all()
    assert lines["belop"].sum() + owner["belop"].sum() == monthly["belop"].sum()
    # line by line: every billed month with an amount is exactly one invoice line or one owner line
    billed = monthly[monthly["belop"] > 0].set_index(["barn_id", "tilbud", "maaned"])["belop"].sort_index()
    both = pd.concat([lines, owner[owner["belop"] > 0]])
    both = both.set_index(["barn_id", "tilbud", "maaned"])["belop"].sort_index()
    assert billed.index.equals(both.index) and (billed == both).all()
    per_payer = read_out(out / "fakturagrunnlag_per_betaler.csv", dtype=STR)
    assert per_payer["belop"].sum() == lines["belop"].sum() and per_payer["linjer"].sum() == len(lines)
    assert not per_payer.duplicated(["betaler_fnr", "maaned"]).any()


def test_payer_is_betaler_fnr_or_foresatt_and_follows_the_chosen_placement(out):
    lines = read_out(out / "fakturagrunnlag.csv", dtype=STR)
    payer = lines.groupby(["barn_id", "maaned"])["betaler_fnr"].first()
    assert set(lines.loc[lines["barn_id"] == "B01", "betaler_fnr"]) == {PAYER_B01}
    demo = pd.read_csv(DEMO / "innskriving.csv", sep=";", dtype=str)
    applicant = demo.set_index("barn_id").at["B02", "foresatt_fnr"]
    assert set(lines.loc[lines["barn_id"] == "B02", "betaler_fnr"]) == {applicant}
    # M1 moves on 21 October: October (20 days against 11) is billed for the first placement, paid by the applicant
    assert payer[("M1", "2024-09")] == MOVER_A and payer[("M1", "2024-10")] == MOVER_A
    assert payer[("M1", "2024-11")] == MOVER_PAYER and payer[("M1", "2025-06")] == MOVER_PAYER
    assert lines.groupby(["barn_id", "tilbud", "maaned"]).size().max() == 1  # one bill per child and month


def test_codes_come_from_the_municipal_setting_and_manual_amounts_are_provisional(out):
    lines = read_out(out / "fakturagrunnlag.csv", dtype=STR)
    sol = lines[lines["institusjon"] == "Solsikken barnehage"].iloc[0]
    assert (sol["artikkel"], sol["ansvar"], sol["tjeneste"], sol["art"]) == ("BHG-FP", "3010", "201", "1600")
    sfo = lines[lines["tilbud"] == "sfo"].iloc[0]
    assert (sfo["artikkel"], sfo["ansvar"], sfo["tjeneste"]) == ("SFO-FP", "2100", "215")
    manual = {"B09", "B10", "B12"}
    assert set(lines.loc[lines["foreloepig"] == "ja", "barn_id"]) == manual
    assert (lines.loc[~lines["barn_id"].isin(manual), "foreloepig"] == "nei").all()


def test_private_owner_gets_every_billed_month_with_the_reductions(out):
    lines = read_out(out / "fakturagrunnlag.csv", dtype=STR)
    owner = read_out(out / f"reduksjoner_eier_{OWNER}.csv", dtype=STR)
    assert "B06" not in set(lines["barn_id"])  # the owner invoices B06's parents, not the municipality
    assert set(owner["barn_id"]) == {"B06"} and set(owner["eier_orgnr"]) == {OWNER}
    # B06 is the third child in H03 (free): 0 kr every billed month, the whole price a reduction; July is not billed
    assert (owner["belop"] == 0).all() and (owner["reduksjon"] == owner["ordinaer_pris"]).all()
    assert "2025-07" not in set(owner["maaned"]) and len(owner) == 11


def test_files_are_private_and_full_numbers_are_nowhere_else(out):
    private = {
        "fakturagrunnlag.csv",
        "fakturagrunnlag_per_betaler.csv",
        "fakturagrunnlag.xlsx",
        f"reduksjoner_eier_{OWNER}.csv",
    }
    for name in private:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    ids = {PAYER_B01, MOVER_A, MOVER_PAYER} | set(read_out(out / "fakturagrunnlag.csv", dtype=STR)["betaler_fnr"])
    assert PAYER_B01 in (out / "fakturagrunnlag.csv").read_text(encoding="utf-8-sig")
    for f in out.iterdir():
        if f.name in private or f.name == "revisjon.jsonl":
            continue
        if f.suffix == ".xlsx":
            with zipfile.ZipFile(f) as z:
                text = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        else:
            text = f.read_text(encoding="utf-8-sig")
        assert not any(i in text for i in ids), f.name


def test_workbook_reads_back_like_the_csv(out):
    wb = load_workbook(out / "fakturagrunnlag.xlsx")
    assert wb.sheetnames == ["Forside", "Fakturalinjer", "Per betaler og måned", "Private eiere"]
    xl = sheet_frame(wb["Fakturalinjer"])
    csv = read_out(out / "fakturagrunnlag.csv", dtype=STR)
    assert len(xl) == len(csv) and xl["belop"].tolist() == csv["belop"].tolist()
    assert xl["betaler_fnr"].tolist() == csv["betaler_fnr"].tolist()  # text: leading zeros kept
    assert all(isinstance(v, str) for v in xl["ansvar"])
    front = {r[0]: r[1] for r in wb["Forside"].iter_rows(values_only=True) if r and r[0]}
    assert front["Kontroll"] == "stemmer" and "fødselsnumre" in front["Fortrolig"]
    monthly = read_out(out / "maanedlig.csv")
    assert front["Sum fakturerte måneder i maanedlig.csv"] == monthly["belop"].sum()
    assert "fakturagrunnlag" not in " ".join(load_workbook(out / "vedtak.xlsx").sheetnames).lower()


def test_owner_from_the_municipal_setting_per_institution(tmp_path):
    rules = tmp_path / "0301.yaml"
    text = (ROOT / "rules" / "kommuner" / "0301.yaml").read_text(encoding="utf-8")
    private = text.replace('Blåbær barnehage: {ansvar: "3020"}', f'Blåbær barnehage: {{eier_orgnr: "{OWNER}"}}')
    rules.write_text(private, encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text(
        "\n".join((DEMO / "innskriving.csv").read_text(encoding="utf-8").splitlines()[:16]) + "\n", encoding="utf-8"
    )
    out = run(tmp_path, good, "--kommune-config", str(rules))
    lines = read_out(out / "fakturagrunnlag.csv", dtype=STR)
    owner = read_out(out / f"reduksjoner_eier_{OWNER}.csv", dtype=STR)
    assert "Blåbær barnehage" not in set(lines["institusjon"]) and set(owner["institusjon"]) == {"Blåbær barnehage"}
    assert lines["belop"].sum() + owner["belop"].sum() == read_out(out / "maanedlig.csv")["belop"].sum()


def test_maskin_dialect_and_csv_only_run(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(
        "\n".join((DEMO / "innskriving.csv").read_text(encoding="utf-8").splitlines()[:16]) + "\n", encoding="utf-8"
    )
    out = run(tmp_path, good, "--format", "csv,faktura", "--csv-dialect", "maskin")
    raw = (out / "fakturagrunnlag.csv").read_bytes()
    assert raw.startswith(b"betaler_fnr,barn_id,") and b"\r" not in raw
    assert not (out / "fakturagrunnlag.xlsx").exists() and not (out / "vedtak.xlsx").exists()


def test_enrollment_checks_betaler_fnr_and_eier_orgnr(tmp_path):
    f1 = make_synthetic(dt.date(1988, 1, 1), 1)
    bad_fnr = f1[:10] + str((int(f1[10]) + 1) % 10)
    header = (
        "barn_id;barn_fodselsdato;husholdning_id;foresatt_fnr;kommunenummer;tilbud;plass_prosent;betaler_fnr;eier_orgnr"
    )
    rows = [
        f"A;2021-03-10;H1;{f1};0301;barnehage;100;{PAYER_B01};{OWNER}",
        f"B;2021-03-10;H2;{f1};0301;barnehage;100;{bad_fnr};",
        f"C;2021-03-10;H3;{f1};0301;barnehage;100;;123456789",
        f"D;2021-03-10;H4;{f1};0301;barnehage;100;;999 999 905",
    ]
    p = tmp_path / "inn.csv"
    p.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    enr = read_enrollment(p, {"0301"})
    found = {(r.rad, r.kolonne, r.kode) for r in enr.rejections.itertuples()}
    assert found == {(3, "betaler_fnr", "fnr_kontroll"), (4, "eier_orgnr", "orgnr")}
    assert bad_fnr not in set(enr.rejections["verdi"])  # masked like every fødselsnummer
    acc = enr.rows.set_index("barn_id")
    assert acc.at["A", "betaler_fnr"] == PAYER_B01 and acc.at["A", "eier_orgnr"] == OWNER
    assert acc.at["D", "eier_orgnr"] == OWNER and acc.at["D", "betaler_fnr"] == ""
    assert "betaler_fnr" not in enr.extra_columns


def test_faktura_settings_are_typed(tmp_path):
    src = (ROOT / "rules" / "kommuner" / "0301.yaml").read_text(encoding="utf-8")
    ok = tmp_path / "ok.yaml"
    ok.write_text(src.replace('ansvar: "3000"', "ansvar: 3000"), encoding="utf-8")  # a YAML number is read as text
    rs = load_rules(kommune_files=[ok])
    assert rs.value("kommune.0301.faktura.barnehage", dt.date(2024, 10, 1)).verdi.ansvar == "3000"
    for old, new in (
        ('Blåbær barnehage: {ansvar: "3020"}', 'Blåbær barnehage: {eier_orgnr: "123456789"}'),
        ('art: "1600"}', 'art: "1600", konto: "x"}'),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(src.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(RuleSetError):
            load_rules(kommune_files=[bad])
    # the settings are optional: a municipal file without them loads, and the run says the codes are missing
    without = tmp_path / "without.yaml"
    without.write_text(src[: src.index("  faktura.barnehage:")], encoding="utf-8")
    assert "faktura.barnehage" not in load_rules(kommune_files=[without]).municipality("0301").parametere


def test_run_without_faktura_settings_warns_and_leaves_codes_empty(tmp_path):
    src = (ROOT / "rules" / "kommuner" / "0301.yaml").read_text(encoding="utf-8")
    without = tmp_path / "0301.yaml"
    without.write_text(src[: src.index("  faktura.barnehage:")], encoding="utf-8")
    good = tmp_path / "good.csv"
    shutil.copy(DEMO / "innskriving.csv", tmp_path / "all.csv")
    good.write_text(
        "\n".join((tmp_path / "all.csv").read_text(encoding="utf-8").splitlines()[:16]) + "\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "run",
            str(good),
            "--source",
            "files",
            "--tax-data",
            str(DEMO / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(out),
            "--kommune-config",
            str(without),
        ],
        terminal_width=300,
    )
    assert res.exit_code == 0, res.output
    assert "har ingen faktura.barnehage" in res.output
    lines = read_out(out / "fakturagrunnlag.csv", dtype=STR, keep_default_na=False)
    assert (lines["artikkel"] == "").all() and lines["belop"].sum() > 0


def test_codes_dated_mid_period_split_the_runs_and_csv_is_the_expanded_table(tmp_path):
    from fee_engine import batch
    from fee_engine.output import fakturagrunnlag
    from fee_engine.output.csv import write_csv

    src = (ROOT / "rules" / "kommuner" / "0301.yaml").read_text(encoding="utf-8")
    old = """        verdi: {artikkel: "BHG-FP", ansvar: "3000", tjeneste: "201", art: "1600"}"""
    assert old in src
    dated = src.replace(
        old,
        old
        + """
        verifisert: true
        kilde: "test"
      - gjelder_fra: 2025-01-01
        verdi: {artikkel: "BHG-2025", ansvar: "3000", tjeneste: "201", art: "1600"}""",
        1,
    )
    rules = tmp_path / "0301.yaml"
    rules.write_text(dated, encoding="utf-8")
    comp = batch.compute(
        batch.RunOptions(
            enrollment=enrollment(tmp_path),
            out=tmp_path,
            source="files",
            period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
            tax_data=DEMO / "skatt",
            kommune_config=[rules],
        )
    )
    basis = fakturagrunnlag.build(comp.runs, comp.enrollment.rows, comp.rules, comp.months)
    lines = basis.lines
    bh = lines[lines["tilbud"] == "barnehage"]
    assert set(bh.loc[bh["maaned"] < "2025-01", "artikkel"]) == {"BHG-FP"}
    assert set(bh.loc[bh["maaned"] >= "2025-01", "artikkel"]) == {"BHG-2025"}
    assert lines["belop"].sum() + basis.owners["belop"].sum() == basis.billed_total
    assert not lines.duplicated(["barn_id", "tilbud", "maaned"]).any()
    per_payer = lines.groupby(["betaler_fnr", "maaned"])["belop"].sum()
    assert (basis.per_payer.set_index(["betaler_fnr", "maaned"])["belop"] == per_payer).all()
    for dialect in ("excel", "maskin"):
        out = tmp_path / dialect
        out.mkdir()
        fakturagrunnlag.write_csv_files(basis, out, dialect)
        write_csv(lines, out / "slow.csv", dialect)
        assert (out / "fakturagrunnlag.csv").read_bytes() == (out / "slow.csv").read_bytes()
