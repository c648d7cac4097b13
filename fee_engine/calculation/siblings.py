"""Sibling ranking (søskenmoderasjon, forskrift om foreldrebetaling i barnehager § 3a).

Among a household's children in the same offer, municipality and month, rank by the
fee before the discount, highest first; ties: oldest child first, then ``barn_id``.
One lexsort over the whole batch: no loop per household.
"""

from __future__ import annotations

import numpy as np


def rank_in_household(
    eligible: np.ndarray,
    household: np.ndarray,
    kommune: np.ndarray,
    month: np.ndarray,
    fee_oere: np.ndarray,
    birth_days: np.ndarray,
    child: np.ndarray,
) -> np.ndarray:
    """1-based rank within (household, kommune, month) for ``eligible`` rows; 0 elsewhere.

    ``household``, ``kommune`` and ``child`` are integer codes (from :func:`pandas.factorize`);
    ``month`` and ``birth_days`` integers; ``fee_oere`` int64.
    """
    rank = np.zeros(len(eligible), dtype=np.int64)
    idx = np.flatnonzero(eligible)
    if idx.size == 0:
        return rank
    keys = (child[idx], birth_days[idx], -fee_oere[idx], month[idx], kommune[idx], household[idx])
    order = idx[np.lexsort(keys)]
    g = np.stack([household[order], kommune[order], month[order]])
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = (g[:, 1:] != g[:, :-1]).any(axis=0)
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(order.size), 0))
    rank[order] = np.arange(order.size) - group_start + 1
    return rank


def discount_bp(rank: np.ndarray, second_bp: np.ndarray, third_bp: np.ndarray) -> np.ndarray:
    """The reduction in basis points for each rank: none for 1, ``second`` for 2, ``third`` for 3+."""
    return np.select([rank == 2, rank >= 3], [second_bp, third_bp], default=0).astype(np.int64)
