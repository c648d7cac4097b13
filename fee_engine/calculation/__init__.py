"""One vectorised pass over every child-month of the batch.

Input: accepted enrollment rows, household income, and the rule set's per-(kommune,
month) table. Output: one row per child and month, with a column per step in øre
and in kroner, the flags that say which rule changed the amount, and the numbers
the explanation needs. No loop per child or household; the only Python loop is
over (kommune, month) groups for the SFO price list lookup.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from . import barnehage, sfo
from .money import div_half_up, percent_of, to_kroner
from .siblings import codes, discount_bp, rank_in_household

# Flags, in the order the steps are taken; forklaring_kode joins the set ones with «+».
FLAGS = [
    "ikke_fakturert", "manuell", "pris_over_maks", "inntekt_6_prosent", "saerskilte_behov",
    "gratis_timer_sfo", "soesken_2", "soesken_3", "gratis_kjernetid",
]
_BIT = {name: 1 << i for i, name in enumerate(FLAGS)}


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def expand_months(children: pd.DataFrame, months: list[dt.date]) -> pd.DataFrame:
    """Children × months, keeping the months that overlap the placement (a started month counts)."""
    n, m = len(children), len(months)
    starts = pd.DatetimeIndex([pd.Timestamp(x) for x in months])
    ends = starts + pd.offsets.MonthEnd(0)
    ci = np.repeat(np.arange(n), m)
    mi = np.tile(np.arange(m), n)
    fra = children["fra_dato"].to_numpy("datetime64[ns]")[ci]
    til = children["til_dato"].to_numpy("datetime64[ns]")[ci]
    s, e = starts.to_numpy()[mi], ends.to_numpy()[mi]
    keep = (np.isnat(fra) | (fra <= e)) & (np.isnat(til) | (til >= s))
    out = children.iloc[ci[keep]].reset_index(drop=True)
    out["maaned"] = s[keep]
    return out


def calculate(children: pd.DataFrame, households: pd.DataFrame, table: pd.DataFrame, prices: dict,
              months: list[dt.date]) -> pd.DataFrame:
    cm = expand_months(children, months)
    cm = cm.merge(households, on="husholdning_id", how="left", validate="many_to_one")
    cm = cm.merge(table, on=["kommunenummer", "maaned"], how="left", validate="many_to_one")
    n = len(cm)
    bh = cm["tilbud"].to_numpy() == "barnehage"
    is_sfo = ~bh
    inc_status = cm["inntekt_status"].to_numpy()
    unknown_manual = (cm["ukjente_poster"].to_numpy() != "") & cm["ukjent_post_manuell"].to_numpy(bool)
    manual = (inc_status == "manuell") | ((inc_status == "kjent") & unknown_manual)
    reason = np.where(
        inc_status == "manuell", cm["manuell_grunn"].to_numpy(),
        np.where(manual, "ukjent inntektspost i skattegrunnlaget: " + cm["ukjente_poster"].astype(str), ""),
    )
    income_known = (inc_status == "kjent") & ~manual
    income = cm["inntekt_oere"].to_numpy(np.int64)
    billed = np.where(bh, cm["bh_fakturert"].to_numpy(bool), cm["sfo_fakturert"].to_numpy(bool))
    plass = cm["plass_bp"].to_numpy(np.int64)
    timer = cm["timer_c"].to_numpy(np.int64)
    trinn = cm["trinn"].to_numpy(np.int64)

    # --- ordinary price (P0) ------------------------------------------------------------
    bh_p0, bh_limit, capped = barnehage.ordinary_price(cm)
    sfo_p0 = sfo.ordinary_price(cm, prices)
    p0 = np.where(bh, bh_p0, sfo_p0)
    capped &= bh

    # --- SFO: free for pupils with special needs in grades 5-7 -----------------------
    saer = is_sfo & cm["saerskilte_behov"].to_numpy(bool) & sfo.in_grades(trinn, cm["sfo_saer_trinn"].to_numpy(np.int64))
    p0s = np.where(saer, 0, p0)

    # --- 6 % of income (P1) -------------------------------------------------------------
    share = np.where(bh, cm["bh_inntekt_bp"].to_numpy(np.int64), cm["sfo_inntekt_bp"].to_numpy(np.int64))
    billed_months = np.where(bh, cm["bh_fakt_mnd"].to_numpy(np.int64), cm["sfo_fakt_mnd"].to_numpy(np.int64))
    grade_ok = bh | sfo.in_grades(trinn, cm["sfo_red_trinn"].to_numpy(np.int64))
    p1, cap = barnehage.income_cap(p0s, income, share, billed_months, income_known & grade_ok)
    inc_applied = p1 < p0s

    # --- SFO: 12 free hours a week (before the municipal sibling discount) -------------------
    sfo_free_applies = is_sfo & sfo.in_grades(trinn, cm["sfo_gratis_trinn"].to_numpy(np.int64))
    sfo_free = sfo.free_hours(
        p1, timer, cm["sfo_gratis_timer_c"].to_numpy(np.int64), cm["sfo_gratis_fast"].to_numpy(bool),
        cm["sfo_gratis_fast_oere"].to_numpy(np.int64), sfo_free_applies,
    )
    before_sib = p1 - sfo_free

    # --- siblings ------------------------------------------------------------------------------
    hh_code, k_code, child_code = codes(cm["husholdning_id"]), codes(cm["kommunenummer"]), codes(cm["barn_id"])
    month_code = cm["maaned"].to_numpy("datetime64[M]").astype(np.int64)
    birth = cm["barn_fodselsdato"].to_numpy("datetime64[D]")
    birth_days = np.where(np.isnat(birth), np.iinfo(np.int64).max, birth.astype(np.int64))
    rank = np.zeros(n, dtype=np.int64)
    for offer_mask in (bh, is_sfo):
        r = rank_in_household(billed & offer_mask, hh_code, k_code, month_code, before_sib, birth_days, child_code)
        rank = np.where(offer_mask, r, rank)
    sib2 = np.where(bh, cm["bh_sib2_bp"].to_numpy(np.int64), cm["sfo_sib2_bp"].to_numpy(np.int64))
    sib3 = np.where(bh, cm["bh_sib3_bp"].to_numpy(np.int64), cm["sfo_sib3_bp"].to_numpy(np.int64))
    sib_bp = discount_bp(rank, sib2, sib3)
    sib_red = percent_of(before_sib, sib_bp)
    p2 = before_sib - sib_red

    # --- barnehage: free core hours (P3) -------------------------------------------------
    window = bh & barnehage.core_hours_window(cm)
    below = income < cm["bh_kjerne_grense_oere"].to_numpy(np.int64)
    core_applies = bh & income_known & below & window
    core = barnehage.free_core_hours(
        p2, cm["bh_kjerne_timer_c"].to_numpy(np.int64), cm["bh_heltid_timer_c"].to_numpy(np.int64), plass, core_applies,
    )
    p3 = p2 - core

    # --- manual and unbilled months ---------------------------------------------------------
    final = np.where(manual, p0, p3)
    final = np.where(billed, final, 0)

    # kroner columns that add up: ordinaer - reductions = belop
    k0, k0s, k1 = to_kroner(p0), to_kroner(p0s), to_kroner(p1)
    k_before_sib, k2, k3 = to_kroner(before_sib), to_kroner(p2), to_kroner(p3)
    decided = billed & ~manual
    cm["ordinaer_pris"] = np.where(billed, k0, 0)
    cm["saerskilte_behov_fritak"] = np.where(decided, k0 - k0s, 0)
    cm["etter_inntektsgrense"] = np.where(decided, k1, np.where(billed, k0, 0))
    cm["inntektsreduksjon"] = np.where(decided, k0s - k1, 0)
    cm["gratis_timer"] = np.where(decided, np.where(bh, k2 - k3, k1 - k_before_sib), 0)
    cm["soeskenmoderasjon"] = np.where(decided, k_before_sib - k2, 0)
    cm["belop"] = to_kroner(final)
    cm["status"] = np.where(manual, "manuell", "ok")
    cm["manuell_grunn"] = reason

    flags = np.zeros(n, dtype=np.int64)
    for name, cond in (
        ("ikke_fakturert", ~billed),
        ("manuell", billed & manual),
        ("pris_over_maks", decided & capped),
        ("inntekt_6_prosent", decided & inc_applied),
        ("saerskilte_behov", decided & saer),
        ("gratis_timer_sfo", decided & sfo_free_applies & (sfo_free > 0)),
        ("soesken_2", decided & (rank == 2) & (sib_red > 0)),
        ("soesken_3", decided & (rank >= 3) & (sib_red > 0)),
        ("gratis_kjernetid", decided & core_applies & (core > 0)),
    ):
        flags |= np.where(cond, _BIT[name], 0)
    cm["forklaring_kode"] = _flag_text(flags)

    # numbers for the explanation
    cm["p0_oere"], cm["p1_oere"], cm["p2_oere"], cm["p3_oere"] = p0, p1, p2, p3
    cm["inntekt_tak_oere"] = cap
    cm["inntekt_brukt"] = income_known & grade_ok
    cm["fakturerte_mnd"] = billed_months
    cm["andel_bp"] = share
    cm["pris_tak_oere"] = bh_limit
    cm["soesken_rang"] = rank
    cm["soesken_bp"] = sib_bp
    cm["kjernetid_alder"] = window
    cm["kjernetid"] = core_applies
    cm["gratis_timer_sfo"] = sfo_free_applies
    cm["fakturert"] = billed
    return cm


def _flag_text(flags: np.ndarray) -> np.ndarray:
    uniq, inverse = np.unique(flags, return_inverse=True)
    names = np.array(
        ["+".join(name for name in FLAGS if u & _BIT[name]) or "ordinaer" for u in uniq], dtype=object
    )
    return names[inverse]


__all__ = ["calculate", "expand_months", "month_range", "FLAGS", "div_half_up"]
