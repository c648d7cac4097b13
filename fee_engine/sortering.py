"""Sorting by several integer keys in fewer passes: keys whose value ranges fit together are packed into one int64.

``np.lexsort`` sorts once per key. The calculation's sorts (a child's runs by month, one bill per child and month,
the siblings' ranks) have four to six keys whose ranges are small (a household number, a municipality code, a month,
a price), so two or three of them fit in one 62-bit word: ordering by the words orders as by the keys, and the sort
stays stable (equal keys keep their order).

:func:`distinct_rows` numbers rows by their distinct combination of values the same way, one number per column
combined into one per row: a sentence of an explanation, or a caseworker's note, is then written once per
combination.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pandas as pd

WORD_BITS = 62  # a packed word stays non-negative and below 2**62


def packed(keys: list[np.ndarray]) -> list[np.ndarray]:
    """``keys`` (integers, most significant first, of equal length) as int64 words, most significant first: each key
    moved to start at 0 and given the bits its range needs, as many keys in a word as fit. A key whose range needs
    more bits (a missing date as the largest int64, say) stays a word of its own, as it is."""
    words: list[np.ndarray] = []
    word: np.ndarray | None = None
    used = 0
    for key in keys:
        key = np.asarray(key, dtype=np.int64)
        lo, hi = (int(key.min()), int(key.max())) if len(key) else (0, 0)
        bits = (hi - lo).bit_length()
        if bits > WORD_BITS:
            if word is not None:
                words.append(word)
            words.append(key)
            word, used = None, 0
            continue
        shifted = key - lo
        if word is not None and used + bits <= WORD_BITS:
            word = (word << bits) | shifted
            used += bits
        else:
            if word is not None:
                words.append(word)
            word, used = shifted, bits
    if word is not None:
        words.append(word)
    return words


def lexsort(keys: list[np.ndarray]) -> np.ndarray:
    """The stable order of the rows by ``keys``, most significant first (``np.lexsort`` takes them the other way
    round), in as few passes as the packed words (:func:`packed`)."""
    return np.lexsort(packed(keys)[::-1])


# Objects from which an array of them is numbered by its objects first (:func:`factorize`).
BY_OBJECTS_FROM = 1_000


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)``: each value's number (in order of first appearance; a missing value -1) and the
    distinct values, exactly as pandas gives them.

    An array of Python objects (a column of texts) is numbered by its objects first, then the distinct objects by
    their values. The runs' texts are few objects, each shared by many rows (text.py says why): their addresses
    are numbered as integers, and only one row of each object is hashed and compared as a text. At 100 000 children
    (375 000 runs) a column of four municipality numbers took 11 ms as texts and 5–8 ms so, and the column of the
    rule values not verified (8 texts of up to 387 characters in 85 objects, each row's text compared in full
    with the first of its value) 67 ms against 7 ms. Where every row holds an object of its own, the second
    numbering is the whole work again, plus some 5 ms."""
    v = np.asarray(values)
    if v.dtype != object or v.ndim != 1 or len(v) < BY_OBJECTS_FROM:
        return pd.factorize(v)
    v = np.ascontiguousarray(v)  # (a copy of the references where it is not: they stay valid while it lives)
    # the array's references as integers, read while ``v`` holds them
    address = np.frombuffer((ctypes.c_char * v.nbytes).from_address(v.ctypes.data), dtype=np.intp).copy()
    if address[0] != id(v[0]) or address[-1] != id(v[-1]):  # not references as CPython's numpy holds them
        return pd.factorize(v)
    by_object, _ = pd.factorize(address)
    # each object's first row: numbered in order of first appearance, a row is one where the number is new
    first = np.flatnonzero(np.r_[True, by_object[1:] > np.maximum.accumulate(by_object)[:-1]])
    codes, uniques = pd.factorize(v[first])
    return codes[by_object], uniques


def distinct_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's number among the distinct combinations of the ``columns``' values (numbered in order of first
    appearance), and the row where each first appears. A row with a missing value in one of them is a combination of
    its own: a missing value is never taken to equal another. Each column is numbered by its distinct values
    (``pd.factorize``), and the numbers combined into one per row (:func:`distinct_codes`)."""
    n = len(columns[0]) if columns else 0
    missing = np.zeros(n, dtype=bool)
    codes, sizes = [], []
    for column in columns:
        c, uniques = factorize(column)
        missing |= c < 0
        codes.append(np.maximum(c, 0))
        sizes.append(len(uniques))
    return distinct_codes(codes, sizes, missing if missing.any() else None, n)


def distinct_codes(
    codes: list[np.ndarray], sizes: list[int], alone: np.ndarray | None = None, n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`distinct_rows` of columns already numbered: ``codes[i]`` from 0 to ``sizes[i] - 1``. The numbers
    are combined into one per row, numbered again only when they would not fit in a word. Rows in ``alone`` are each
    a combination of their own."""
    n = len(codes[0]) if codes else (n or 0)
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for c, k in zip(codes, sizes, strict=True):
        k = max(k, 1)
        if size * k >= 1 << WORD_BITS:
            key, kept = pd.factorize(key)
            size = max(len(kept), 1)
        key = key * k + c
        size *= k
    if alone is not None:
        key[alone] = -1 - np.flatnonzero(alone)  # each its own
    row, _ = pd.factorize(key)
    first = np.empty(int(row.max()) + 1 if n else 0, dtype=np.int64)
    first[row[::-1]] = np.arange(n - 1, -1, -1)  # the last write for each number is its first row
    return row, first
