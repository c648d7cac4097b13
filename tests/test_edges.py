"""Edge cases a new user hit: file encodings, number formats, hostile cells, periods, folders, rule dates."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from fee_engine import batch
from fee_engine.enrollment import read_enrollment
from fee_engine.enrollment.fields import parse_kroner
from fee_engine.errors import ConfigurationError, InputError, RuleSetError
from fee_engine.identity import make_synthetic
from fee_engine.regelsett import load_rules
from fee_engine.taxdata.files import check_layout

from .helpers import read_out

F1 = make_synthetic(dt.date(1988, 1, 1), 1)
F2 = make_synthetic(dt.date(1989, 2, 2), 2)
KNOWN = {"0301", "4601"}
HEADER = (
    "barn_id;barn_fodselsdato;husholdning_id;foresatt_fnr;partner_fnr;kommunenummer;tilbud;institusjon;"
    "plass_prosent;pris_maaned;soekt_redusert;dokumentert_inntekt"
)


def row(barn="A", hh="H1", inst="Blåbær barnehage", plass="100", pris="", soekt="nei", dok="", fnr=F1):
    return f"{barn};2021-03-10;{hh};{fnr};;0301;barnehage;{inst};{plass};{pris};{soekt};{dok}"


def write(tmp_path, *rows, name="inn.csv", encoding="utf-8", header=HEADER, sep=";"):
    p = tmp_path / name
    text = "\n".join([header] + list(rows)) + "\n"
    p.write_bytes(text.replace(";", sep).encode(encoding))
    return p


def codes(enr):
    return {(r.rad, r.kolonne, r.kode) for r in enr.rejections.itertuples()}


def run_csv(tmp_path, enrollment):
    """``run`` on ``enrollment`` for 2024-08..2025-06, CSV outputs, with no tax answers (the rows need no lookup):
    the output folder."""
    out = tmp_path / "out"
    batch.run(
        batch.RunOptions(
            enrollment=enrollment,
            out=out,
            source="files",
            tax_data=tmp_path,
            period=batch.parse_period("2024-08..2025-06"),
            formats=("csv",),
        )
    )
    return out


# -- kroner as typed in Norway -------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,oere",
    [
        ("300000", 30_000_000),
        ("300 000", 30_000_000),
        ("300\u00a0000", 30_000_000),
        ("300\u202f000", 30_000_000),
        ("300.000", 30_000_000),
        ("1.234.567", 123_456_700),
        ("1500,50", 150_050),
        ("1.500,00", 150_000),
        ("1500.5", 150_050),
        ("1500.50", 150_050),
        ("kr 1 500", 150_000),
        ("1 500 kr", 150_000),
        ("1500,-", 150_000),
        ("0", 0),
        ("1,5", 150),
    ],
)
def test_kroner_forms(text, oere):
    value, code = parse_kroner(pd.Series([text]), 1_000_000_000)
    assert code[0] == "" and value[0] == oere


@pytest.mark.parametrize(
    "text,code",
    [
        ("1,500", "tall_tvetydig"),
        ("3,000", "tall_tvetydig"),
        ("1,500,000", "tall_tvetydig"),
        ("1e308", "tall"),
        ("inf", "tall"),
        ("NaN", "tall"),
        ("1e14", "tall"),
        ("12.34.56", "tall"),
        ("١٢٣", "tall"),
        ("-5", "negativ"),
        ("1000000001", "for_stort"),
        ("99999999999999999999999", "for_stort"),
    ],
)
def test_kroner_rejections(text, code):
    value, got = parse_kroner(pd.Series([text]), 1_000_000_000)
    assert got[0] == code and value[0] == -1


def test_ambiguous_amount_is_rejected_with_how_to_write_it(tmp_path):
    enr = read_enrollment(write(tmp_path, row(dok="1,500"), row("B", "H2")), KNOWN)
    assert (2, "dokumentert_inntekt", "tall_tvetydig") in codes(enr)
    assert "skriv 1500" in enr.rejections.iloc[0]["aarsak"]
    assert len(enr.rows) == 1


def test_absurd_numbers_are_rejected_not_a_traceback(tmp_path):
    rows = [
        row("A", plass="1e308"),
        row("B", "H2", plass="inf"),
        row("C", "H3", pris="25 000 000"),
        row("D", "H4", plass="1e14"),
        row("E", "H5", dok="1e308"),
        row("F", "H6", dok="10000000000"),
        row("G", "H7"),
    ]
    enr = read_enrollment(write(tmp_path, *rows), KNOWN)
    got = codes(enr)
    assert {
        (2, "plass_prosent", "tall"),
        (3, "plass_prosent", "tall"),
        (4, "pris_maaned", "for_stort"),
        (5, "plass_prosent", "tall"),
        (6, "dokumentert_inntekt", "tall"),
        (7, "dokumentert_inntekt", "for_stort"),
    } <= got
    assert list(enr.rows["barn_id"]) == ["G"]


# -- household rows that say the same thing differently ---------------------------------------
def test_household_answers_compared_as_values(tmp_path):
    rows = [
        row("A", soekt="Ja", dok="450 000"),
        row("B", soekt="ja", dok="450000"),
        row("C", soekt="JA", dok="450.000"),
    ]
    enr = read_enrollment(write(tmp_path, *rows), KNOWN)
    assert enr.rejected_rows == 0, enr.rejections
    assert enr.rows["dok_inntekt_oere"].tolist() == [45_000_000] * 3


def test_empty_answer_is_the_default_yes(tmp_path):
    enr = read_enrollment(write(tmp_path, row("A", soekt=""), row("B", soekt="ja")), KNOWN)
    assert enr.rejected_rows == 0 and enr.rows["soekt_redusert"].all()


# -- encodings: Norwegian Excel's CSV ------------------------------------------------------------
def test_windows_1252_file_is_read_with_a_notice(tmp_path):
    enr = read_enrollment(write(tmp_path, row(inst="Blåbær og Øvre Åsen"), encoding="cp1252"), KNOWN)
    assert enr.rejected_rows == 0
    assert enr.rows.iloc[0]["institusjon"] == "Blåbær og Øvre Åsen"
    assert enr.notices and "Windows-1252" in enr.notices[0]


def test_utf16_unicode_text_tab_separated(tmp_path):
    p = tmp_path / "unicode.txt"
    p.write_bytes(("\n".join([HEADER, row(inst="Tårnfalken")]) + "\n").replace(";", "\t").encode("utf-16"))
    enr = read_enrollment(p, KNOWN)
    assert enr.rejected_rows == 0 and enr.rows.iloc[0]["institusjon"] == "Tårnfalken"
    assert not enr.notices


def test_undefined_windows_1252_byte_is_refused(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(HEADER.encode() + b"\nA;\x9d\n")
    with pytest.raises(InputError, match="0x9D"):
        read_enrollment(p, KNOWN)


def test_windows_1252_end_to_end_keeps_aeoeaa_in_every_output(tmp_path, demo):
    text = (demo / "innskriving.csv").read_text(encoding="utf-8")
    p = tmp_path / "excel.csv"
    p.write_bytes(text.encode("cp1252"))
    out = tmp_path / "out"
    opts = batch.RunOptions(
        enrollment=p,
        out=out,
        period=batch.parse_period("2024-10"),
        source="files",
        tax_data=demo / "skatt",
        formats=("csv", "json"),
    )
    batch.run(opts)
    assert "Blåbær barnehage" in (out / "vedtak.csv").read_text(encoding="utf-8")
    assert "Blåbær barnehage" in (out / "maanedlig.csv").read_text(encoding="utf-8")
    meta = json.loads((out / "kjoering.json").read_text(encoding="utf-8"))
    assert any("Windows-1252" in m for m in meta["merknader"])


# -- hostile cells and lines ----------------------------------------------------------------------
def test_duplicated_header_is_refused_also_by_case(tmp_path):
    p = write(tmp_path, row() + ";X", header=HEADER + ";Barn_ID")
    with pytest.raises(InputError, match="«barn_id» og «Barn_ID»"):
        read_enrollment(p, KNOWN)


def test_trailing_separator_does_not_shift_columns(tmp_path):
    enr = read_enrollment(write(tmp_path, row() + ";", row("B", "H2") + ";;"), KNOWN)
    assert enr.rejected_rows == 0
    assert enr.rows["barn_id"].tolist() == ["A", "B"] and enr.rows["plass_bp"].tolist() == [10000, 10000]


def test_unbalanced_quote_spoils_only_its_own_row(tmp_path):
    rows = [row("A"), row("B", "H2", inst='"Blåbær'), row("C", "H3"), row("D", "H4"), row("E", "H5", inst='"Q"')]
    enr = read_enrollment(write(tmp_path, *rows), KNOWN)
    assert enr.n_rows == 5
    assert enr.rejected_rows == 1 and (3, "", "anfoerselstegn") in codes(enr)
    assert enr.rows["barn_id"].tolist() == ["A", "C", "D", "E"]
    assert enr.rows["institusjon"].tolist()[-1] == "Q"


def test_quoted_line_break_inside_a_cell_is_one_row(tmp_path):
    enr = read_enrollment(write(tmp_path, row(inst='"Blåbær\navd. Nord"'), row("B", "H2")), KNOWN)
    assert enr.n_rows == 2 and enr.rejected_rows == 0
    assert enr.rows.iloc[0]["institusjon"] == "Blåbær\navd. Nord"


def test_too_many_fields_is_rejected(tmp_path):
    enr = read_enrollment(write(tmp_path, row() + ";surplus", row("B", "H2")), KNOWN)
    assert (2, "", "felt_antall") in codes(enr) and enr.rows["barn_id"].tolist() == ["B"]


def test_control_characters_and_unicode_digits(tmp_path):
    arabic = "".join(chr(0x0660 + int(d)) for d in F2)  # the same number in Arabic-Indic digits
    rows = [row("A\x00"), row("B", "H2", fnr=arabic), row("C", "H3", inst="Ok\x07"), row("D", "H4")]
    enr = read_enrollment(write(tmp_path, *rows), KNOWN)
    got = codes(enr)
    assert (2, "barn_id", "kontrolltegn") in got and (3, "foresatt_fnr", "fnr_tegn") in got
    assert (4, "institusjon", "kontrolltegn") in got
    assert enr.rows["barn_id"].tolist() == ["D"]


def test_control_characters_in_a_file_split_as_bytes(tmp_path):
    """No NUL and no quote: the file is split as bytes, where its control characters are found without the
    regular expression (DEL, a vertical tab); a control character in the header only is found too."""
    from fee_engine.enrollment.reading import read_table

    rows = [row("A"), row("B\x7f", "H2"), row("C", "H3", inst="O\x0bk"), row("D", "H4")]
    path = write(tmp_path, *rows)
    assert read_table(path).columns is not None  # the plain path
    enr = read_enrollment(path, KNOWN)
    got = codes(enr)
    assert (3, "barn_id", "kontrolltegn") in got and (4, "institusjon", "kontrolltegn") in got
    assert enr.rows["barn_id"].tolist() == ["A", "D"]
    clean = write(tmp_path, row("A"), name="ren.csv")
    header_only = write(tmp_path, row("A") + ";x", name="hode.csv", header=HEADER + ";merknad\x01")
    assert read_table(clean).maybe_control is False and read_table(header_only).maybe_control is True


def test_excel_serial_dates_in_a_workbook(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(
        [
            "barn_id",
            "barn_fodselsdato",
            "husholdning_id",
            "foresatt_fnr",
            "kommunenummer",
            "tilbud",
            "plass_prosent",
            "fra_dato",
        ]
    )
    # 44265 = 2021-03-10 and 45536 = 2024-09-01 counted from Excel's day 0 (1899-12-30)
    ws.append(["A", 44265, "H1", F1, "0301", "barnehage", 100, 45536])
    p = tmp_path / "inn.xlsx"
    wb.save(p)
    enr = read_enrollment(p, KNOWN)
    assert enr.rejected_rows == 0, enr.rejections
    assert enr.rows.iloc[0]["barn_fodselsdato"] == pd.Timestamp("2021-03-10")
    assert enr.rows.iloc[0]["fra_dato"] == pd.Timestamp("2024-09-01")


def test_fnr_in_any_echoed_or_passed_through_value_is_masked(tmp_path):
    header = HEADER + ";merknad;konto"
    rows = [row(plass=f"x{F2}") + f";ring {F2};12345678901", row("B", "H2") + f";{F2};12345678901"]
    enr = read_enrollment(write(tmp_path, *rows, header=header), KNOWN)
    text = enr.rejections.to_csv() + enr.rows.to_csv(columns=["barn_id", "merknad", "konto"])
    assert F2 not in text and F2[:6] + "*****" in text
    assert "12345678901" in text  # an account number is not a fødselsnummer: it passes unchanged


# -- outside the period --------------------------------------------------------------------------
def test_placement_entirely_outside_the_period_is_reported(tmp_path):
    rows = [row("A") + "", row("B", "H2")]
    header = HEADER + ";til_dato"
    p = write(tmp_path, rows[0] + ";2024-06-30", rows[1] + ";", header=header)
    out = tmp_path / "out"
    res = batch.run(
        batch.RunOptions(
            enrollment=p,
            out=out,
            period=batch.parse_period("2024-08..2024-12"),
            source="files",
            tax_data=tmp_path,
            formats=("csv",),
        )
    )
    assert res.rows_in == 2 and res.rows_outside == 1 and res.rows_rejected == 0
    meta = json.loads((out / "kjoering.json").read_text(encoding="utf-8"))
    assert meta["rader_inn"] == meta["rader_beregnet"] + meta["rader_avvist"] + meta["rader_utenfor_perioden"] == 2
    outside = read_out(out / "utenfor_perioden.csv", dtype=str)
    assert outside["barn_id"].tolist() == ["A"] and outside["til_dato"].tolist() == ["2024-06-30"]
    assert set(read_out(out / "maanedlig.csv", dtype=str)["barn_id"]) == {"B"}


def test_vedtak_periods_do_not_merge_across_a_move(tmp_path):
    header = HEADER + ";fra_dato;til_dato"
    rows = [row("A", soekt="nei", inst="Gamle") + ";;2024-12-31", row("A", soekt="nei", inst="Nye") + ";2025-01-01;"]
    out = run_csv(tmp_path, write(tmp_path, *rows, header=header))
    v = read_out(out / "vedtak.csv", dtype=str)
    billed = v[v["belop"] != "0"]
    assert billed[["institusjon", "fra_maaned", "til_maaned"]].values.tolist() == [
        ["Gamle", "2024-08", "2024-12"],
        ["Nye", "2025-01", "2025-06"],
    ]


def test_a_placement_ending_9999_12_31_is_billed_and_one_starting_then_is_outside_the_period(tmp_path):
    """«9999-12-31» is a common way to write «no end». It was read, but the calculation's nanosecond dates end in
    2262 and it wrapped round to 1816: the row counted as computed and was never billed. B starts in 9999: outside
    the period. A, not applied (soekt nei), Oslo barnehage 100 % from August 2024: maksimalpris 2 000 kr a month, 11
    billed months of 2024-08..2025-06 (July is not in the period)."""
    header = HEADER + ";fra_dato;til_dato"
    rows = [row("A", soekt="nei") + ";2024-08-01;9999-12-31", row("B", "H2", soekt="nei") + ";9999-01-01;"]
    out = run_csv(tmp_path, write(tmp_path, *rows, header=header))
    m = read_out(out / "maanedlig.csv", dtype=str)
    assert m["barn_id"].tolist() == ["A"] * 11 and set(m["belop"]) == {"2000"}
    outside = read_out(out / "utenfor_perioden.csv", dtype=str)
    assert outside["barn_id"].tolist() == ["B"]


def test_a_month_shared_by_two_offers_is_billed_in_each_and_a_move_in_one_offer_once(tmp_path):
    """One bill per child, offer and month. Barnehage «Gamle» until 20 January, then «Nye» from 21 January: January
    is billed once in barnehage, for the placement with the more days in it (Gamle: 1-20 January, 20 days; Nye:
    21-31 January, 11 days). SFO from 10 January (22 days) is another offer: January is billed there too."""
    header = HEADER + ";fra_dato;til_dato;trinn;timer_per_uke"
    rows = [
        row("A", inst="Gamle") + ";;2025-01-20;;",
        row("A", inst="Nye") + ";2025-01-21;;;",
        row("A", inst="Skolen").replace(";barnehage;", ";sfo;") + ";2025-01-10;;1;15",
    ]
    out = run_csv(tmp_path, write(tmp_path, *rows, header=header))
    m = read_out(out / "maanedlig.csv", dtype=str)
    january = m[m["maaned"] == "2025-01"]
    assert not (out / "avvist.csv").read_text(encoding="utf-8-sig").strip().count("\n")  # no row rejected
    assert sorted(zip(january["tilbud"], january["institusjon"])) == [("barnehage", "Gamle"), ("sfo", "Skolen")]
    assert len(m[m["tilbud"] == "barnehage"]) == 11 and len(m[m["tilbud"] == "sfo"]) == 6  # Aug-Jun; Jan-Jun


def test_a_documented_income_where_the_household_did_not_apply_is_named_in_a_notice(tmp_path):
    """soekt_redusert = nei with a dokumentert_inntekt: the income is not used (ordinary price), and the office is
    told which rows, since it may have meant «ja». A row that applied, left the income empty, or lies outside the
    period (not billed at all) is not named; the run's kjoering.json carries the notice once."""
    header = HEADER + ";fra_dato;til_dato"
    rows = [
        row("A", soekt="nei", dok="300000") + ";;",
        row("B", hh="H2", soekt="ja", dok="300000") + ";;",
        row("C", hh="H3") + ";;",
        row("D", hh="H4", soekt="nei", dok="300000") + ";2023-01-01;2023-06-30",  # outside the period
    ]
    out = run_csv(tmp_path, write(tmp_path, *rows, header=header))
    notes = [n for n in json.loads((out / "kjoering.json").read_text("utf-8"))["merknader"] if "dokumentert" in n]
    assert notes == [
        "dokumentert_inntekt er fylt ut på 1 rad der soekt_redusert er nei (rad 2): inntekten er ikke brukt, og "
        "prisen er ordinær pris. Sett soekt_redusert til ja der husholdningen har søkt"
    ]
    v = read_out(out / "vedtak.csv", dtype=str)
    # the ordinary price: maksimalprisen, 2 000 kr a month from 1 August 2024 (forskrift om foreldrebetaling § 1)
    assert v.loc[(v["barn_id"] == "A") & (v["belop"] != "0"), "belop"].tolist() == ["2000"]


# -- the tax-data folder --------------------------------------------------------------------------
def test_wrong_tax_data_folder_stops_before_any_lookup(tmp_path, demo):
    with pytest.raises(ConfigurationError, match="fant ingen skattegrunnlag") as err:
        check_layout(tmp_path)
    assert err.value.exit_code == 2
    with pytest.raises(ConfigurationError, match="ett inntektsår: bruk mappen over"):
        check_layout(demo / "skatt" / "2023")
    (tmp_path / "copy").symlink_to(demo / "skatt")
    with pytest.raises(ConfigurationError, match="ett nivå lenger ned"):
        check_layout(tmp_path)
    check_layout(demo / "skatt")  # the real one passes


def test_run_with_an_empty_tax_folder_exits_2(tmp_path, demo):
    from typer.testing import CliRunner

    from fee_engine.cli import app

    (tmp_path / "tom").mkdir()
    res = CliRunner().invoke(
        app,
        [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(tmp_path / "tom"),
            "--period",
            "2024-10",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "fant ingen skattegrunnlag" in res.output
    assert not (tmp_path / "o" / "vedtak.csv").exists()


# -- periods ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "today,first",
    [
        (dt.date(2026, 11, 24), dt.date(2026, 8, 1)),
        (dt.date(2027, 3, 1), dt.date(2026, 8, 1)),
        (dt.date(2026, 7, 31), dt.date(2025, 8, 1)),
        (dt.date(2026, 8, 1), dt.date(2026, 8, 1)),
    ],
)
def test_default_period_is_the_barnehageaar_that_contains_today(today, first):
    a, b = batch.default_period(today)
    assert a == first and b == dt.date(first.year + 1, 7, 1)


@pytest.mark.parametrize(
    "text,first,last",
    [
        ("2024-10", dt.date(2024, 10, 1), dt.date(2024, 10, 1)),
        ("2024/25", dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        ("2024/2025", dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        ("2024-08..2025-07", dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
    ],
)
def test_period_forms(text, first, last):
    assert batch.parse_period(text) == (first, last)


@pytest.mark.parametrize("text", ["2024/26", "24/25", "2024-13", "oktober", "2025-07..2024-08"])
def test_bad_periods(text):
    with pytest.raises(ConfigurationError, match="--period"):
        batch.parse_period(text)


# -- rule values dated on another day than the 1st -------------------------------------------------
def test_rule_value_not_on_the_first_of_a_month_is_refused(tmp_path, root):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(root / "rules", rules)
    f = rules / "barnehage" / "maksimalpris.yaml"
    f.write_text(
        f.read_text(encoding="utf-8").replace(
            "gjelder_fra: 2024-08-01, verdi: 2000", "gjelder_fra: 2024-08-15, verdi: 2000"
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleSetError, match="barnehage.maksimalpris.generell: gjelder_fra 2024-08-15 er ikke den 1."):
        load_rules(rules)


def test_a_child_id_that_is_a_fodselsnummer_gives_a_notice(tmp_path):
    enr = read_enrollment(write(tmp_path, row(F2)), KNOWN)
    assert enr.rejected_rows == 0
    assert any("barn_id på 1 rader ser ut som fødselsnumre" in n for n in enr.notices)
    assert F2 not in " ".join(enr.notices)


def test_each_kind_of_notice_says_what_to_do_about_it_in_the_report(tmp_path):
    """The report's «Gjør dette» under a notice fits the notice: the æ/ø/å check only for a file read as
    Windows-1252 (it was given to every notice), new id-s for keys that look like fødselsnumre, soekt_redusert for a
    documented income without an application, and a plain «read it» for any other."""
    from fee_engine.output.advarsler import punkter

    header = HEADER + ";fra_dato;til_dato"
    rows = [row("A", soekt="nei", dok="300000") + ";;", row(make_synthetic(dt.date(2020, 5, 5), 3), hh="H2") + ";;"]
    out = run_csv(tmp_path, write(tmp_path, *rows, header=header, encoding="cp1252"))  # «Blåbær»: not UTF-8
    notes = json.loads((out / "kjoering.json").read_text("utf-8"))["merknader"]
    actions = {n.split(" ")[0]: pt.gjoer for n, pt in zip(notes, punkter([], notes))}
    assert len(notes) == 3, notes
    assert actions["inn.csv"] == "Kontroller at navn med æ, ø og å ser riktige ut i resultatene."
    assert actions["barn_id"].startswith("Bruk interne id-er i barn_id og husholdning_id")
    assert actions["dokumentert_inntekt"].startswith("Kontroller radene: har husholdningen søkt om redusert betaling")
    assert punkter([], ["noe annet"])[0].gjoer.startswith("Les merknaden")
    renamed = read_enrollment(
        write(tmp_path, row("B"), name="inn2.csv", header=HEADER.replace("dokumentert_inntekt", "belop")), KNOWN
    )
    [note] = [n for n in renamed.notices if "«belop»" in n]  # a file's column by an engine's name: nothing to check
    assert punkter([], [note])[0].gjoer.startswith("Ingenting må gjøres for beløpene")
