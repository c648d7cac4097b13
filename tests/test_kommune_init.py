"""A municipality that is not bundled: «kommune init» writes a file that loads, and every tool takes it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.identity import make_synthetic
from fee_engine.regelsett import load_rules
from fee_engine.regelsett.kommunemal import MAL
from fee_engine.regelsett.lasting import schema

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
NR = "9901"  # not a real kommunenummer


def test_init_into_a_rule_set_folder_loads_and_rules_show_prints_it(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    res = runner.invoke(
        app,
        ["kommune", "init", NR, "--navn", "Prøvevik", "--sone", "sentralitet_5_6", "--rules", str(rules)],
        terminal_width=200,
    )
    assert res.exit_code == 0, res.output
    assert (rules / "kommuner" / f"{NR}.yaml").exists()
    show = runner.invoke(
        app, ["rules", "show", "--date", "2024-10-01", "--kommune", NR, "--rules", str(rules)], terminal_width=250
    )
    assert show.exit_code == 0, show.output
    assert f"kommune.{NR}.sone = sentralitet_5_6" in show.output
    assert f"kommune.{NR}.sfo.prisliste" in show.output and "IKKE VERIFISERT" in show.output
    m = load_rules(rules).municipality(NR)
    assert m.navn == "Prøvevik"
    verified = {p for p, param in m.parametere.items() if all(v.verifisert for v in param.verdier)}
    assert verified == {"sone"}  # what the command was told; everything else must be confirmed


def test_every_municipal_setting_is_in_the_template():
    _, municipal, optional, _ = schema()
    assert set(municipal) - optional <= set(MAL)
    assert set(MAL) <= set(municipal)


def test_run_and_validate_take_the_new_file(tmp_path):
    target = tmp_path / "prøvevik.yaml"
    res = runner.invoke(
        app,
        [
            "kommune",
            "init",
            NR,
            "--navn",
            "Prøvevik",
            "--sone",
            "generell",
            "--maalform",
            "nynorsk",
            "--out",
            str(target),
        ],
        terminal_width=200,
    )
    assert res.exit_code == 0, res.output
    assert f"--kommune-config {target}" in res.output
    fnr = make_synthetic(dt.date(1988, 1, 1), 1)
    enrollment = tmp_path / "inn.csv"
    enrollment.write_text(
        "barn_id;barn_fodselsdato;husholdning_id;foresatt_fnr;kommunenummer;tilbud;plass_prosent;"
        f"soekt_redusert\nA;2021-03-10;H1;{fnr};{NR};barnehage;100;nei\n",
        encoding="utf-8",
    )
    unknown = runner.invoke(app, ["validate", str(enrollment)])
    assert unknown.exit_code == 1 and "kommunenummer" in unknown.output
    ok = runner.invoke(app, ["validate", str(enrollment), "--kommune-config", str(target)])
    assert ok.exit_code == 0, ok.output
    out = tmp_path / "out"
    run = runner.invoke(
        app,
        [
            "run",
            str(enrollment),
            "--source",
            "files",
            "--tax-data",
            str(DEMO / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(out),
            "--kommune-config",
            str(target),
        ],
        terminal_width=300,
    )
    assert run.exit_code == 0, run.output
    assert f"kommune.{NR}.barnehage.deltid_pristak" in run.output  # unverified: every run says so
    assert (out / "maanedlig.csv").exists()


def test_init_refuses_to_overwrite_and_checks_its_arguments(tmp_path):
    target = tmp_path / f"{NR}.yaml"
    args = ["kommune", "init", NR, "--navn", "Prøvevik", "--sone", "generell", "--out", str(target)]
    assert runner.invoke(app, args).exit_code == 0
    before = target.read_text(encoding="utf-8")
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "finnes allerede" in again.output
    assert runner.invoke(app, args + ["--force"]).exit_code == 0
    for extra in (["--sone", "sentrum"], ["--sone", "generell", "--maalform", "samisk"]):
        res = runner.invoke(app, ["kommune", "init", NR, "--navn", "X", *extra, "--out", str(tmp_path / "y.yaml")])
        assert res.exit_code == 2, res.output
        assert not (tmp_path / "y.yaml").exists()
    res = runner.invoke(
        app, ["kommune", "init", "12", "--navn", "X", "--sone", "generell", "--out", str(tmp_path / "z.yaml")]
    )
    assert res.exit_code == 2 and "4 sifre" in res.output
    assert target.read_text(encoding="utf-8").splitlines()[1:] == before.splitlines()[1:]


@pytest.mark.parametrize(
    "doc,names",
    [
        ("kommunefil.md", lambda: [p for p in schema()[1]]),
        ("innskriving.md", lambda: __import__("fee_engine.enrollment", fromlist=["KNOWN"]).KNOWN),
        ("innskriving.md", lambda: list(__import__("fee_engine.enrollment", fromlist=["REASONS"]).REASONS)),
    ],
)
def test_docs_name_every_setting_and_column(doc, names):
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    missing = [n for n in names() if f"`{n}`" not in text]
    assert not missing, f"docs/{doc} does not document {missing}"


def test_docs_name_every_output_file_and_column(tmp_path):
    from fee_engine.output.fakturagrunnlag import LINE_COLUMNS, OWNER_COLUMNS, PAYER_COLUMNS

    out = tmp_path / "out"
    res = runner.invoke(
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
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 1
    text = (ROOT / "docs" / "utdata.md").read_text(encoding="utf-8")
    for f in out.iterdir():
        assert f"`{f.name}`" in text, f.name
    header = lambda name: (out / name).read_text(encoding="utf-8-sig").splitlines()[0].split(";")  # noqa: E731
    columns = set(
        header("maanedlig.csv")
        + header("vedtak.csv")
        + header("avvist.csv")
        + header("utenfor_perioden.csv")
        + LINE_COLUMNS
        + OWNER_COLUMNS
        + PAYER_COLUMNS
    )
    missing = sorted(c for c in columns if f"`{c}`" not in text)
    assert not missing, f"docs/utdata.md does not document {missing}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme  # nothing outside the repository
    for doc in ("docs/innskriving.md", "docs/kommunefil.md", "docs/utdata.md"):
        assert f"({doc})" in readme


def test_sfo_is_not_billed_0_kr_from_the_placeholder_price_list(tmp_path):
    """kommune init writes an unconfirmed SFO price list of 0 kr: an SFO row that relies on it is rejected (and
    listed), not billed 0 kr with status ok; an SFO row with its own pris_maaned and a barnehage row are decided."""
    target = tmp_path / "prøvevik.yaml"
    res = runner.invoke(app, ["kommune", "init", NR, "--navn", "Prøvevik", "--sone", "generell", "--out", str(target)])
    assert res.exit_code == 0, res.output
    fnr = make_synthetic(dt.date(1988, 1, 1), 1)
    enrollment = tmp_path / "inn.csv"
    enrollment.write_text(
        "barn_id;barn_fodselsdato;husholdning_id;foresatt_fnr;kommunenummer;tilbud;plass_prosent;trinn;"
        "timer_per_uke;pris_maaned;soekt_redusert\n"
        f"A;2021-03-10;H1;{fnr};{NR};barnehage;100;;;;nei\n"
        f"S;2017-03-10;H1;{fnr};{NR};sfo;;2;20;;nei\n"
        f"P;2016-03-10;H1;{fnr};{NR};sfo;;4;20;2500;nei\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["--period", "2024-10", "--kommune-config", str(target)]
    checked = runner.invoke(app, ["validate", str(enrollment), *args], terminal_width=300)
    assert checked.exit_code == 1 and "plassholder" in checked.output, checked.output
    run = runner.invoke(
        app,
        ["run", str(enrollment), "--source", "files", "--tax-data", str(DEMO / "skatt"), "--out", str(out), *args],
        terminal_width=300,
    )
    assert run.exit_code == 1, run.output  # a row is rejected
    rejected = (out / "avvist.csv").read_text(encoding="utf-8-sig")
    assert "sfo_pris_plassholder" in rejected and "sfo.prisliste" in rejected
    assert [line.split(";")[0] for line in rejected.splitlines()[1:]] == ["3"]  # S is line 3 (the header is line 1)
    monthly = (out / "maanedlig.csv").read_text(encoding="utf-8-sig").splitlines()
    header = monthly[0].split(";")
    rows = {r.split(";")[header.index("barn_id")]: r.split(";") for r in monthly[1:]}
    assert set(rows) == {"A", "P"}
    # A: barnehage, no application: maksimalpris 2 000 kr; P: its own price 2 500 kr (no sibling discount in SFO
    # by default), grade 4, no free hours
    assert rows["A"][header.index("belop")] == "2000" and rows["P"][header.index("belop")] == "2500"
    import json

    counts = json.loads((out / "kjoering.json").read_text(encoding="utf-8"))
    assert counts["rader_inn"] == 3 and counts["rader_avvist"] == 1 and counts["rader_beregnet"] == 2
