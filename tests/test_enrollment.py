import dataclasses
import datetime as dt

import pandas as pd
import pytest

from fee_engine.enrollment import read_enrollment
from fee_engine.errors import InputError
from fee_engine.identity import make_synthetic

F1 = make_synthetic(dt.date(1988, 1, 1), 1)
F2 = make_synthetic(dt.date(1989, 2, 2), 2)
F3 = make_synthetic(dt.date(1990, 3, 3), 3)
HEADER = "barn_id;barn_fodselsdato;husholdning_id;foresatt_fnr;partner_fnr;kommunenummer;tilbud;plass_prosent;timer_per_uke;trinn;saerskilte_behov;pris_maaned;fra_dato;til_dato;soekt_redusert;dokumentert_inntekt;egen_kolonne"
GOOD = f"A;2021-03-10;H1;{F1};;0301;barnehage;100;;;;;;;;;x"
KNOWN = {"0301", "4601"}


def write(tmp_path, *rows, name="inn.csv", header=HEADER, sep=";"):
    p = tmp_path / name
    p.write_text("\n".join([header.replace(";", sep)] + [r.replace(";", sep) for r in rows]) + "\n", encoding="utf-8")
    return p


def problems(enr):
    return {(r.rad, r.kolonne, r.kode) for r in enr.rejections.itertuples()}


def test_good_row_is_typed(tmp_path):
    enr = read_enrollment(write(tmp_path, GOOD), KNOWN)
    assert enr.n_rows == 1 and enr.rejected_rows == 0
    row = enr.rows.iloc[0]
    assert row["plass_bp"] == 10000 and row["barn_fodselsdato"] == pd.Timestamp("2021-03-10")
    assert row["soekt_redusert"] and row["dok_inntekt_oere"] == -1
    assert enr.extra_columns == ["egen_kolonne"] and row["egen_kolonne"] == "x"


def test_comma_separator_bom_and_case_insensitive_header(tmp_path):
    p = tmp_path / "inn.csv"
    p.write_text("\ufeff" + HEADER.upper().replace(";", ",") + "\n" + GOOD.replace(";", ",") + "\n", encoding="utf-8")
    enr = read_enrollment(p, KNOWN)
    assert enr.rejected_rows == 0 and enr.rows.iloc[0]["barn_id"] == "A"


def test_norwegian_date_and_decimal_comma(tmp_path):
    row = f'A;10.03.2021;H1;{F1};;0301;barnehage;"80,5";;;;1 600;;;;;x'
    enr = read_enrollment(write(tmp_path, row), KNOWN)
    assert enr.rejected_rows == 0
    r = enr.rows.iloc[0]
    assert r["barn_fodselsdato"] == pd.Timestamp("2021-03-10") and r["plass_bp"] == 8050 and r["pris_oere"] == 160000


@pytest.mark.parametrize(
    "row,column,code",
    [
        (f";2021-03-10;H1;{F1};;0301;barnehage;100;;;;;;;;;", "barn_id", "mangler"),
        (f"A;2021-03-10;;{F1};;0301;barnehage;100;;;;;;;;;", "husholdning_id", "mangler"),
        ("A;2021-03-10;H1;;;0301;barnehage;100;;;;;;;;;", "foresatt_fnr", "mangler"),
        ("A;2021-03-10;H1;1234567890;;0301;barnehage;100;;;;;;;;;", "foresatt_fnr", "fnr_lengde"),
        ("A;2021-03-10;H1;1234567890X;;0301;barnehage;100;;;;;;;;;", "foresatt_fnr", "fnr_tegn"),
        (
            f"A;2021-03-10;H1;{F1[:10]}{(int(F1[10]) + 1) % 10};;0301;barnehage;100;;;;;;;;;",
            "foresatt_fnr",
            "fnr_kontroll",
        ),
        (f"A;2021-03-10;H1;{F1};{F1};0301;barnehage;100;;;;;;;;;", "partner_fnr", "partner_lik"),
        (f"A;2021-03-10;H1;{F1};;301;barnehage;100;;;;;;;;;", "kommunenummer", "kommune_format"),
        (f"A;2021-03-10;H1;{F1};;9999;barnehage;100;;;;;;;;;", "kommunenummer", "kommune_ukjent"),
        (f"A;2021-03-10;H1;{F1};;0301;skole;100;;;;;;;;;", "tilbud", "tilbud"),
        (f"A;;H1;{F1};;0301;barnehage;100;;;;;;;;;", "barn_fodselsdato", "mangler"),
        (f"A;2021-13-10;H1;{F1};;0301;barnehage;100;;;;;;;;;", "barn_fodselsdato", "dato"),
        (f"A;2021-03-10;H1;{F1};;0301;barnehage;;;;;;;;;;", "plass_prosent", "mangler"),
        (f"A;2021-03-10;H1;{F1};;0301;barnehage;hel;;;;;;;;;", "plass_prosent", "tall"),
        (f"A;2021-03-10;H1;{F1};;0301;barnehage;120;;;;;;;;;", "plass_prosent", "plass"),
        (f"A;;H1;{F1};;0301;sfo;;;3;;;;;;;", "timer_per_uke", "mangler"),
        (f"A;;H1;{F1};;0301;sfo;;80;3;;;;;;;", "timer_per_uke", "timer"),
        (f"A;;H1;{F1};;0301;sfo;;15;;;;;;;;", "trinn", "mangler"),
        (f"A;;H1;{F1};;0301;sfo;;15;8;;;;;;;", "trinn", "trinn"),
        (f"A;;H1;{F1};;0301;sfo;;15;6;kanskje;;;;;;", "saerskilte_behov", "ja_nei"),
        (f"A;2021-03-10;H1;{F1};;0301;barnehage;100;;;;-5;;;;;", "pris_maaned", "negativ"),
        (f"A;2021-03-10;H1;{F1};;0301;barnehage;100;;;;;2024-09-01;2024-08-01;;;", "til_dato", "periode"),
        (f"A;2021-03-10;H1;{F1};;0301;barnehage;100;;;;;;;kanskje;;", "soekt_redusert", "ja_nei"),
        (f"A;2021-03-10;H1;{F1};;0301;barnehage;100;;;;;;;;mye;", "dokumentert_inntekt", "tall"),
    ],
)
def test_each_kind_of_bad_row(tmp_path, row, column, code):
    enr = read_enrollment(write(tmp_path, row, GOOD.replace("A;", "OK;").replace("H1", "H9")), KNOWN)
    assert (2, column, code) in problems(enr)
    assert enr.n_rows == 2 and enr.rejected_rows == 1 and len(enr.rows) == 1  # the good row stays
    assert enr.rows.iloc[0]["barn_id"] == "OK"


def test_duplicate_child_with_overlapping_period(tmp_path):
    a = f"A;2021-03-10;H1;{F1};;0301;barnehage;100;;;;;2024-08-01;2024-12-31;;;"
    b = f"A;2021-03-10;H1;{F1};;0301;barnehage;60;;;;;2024-12-01;;;;"
    c = f"A;2021-03-10;H1;{F1};;0301;barnehage;60;;;;;2025-01-01;;;;"
    enr = read_enrollment(write(tmp_path, a, b), KNOWN)
    assert (3, "barn_id", "duplikat") in problems(enr)
    assert "rad 2" in enr.rejections.iloc[0]["aarsak"]
    enr2 = read_enrollment(write(tmp_path, a, c, name="b.csv"), KNOWN)
    assert enr2.rejected_rows == 0  # a new place after the old one ends is fine


def test_household_with_three_adults_is_rejected(tmp_path):
    a = f"A;2021-03-10;H1;{F1};{F2};0301;barnehage;100;;;;;;;;;"
    b = f"B;2021-03-10;H1;{F3};;0301;barnehage;100;;;;;;;;;"
    enr = read_enrollment(write(tmp_path, a, b), KNOWN)
    assert {(2, "husholdning_id", "voksne"), (3, "husholdning_id", "voksne")} <= problems(enr)


def test_household_with_conflicting_answers_is_rejected(tmp_path):
    a = f"A;2021-03-10;H1;{F1};;0301;barnehage;100;;;;;;;ja;;"
    b = f"B;2021-03-10;H1;{F1};;0301;barnehage;100;;;;;;;nei;;"
    enr = read_enrollment(write(tmp_path, a, b), KNOWN)
    assert (2, "soekt_redusert", "motstrid") in problems(enr)


def test_rejections_never_show_a_full_fnr(tmp_path):
    bad = F1[:10] + str((int(F1[10]) + 1) % 10)
    row = f"{F2};2021-03-10;H1;{bad};;0301;skole;100;;;;;;;;;"
    enr = read_enrollment(write(tmp_path, row), KNOWN)
    text = enr.rejections.to_csv()
    assert bad not in text and F2 not in text and bad[:6] + "*****" in text


def test_missing_required_column_is_an_input_error(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("barn_id;husholdning_id\nA;H1\n", encoding="utf-8")
    with pytest.raises(InputError, match="foresatt_fnr, kommunenummer, tilbud"):
        read_enrollment(p, KNOWN)


def test_missing_file_and_wrong_encoding(tmp_path):
    with pytest.raises(InputError, match="fant ikke"):
        read_enrollment(tmp_path / "nope.csv", KNOWN)
    p = tmp_path / "cp1252.csv"
    p.write_bytes(("barn_id;institusjon\nA;Blåbær\n").encode("cp1252") + b"\x81\n")  # 0x81: not in Windows-1252
    with pytest.raises(InputError, match="verken UTF-8 eller Windows-1252 .byte 0x81 på linje 3"):
        read_enrollment(p, KNOWN)


def test_xlsx_first_sheet_with_numbers_as_numbers(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(
        ["barn_id", "barn_fodselsdato", "husholdning_id", "foresatt_fnr", "kommunenummer", "tilbud", "plass_prosent"]
    )
    lead0 = make_synthetic(dt.date(1988, 1, 5), 11)  # starts with 0: Excel drops it when typed as a number
    assert lead0.startswith("0")
    ws.append(["A", dt.datetime(2021, 3, 10), "H1", int(lead0), 301, "barnehage", 100])
    p = tmp_path / "inn.xlsx"
    wb.save(p)
    enr = read_enrollment(p, KNOWN)
    assert enr.rejected_rows == 0, enr.rejections
    r = enr.rows.iloc[0]
    assert r["foresatt_fnr"] == lead0 and r["kommunenummer"] == "0301" and r["plass_bp"] == 10000


def test_xlsx_a_number_in_a_percent_cell_is_the_percent_the_cell_shows(tmp_path):
    """0.8 in a cell formatted «0%» shows «80%»: an 80 % place (it was read as 0.8 %, a price of 16 kr)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(
        ["barn_id", "barn_fodselsdato", "husholdning_id", "foresatt_fnr", "kommunenummer", "tilbud", "plass_prosent"]
    )
    cells = [
        ("A", 0.8, "0%"),  # shows 80%
        ("B", 1, "0%"),  # shows 100%
        ("C", 0.485, "0.0%"),  # shows 48.5%
        ("D", 0.8, '0" %"'),  # a quoted «%» is text, not a percent: shows «0.8 %», read as 0.8
        ("E", 0.5, "0\\%"),  # an escaped «%» likewise: 0.5
        ("F", 0.4878, "0%"),  # shows 49%, but the number is 48.78 %: read exactly
        ("G", 60, "General"),  # no format: 60
        ("H", 0.8, "0_%"),  # «_%» is a space as wide as «%», not a percent: 0.8
        ("I", 0.5, "[$%-414]0"),  # a code in brackets, not a percent: 0.5
        ("J", 0.25, "[Red]0%"),  # a colour before a percent: 25%
        ("K", 0.7 + 0.1, "0%"),  # a sum stored as 0.7999999999999999: 80%, as the spreadsheet shows
    ]
    for i, (child, value, fmt) in enumerate(cells):
        ws.append([child, dt.datetime(2021, 3, 10), f"H{i}", F1, "0301", "barnehage", value])
        ws.cell(row=ws.max_row, column=7).number_format = fmt
    p = tmp_path / "inn.xlsx"
    wb.save(p)
    enr = read_enrollment(p, KNOWN)
    assert enr.rejected_rows == 0, enr.rejections
    got = dict(zip(enr.rows["barn_id"], enr.rows["plass_bp"]))  # basis points: 100 % = 10 000
    assert got == {
        "A": 8000,
        "B": 10000,
        "C": 4850,
        "D": 80,
        "E": 50,
        "F": 4878,
        "G": 6000,
        "H": 80,
        "I": 50,
        "J": 2500,
        "K": 8000,
    }


def test_a_column_named_as_one_the_engine_makes_is_passed_through_under_its_own_name_not_used(tmp_path):
    """A file's own column «plass_bp» (the engine's name for the share in basis points) used to take the place of
    the share read from «plass_prosent»: 5000 made a full place half a place, and its price half."""
    header = HEADER + ";plass_bp;belop;plass_bp_fil"
    enr = read_enrollment(write(tmp_path, GOOD + ";5000;1;y", header=header), KNOWN)
    row = enr.rows.iloc[0]
    assert row["plass_bp"] == 10000  # from plass_prosent 100, as without the file's column
    assert enr.extra_columns == ["egen_kolonne", "plass_bp_fil2", "belop_fil", "plass_bp_fil"]
    assert (row["plass_bp_fil2"], row["belop_fil"], row["plass_bp_fil"]) == ("5000", "1", "y")
    assert "belop" not in enr.rows.columns
    said = [n for n in enr.notices if "samme navn som en kolonne fee-engine lager selv" in n]
    assert len(said) == 2 and "«plass_bp»" in said[0] and "«plass_bp_fil2»" in said[0] and "«belop_fil»" in said[1]


def test_the_engines_own_column_names_are_all_known_to_the_reader(computed_800, tmp_path):
    """ENGINE_COLUMNS (the names a file's own column is renamed away from) holds every column a run makes: the checked
    rows, the households, the runs and child-months, the vedtak table, and the headers of every CSV output."""
    from fee_engine import batch, forklaring
    from fee_engine.enrollment import ENGINE_COLUMNS

    comp = dataclasses.replace(computed_800, warnings=list(computed_800.warnings))  # the outputs add warnings
    made = set(comp.enrollment.rows.columns) | set(comp.households.columns) | set(comp.child_months.columns)
    made |= set(forklaring.vedtak_table(forklaring.find_periods(comp.runs).take(), comp.rules, []).columns)
    opts = batch.RunOptions(
        enrollment=tmp_path / "x.csv", out=tmp_path, period=batch.parse_period("2024/25"), formats=("csv", "faktura")
    )
    for path in batch.write_outputs(comp, opts, tmp_path):
        if path.suffix == ".csv":
            made |= set(path.read_text(encoding="utf-8-sig").splitlines()[0].split(";"))
    assert len(made) > 80
    assert made - ENGINE_COLUMNS == set()


@pytest.mark.parametrize("sep", [" ", ".", "-"])
def test_a_number_written_with_a_separator_is_read_as_its_digits(tmp_path, sep):
    # the applicant's number with a separator, the partner's plain (F2)
    written = F1[:6] + sep + F1[6:]
    r = f"A;2021-03-10;H1;{written};{F2};0301;barnehage;100;;;;;;;;;x"
    enr = read_enrollment(write(tmp_path, r), KNOWN)
    assert enr.rejected_rows == 0
    assert enr.rows.iloc[0]["foresatt_fnr"] == F1 and enr.rows.iloc[0]["partner_fnr"] == F2


def test_the_same_person_written_two_ways_is_one_person(tmp_path):
    r = f"A;2021-03-10;H1;{F1};{F1[:6]} {F1[6:]};0301;barnehage;100;;;;;;;;;x"  # partner = applicant
    enr = read_enrollment(write(tmp_path, r), KNOWN)
    assert problems(enr) == {(2, "partner_fnr", "partner_lik")}


@pytest.mark.parametrize(
    "barn,notice",
    [
        (F2, True),  # 11 digits
        (F2[:6] + "-" + F2[6:], True),  # 12 characters with a dash
        (F2[:6] + "  " + F2[6:], False),  # two spaces: 13 characters, not the shape
        (F2[:6] + "x" + F2[6:], False),  # 12 characters, but not a separator
        ("B" + F2, False),  # 12 characters, a letter first
        ("B0000001", False),
    ],
)
def test_a_child_id_shaped_like_a_fodselsnummer_gives_a_notice(tmp_path, barn, notice):
    enr = read_enrollment(write(tmp_path, GOOD.replace("A;", f"{barn};", 1)), KNOWN)
    assert enr.rejected_rows == 0
    assert any("barn_id på 1 rader ser ut som fødselsnumre" in n for n in enr.notices) is notice


def test_a_plain_file_coded_by_two_processes_is_read_as_by_one(tmp_path, monkeypatch):
    """From SPLIT_ROWS rows a plain file's columns are coded half in a forked child (on two cores): the codes and
    distinct texts are those one process makes, column for column, long free-text cells and empty columns too."""
    from fee_engine.enrollment import reading

    header = "barn_id;husholdning_id;foresatt_fnr;kommunenummer;tilbud;merknad;tom"
    lines = [header]
    for i in range(300):
        note = ("lang merknad med æøå " * (i % 5)) if i % 3 else ""  # some past 64 bytes: coded cell by cell
        lines.append(
            f"B{i % 250:04d};H{i % 120:03d};{F1 if i % 2 else F2};0301;{'sfo' if i % 4 else 'barnehage'};{note};"
        )
    path = tmp_path / "inn.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(reading, "SPLIT_ROWS", 10**9)
    one = reading.read_table(path)
    monkeypatch.setattr(reading, "SPLIT_ROWS", 2)
    split = []
    real = reading.in_two
    monkeypatch.setattr(reading, "in_two", lambda a, b: split.append(1) or real(a, b))
    two = reading.read_table(path)
    assert split and one.columns is not None and two.columns is not None
    assert len(one.columns) == len(two.columns) == 7
    for a, b in zip(one.columns, two.columns):
        assert a.codes.tolist() == b.codes.tolist() and a.values.tolist() == b.values.tolist()
    assert one.columns[5].values.tolist()[:2] == ["", "lang merknad med æøå "]
    assert two.maybe_control is False
