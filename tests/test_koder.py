"""The identifiers as integer codes (``beregning.perioder.Koder``) and the periods copied out of the runs a part at a
time (``forklaring.Perioder``): the codes order and group exactly as the texts do, and any split of the periods
gives the same rows as the whole table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fee_engine import forklaring
from fee_engine.beregning import PLASS, Koder
from fee_engine.beregning.perioder import factorize_sorted

# Short ids from a small alphabet, so that equal ids, prefixes ("B1" < "B10" < "B9") and case differ often.
IDS = st.text(alphabet="AB19bæ", min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(IDS, st.sampled_from(["barnehage", "sfo"]), st.sampled_from(["H1", "H2", "h1", "H10", "H9"])),
        min_size=1,
        max_size=40,
    )
)
def test_codes_order_and_group_as_the_texts_do(rows):
    children = pd.DataFrame(rows, columns=["barn_id", "tilbud", "husholdning_id"])
    k = Koder.of(children)
    barn, tilbud, hh = (children[c].tolist() for c in ("barn_id", "tilbud", "husholdning_id"))
    for i in range(len(rows)):
        for j in range(len(rows)):
            # the child's rank compares as barn_id does; the placement's as (barn_id, tilbud) does
            assert (k.barn[i] < k.barn[j]) == (barn[i] < barn[j])
            assert (k.barn[i] == k.barn[j]) == (barn[i] == barn[j])
            assert (k.plass[i] < k.plass[j]) == ((barn[i], tilbud[i]) < (barn[j], tilbud[j]))
            assert (k.plass[i] == k.plass[j]) == ((barn[i], tilbud[i]) == (barn[j], tilbud[j]))
    assert list(k.husholdninger[k.husholdning]) == hh
    assert list(k.barn_ider[k.barn]) == barn and list(k.barn_ider) == sorted(set(barn))
    assert list(k.husholdninger) == list(dict.fromkeys(hh))  # numbered as they first appear
    assert list(k.barnehage) == [t == "barnehage" for t in tilbud]


# Any text: NUL, control characters, letters beyond the first 65 536 (four bytes in UTF-8), lone surrogates (which
# UTF-8 cannot hold: pandas sorts those), and missing values.
ANY_TEXT = st.one_of(
    st.text(max_size=5),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=3),
    st.sampled_from(["\x00", "a\x00", "a", "\ud800", "\U0001f600", "\uffff", "ß", "Å"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ANY_TEXT, st.none()), min_size=1, max_size=30), st.sampled_from(["str", "object"]))
def test_the_sorted_codes_are_pandas_sorted_factorize(values, dtype):
    """``factorize_sorted`` (numpy's string sort) gives what ``pd.factorize(sort=True)`` gives, for any texts."""
    column = pd.Series(values, dtype=dtype)
    codes, uniques = factorize_sorted(column)
    want_codes, want_uniques = pd.factorize(column, sort=True, use_na_sentinel=False)
    assert codes.tolist() == want_codes.tolist()
    missing = object()  # nan is not equal to itself: compared as one marker
    assert [missing if pd.isna(u) else u for u in uniques] == [missing if pd.isna(u) else u for u in want_uniques]


def test_texts_sort_by_code_point_as_python_compares_them():
    # "a\x00" after "a" (a fixed-width numpy string would drop the NUL); "\uffff" before a four-byte letter
    values = ["b", "a\x00", "\U0001f600", "a", "\uffff", "Å", "B", ""]
    codes, uniques = factorize_sorted(pd.Series(values, dtype="str"))
    assert list(uniques) == sorted(values)
    assert [uniques[c] for c in codes] == values
    # past a NUL numpy's strings compare as equal: such ids are sorted by pandas (found by a review)
    codes, uniques = factorize_sorted(pd.Series(["X\x00b", "X\x00a"], dtype="str"))
    assert codes.tolist() == [1, 0] and list(uniques) == ["X\x00a", "X\x00b"]


@pytest.fixture
def runs(computed_800):
    return computed_800.runs


def test_the_periods_follow_the_texts_of_child_and_offer_and_then_the_month(runs):
    p = forklaring.periods(runs)
    keys = list(zip(p["barn_id"], p["tilbud"], p["maaned"]))
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # the file's order is not the text order, so the sort was needed (a file in text order would prove nothing)
    file_order = list(dict.fromkeys(zip(runs["barn_id"], runs["tilbud"])))
    assert file_order != sorted(file_order)
    # the runs' codes follow the same order, so sorting by them is sorting by the texts
    assert p[PLASS].is_monotonic_increasing


@pytest.mark.parametrize("cuts", [(0,), (1, 2), (97, 500, 501), (3, 333, 1000)])
def test_periods_copied_out_in_parts_are_the_whole_table(runs, cuts):
    found = forklaring.find_periods(runs)
    whole = forklaring.periods(runs)
    assert len(found) == len(whole) > 1000
    bounds = [0, *cuts, len(found)]
    parts = [found.take(a, b) for a, b in zip(bounds, bounds[1:])]
    assert [len(x) for x in parts] == [b - a for a, b in zip(bounds, bounds[1:])]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def _periods_by_definition(runs: pd.DataFrame) -> tuple[list[int], list]:
    """The periods as defined: the runs put in order of child, offer and month, a run joining the period before
    it when it is the same child and offer, its months follow on and every key column is equal (two missing
    values equal). Written row by row, as the oracle."""
    rows = sorted(range(len(runs)), key=lambda i: (runs[PLASS].iat[i], runs["maaned"].iat[i]))
    firsts, tils = [], []
    for k, i in enumerate(rows):
        start = runs["maaned"].iat[i].to_period("M")
        if k:
            j = rows[k - 1]
            end = runs["maaned"].iat[j].to_period("M") + int(runs["antall_maaneder"].iat[j]) - 1
            same_keys = all(
                (runs[c].iat[i] == runs[c].iat[j]) or (pd.isna(runs[c].iat[i]) and pd.isna(runs[c].iat[j]))
                for c in forklaring.PERIOD_KEY
            )
            if runs[PLASS].iat[i] == runs[PLASS].iat[j] and start == end + 1 and same_keys:
                tils[-1] = start + int(runs["antall_maaneder"].iat[i]) - 1
                continue
        firsts.append(i)
        tils.append(start + int(runs["antall_maaneder"].iat[i]) - 1)
    return firsts, [t.to_timestamp() for t in tils]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_periods_are_found_as_defined_in_any_order_of_the_runs_and_with_missing_texts(runs, seed):
    """``find_periods`` compares each run with its neighbour in place where it can; in a shuffled table nearly every
    pair is far apart, and texts missing in both runs of a pair must still count as equal."""
    rng = np.random.default_rng(seed)
    part = runs.iloc[:600]
    if seed:  # shuffled: the runs of one child are no longer neighbours
        part = part.iloc[rng.permutation(len(part))]
    part = part.reset_index(drop=True).copy()
    missing = rng.random(len(part)) < 0.5
    part["institusjon"] = part["institusjon"].astype(object).where(~missing, None)
    part["manuell_grunn"] = part["manuell_grunn"].astype(object).where(~missing, np.nan)
    found = forklaring.find_periods(part)
    firsts, tils = _periods_by_definition(part)
    assert found.rows.tolist() == firsts
    assert [pd.Timestamp(t) for t in found.til] == tils
    assert len(firsts) < len(part)  # some runs were joined into periods
