import json

from fee_engine.income import person_incomes
from fee_engine.regelsett import load_rules
from fee_engine.taxdata import FileSource, fallback_plan, fetch_with_fallback
from fee_engine.taxdata.base import Lookup

RULES = load_rules()
P = "21839199217"


def ok(body, year=2023, stage="oppgjoer"):
    return {P: [Lookup(P, year, stage, "ok", "200", body=body)]}


def test_lenient_parsing_list_kategori_string_amount_unknown_fields():
    body = {
        "grunnlag": [
            {
                "tekniskNavn": "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt",
                "beloep": "300000",
                "kategori": ["inntekt"],
                "nytt": 1,
            },
            {"tekniskNavn": "minstefradragIInntekt", "beloep": 104450},
        ],
        "feltViIkkeKjenner": {"x": 1},
    }
    pi = person_incomes(ok(body), RULES)[P]
    assert pi.ok and pi.income_oere == 30_000_000 and pi.unknown_items == ()


def test_absent_grunnlag_is_zero_items_not_an_error():
    pi = person_incomes(ok({"skjermet": False}), RULES)[P]
    assert pi.ok and pi.income_oere == 0


def test_screened_with_figures_is_used():
    body = {
        "skjermet": True,
        "grunnlag": [
            {
                "tekniskNavn": "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt",
                "beloep": 100,
                "kategori": "inntekt",
            }
        ],
    }
    pi = person_incomes(ok(body), RULES)[P]
    assert pi.ok and pi.income_oere == 10_000


def test_screened_without_figures_is_manual():
    pi = person_incomes(ok({"skjermet": True}), RULES)[P]
    assert not pi.ok and "skjermet" in pi.reason


def test_unknown_item_is_reported_not_summed():
    body = {
        "grunnlag": [
            {"tekniskNavn": "nyPost", "beloep": 5000, "kategori": "inntekt"},
            {"tekniskNavn": "nyFormue", "beloep": 5000, "kategori": "formue"},
        ]
    }
    pi = person_incomes(ok(body), RULES)[P]
    assert pi.income_oere == 0 and pi.unknown_items == ("nyPost",)


def test_a_negative_item_is_not_subtracted_from_the_others():
    """Gross income: a business's deficit (a negative surplus) is not set off against wages, and a capital loss is
    not deducted; the household's income stays 50 000 kr, not 50 000 − 120 000 − 3 000 = −73 000 kr."""
    body = {
        "grunnlag": [
            {"tekniskNavn": "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt", "beloep": 50_000},
            {"tekniskNavn": "samletOverskuddAvEnkeltpersonforetakInnenAnnenNaering", "beloep": -120_000},
            {"tekniskNavn": "gevinstVedRealisasjonAvAksje", "beloep": -3_000},
        ]
    }
    pi = person_incomes(ok(body), RULES)[P]
    assert pi.ok and pi.income_oere == 50_000 * 100


def test_non_numeric_amount_is_manual():
    body = {
        "grunnlag": [
            {
                "tekniskNavn": "samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt",
                "beloep": "mye",
                "kategori": "inntekt",
            }
        ]
    }
    assert not person_incomes(ok(body), RULES)[P].ok


def test_file_source_codes_and_fallback(tmp_path):
    d = tmp_path / "2022" / "oppgjoer"
    d.mkdir(parents=True)
    (d / f"{P}.json").write_text(json.dumps({"grunnlag": []}))
    src = FileSource(tmp_path)
    assert src.lookup(P, 2023, "oppgjoer").kode == "SSG-008"
    assert src.lookup("09819899123", 2023, "oppgjoer").kode == "SSG-007"
    audit = tmp_path / "revisjon.jsonl"
    res = fetch_with_fallback(src, [P], fallback_plan(2024), audit=audit)
    assert [(x.inntektsaar, x.stadie, x.kode) for x in res[P]] == [
        (2023, "oppgjoer", "SSG-008"),
        (2023, "utkast", "SSG-008"),
        (2022, "oppgjoer", "200"),
    ]
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert len(lines) == 3 and all(x["person"] == P[:6] + "*****" for x in lines)
    assert P not in audit.read_text()


def test_unknown_person_stops_the_fallback(tmp_path):
    (tmp_path / "2023").mkdir()
    res = fetch_with_fallback(FileSource(tmp_path), [P], fallback_plan(2024))
    assert [x.kode for x in res[P]] == ["SSG-007"]
