"""One vectorised pass over the batch, once per run of months with unchanged inputs.

Rules change on a few dates a year, so a child's amount is constant between them. The
period is cut into *segments*: runs of months in which no parameter of any municipality
changes, billing does not change, and no 1 August falls (the kjernetid age window turns
then). A child whose household's placements all cover the whole period gets one row per
segment; a household where some placement starts or ends inside the period gets one row
per month, so that sibling ranks follow who is present each month. The calculation runs
on those rows (a column per step, the flags that say which rule changed the amount, the
numbers the explanation needs) and is expanded to one row per child and month only at
the end, for output. Joins are by integer index, not by string merges. There is no loop
per child or household; the only Python loops are over (kommune, segment) groups.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import barnehage, sfo
from .money import div_half_up, percent_of, to_kroner
from .siblings import discount_bp, rank_in_household

# Flags, in the order the steps are taken; forklaring_kode joins the set ones with «+».
FLAGS = [
    "ikke_fakturert", "manuell", "pris_over_maks", "inntekt_6_prosent", "saerskilte_behov",
    "gratis_timer_sfo", "soesken_2", "soesken_3", "gratis_kjernetid", "plassbytte",
]
_BIT = {name: 1 << i for i, name in enumerate(FLAGS)}

# What the result carries besides the steps: the explanation's inputs, nothing more (no fødselsnummer).
CHILD_COLUMNS = ["barn_id", "husholdning_id", "kommunenummer", "tilbud", "institusjon", "plass_bp", "timer_c", "trinn",
                 "saerskilte_behov", "pris_oere"]
ENROLLMENT_COLUMNS = CHILD_COLUMNS + ["rad", "foresatt_fnr", "partner_fnr", "barn_fodselsdato", "fra_dato", "til_dato",
                                      "soekt_redusert", "dok_inntekt_oere"]
HOUSEHOLD_COLUMNS = ["inntekt_oere", "inntekt_status", "inntekt_kilde", "inntektsaar", "stadie"]
TABLE_COLUMNS = ["sone", "bh_maks_oere", "bh_kjerne_grense_oere", "bh_kjerne_timer_c", "bh_heltid_timer_c",
                 "bh_kjerne_fra_alder", "sfo_gratis_timer_c"]


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def segments(table: pd.DataFrame, prices: dict, months: list[dt.date]) -> np.ndarray:
    """Index of the first month of each segment (see the module docstring)."""
    n = len(months)
    start = np.zeros(n, dtype=bool)
    start[0] = True
    for i, m in enumerate(months):
        if m.month == 8:
            start[i] = True
    cols = [c for c in table.columns if c not in ("kommunenummer", "maaned")]
    t = table.sort_values(["kommunenummer", "maaned"], kind="stable")
    month_pos = {pd.Timestamp(m): i for i, m in enumerate(months)}
    for _, grp in t.groupby("kommunenummer", sort=False):
        values = grp[cols].to_numpy()
        idx = [month_pos[m] for m in grp["maaned"]]
        for j in range(1, len(idx)):
            if not (values[j] == values[j - 1]).all():
                start[idx[j]] = True
    kommuner = {k for k, _ in prices}
    for k in kommuner:
        for i in range(1, n):
            a, b = prices.get((k, pd.Timestamp(months[i - 1]))), prices.get((k, pd.Timestamp(months[i])))
            if a is not None and b is not None and not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])):
                start[i] = True
    return np.flatnonzero(start)


@dataclass
class Runs:
    child: np.ndarray  # index into the children
    first: np.ndarray  # index of the run's first month
    length: np.ndarray  # months in the run
    moved: np.ndarray  # the child had another placement in the same offer that month (it was not billed)


def plan_runs(children: pd.DataFrame, months: list[dt.date], seg_starts: np.ndarray) -> Runs:
    n, m = len(children), len(months)
    starts = pd.DatetimeIndex([pd.Timestamp(x) for x in months])
    ends = (starts + pd.offsets.MonthEnd(0)).to_numpy()
    starts = starts.to_numpy()
    fra = children["fra_dato"].to_numpy("datetime64[ns]")
    til = children["til_dato"].to_numpy("datetime64[ns]")
    # first and last month the placement touches (a started month counts)
    lo = np.where(np.isnat(fra), 0, np.searchsorted(ends, fra, side="left"))
    hi = np.where(np.isnat(til), m - 1, np.searchsorted(starts, til, side="right") - 1)
    whole = (lo == 0) & (hi == m - 1)
    hh = pd.factorize(children["husholdning_id"])[0]
    hh_whole = np.ones(hh.max() + 1 if n else 0, dtype=bool)
    np.logical_and.at(hh_whole, hh, whole)
    simple = hh_whole[hh] if n else np.zeros(0, dtype=bool)
    seg_len = np.diff(np.append(seg_starts, m))
    s_idx = np.flatnonzero(simple)
    c1 = np.repeat(s_idx, len(seg_starts))
    f1 = np.tile(seg_starts, len(s_idx))
    l1 = np.tile(seg_len, len(s_idx))
    # the others: one run per month inside the placement
    o_idx = np.flatnonzero(~simple)
    span = np.maximum(hi[o_idx] - lo[o_idx] + 1, 0)
    c2 = np.repeat(o_idx, span)
    offs = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    f2 = np.repeat(lo[o_idx], span) + offs
    c2, f2, moved2 = one_bill_per_month(children, c2, f2, fra, til, starts, ends)
    child = np.concatenate([c1, c2]).astype(np.int64)
    first = np.concatenate([f1, f2]).astype(np.int64)
    length = np.concatenate([l1, np.ones(len(c2), dtype=np.int64)]).astype(np.int64)
    moved = np.concatenate([np.zeros(len(c1), dtype=bool), moved2])
    order = np.lexsort((first, child))
    return Runs(child[order], first[order], length[order], moved[order])


def one_bill_per_month(children: pd.DataFrame, c: np.ndarray, f: np.ndarray, fra: np.ndarray, til: np.ndarray,
                       starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One child, one offer, one month, one bill (CALCULATION.md, barnehage step 0).

    When a child's placements in the same offer meet inside a month (a move, a new place size),
    the month is billed once, for the placement with the most days in that month; a tie goes to
    the later placement. Returns the kept (child, month) pairs and whether another placement of
    the same child and offer was dropped that month.
    """
    if len(c) == 0:
        return c, f, np.zeros(0, dtype=bool)
    who = pd.factorize(children["barn_id"].astype(str) + "\x1f" + children["tilbud"].astype(str))[0][c]
    day = np.timedelta64(1, "D")
    lo = np.where(np.isnat(fra[c]), starts[f], np.maximum(fra[c], starts[f]))
    hi = np.where(np.isnat(til[c]), ends[f], np.minimum(til[c], ends[f]))
    days = ((hi - lo) // day).astype(np.int64) + 1
    start_key = np.where(np.isnat(fra[c]), np.iinfo(np.int64).min, fra[c].astype(np.int64))
    order = np.lexsort((-start_key, -days, f, who))
    w, m = who[order], f[order]
    first_of_group = np.ones(len(order), dtype=bool)
    first_of_group[1:] = (w[1:] != w[:-1]) | (m[1:] != m[:-1])
    group_size = np.diff(np.append(np.flatnonzero(first_of_group), len(order)))
    keep = order[first_of_group]
    return c[keep], f[keep], group_size > 1


def calculate(children: pd.DataFrame, households: pd.DataFrame, table: pd.DataFrame, prices: dict,
              months: list[dt.date], expand: bool = True) -> pd.DataFrame:
    """Every child-month (``expand=True``) or every run (``expand=False``) with its fee and explanation columns."""
    children = children.reset_index(drop=True)
    runs = plan_runs(children, months, segments(table, prices, months))
    out, hh_pos, t_pos = _steps(children, households, table, prices, months, runs)  # its intermediates are freed here
    return _assemble(children, households, table, out, runs, hh_pos, t_pos, months, expand)


def _steps(children: pd.DataFrame, households: pd.DataFrame, table: pd.DataFrame, prices: dict, months: list[dt.date],
           runs: Runs) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    ci, mi = runs.child, runs.first
    n = len(ci)

    # --- joins by integer index ----------------------------------------------------------
    hh_pos = pd.Index(households["husholdning_id"]).get_indexer(children["husholdning_id"])
    k_codes, kommuner = pd.factorize(children["kommunenummer"])
    # the month table's row for each run: a (kommune, month) grid of row numbers
    t_kommune = pd.Index(kommuner).get_indexer(table["kommunenummer"])
    t_month = pd.Index([pd.Timestamp(x) for x in months]).get_indexer(table["maaned"])
    grid = np.full((len(kommuner), len(months)), -1, dtype=np.int64)
    ok = (t_kommune >= 0) & (t_month >= 0)
    grid[t_kommune[ok], t_month[ok]] = np.flatnonzero(ok)
    t_pos = grid[k_codes[ci], mi]
    table_values = {c: table[c].to_numpy() for c in table.columns}

    def T(c: str) -> np.ndarray:  # a parameter column for every run, gathered when used
        return table_values[c][t_pos]

    H = {c: households[c].to_numpy()[hh_pos[ci]] for c in ("inntekt_oere", "inntekt_status", "ukjente_poster")}

    def child_col(c: str) -> np.ndarray:
        return children[c].to_numpy()[ci]

    tilbud = child_col("tilbud")
    bh = tilbud == "barnehage"
    is_sfo = ~bh
    inc_status = H["inntekt_status"].astype(str)
    unknown_manual = (H["ukjente_poster"].astype(str) != "") & T("ukjent_post_manuell").astype(bool)
    manual = (inc_status == "manuell") | ((inc_status == "kjent") & unknown_manual)
    income_known = (inc_status == "kjent") & ~manual
    income = H["inntekt_oere"].astype(np.int64)
    billed = np.where(bh, T("bh_fakturert"), T("sfo_fakturert")).astype(bool)
    plass = child_col("plass_bp").astype(np.int64)
    timer = child_col("timer_c").astype(np.int64)
    trinn = child_col("trinn").astype(np.int64)
    pris = child_col("pris_oere").astype(np.int64)
    month_ts = pd.DatetimeIndex([pd.Timestamp(x) for x in months])
    month_index = (month_ts.year.to_numpy() * 12 + month_ts.month.to_numpy() - 1)[mi]
    birth = children["barn_fodselsdato"].to_numpy("datetime64[D]")[ci]

    # --- ordinary price (P0) ------------------------------------------------------------
    bh_p0, bh_limit, capped = barnehage.ordinary_price(T("bh_maks_oere").astype(np.int64), plass, pris,
                                                       T("bh_deltid_forholdsmessig").astype(bool))
    sfo_p0 = sfo.ordinary_price(pris, is_sfo, np.asarray(kommuner)[k_codes[ci]], mi, timer, prices, months)
    p0 = np.where(bh, bh_p0, sfo_p0)
    capped &= bh

    # --- SFO: free for pupils with special needs in grades 5-7 -----------------------
    saer = is_sfo & child_col("saerskilte_behov").astype(bool) & sfo.in_grades(trinn, T("sfo_saer_trinn").astype(np.int64))
    p0s = np.where(saer, 0, p0)

    # --- 6 % of income (P1) -------------------------------------------------------------
    share = np.where(bh, T("bh_inntekt_bp"), T("sfo_inntekt_bp")).astype(np.int64)
    billed_months = np.where(bh, T("bh_fakt_mnd"), T("sfo_fakt_mnd")).astype(np.int64)
    grade_ok = bh | sfo.in_grades(trinn, T("sfo_red_trinn").astype(np.int64))
    p1, cap = barnehage.income_cap(p0s, income, share, billed_months, income_known & grade_ok)
    inc_applied = p1 < p0s

    # --- SFO: 12 free hours a week (before the municipal sibling discount) -------------------
    sfo_free_applies = is_sfo & sfo.in_grades(trinn, T("sfo_gratis_trinn").astype(np.int64))
    sfo_free = sfo.free_hours(p1, timer, T("sfo_gratis_timer_c").astype(np.int64), T("sfo_gratis_fast").astype(bool),
                              T("sfo_gratis_fast_oere").astype(np.int64), sfo_free_applies)
    before_sib = p1 - sfo_free

    # --- siblings ------------------------------------------------------------------------------
    hh_code = hh_pos[ci].astype(np.int64)
    k_code = k_codes[ci].astype(np.int64)
    child_code = pd.factorize(children["barn_id"], sort=True)[0][ci].astype(np.int64)  # ties: barn_id in text order
    birth_days = np.where(np.isnat(birth), np.iinfo(np.int64).max, birth.astype(np.int64))
    rank = np.zeros(n, dtype=np.int64)
    for offer_mask in (bh, is_sfo):
        r = rank_in_household(billed & offer_mask, hh_code, k_code, mi, before_sib, birth_days, child_code)
        rank = np.where(offer_mask, r, rank)
    sib2 = np.where(bh, T("bh_sib2_bp"), T("sfo_sib2_bp")).astype(np.int64)
    sib3 = np.where(bh, T("bh_sib3_bp"), T("sfo_sib3_bp")).astype(np.int64)
    sib_bp = discount_bp(rank, sib2, sib3)
    sib_red = percent_of(before_sib, sib_bp)
    p2 = before_sib - sib_red

    # --- barnehage: free core hours (P3) -------------------------------------------------
    window = bh & barnehage.core_hours_window(birth, month_index, T("bh_kjerne_fra_alder").astype(np.int64),
                                              T("bh_kjerne_til_alder").astype(np.int64))
    below = income < T("bh_kjerne_grense_oere").astype(np.int64)
    core_applies = bh & income_known & below & window
    core = barnehage.free_core_hours(p2, T("bh_kjerne_timer_c").astype(np.int64), T("bh_heltid_timer_c").astype(np.int64),
                                     plass, core_applies)
    p3 = p2 - core

    # --- unbilled months; a manual case keeps every reduction that does not depend on income -------
    final = np.where(billed, p3, 0)
    k0, k0s, k1 = to_kroner(p0), to_kroner(p0s), to_kroner(p1)
    k_before_sib, k2, k3 = to_kroner(before_sib), to_kroner(p2), to_kroner(p3)
    unknown_text = "ukjent inntektspost i skattegrunnlaget: " + H["ukjente_poster"].astype(str)
    manual_reason = households["manuell_grunn"].to_numpy()[hh_pos[ci]]
    flags = np.zeros(n, dtype=np.int64)
    for name, cond in (
        ("ikke_fakturert", ~billed),
        ("manuell", billed & manual),
        ("pris_over_maks", billed & capped),
        ("inntekt_6_prosent", billed & inc_applied),
        ("saerskilte_behov", billed & saer),
        ("gratis_timer_sfo", billed & sfo_free_applies & (sfo_free > 0)),
        ("soesken_2", billed & (rank == 2) & (sib_red > 0)),
        ("soesken_3", billed & (rank >= 3) & (sib_red > 0)),
        ("gratis_kjernetid", billed & core_applies & (core > 0)),
        ("plassbytte", runs.moved),
    ):
        flags |= np.where(cond, _BIT[name], 0)

    out = {
        "ordinaer_pris": np.where(billed, k0, 0),
        "saerskilte_behov_fritak": np.where(billed, k0 - k0s, 0),
        "etter_inntektsgrense": np.where(billed, k1, 0),
        "inntektsreduksjon": np.where(billed, k0s - k1, 0),
        "gratis_timer": np.where(billed, np.where(bh, k2 - k3, k1 - k_before_sib), 0),
        "soeskenmoderasjon": np.where(billed, k_before_sib - k2, 0),
        "belop": to_kroner(final),
        "status": np.where(manual, "manuell", "ok"),
        "manuell_grunn": np.where(inc_status == "manuell", manual_reason, np.where(manual, unknown_text, "")),
        "forklaring_kode": _flag_text(flags),
        # numbers for the explanation
        "p0_oere": p0, "p1_oere": p1, "p2_oere": p2, "p3_oere": p3, "inntekt_tak_oere": cap,
        "inntekt_brukt": income_known & grade_ok, "fakturerte_mnd": billed_months, "andel_bp": share,
        "pris_tak_oere": bh_limit, "soesken_rang": rank, "soesken_bp": sib_bp, "kjernetid_alder": window,
        "kjernetid": core_applies, "gratis_timer_sfo": sfo_free_applies, "fakturert": billed,
        "inntekt_trinn": grade_ok,
    }
    for c in _INT32:  # amounts of one place in one month, ranks, rates: far below 2**31
        out[c] = out[c].astype(np.int32)
    return out, hh_pos, t_pos


_INT32 = ["ordinaer_pris", "saerskilte_behov_fritak", "etter_inntektsgrense", "inntektsreduksjon", "gratis_timer",
          "soeskenmoderasjon", "belop", "p0_oere", "p1_oere", "p2_oere", "p3_oere", "fakturerte_mnd", "andel_bp",
          "pris_tak_oere", "soesken_rang", "soesken_bp"]


def _assemble(children: pd.DataFrame, households: pd.DataFrame, table: pd.DataFrame, out: dict[str, np.ndarray],
              runs: Runs, hh_pos: np.ndarray, t_pos: np.ndarray, months: list[dt.date], expand: bool) -> pd.DataFrame:
    """One DataFrame per run (with ``antall_maaneder``), built once; expanded to months if asked."""
    ci = runs.child
    cols: dict[str, object] = {}
    keep = CHILD_COLUMNS + [c for c in children.columns if c not in ENROLLMENT_COLUMNS]  # + the file's own columns
    for c in keep:
        cols[c] = _take(children[c], ci)
    cols["maaned"] = pd.DatetimeIndex([pd.Timestamp(x) for x in months]).to_numpy()[runs.first]
    hp = hh_pos[ci]
    for c in HOUSEHOLD_COLUMNS:
        cols[c] = households[c].to_numpy()[hp]
    for c in TABLE_COLUMNS:
        cols[c] = table[c].to_numpy()[t_pos]
    cols.update(out)
    cols["antall_maaneder"] = runs.length
    frame = pd.DataFrame(cols)
    return expand_runs(frame) if expand else frame


def expand_runs(runs: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """One row per child and month from one row per run (``maaned`` = the run's first month)."""
    length = runs["antall_maaneder"].to_numpy()
    rep = np.repeat(np.arange(len(runs)), length)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(length) - length, length)
    first = runs["maaned"].to_numpy("datetime64[M]")[rep]
    cols = [c for c in (columns or list(runs.columns)) if c not in ("maaned", "antall_maaneder")]
    out = {c: _take(runs[c], rep) for c in cols}
    out["maaned"] = (first + offset).astype("datetime64[ns]")
    order = (columns or list(runs.columns))
    frame = pd.DataFrame(out)
    return frame[[c for c in order if c in frame.columns]]


def _take(column: pd.Series, index: np.ndarray) -> np.ndarray:
    """``column`` at ``index`` as an array (pandas' take for strings, numpy indexing for the rest)."""
    if str(column.dtype) in ("str", "string"):
        return column.take(index).to_numpy()
    return column.to_numpy()[index]


def _flag_text(flags: np.ndarray) -> np.ndarray:
    uniq, inverse = np.unique(flags, return_inverse=True)
    names = np.array(
        ["+".join(name for name in FLAGS if u & _BIT[name]) or "ordinaer" for u in uniq], dtype=object
    )
    return names[inverse]


__all__ = ["calculate", "expand_runs", "month_range", "segments", "plan_runs", "FLAGS", "div_half_up"]
