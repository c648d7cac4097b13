"""The calculation: every child's fee for every month, one vectorised pass per legal step.

:func:`calculate` plans the runs (:mod:`.perioder`), gathers each run's inputs
(:class:`fee_engine.steg.Kontekst`), passes the amount through the legal steps in order
(:data:`fee_engine.steg.REKKEFOLGE`) and keeps each step's record: the amount after it (øre),
the flags it set (one integer bitmask, ``flagg``) and the numbers its explanation needs. There
is no loop per child or household; joins are by integer index.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..money import to_kroner
from ..steg import ALLE, BIT, FLAGG, REKKEFOLGE, STEGKOLONNER, Kontekst
from .perioder import (
    PLASS,
    Koder,
    Runs,
    expand_runs,
    month_range,
    month_runs,
    plan_runs,
    segments,
    take,
    take_coded,
)
from .tabell import month_table

# What the result carries of each child: the explanation's inputs, nothing more (no fødselsnummer).
CHILD_COLUMNS = [
    "barn_id",
    "husholdning_id",
    "kommunenummer",
    "tilbud",
    "institusjon",
    "plass_bp",
    "timer_c",
    "trinn",
    "saerskilte_behov",
    "pris_oere",
]
ENROLLMENT_COLUMNS = CHILD_COLUMNS + [
    "rad",
    "foresatt_fnr",
    "partner_fnr",
    "barn_fodselsdato",
    "fra_dato",
    "til_dato",
    "soekt_redusert",
    "dok_inntekt_oere",
    "betaler_fnr",
    "eier_orgnr",
]  # the invoicing basis reads these from the rows
HOUSEHOLD_COLUMNS = [
    "inntekt_oere",
    "inntekt_status",
    "inntektsaar",
    "stadie",
    "soeker_aar",
    "soeker_stadie",
    "soeker_oere",
    "partner_aar",
    "partner_stadie",
    "partner_oere",
    "forventet_aar",
    "ukjente_poster",
    "manuell_kode",
]
# The output columns in kroner: the ordinary price, the reductions of the steps, what is paid.
AMOUNT_COLUMNS = [*STEGKOLONNER, "belop"]


def calculate(
    children: pd.DataFrame,
    households: pd.DataFrame,
    table: pd.DataFrame,
    sider: dict,
    months: list[dt.date],
    expand: bool = True,
) -> pd.DataFrame:
    """Every child-month (``expand=True``) or every run (``expand=False``) with its fee and step records."""
    children = children.reset_index(drop=True)
    koder = Koder.of(children)
    runs = plan_runs(children, months, segments(table, sider, months), koder)
    k = gather(children, households, table, sider, months, runs, koder)
    records = take_the_steps(k, runs)
    k.forget_gathered()  # the steps' inputs are let go before the result is built: its peak is the result's
    # expanded, every column is taken once, from its source straight to the child-months: no table of runs is
    # built and expanded again (at 100 000 children 1.16 M child-months from 0.3 M runs)
    return assemble(children, households, table, k, records, runs, expand=expand)


def gather(
    children: pd.DataFrame,
    households: pd.DataFrame,
    table: pd.DataFrame,
    sider: dict,
    months: list[dt.date],
    runs: Runs,
    koder: Koder,
) -> Kontekst:
    """Each run's row in the household table and in the month table, by integer index (each household id
    looked up once)."""
    hh_pos = pd.Index(households["husholdning_id"]).get_indexer(koder.husholdninger)[koder.husholdning]
    k_codes, kommuner = pd.factorize(children["kommunenummer"])
    t_kommune = pd.Index(kommuner).get_indexer(table["kommunenummer"])
    t_month = pd.Index([pd.Timestamp(x) for x in months]).get_indexer(table["maaned"])
    grid = np.full((len(kommuner), len(months)), -1, dtype=np.int64)
    ok = (t_kommune >= 0) & (t_month >= 0)
    grid[t_kommune[ok], t_month[ok]] = np.flatnonzero(ok)
    t_pos = grid[k_codes[runs.child], runs.first]
    return Kontekst(
        children,
        households,
        table,
        sider,
        months,
        runs.child,
        runs.first,
        hh_pos,
        t_pos,
        k_codes[runs.child],
        np.asarray(kommuner),
        koder,
    )


def take_the_steps(k: Kontekst, runs: Runs) -> dict[str, np.ndarray]:
    """The amount through every step in order; each step's amount after it, flags and numbers kept."""
    records: dict[str, np.ndarray] = {}
    flagg = np.zeros(k.n, dtype=np.int64)
    amount = np.zeros(k.n, dtype=np.int64)
    for step in REKKEFOLGE:
        result = step.beregn(k, amount)  # type: ignore[misc]
        amount = result.etter
        records[step.etter] = amount
        for name, applies in result.flagg.items():
            if name != "ikke_fakturert":
                applies = applies & k.fakturert  # a reduction is only recorded for a billed month
            flagg |= np.where(applies, BIT[name], 0)
        records.update(result.ekstra)
    flagg |= np.where(k.fakturert & k.manuell, BIT["manuell"], 0)
    flagg |= np.where(runs.moved, BIT["plassbytte"], 0)
    records["flagg"] = flagg
    records.update(amounts_in_kroner(k, records))
    # two string objects for all the runs (text.py says why); none: as np.where makes it, so pandas reads it as text
    records["status"] = (
        np.array(["ok", "manuell"], dtype=object)[k.manuell.astype(np.intp)] if k.n else np.array([], dtype=str)
    )
    records["manuell_grunn"] = manual_reason(k)
    # kept as int32 from here: each int64 array is let go as its narrow copy is made, so the table built next
    # (assemble) does not stand beside them (at 100 000 children 57 MB less at the calculation's peak)
    for c in records.keys() & set(_INT32):
        records[c] = narrowed(c, records[c])
    return records


# The children's and households' numbers the runs carry for the explanation, none of them an income: a place's share,
# hours, grade, given price, the income years. (The incomes stay int64: two that fit int32 may not fit as a sum.)
SMALL_NUMBERS = frozenset({"plass_bp", "timer_c", "trinn", "pris_oere", "soeker_aar", "partner_aar"})


def _narrow_if_it_fits(column: pd.Series) -> pd.Series:
    """A column of integers (prices in øre, hours, ages, years) as int32 when every value fits, else as it is: the
    runs carry it for the explanation (the steps read their inputs as int64), at half the memory."""
    v = column.to_numpy()
    if v.dtype != np.int64 or not _fits_int32(v):
        return column
    return pd.Series(v.astype(np.int32), name=column.name)


def _fits_int32(values: np.ndarray) -> bool:
    return not len(values) or (values.min() >= _I32.min and values.max() <= _I32.max)


def narrowed(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` as int32, or a ValueError naming the column if one of them does not fit (never wrapped)."""
    if not _fits_int32(values):
        raise ValueError(f"{name}: {int(values.min())}..{int(values.max())} passer ikke i int32")
    return values.astype(np.int32)


def amounts_in_kroner(k: Kontekst, records: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The output columns: each step's reduction in whole kroner (before − after, each rounded), where billed."""
    billed = k.fakturert
    out = {c: np.zeros(k.n, dtype=np.int64) for c in AMOUNT_COLUMNS}
    before = None
    for step in REKKEFOLGE:
        after = to_kroner(records[step.etter])
        if step.utkolonne and before is not None:
            out[step.utkolonne] += np.where(billed, before - after, 0)
        if step.etterkolonne:
            out[step.etterkolonne] = np.where(billed, after, 0)
        before = after
    out["ordinaer_pris"] = np.where(billed, to_kroner(records[REKKEFOLGE[0].etter]), 0)
    out["belop"] = to_kroner(records[REKKEFOLGE[-1].etter])
    return out


def manual_reason(k: Kontekst) -> np.ndarray:
    """Why a run waits: the household's reason, or the unknown income items the municipality has looked at first."""
    status_manual = k.husholdning_er("inntekt_status", "manuell")
    out = np.where(status_manual, k.husholdning("manuell_grunn"), "").astype(object)
    items = k.manuell & ~status_manual  # only these rows get the longer text
    if items.any():
        out[items] = "ukjent inntektspost i skattegrunnlaget: " + k.husholdning("ukjente_poster")[items].astype(str)
    return out


# Amounts of one place in one month, ranks, rates: far below 2**31 (checked: :func:`narrowed`).
_I32 = np.iinfo(np.int32)
_INT32 = (
    AMOUNT_COLUMNS
    + [s.etter for s in REKKEFOLGE]
    + ["fakturerte_mnd", "andel_bp", "pris_tak_oere", "soesken_rang", "soesken_bp", "flagg"]
)


def assemble(
    children: pd.DataFrame,
    households: pd.DataFrame,
    table: pd.DataFrame,
    k: Kontekst,
    records: dict[str, np.ndarray],
    runs: Runs,
    expand: bool = False,
) -> pd.DataFrame:
    """One DataFrame per run (with ``antall_maaneder``), built once; or, ``expand``, one per child and month, each
    column taken once from its source by the run's index composed with each child-month's run. ``records`` is
    emptied: each record goes as its column is made."""
    rep, offset = month_runs(runs.length) if expand else (None, None)
    cols: dict[str, object] = {}

    def put(name: str, values: pd.Series | np.ndarray, index: np.ndarray | None = None, full=None) -> None:
        """``values`` at each run (``index`` into them; None: they are the runs'), or at each child-month (``full``:
        ``index`` composed with each child-month's run)."""
        if rep is None:
            cols[name] = values if index is None else take(values, index)
        elif values.dtype == object:
            # read as a table of the runs would read it (strings become pandas text), then expanded as that: pandas
            # checks the 0.3 M runs' values, not the 1.16 M child-months' (0.3 s at 100 000 children)
            cols[name] = take(pd.Series(values if index is None else take(values, index), copy=False), rep)
        else:
            cols[name] = take(values, rep if index is None else full)

    def narrow(frame: pd.DataFrame, c: str) -> pd.Series:
        return _narrow_if_it_fits(frame[c]) if c in SMALL_NUMBERS else frame[c]

    ci = runs.child
    ci_full = ci if rep is None else ci[rep]
    keep = CHILD_COLUMNS + [c for c in children.columns if c not in ENROLLMENT_COLUMNS]  # + the file's own columns
    # the ids from copies that lie together: the processes writing the outputs then copy few pages (see text.py)
    coded = {
        "barn_id": (k.koder.barn_ider, k.koder.barn),
        "husholdning_id": (k.koder.husholdninger, k.koder.husholdning),
    }
    for c in keep:
        if c in coded:
            cols[c] = take_coded(children[c], ci_full, *coded[c])
        else:
            put(c, narrow(children, c), ci, ci_full)
    starts = pd.DatetimeIndex([pd.Timestamp(x) for x in k.months]).to_numpy()
    if rep is None:
        cols["maaned"] = starts[runs.first]
    else:  # as expand_runs makes it
        cols["maaned"] = starts.astype("datetime64[ns]")[runs.first[rep] + offset]
        del offset  # 9 MB at 100 000 children
    hp = k.hh_pos[ci]
    hp_full = hp if rep is None else hp[rep]
    for c in HOUSEHOLD_COLUMNS:
        if c in households:
            put(c, narrow(households, c), hp, hp_full)
    del hp_full
    t_full = k.t_pos if rep is None else k.t_pos[rep]
    for c in dict.fromkeys(c for s in ALLE for c in s.behold):
        put(c, _narrow_if_it_fits(table[c]), k.t_pos, t_full)
    del t_full
    # the unverified rule values this run's offer used (the office's note on the decision)
    uverifisert = np.where(
        k.barnehage, table["uverifisert_barnehage"].to_numpy()[k.t_pos], table["uverifisert_sfo"].to_numpy()[k.t_pos]
    )
    put("uverifisert", uverifisert)
    for c in list(records):  # int32 where narrow (take_the_steps)
        put(c, records.pop(c))
    # periods and counts by child and offer compare these, not the texts
    cols[PLASS] = narrowed(PLASS, k.koder.plass[ci_full])
    if rep is None:
        cols["antall_maaneder"] = runs.length.copy()
    # copy=False: each column stays its own block (every array above is new), not stacked into 2-D blocks by
    # dtype, which copied the whole table once more (1.2 s and its memory at 500 000 children)
    return pd.DataFrame(cols, copy=False)


def flag_text(flagg: np.ndarray | pd.Series) -> np.ndarray:
    """``forklaring_kode``: the set flags joined with «+» («ordinaer» when none), made per distinct value."""
    uniq, inverse = np.unique(np.asarray(flagg, dtype=np.int64), return_inverse=True)
    names = np.array(["+".join(name for name in FLAGG if u & BIT[name]) or "ordinaer" for u in uniq], dtype=object)
    return names[inverse]


def has_flag(flagg: np.ndarray | pd.Series, *names: str) -> np.ndarray:
    mask = 0
    for name in names:
        mask |= BIT[name]
    return (np.asarray(flagg, dtype=np.int64) & mask) != 0


__all__ = [
    "calculate",
    "expand_runs",
    "month_range",
    "month_table",
    "segments",
    "plan_runs",
    "flag_text",
    "has_flag",
    "AMOUNT_COLUMNS",
    "PLASS",
    "Koder",
]
