"""Sorting by keys packed into few words (``fee_engine.sortering``): the order is ``np.lexsort``'s, row for row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fee_engine.sortering import WORD_BITS, lexsort, packed

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
