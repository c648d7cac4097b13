"""The vectorised household income equals a plain loop over households (the reference below)."""

import datetime as dt
from pathlib import Path

import msgspec
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fee_engine import batch
from fee_engine.identity import make_synthetic
from fee_engine.income import HOUSEHOLD_INCOME_COLUMNS, Decided, PersonIncome, household_incomes, person_incomes
from fee_engine.regelsett import load_rules

ROOT = Path(__file__).resolve().parent.parent / "fixtures"


def reference(households, persons):
    records = []
    for hh, adults, applied, documented in households[
        ["husholdning_id", "voksne", "soekt_redusert", "dok_inntekt_oere"]
    ].itertuples(index=False):
        rec = {
            "husholdning_id": hh,
            "inntekt_oere": -1,
            "inntekt_status": "",
            "manuell_grunn": "",
            "inntektsaar": "",
            "stadie": "",
            "ukjente_poster": "",
            "manuell_kode": "",
        }
        if not applied:
            rec.update(inntekt_status="ikke_soekt")
        elif documented >= 0:
            rec.update(
                inntekt_status="kjent",
                inntekt_oere=int(documented),
                stadie="dokumentert",
            )
        else:
            reasons, codes, years, stages, unknown, total = [], [], [], [], [], 0
            for role, p in zip(["søker", "partner"], adults):
                pi = persons[p]
                if not pi.ok:
                    reasons.append(f"{role}: {pi.reason}")
                    codes.append(pi.kode)
                    continue
                total += pi.income_oere
                years.append(str(pi.inntektsaar))
                stages.append(pi.stadie or "")
                unknown += list(pi.unknown_items)
            if reasons:
                rec.update(
                    inntekt_status="manuell",
                    manuell_grunn="; ".join(reasons),
                    manuell_kode="+".join(dict.fromkeys(codes)),
                )
            else:
                rec.update(inntekt_status="kjent", inntekt_oere=total)
            rec.update(
                inntektsaar="/".join(dict.fromkeys(years)),
                stadie="/".join(dict.fromkeys(stages)),
                ukjente_poster=", ".join(sorted(set(unknown))),
            )
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=HOUSEHOLD_INCOME_COLUMNS)


@pytest.mark.parametrize("fixture", ["demo", "kommune_syntetisk"])
def test_vectorised_equals_the_loop(fixture, tmp_path):
    root = ROOT / fixture
    opts = batch.RunOptions(
        enrollment=root / "innskriving.csv",
        out=tmp_path,
        period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        source="files",
        tax_data=root / "skatt",
    )
    comp = batch.compute(opts)
    rows = comp.enrollment.rows
    households = batch.build_households(rows)
    need = households[households["soekt_redusert"] & (households["dok_inntekt_oere"] < 0)]
    persons = list(dict.fromkeys(p for a in need["voksne"] for p in a))
    lookups = batch.fetch_lookups(opts, persons, batch.fallback_plan(2024), None, None)
    incomes = person_incomes(lookups, load_rules())
    got, want = household_incomes(households, incomes), reference(households, incomes)
    pd.testing.assert_frame_equal(
        got[HOUSEHOLD_INCOME_COLUMNS].reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )
    # each adult's basis as data: the applicant's year, stage and income agree with the person's own income
    for (_, h), adults in zip(got.iterrows(), households["voksne"]):
        p = incomes.get(adults[0])
        if h["inntekt_status"] == "kjent" and h["stadie"] != "dokumentert" and p is not None and p.ok:
            assert (h["soeker_aar"], h["soeker_stadie"], h["soeker_oere"]) == (p.inntektsaar, p.stadie, p.income_oere)
        elif h["stadie"] in ("", "dokumentert"):
            assert (h["soeker_aar"], h["soeker_stadie"], h["soeker_oere"]) == (0, "", -1)
    assert set(got["inntekt_status"]) >= {"kjent", "manuell"}
    # each adult's part (for the letters) adds up to the household's income where it was looked up
    looked_up = got[(got["inntekt_status"] == "kjent") & (got["stadie"] != "dokumentert")]
    parts = looked_up["soeker_oere"] + looked_up["partner_oere"].clip(lower=0)
    assert len(looked_up) and (parts == looked_up["inntekt_oere"]).all()
    assert (looked_up["soeker_aar"] > 0).all()


def adults_by_loop(rows: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """The reference: each household's rows by ``rad``, the applicant before the partner, each person once, the
    first two kept (validation allows at most two)."""
    out: dict[str, list[str]] = {}
    for _, r in rows.sort_values("rad").iterrows():
        adults = out.setdefault(r["husholdning_id"], [])
        for p, partner in ((r["foresatt_fnr"], False), (r["partner_fnr"], True)):
            if not (partner and p == "") and p not in adults:  # a row without a partner has an empty partner_fnr
                adults.append(p)
    return {h: tuple(a[:2]) for h, a in out.items()}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("ABCD"), st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(["", "p1", "p2", "p4"])
        ),
        min_size=1,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_households_list_their_adults_in_the_order_of_their_rows(rows, rnd):
    rad = list(range(2, len(rows) + 2))
    rnd.shuffle(rad)  # the file's rows in any order
    df = pd.DataFrame(
        {
            "husholdning_id": [h for h, _, _ in rows],
            "foresatt_fnr": [a for _, a, _ in rows],
            "partner_fnr": [p for _, _, p in rows],
            "rad": rad,
            "soekt_redusert": [True] * len(rows),
            "dok_inntekt_oere": [-1] * len(rows),
        }
    )
    got = batch.build_households(df)
    assert list(got["husholdning_id"]) == list(dict.fromkeys(df["husholdning_id"]))  # in order of first appearance
    assert dict(zip(got["husholdning_id"], got["voksne"])) == adults_by_loop(df)


def test_no_rows_no_households():
    rows = pd.DataFrame(
        {
            "husholdning_id": [],
            "foresatt_fnr": [],
            "partner_fnr": [],
            "rad": [],
            "soekt_redusert": [],
            "dok_inntekt_oere": [],
        }
    )
    got = batch.build_households(rows)
    assert len(got) == 0 and list(got.columns) == ["husholdning_id", "soekt_redusert", "dok_inntekt_oere", "voksne"]


PERSON = st.builds(
    lambda ok, aar, stadie, oere, unknown, reason, kode: (
        PersonIncome("", True, inntektsaar=aar, stadie=stadie, income_oere=oere, unknown_items=unknown)
        if ok
        else PersonIncome("", False, reason, kode=kode)
    ),
    st.booleans(),
    st.sampled_from([2022, 2023]),
    st.sampled_from(["oppgjoer", "utkast"]),  # a usable income always has its stage
    st.integers(0, 200_000_000),
    st.lists(st.sampled_from(["postA", "postB", "postC"]), max_size=2, unique=True).map(lambda x: tuple(sorted(x))),
    st.sampled_from(["ingen skattegrunnlag for skatteoppgjør 2023 (SSG-008)", "personen er skjermet"]),
    st.sampled_from(["ingen_grunnlag", "skjermet", "ugyldig_svar"]),
)
IDS = [f"p{i}" for i in range(6)]


@settings(max_examples=300, deadline=None)
@given(
    people=st.dictionaries(st.sampled_from(IDS), PERSON, min_size=len(IDS), max_size=len(IDS)),
    households=st.lists(
        st.tuples(
            st.lists(st.sampled_from(IDS), min_size=1, max_size=2, unique=True),
            st.booleans(),
            st.sampled_from([-1, -1, 0, 45_000_000, 12_345_678]),
        ),
        max_size=8,
    ),
)
def test_household_income_equals_the_loop_for_any_persons(people, households):
    """Households of one or two adults, applied or not, documented or looked up; each adult's income usable
    (any stage, year, amount and unknown items) or not (any reason and code): the vectorised household income is
    the loop's, field by field, and each adult's basis is their own. (A household that did not apply has no
    documented income here: for one that has, see the note in the test below.)"""
    households = [(a, applied, dok if applied else -1) for a, applied, dok in households]
    hh = pd.DataFrame(
        {
            "husholdning_id": [f"H{i}" for i in range(len(households))],
            "voksne": [tuple(a) for a, _, _ in households],
            "soekt_redusert": [applied for _, applied, _ in households],
            "dok_inntekt_oere": [dok for _, _, dok in households],
        }
    )
    people = {p: msgspec.structs.replace(v, person=p) for p, v in people.items()}
    got = household_incomes(hh, people)
    # as a batch hands them over: the persons as columns, in another order (found by id, not by place)
    pd.testing.assert_frame_equal(household_incomes(hh, Decided.of(reversed(people.values()))), got)
    pd.testing.assert_frame_equal(
        got[HOUSEHOLD_INCOME_COLUMNS].reset_index(drop=True),
        reference(hh, people).reset_index(drop=True),
        check_dtype=False,
    )
    for (_, h), (adults, applied, dok) in zip(got.iterrows(), households):
        for role, i in (("soeker", 0), ("partner", 1)):
            p = people[adults[i]] if len(adults) > i and applied and dok < 0 else None
            basis = (h[f"{role}_aar"], h[f"{role}_stadie"], h[f"{role}_oere"])
            if p is not None and p.ok and p.stadie:
                assert basis == (p.inntektsaar, p.stadie, p.income_oere)
            else:
                assert basis == (0, "", -1)


@settings(max_examples=200, deadline=None)
@given(st.lists(PERSON, max_size=6), st.lists(PERSON, max_size=6))
def test_persons_as_columns_are_the_persons_sent_between_processes_and_merged(mine, theirs):
    """What the fetch's child sends back (its persons as columns, MessagePack) and what the two halves make merged:
    every person's fields as they were, ``None`` for no year or stage included, this process's persons first."""
    mine = [msgspec.structs.replace(v, person=f"a{i}") for i, v in enumerate(mine)]
    theirs = [msgspec.structs.replace(v, person=f"b{i}") for i, v in enumerate(theirs)]
    here, there = Decided.of(mine, 3, 1), Decided.of(theirs, 5, 0)
    sent = msgspec.msgpack.decode(msgspec.msgpack.encode(there), type=Decided)
    assert sent == there and sent.persons == theirs
    both = here.merged(sent)
    assert both.persons == mine + theirs and (both.lookups, both.incomplete) == (8, 1)
    assert both.incomes() == {p.person: p for p in mine + theirs}


def test_a_household_that_did_not_apply_keeps_a_documented_income_it_gave():
    """Not applied, yet a documented income in the file: the status is ``ikke_soekt`` (the amount is the ordinary
    price) and the documented figure is kept as given (shown in vedtak.csv, never used)."""
    hh = pd.DataFrame(
        {"husholdning_id": ["H1"], "voksne": [("p1",)], "soekt_redusert": [False], "dok_inntekt_oere": [30_000_000]}
    )
    got = household_incomes(hh, {}).iloc[0]
    assert (got["inntekt_status"], got["inntekt_oere"], got["stadie"]) == ("ikke_soekt", 30_000_000, "dokumentert")


def test_a_looked_up_adult_without_an_income_is_an_error_not_a_household_without_them():
    """The error names the household, never the adult's fødselsnummer."""
    applicant, partner = make_synthetic(dt.date(1988, 1, 1), 1), make_synthetic(dt.date(1989, 2, 2), 2)
    hh = pd.DataFrame(
        {"husholdning_id": ["H1"], "voksne": [(applicant, partner)], "soekt_redusert": [True], "dok_inntekt_oere": [-1]}
    )
    known = {applicant: PersonIncome(applicant, True, inntektsaar=2023, stadie="oppgjoer", income_oere=1)}
    with pytest.raises(KeyError) as err:
        household_incomes(hh, known)
    assert "H1" in str(err.value) and partner not in str(err.value) and applicant not in str(err.value)
