"""End to end through the command line on fixtures/."""

import json
import subprocess
import sys

import pandas as pd
from typer.testing import CliRunner

from fee_engine.cli import app

from .helpers import read_out, run_demo

runner = CliRunner()


def test_demo_run_outputs_and_worked_example(demo, tmp_path):
    res = run_demo(demo, tmp_path)
    assert res.exit_code == 1, res.output  # the demo has three rejected rows on purpose
    m = read_out(tmp_path / "maanedlig.csv", dtype={"maaned": str})
    for col in [
        "barn_id",
        "husholdning_id",
        "tilbud",
        "maaned",
        "ordinaer_pris",
        "etter_inntektsgrense",
        "soeskenmoderasjon",
        "gratis_timer",
        "belop",
        "status",
        "forklaring_kode",
    ]:
        assert col in m.columns
    b01 = m[(m.barn_id == "B01") & (m.maaned == "2024-10")].iloc[0]
    assert b01.belop == 838  # the README's worked example
    assert m[(m.barn_id == "B01") & (m.maaned == "2025-07")].iloc[0].belop == 0
    v = read_out(tmp_path / "vedtak.csv", dtype=str)
    for col in [
        "fra_maaned",
        "til_maaned",
        "belop",
        "inntektsaar",
        "stadie",
        "husholdningsinntekt",
        "regelsett",
        "forklaring",
    ]:
        assert col in v.columns
    text = v[(v.barn_id == "B01") & (v.fra_maaned == "2024-08")].iloc[0]
    assert text.til_maaned == "2025-06" and text.belop == "838" and text.husholdningsinntekt == "300000"
    assert "§ 3b" in text.forklaring and "§ 3c" in text.forklaring and "838 kr" in text.forklaring
    avvist = read_out(tmp_path / "avvist.csv")
    # rows in = rows decided + rows rejected
    assert 18 == m.drop_duplicates(["barn_id", "tilbud"]).shape[0] + avvist.rad.nunique()
    assert set(m[m.status == "manuell"].barn_id) == {"B09", "B10", "B12"}
    meta = json.loads((tmp_path / "kjoering.json").read_text())
    assert meta["rader_inn"] == 18 and meta["rader_avvist"] == 3


def test_monthly_amounts_add_up(demo, tmp_path):
    run_demo(demo, tmp_path)
    m = read_out(tmp_path / "maanedlig.csv")
    ok = m[(m.status == "ok")]
    assert (
        ok.ordinaer_pris
        - ok.saerskilte_behov_fritak
        - (ok.ordinaer_pris - ok.saerskilte_behov_fritak - ok.etter_inntektsgrense)
        - ok.soeskenmoderasjon
        - ok.gratis_timer
        == ok.belop
    ).all()


def test_no_full_fnr_in_any_output_or_message(demo, tmp_path):
    res = run_demo(demo, tmp_path)
    enrollment = pd.read_csv(demo / "innskriving.csv", sep=";", dtype=str, keep_default_na=False)
    ids = set(enrollment.foresatt_fnr) | set(enrollment.partner_fnr) - {""}
    texts = [res.output] + [
        (tmp_path / f).read_text(encoding="utf-8")
        for f in ("avvist.csv", "revisjon.jsonl", "kjoering.json", "vedtak.csv", "maanedlig.csv")
    ]
    for t in texts:
        for fnr in ids:
            assert fnr not in t


def test_validate_command(demo):
    res = runner.invoke(app, ["validate", str(demo / "innskriving.csv"), "--period", "2024/25"])
    assert res.exit_code == 1
    assert "rad 17, kolonne foresatt_fnr" in res.output and "mod 11" in res.output
    assert "18 rader, 15 godtatt, 3 avvist, 0 utenfor perioden" in res.output
    en = runner.invoke(app, ["validate", str(demo / "innskriving.csv"), "--lang", "en", "--period", "2024/25"])
    assert "row 18, column tilbud" in en.output and "18 rows, 15 accepted, 3 rejected" in en.output
    # the same checks as run: B13's place ends 2025-03-31, outside the barnehageår 2026/27
    later = runner.invoke(app, ["validate", str(demo / "innskriving.csv"), "--period", "2026/27"])
    assert "18 rader, 14 godtatt, 3 avvist, 1 utenfor perioden 2026-08..2027-07" in later.output  # says which period


def test_validate_says_how_the_file_was_read(demo, tmp_path):
    """Norwegian Excel's «CSV (semikolonseparert)» is Windows-1252: validate says so, as run does."""
    cp1252 = tmp_path / "excel.csv"
    cp1252.write_bytes((demo / "innskriving.csv").read_text(encoding="utf-8-sig").encode("cp1252"))
    res = runner.invoke(app, ["validate", str(cp1252), "--period", "2024/25"], terminal_width=300)
    assert "Merk: " in res.output and "Windows-1252" in res.output, res.output
    assert "18 rader, 15 godtatt, 3 avvist" in res.output


def test_rules_show_prints_paths_and_sources():
    res = runner.invoke(app, ["rules", "show", "--date", "2024-10-01", "--kommune", "4641"], terminal_width=250)
    assert res.exit_code == 0
    assert "barnehage.maksimalpris.sentralitet_5_6" in res.output and "1500" in res.output
    assert "kommune.4641.sone" in res.output


def test_period_outside_rule_set_is_exit_2_and_writes_nothing(demo, tmp_path):
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
            "2027-08..2028-07",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "2027-07-31" in res.output
    assert list((tmp_path / "o").iterdir()) == []


def test_missing_tax_folder_and_unknown_source_are_exit_2(demo, tmp_path):
    r1 = runner.invoke(
        app,
        [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "files",
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path),
        ],
    )
    assert r1.exit_code == 2 and "--tax-data" in r1.output
    r2 = runner.invoke(
        app,
        [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "ftp",
            "--tax-data",
            str(demo / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path),
        ],
    )
    assert r2.exit_code == 2


def test_all_good_file_exits_0(demo, tmp_path):
    lines = (demo / "innskriving.csv").read_text(encoding="utf-8").splitlines()
    good = tmp_path / "good.csv"
    good.write_text("\n".join(lines[:16]) + "\n", encoding="utf-8")  # header + the 15 good rows
    res = runner.invoke(
        app,
        [
            "run",
            str(good),
            "--source",
            "files",
            "--tax-data",
            str(demo / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output


def test_installed_console_script():
    from pathlib import Path

    script = Path(sys.executable).parent / "fee-engine"  # installed by pip install -e . beside this interpreter
    for cmd in ([str(script), "--help"], [sys.executable, "-m", "fee_engine", "--help"]):
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0 and "run" in res.stdout and "validate" in res.stdout and "diff" in res.stdout


def test_file_where_every_row_is_rejected(demo, tmp_path):
    lines = (demo / "innskriving.csv").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0]] + lines[16:19]) + "\n", encoding="utf-8")  # the three rejected demo rows
    out = tmp_path / "o"
    res = runner.invoke(
        app,
        [
            "run",
            str(bad),
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
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception  # no crash
    assert "Traceback" not in res.output
    assert read_out(out / "avvist.csv").rad.nunique() == 3
    assert len(read_out(out / "maanedlig.csv")) == 0 and len(read_out(out / "vedtak.csv")) == 0
    assert (out / "vedtak.xlsx").exists() and "<svg" in (out / "rapport.html").read_text(encoding="utf-8")


def test_unreadable_input_and_unwritable_out_are_clear_errors(demo, tmp_path):
    res = runner.invoke(app, ["validate", str(tmp_path)])
    text = " ".join(res.output.split())  # rich wraps long lines
    assert res.exit_code == 1, res.output
    assert "er ikke en fil" in text and "Traceback" not in text
    blocker = tmp_path / "fil"
    blocker.write_text("x")
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
            str(blocker / "ut"),
        ],
    )
    assert res.exit_code == 2, res.output
    assert "Feil:" in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_synthetic_population_is_deterministic_and_valid(tmp_path):
    for name in ("a", "b"):
        res = runner.invoke(app, ["synthetic", "300", str(tmp_path / name), "--seed", "9"])
        assert res.exit_code == 0, res.output
    a, b = (tmp_path / "a" / "innskriving.csv").read_text(), (tmp_path / "b" / "innskriving.csv").read_text()
    assert a == b and len(a.splitlines()) == 301
    res = runner.invoke(app, ["validate", str(tmp_path / "a" / "innskriving.csv")])
    assert res.exit_code == 0 and "300 rader, 300 godtatt, 0 avvist" in res.output


def test_synthetic_refuses_no_children_and_an_unknown_municipality(tmp_path):
    none = runner.invoke(app, ["synthetic", "0", str(tmp_path / "a")], terminal_width=200)
    assert none.exit_code == 2 and isinstance(none.exception, SystemExit), (none.output, none.exception)
    assert not (tmp_path / "a").exists()
    unknown = runner.invoke(app, ["synthetic", "10", str(tmp_path / "b"), "--kommune", "9999"], terminal_width=200)
    assert unknown.exit_code == 2 and "kommune init" in unknown.output, unknown.output
    assert not (tmp_path / "b").exists()


def test_readme_worked_example_matches_the_output(demo, tmp_path, root):
    run_demo(demo, tmp_path)
    readme = (root / "README.md").read_text(encoding="utf-8")
    monthly = (tmp_path / "maanedlig.csv").read_text(encoding="utf-8-sig").splitlines()
    excerpt = readme[readme.index("`out/maanedlig.csv` has for B01, 2024-10:") :].split("```")[1].strip().splitlines()
    assert excerpt[0] == monthly[0] and excerpt[1] in monthly
    quote = readme[readme.index("> Barnehage, plass på 100 %.") :].split("\n\n")[0]
    quote = " ".join(line[2:] for line in quote.splitlines())
    v = read_out(tmp_path / "vedtak.csv", dtype=str)
    assert v[(v.barn_id == "B01") & (v.fra_maaned == "2024-08")].iloc[0].forklaring == quote


def test_a_crash_report_shows_no_local_variables(demo, tmp_path):
    """An unexpected error (a bug) must not print locals, which may hold fødselsnumre."""
    import subprocess
    import sys

    code = (
        "import fee_engine.batch as b\n"
        "def boom(*a, **k):\n"
        "    secret = '21839199217'\n"
        "    raise RuntimeError('bug')\n"
        "b.run = boom\n"
        "from fee_engine.cli import main\n"
        "main()\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(demo / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={"TERM": "dumb", "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert res.returncode != 0 and "RuntimeError" in res.stderr
    assert "21839199217" not in res.stderr + res.stdout


def test_console_messages_are_whole_lines_when_piped(demo, tmp_path):
    """Piped or logged, rich would wrap at 80 columns, cutting «3299 kr» or a warning in two."""
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
            str(tmp_path),
        ],
        terminal_width=80,
    )
    lines = res.output.splitlines()
    warnings = [line for line in lines if line.startswith("Advarsel:")]
    assert len(warnings) >= 4
    for line in warnings:
        if line.startswith("Advarsel: Ikke verifisert verdi brukt"):
            assert "(kilde:" in line and line.endswith(")"), line
    price = next(line for line in warnings if "kommune.0301.sfo.prisliste" in line)
    assert "3299 kr" in price and len(price) > 80
    assert any(
        line.startswith("Advarsel: Ukjente inntektsposter") and line.endswith("nyInntektspostSomIkkeFinnes")
        for line in lines
    )
    assert "3 rader ble avvist; se " in res.output


def test_diff_summary_says_how_many_rows_were_rejected(demo, tmp_path):
    res = runner.invoke(
        app,
        [
            "diff",
            str(demo / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(demo / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path),
        ],
        terminal_width=120,
    )
    assert res.exit_code == 1
    row = next(line for line in res.output.splitlines() if "Rader avvist" in line)
    assert row.replace("│", " ").split()[-1] == "3"
    assert "3 rader ble avvist; se " in res.output


def test_the_files_own_columns_by_the_engines_names_change_no_amount(demo, tmp_path):
    """The demo with two columns of its own named as the engine's: «plass_bp» (half a place for every child) and
    «belop» (1 kr). They are passed through as «plass_bp_fil» and «belop_fil», and B01 still pays 838 kr
    (the README's worked example: maksimalpris 2 000 kr, 6 % of 300 000 kr over 11 months = 1 636 kr, 20 free
    core hours of 41 = 798 kr off, 1 636 - 798 = 838 kr)."""
    lines = (demo / "innskriving.csv").read_text(encoding="utf-8").splitlines()
    changed = tmp_path / "innskriving.csv"
    changed.write_text(
        "\n".join([lines[0] + ";plass_bp;belop"] + [x + ";5000;1" for x in lines[1:]]) + "\n", encoding="utf-8"
    )
    res = run_demo(demo, tmp_path / "ut", "--format", "csv", enrollment=changed)
    assert res.exit_code == 1, res.output  # the demo's three rejected rows
    assert "står i utdataene som «plass_bp_fil»" in res.output
    m = read_out(tmp_path / "ut" / "maanedlig.csv", dtype={"maaned": str})
    b01 = m[(m.barn_id == "B01") & (m.maaned == "2024-10")].iloc[0]
    assert b01.belop == 838 and b01.ordinaer_pris == 2000
    assert list(m.columns[-2:]) == ["plass_bp_fil", "belop_fil"] and set(m.plass_bp_fil) == {5000}
    original = tmp_path / "original"
    assert run_demo(demo, original, "--format", "csv").exit_code == 1
    before = read_out(original / "maanedlig.csv", dtype={"maaned": str})
    pd.testing.assert_frame_equal(m.drop(columns=["plass_bp_fil", "belop_fil"]), before)  # every amount as without
