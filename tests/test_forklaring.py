"""The explanation a parent reads: it follows from the steps applied, its arithmetic can be redone,
and it is written in the municipality's målform, bokmål or nynorsk, never a mix."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fee_engine import batch, forklaring
from fee_engine.steg import REKKEFOLGE, fakturering, inntektsgrunnlag

from .caserunner import build, load_cases

CASES = load_cases(Path(__file__).parent / "cases")
ROOT = Path(__file__).resolve().parent.parent

# Words only one of the two written standards uses (in the sentences this engine writes).
BOKMAAL_ONLY = [
    "ikke",
    "måned",
    "husholdning",
    "hele",
    "høyere",
    "settes",
    "dere ",
    " fra ",
    "inntekten",
    "skolen",
    "timer i uka",
    "lavere",
    "derfor",
    "ennå",
    "fradrag",
    "en saksbehandler",
    "avgjort",
]
NYNORSK_ONLY = [
    "ikkje",
    "månad",
    "hushald",
    "heile",
    "høgare",
    " frå ",
    "inntekta",
    "skulen",
    "timar i veka",
    "lågare",
    "difor",
    "enno",
    "frådrag",
    "ein saksbehandlar",
    "avgjord",
    " de har",
]

MIXED_CASE = {
    "navn": "Every kind of sentence",
    "periode": "2024-08..2025-07",
    "barn": [
        {"barn_id": "A", "husholdning": "H1", "fodt": "2021-03-10", "plass": 100},  # 6 % + kjernetid
        {"barn_id": "B", "husholdning": "H1", "fodt": "2019-05-05", "plass": 60},  # sibling, kjernetid
        {"barn_id": "C", "husholdning": "H2", "fodt": "2020-01-01", "plass": 100},  # not applied
        {"barn_id": "D", "husholdning": "H3", "fodt": "2023-02-02", "plass": 100},  # too young, over the threshold
        {"barn_id": "E", "husholdning": "H4", "fodt": "2021-01-01", "plass": 100},  # manual
        {
            "barn_id": "F",
            "husholdning": "H5",
            "fodt": "2021-01-01",
            "plass": 80,
            "pris": 5000,
        },  # given price over the max
        {"barn_id": "G", "husholdning": "H6", "fodt": "2021-01-01", "plass": 100},  # documented 0: free
        {"barn_id": "S1", "husholdning": "H7", "tilbud": "sfo", "trinn": 1, "timer": 20},  # 12 free hours
        {"barn_id": "S6", "husholdning": "H8", "tilbud": "sfo", "trinn": 6, "timer": 20, "saerskilte_behov": "ja"},
        {"barn_id": "S5", "husholdning": "H9", "tilbud": "sfo", "trinn": 5, "timer": 10},  # grade 5: no 6 % rule
        {"barn_id": "H", "husholdning": "H10", "fodt": "2021-06-06", "plass": 100},  # utkast: draft used
    ],
    "husholdninger": {
        "H1": {"inntekt": 300000},
        "H2": {"soekt": "nei"},
        "H3": {"inntekt": 900000},
        "H4": {"skatt": []},
        "H5": {"soekt": "nei"},
        "H6": {"dokumentert": 0},
        "H7": {"inntekt": 350000},
        "H8": {"soekt": "nei"},
        "H9": {"inntekt": 500000},
        "H10": {"skatt": [{"aar": 2023, "stadie": "utkast", "loenn": 410000}]},
    },
}


def vedtak_for(case: dict, tmp_path: Path) -> pd.DataFrame:
    comp = batch.compute(build(case, tmp_path))
    p = forklaring.periods(comp.runs)
    return p.assign(forklaring=forklaring.explain(p, comp.rules).to_numpy())


@pytest.mark.parametrize("kommune,maalform", [("0301", "bokmål"), ("4641", "nynorsk")])
def test_one_maalform_never_a_mix(tmp_path, kommune, maalform):
    p = vedtak_for({**MIXED_CASE, "kommune": kommune}, tmp_path)
    assert set(p["maalform"]) == {maalform}
    text = " ".join(p["forklaring"]).lower()
    foreign = NYNORSK_ONLY if maalform == "bokmål" else BOKMAAL_ONLY
    found = [w for w in foreign if w in text]
    assert not found, f"{maalform} text with words of the other målform: {found}"
    own = BOKMAAL_ONLY if maalform == "bokmål" else NYNORSK_ONLY
    assert sum(w in text for w in own) >= 8  # and it really is written in its own
    for w in ("ssg-", "regelsett", "paragraf ikke verifisert", "før 2020", "_"):  # nothing for the office only
        assert w not in text, w
    assert not re.search(r"\([^)]*\(", text)  # no nested brackets


def test_every_template_exists_in_both_maalformer():
    import importlib

    modules = [importlib.import_module(s.beregn.__module__) for s in REKKEFOLGE if s.beregn]
    modules += [inntektsgrunnlag]
    for m in modules:
        tekst = getattr(m, "TEKST", None)
        if tekst is None:
            continue
        assert set(tekst["bokmål"]) == set(tekst["nynorsk"]), m.__name__
        for key in tekst["bokmål"]:
            nb, nn = tekst["bokmål"][key], tekst["nynorsk"][key]
            assert set(re.findall(r"{(\w+)}", nb)) == set(re.findall(r"{(\w+)}", nn)), (m.__name__, key)
    assert set(fakturering.GRUNN["bokmål"]) == set(fakturering.GRUNN["nynorsk"])


# -- every sentence follows from the step that was applied ------------------------------------------
def _money(text: str) -> int:
    return int(text.replace(" ", "").replace("\u00a0", ""))


AMOUNT = r"(\d{1,3}(?: \d{3})*)"


def check_consistent(row: pd.Series) -> None:
    text = row["forklaring"]
    who = f"{row['barn_id']} {row['maaned']:%Y-%m}: {text}"
    billed = bool(row["fakturert"])
    pay = re.search(r"Å betale: " + AMOUNT + " kr", text) or re.search(r"beløpet " + AMOUNT + " kr", text)
    if billed:
        assert pay and _money(pay.group(1)) == row["belop"], who
    else:
        assert "betalingsfri" in text and row["belop"] == 0, who
    income = row["inntekt_oere"] / 100
    threshold = row.get("bh_kjerne_grense_oere", 0) / 100
    if "inntekten er ikke under grensen" in text:
        assert income >= threshold, who
    if "Gratis kjernetid: inntekten er under" in text or "Gratis kjernetid gjelder også" in text:
        assert 0 <= income < threshold and row["kjernetid"], who
    if "Gratis kjernetid gjelder også, men prisen er allerede 0 kr" in text:
        assert row["belop"] == 0, who
    assert ("Søskenmoderasjon" in text) == (billed and row["soeskenmoderasjon"] > 0), who
    down = re.search(r"Prisen settes ned fra " + AMOUNT + " kr til " + AMOUNT + " kr", text)
    assert bool(down) == (billed and row["inntektsreduksjon"] > 0), who
    if down:
        assert _money(down.group(1)) - _money(down.group(2)) == row["inntektsreduksjon"], who
    # arithmetic a parent can redo: a × b/c = d, within a krone of rounding
    for a, num, den, d in re.findall(AMOUNT + r" kr × (\d+(?:,\d+)?)/(\d+(?:,\d+)?) = " + AMOUNT + " kr", text):
        exact = _money(a) * float(num.replace(",", ".")) / float(den.replace(",", "."))
        assert abs(exact - _money(d)) <= 1, who
    for i, pct, m, tak in re.findall(AMOUNT + r" kr × (\d+) % / (\d+) = " + AMOUNT + " kr", text):
        assert abs(_money(i) * int(pct) / 100 / int(m) - _money(tak)) <= 1, who
    for a, pct, d in re.findall(AMOUNT + r" kr × (\d+) % = " + AMOUNT + " kr", text):
        assert abs(_money(a) * int(pct) / 100 - _money(d)) <= 1, who


@pytest.mark.parametrize(
    "case", [c for _, c in CASES] + [MIXED_CASE], ids=[name for name, _ in CASES] + ["every kind of sentence"]
)
def test_explanation_follows_from_the_steps(case, tmp_path):
    p = vedtak_for(case, tmp_path)
    assert len(p)
    for _, row in p.iterrows():
        check_consistent(row)


def test_explanation_of_the_demo_follows_from_the_steps(demo, tmp_path):
    opts = batch.RunOptions(
        enrollment=demo / "innskriving.csv",
        out=tmp_path,
        period=batch.parse_period("2024/25"),
        source="files",
        tax_data=demo / "skatt",
    )
    comp = batch.compute(opts)
    p = forklaring.periods(comp.runs)
    p = p.assign(forklaring=forklaring.explain(p, comp.rules).to_numpy())
    combos = set(np.unique(p["flagg"]))
    assert len(combos) >= 8  # the demo covers many flag combinations
    for _, row in p.iterrows():
        check_consistent(row)


def test_older_income_year_says_why(tmp_path):
    p = vedtak_for(MIXED_CASE, tmp_path)
    text = p.loc[p["barn_id"] == "H", "forklaring"].iloc[0]
    assert "Skatteoppgjøret for 2023 er ikke klart ennå, derfor er skattemeldingen for 2023 brukt for søkeren." in text
    # 410 000 × 6 % / 11 = 2 236.36 → not lower than the 2 000 price
    assert "410 000 kr × 6 % / 11 = 2 236 kr" in text


def test_both_adults_on_the_same_older_answer_get_one_sentence(tmp_path):
    draft = [{"aar": 2023, "stadie": "utkast", "loenn": 300000}]
    case = {
        "navn": "older answers for both adults",
        "periode": "2024-09..2024-09",
        "barn": [
            {"barn_id": "A", "husholdning": "H1", "fodt": "2021-03-10", "plass": 100},
            {"barn_id": "B", "husholdning": "H2", "fodt": "2021-03-10", "plass": 100},
        ],
        "husholdninger": {
            # both adults: skattemelding 2023 → one sentence naming both
            "H1": {"partner": True, "skatt": draft, "partner_skatt": draft},
            # the applicant's skattemelding 2023, the partner's skatteoppgjør 2022 → one sentence each
            "H2": {"partner": True, "skatt": draft, "partner_skatt": [{"aar": 2022, "loenn": 200000}]},
        },
    }
    p = vedtak_for(case, tmp_path).set_index("barn_id")["forklaring"]
    both = "Skatteoppgjøret for 2023 er ikke klart ennå, derfor er skattemeldingen for 2023 brukt for søkeren og partneren."
    assert p["A"].count(both) == 1
    assert "brukt for søkeren. " not in p["A"] and "brukt for partneren. " not in p["A"]
    assert (
        "Skatteoppgjøret for 2023 er ikke klart ennå, derfor er skattemeldingen for 2023 brukt for søkeren." in p["B"]
    )
    assert (
        "Skatteoppgjøret og skattemeldingen for 2023 er ikke klare ennå, derfor er skatteoppgjøret for 2022 brukt "
        "for partneren." in p["B"]
    )
    assert "søkeren og partneren" not in p["B"]


def test_only_a_billed_month_says_how_the_amount_is_rounded(tmp_path):
    case = {
        "navn": "July is not billed in barnehage",
        "periode": "2024-07..2024-08",
        "barn": [{"barn_id": "A", "husholdning": "H1", "fodt": "2021-03-10", "plass": 100}],
        "husholdninger": {"H1": {"soekt": "nei"}},
    }
    p = vedtak_for(case, tmp_path)
    text = dict(zip(p["maaned"].dt.month, p["forklaring"]))  # a period row starts in its "maaned"
    july, august = text[7], text[8]
    assert "betalingsfri måned" in july and "rundet" not in july
    assert "rundet til hele kroner" in august


def test_each_sentence_is_written_once_per_distinct_combination_and_reads_the_same(computed_800, monkeypatch):
    """A sentence is written once for each distinct combination of the columns it reads, and shared by the rows
    that have it (Setninger.when): the same explanations as when every row is written on its own, from fewer rows."""
    from fee_engine.forklaring import setninger

    p = forklaring.periods(computed_800.runs)
    given: list[int] = []  # the rows each sentence was written for
    real_init = setninger.Rader.__init__

    def counting(self, values, columns, index, only=None):
        given.append(len(index))
        real_init(self, values, columns, index, only)

    monkeypatch.setattr(setninger.Rader, "__init__", counting)
    monkeypatch.setattr(setninger, "_READS", {})
    monkeypatch.setattr(setninger, "DISTINCT_FROM", 10**9)  # never: every row written on its own
    each = forklaring.explain(p, computed_800.rules)
    rows_each = sum(given)
    monkeypatch.setattr(setninger, "DISTINCT_FROM", 1)
    forklaring.explain(p, computed_800.rules)  # the columns each sentence reads are known after this
    given.clear()
    shared = forklaring.explain(p, computed_800.rules)
    assert shared.tolist() == each.tolist()
    # 800 children's periods: many share their price, place and sibling sentences
    assert sum(given) < rows_each / 2


def test_a_sentence_that_reads_another_column_is_written_for_every_row(monkeypatch):
    """The same code (a lambda made in a loop) reading another column than the last time: written from all its rows,
    never from the rows that are distinct in the columns read before."""
    from fee_engine.forklaring import setninger

    monkeypatch.setattr(setninger, "_READS", {})
    monkeypatch.setattr(setninger, "DISTINCT_FROM", 1)
    n = 6
    p = pd.DataFrame(
        {
            "flagg": np.zeros(n, np.int64),
            "tilbud": ["barnehage"] * n,
            "status": ["ok"] * n,
            "fakturert": [True] * n,
            "pris_oere": [-1] * n,
            "inntekt_status": ["kjent"] * n,
            "x": [1, 1, 1, 2, 2, 2],  # three and three alike
            "y": [10, 11, 12, 13, 14, 15],  # all different
        }
    )
    s = setninger.Setninger(p, rules=None)  # type: ignore[arg-type]  # no legal reference is asked for
    everyone = np.ones(n, dtype=bool)
    sentences = {c: (lambda r, c=c: s.fill("{v};", v=r[c].astype(str))) for c in ("x", "y")}
    assert sentences["x"].__code__ is sentences["y"].__code__
    assert s.when(everyone, sentences["x"]).tolist() == ["1;", "1;", "1;", "2;", "2;", "2;"]
    fixed = lambda r: s.fill("Det samme for alle.")  # noqa: E731  # reads nothing: one text, not one per row
    for _ in range(2):  # the second time from the one combination of no columns
        assert s.when(everyone, fixed).tolist() == ["Det samme for alle."] * n
    assert s.when(everyone, sentences["y"]).tolist() == ["10;", "11;", "12;", "13;", "14;", "15;"]
    assert s.when(everyone, sentences["x"]).tolist() == ["1;", "1;", "1;", "2;", "2;", "2;"]
    fixed = lambda r: s.fill("Det samme for alle.")  # noqa: E731  # reads nothing: one text, not one per row
    for _ in range(2):  # the second time from the one combination of no columns
        assert s.when(everyone, fixed).tolist() == ["Det samme for alle."] * n


def test_periods_without_a_column_a_sentence_read_before_are_explained_row_by_row(computed_800, monkeypatch):
    """A sentence that read a column (``forventet_aar``, looked for with ``in``) explains later periods that lack it
    from all their rows, as it would have the first time (a long-lived process explains many tables)."""
    from fee_engine.forklaring import setninger

    monkeypatch.setattr(setninger, "_READS", {})
    monkeypatch.setattr(setninger, "DISTINCT_FROM", 1)
    p = forklaring.periods(computed_800.runs)
    forklaring.explain(p, computed_800.rules)  # the sentences' columns, forventet_aar among them
    without = p.drop(columns=["forventet_aar"])
    shared = forklaring.explain(without, computed_800.rules)
    monkeypatch.setattr(setninger, "_READS", {})
    monkeypatch.setattr(setninger, "DISTINCT_FROM", 10**9)
    assert shared.tolist() == forklaring.explain(without, computed_800.rules).tolist()


def test_a_reduction_of_less_than_a_krone_is_said_in_oere_not_from_2000_to_2000(tmp_path):
    """366 665 kr × 6 % / 11 = 1 999,99 kr: in whole kroner «from 2 000 kr to 2 000 kr», which says nothing."""
    case = next(c for _, c in CASES if c["navn"].startswith("A cap less than a krone under the price"))
    text = vedtak_for(case, tmp_path)["forklaring"].iloc[0]
    assert "366 665 kr × 6 % / 11 = 1 999,99 kr i måneden" in text
    assert "Det er mindre enn 1 krone under prisen, så prisen settes ned fra 2 000,00 kr til 1 999,99 kr" in text
    assert "fra 2 000 kr til 2 000 kr" not in text


def test_a_place_of_20_008_hours_is_not_said_to_be_all_free_when_1_krone_is_left(tmp_path):
    """41 hours × 48,80 % = 20,008 hours, of which 20 are free. January 2024: maksimalpris 3 000 kr, so the
    ordinary price is 3 000 × 48,80 % = 1 464 kr. Income 500 000 kr: the 6 % cap 500 000 × 6 % / 11 = 2 727 kr is
    not lower. Kjernetid (limit 615 590 kr from August 2023): 1 464 × 20 / 20,008 = 1 463,41 kr off, leaving 0,59,
    so 1 kr to pay. The sentence said «20 timer er gratis, så hele prisen … trekkes fra» (the hours rounded down)."""
    case = {
        "navn": "A place just over 20 hours",
        "periode": "2024-01..2024-01",
        "barn": [{"barn_id": "J", "husholdning": "H1", "fodt": "2020-02-02", "plass": "48,80"}],
        "husholdninger": {"H1": {"inntekt": 500000}},
    }
    row = vedtak_for(case, tmp_path).iloc[0]
    assert int(row["belop"]) == 1
    assert "20 av 20,008 timer i uka er gratis, 1 464 kr × 20/20,008 = 1 463 kr i fradrag" in row["forklaring"]
    assert "hele prisen" not in row["forklaring"]


def test_an_income_with_oere_just_under_the_kjernetid_limit_is_not_shown_as_the_limit(tmp_path):
    """Documented income 642 699,99 kr in October 2024: under the kjernetid limit of 642 700 kr (from August 2024),
    so 20 of 41 hours are free: 2 000 − 2 000 × 20/41 = 2 000 − 975,61 = 1 024,39, so 1 024 kr (the 6 % cap,
    642 699,99 × 6 % / 11 = 3 505,64 kr, is not lower). Whole kroner showed the income as «642 700 kr», the limit."""
    case = {
        "navn": "Income one øre under the limit",
        "periode": "2024-10..2024-10",
        "barn": [{"barn_id": "O", "husholdning": "H1", "fodt": "2021-02-02", "plass": 100}],
        "husholdninger": {"H1": {"dokumentert": "642699,99"}},
    }
    row = vedtak_for(case, tmp_path).iloc[0]
    assert int(row["belop"]) == 1024
    text = row["forklaring"]
    assert "Husholdningens inntekt er 642 699,99 kr, som dere har dokumentert" in text
    assert "642 699,99 kr × 6 % / 11 = 3 506 kr i måneden" in text
    assert "inntekten er under 642 700 kr" in text and "inntekt er 642 700 kr" not in text


def test_periods_of_both_maalformer_explained_together_as_each_alone(computed_800):
    """A table with periods in bokmål and in nynorsk (municipalities of both) is explained by the rows of each
    målform where they lie in the table, each column taken at those rows: every period's explanation is the one
    its målform's periods get explained on their own."""
    p = forklaring.periods(computed_800.runs)
    forms = p["maalform"].astype(str)
    assert set(forms) == {"bokmål", "nynorsk"}  # the batch has municipalities of both
    together = forklaring.explain(p, computed_800.rules).to_numpy()
    for form in ("bokmål", "nynorsk"):
        rows = (forms == form).to_numpy()
        alone = forklaring.explain(p[rows].reset_index(drop=True), computed_800.rules).to_numpy()
        assert together[rows].tolist() == alone.tolist()
    assert ("hushaldet" in " ".join(together[(forms == "nynorsk").to_numpy()])) and all(together)
