"""Text columns that share their string objects: the runs are shared copy-on-write with the processes forked to
write the outputs, and reading a value there writes to its string object's reference count, which copies the page
it lies on. So a column of few distinct texts holds one object per text, and the ids are fresh copies lying
together (``fee_engine.text``); the values are the same as before."""

from __future__ import annotations

import datetime as dt
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fee_engine.parallel import give_back_free_memory
from fee_engine.text import fresh_copies, one_object_per_text, thousands, thousands_each, thousands_of

TEXTS = st.lists(st.sampled_from(["ok", "manuell", "2023", "2023/2022", "oppgjoer", "æøå", ""]), max_size=60)


@settings(max_examples=100, deadline=None)
@given(TEXTS)
def test_one_object_per_text_keeps_the_values_and_shares_equal_ones(values):
    rowwise = np.array(values, dtype=str)  # as np.where over texts makes them
    got = one_object_per_text(rowwise)
    assert got.dtype == object and list(got) == values
    assert len({id(x) for x in got}) == len(set(values))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=2, max_size=12), max_size=30, unique=True))
@example(["B0001", "B0002"])
@example(["a\x1fb", "B0002", "\x1f\x1f"])  # the separator the copies are joined with, in the texts
def test_fresh_copies_are_equal_but_new_objects(texts):
    got = fresh_copies(texts)
    assert got == texts
    assert not any(a is b for a, b in zip(got, texts))  # (one-character texts are Python's own singletons)


SHARED = ["status", "inntekt_status", "inntektsaar", "stadie", "soeker_stadie", "partner_stadie", "manuell_kode"]


@pytest.mark.parametrize("column", SHARED)
def test_the_runs_few_distinct_texts_are_one_object_each(computed_800, column):
    values = computed_800.runs[column].to_numpy(dtype=object)
    assert len(set(values)) > 1 or column == "manuell_kode"  # the population has more than one value here
    assert len({id(x) for x in values}) == len(set(values))


@pytest.mark.parametrize("column", ["barn_id", "husholdning_id"])
def test_the_runs_ids_are_the_enrollment_ids_in_copies_of_their_own(computed_800, column):
    rows, runs = computed_800.enrollment.rows, computed_800.runs
    ids = runs[column].to_numpy(dtype=object)
    assert set(ids) == set(rows[column])
    assert len({id(x) for x in ids}) == len(set(ids))  # one object per id
    assert not {id(x) for x in ids} & {id(x) for x in rows[column].to_numpy(dtype=object)}  # not the rows' objects
    # each run's child is the child of its household, as in the file
    pairs = set(zip(rows["barn_id"], rows["husholdning_id"]))
    assert set(zip(runs["barn_id"], runs["husholdning_id"])) <= pairs


def test_no_households_give_the_columns_as_before():
    """With no households the columns are left as made: pandas reads an empty object array as objects, not text."""
    import pandas as pd

    from fee_engine.income import household_incomes

    empty = pd.DataFrame(
        {
            "husholdning_id": pd.Series([], dtype=object),
            "voksne": pd.Series([], dtype=object),
            "soekt_redusert": pd.Series([], dtype=bool),
            "dok_inntekt_oere": pd.Series([], dtype="int64"),
        }
    )
    out = household_incomes(empty, {})
    assert out["inntekt_status"].dtype == pd.DataFrame({"x": np.array([], dtype=str)})["x"].dtype


def _rss_mb() -> float:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim, /proc")
def test_free_memory_is_given_back_where_the_c_library_can():
    """200 MB of 2 KB blocks freed, with the last one kept so the heap's top cannot shrink by itself: the pages
    stay with the process until they are given back."""
    blocks = [bytearray(2048) for _ in range(100_000)]  # larger than Python's small-object allocator takes
    for b in blocks:
        b[::512] = b"x" * 4  # touched, so the pages are really there
    last = blocks.pop()
    del blocks
    before = _rss_mb()
    assert give_back_free_memory() is True
    assert before - _rss_mb() > 100  # of the 200 MB freed
    assert last[0] == ord("x")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 12, 31)), max_size=40))
def test_year_months_are_what_strftime_writes_and_each_month_is_one_object(stamps):
    """«2024-08» for each date, as pandas' strftime writes it (the column of fra_maaned, til_maaned and maaned)."""
    from fee_engine.text import year_months

    dates = pd.Series(pd.to_datetime(stamps, utc=False), dtype="datetime64[ns]")
    got = year_months(dates)
    assert got.dtype == object and list(got) == list(dates.dt.strftime("%Y-%m"))
    assert len({id(x) for x in got}) == len(set(got))


@given(st.lists(st.integers(-(10**15), 10**15), max_size=50))
def test_thousands_of_many_is_thousands_of_each(values):
    """Formatted together, each number as it is formatted alone («12 345», «-1 000», «0»)."""
    assert thousands_of(values) == [thousands(v) for v in values]


@given(st.lists(st.integers(-(10**12), 10**12), max_size=30), st.lists(st.integers(-50, 50), max_size=10))
def test_thousands_each_is_thousands_of_each_value_and_keeps_what_it_formatted(values, before):
    """Each value as :func:`thousands` writes it, with or without numbers formatted before; those are kept."""
    known = dict(zip(before, thousands_of(before)))
    expected = [thousands(v) for v in values]
    assert thousands_each(np.array(values, dtype=np.int64)).tolist() == expected
    assert thousands_each(np.array(values, dtype=np.int64), known).tolist() == expected
    assert all(known[v] == thousands(v) for v in values + before)


SOME_TEXTS = st.sampled_from(["", "a", "0301", "barnehage", "x" * 300, "ø"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(SOME_TEXTS, st.none(), st.just(float("nan")), st.integers(-2, 2)), max_size=40),
    st.integers(0, 2000),
    st.booleans(),
)
def test_factorize_by_objects_is_pandas_factorize(values, repeat, fresh):
    """Texts shared as one object, the same text in several objects (``fresh``: each row its own copy), missing
    values of both kinds and numbers among them: the same numbers and distinct values as ``pd.factorize``, at any
    size (from :data:`~fee_engine.sortering.BY_OBJECTS_FROM` rows, by the objects first)."""
    from fee_engine import sortering

    rows = (values * (repeat // max(len(values), 1) + 1))[: max(repeat, len(values))]
    if fresh:
        rows = [("" + v + " ")[:-1] if isinstance(v, str) else v for v in rows]  # new objects, equal texts
    column = np.empty(len(rows), dtype=object)
    column[:] = rows
    got, want = sortering.factorize(column), pd.factorize(column)
    assert got[0].tolist() == want[0].tolist()
    assert type(got[1]) is type(want[1]) and len(got[1]) == len(want[1])
    assert all(a is b or a == b for a, b in zip(got[1].tolist(), want[1].tolist()))
    # and a view that is not contiguous: every other row
    got, want = sortering.factorize(column[::2]), pd.factorize(column[::2])
    assert got[0].tolist() == want[0].tolist() and len(got[1]) == len(want[1])
