"""Sorting by keys packed into few words (``fee_engine.sortering``): the order is ``np.lexsort``'s, row for row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fee_engine.sortering import WORD_BITS, distinct_rows, lexsort, packed

I64 = np.iinfo(np.int64)
# Keys of every kind the calculation has: a few codes, a month, prices, birth days, and the int64 extremes a missing
# date is written as, each key drawn from its own range.
RANGES = st.sampled_from(
    [
        (0, 1),
        (0, 3),
        (-5, 5),
        (0, 600_000),
        (24_000, 24_400),
        (-10_000_000, 0),
        (I64.max - 3, I64.max),
        (I64.min + 1, 0),
    ]
)


@st.composite
def key_sets(draw):
    n = draw(st.integers(min_value=1, max_value=60))
    keys = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        lo, hi = draw(RANGES)
        keys.append(np.array(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), dtype=np.int64))
    return keys


@settings(max_examples=400, deadline=None)
@given(key_sets())
def test_the_packed_order_is_lexsorts_row_for_row(keys):
    assert lexsort(keys).tolist() == np.lexsort(keys[::-1]).tolist()


def test_small_keys_share_a_word_and_a_wide_one_stays_as_it_is():
    household = np.array([3, 1, 2, 1, 3])
    month = np.array([24_300, 24_301, 24_300, 24_300, 24_301])
    price = -np.array([300_000, 250_000, 250_000, 300_000, 1])
    missing_last = np.array([5, I64.max, 7, 5, 0])  # a key needing 63 bits
    words = packed([household, month, price, missing_last])
    assert len(words) == 2 and words[1] is not None
    assert words[1].tolist() == missing_last.tolist()  # as it was
    assert int(words[0].max()) < 2**WORD_BITS and int(words[0].min()) >= 0
    # household 1 first; within it month 24 300 before 24 301; then the higher price first
    assert lexsort([household, month, price, missing_last]).tolist() == [3, 1, 2, 0, 4]


def test_equal_keys_keep_the_rows_order():
    keys = [np.zeros(6, dtype=np.int64), np.array([1, 0, 1, 0, 1, 0])]
    assert lexsort(keys).tolist() == [1, 3, 5, 0, 2, 4]


@st.composite
def columns_with_repeats(draw):
    n = draw(st.integers(min_value=0, max_value=60))
    kinds = draw(st.lists(st.sampled_from(["int", "bool", "text", "big"]), min_size=1, max_size=8))
    columns = []
    for kind in kinds:
        if kind == "int":
            values = np.array(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype=np.int64)
        elif kind == "bool":
            values = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        elif kind == "big":  # many distinct values: the combined numbers overflow 62 bits and are numbered again
            values = np.array(draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)), dtype=np.int64)
        else:  # texts with missing values
            values = np.array(
                draw(st.lists(st.sampled_from(["a", "b", "æ", "", None, float("nan")]), min_size=n, max_size=n)),
                dtype=object,
            )
        columns.append(values)
    return columns


@settings(max_examples=300, deadline=None)
@given(columns_with_repeats(), st.integers(1, 12))
def test_distinct_rows_number_the_rows_as_their_values_do(columns, copies):
    """Rows with the same values (none missing) share a number, numbered in order of first appearance; a row with a
    missing value has a number of its own; ``first`` is where each number first appears."""
    columns = [np.tile(c, copies) for c in columns]  # «big» columns copied: enough distinct values to overflow
    n = len(columns[0])
    row, first = distinct_rows(columns)
    # the oracle, row by row
    seen: dict[tuple, int] = {}
    expected = []
    for i in range(n):
        values = tuple(c[i] for c in columns)
        if any(v is None or (isinstance(v, float) and v != v) for v in values):
            key: tuple = ("missing", i)
        else:
            key = tuple((type(v).__name__, v) for v in values)
        expected.append(seen.setdefault(key, len(seen)))
    assert row.tolist() == expected
    assert first.tolist() == [expected.index(k) for k in range(len(seen))]


def test_distinct_rows_past_62_bits():
    """Eight columns of 1 000 distinct values each: their numbers do not fit one word together (1000**8 > 2**62), so
    they are numbered again on the way, and rows still share a number exactly when their values are equal."""
    rng = np.random.default_rng(3)
    base = [rng.permutation(1000) for _ in range(8)]
    columns = [np.concatenate([c, c[:10]]) for c in base]  # the first 10 rows repeated at the end
    row, first = distinct_rows(columns)
    assert row[:1000].tolist() == list(range(1000))
    assert row[1000:].tolist() == list(range(10))
    assert first.tolist() == list(range(1000))
