"""The invoicing basis: ``fakturagrunnlag.csv`` and ``fakturagrunnlag.xlsx`` (+ a list per private owner).

One line per payer, child and billed month with an amount above 0, with the offer, the
institution, the article code and the accounting dimensions (``ansvar``, ``tjeneste``, ``art``)
from the municipal setting ``faktura`` (:mod:`fee_engine.steg.faktura`); the amount of a child in
manual processing is provisional and marked ``foreloepig``. The payer is ``betaler_fnr`` where the
enrollment file names one, else ``foresatt_fnr``.

A private barnehage invoices the parents itself: children whose placement has an owner
(``eier_orgnr`` column, or the municipal setting for the institution) are not invoice lines but go
to the owner's list of the reductions decided (``reduksjoner_eier_<orgnr>.csv``; sheet «Private
eiere»), every billed month, also those at 0 kr. Invoice lines and owner lists together add up to
the billed amounts of ``maanedlig.csv``.

This is the only output with full fødselsnumre, because invoicing needs them: its files are
created with mode 0600, it is never part of ``vedtak.xlsx``, and it should go to finance only.

The payer is joined from the enrollment rows: a billed month belongs to the placement the
calculation chose (the same child, offer and institution; of several such placements, the one with
the most days in the month, a tie to the later one, as :func:`fee_engine.beregning.perioder.one_bill_per_month`).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..beregning import has_flag
from ..beregning.perioder import take
from ..regelsett import RuleSet, format_value
from ..steg.faktura import FELT, kontering
from .csv import DEFAULT_DIALECT, Dialect, write_csv, write_expanded
from .excel import Book, FrontLine, sum_totals, write_front, write_table

LINE_COLUMNS = [
    "betaler_fnr",
    "barn_id",
    "husholdning_id",
    "tilbud",
    "kommunenummer",
    "institusjon",
    "maaned",
    "artikkel",
    "ansvar",
    "tjeneste",
    "art",
    "belop",
    "foreloepig",
]
PAYER_COLUMNS = ["betaler_fnr", "maaned", "linjer", "belop", "foreloepig"]
REDUCTIONS = ["saerskilte_behov_fritak", "inntektsreduksjon", "soeskenmoderasjon", "gratis_timer"]
OWNER_COLUMNS = [
    "eier_orgnr",
    "institusjon",
    "betaler_fnr",
    "barn_id",
    "husholdning_id",
    "tilbud",
    "maaned",
    "ordinaer_pris",
    *REDUCTIONS,
    "reduksjon",
    "belop",
    "foreloepig",
]
AMOUNTS = ["ordinaer_pris", *REDUCTIONS, "belop"]
PRIVATE_MODE = 0o600


@dataclass
class Fakturagrunnlag:
    """Invoice lines and owner lines kept one row per run of months (``_first``: first month, ``_n``: months),
    so that 1 M monthly lines cost what 200 000 runs cost; :attr:`lines` and :attr:`owners` expand them."""

    line_runs: pd.DataFrame  # LINE_COLUMNS (maaned unset) + _first, _n; sorted by payer, child, offer, month
    owner_runs: pd.DataFrame  # OWNER_COLUMNS (maaned unset) + _first, _n; sorted by owner, institution, child
    per_payer: pd.DataFrame  # totals per payer and month (PAYER_COLUMNS)
    billed_total: int  # the sum of belop over every month of the run (= maanedlig.csv)
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def lines(self) -> pd.DataFrame:
        """The municipality's invoice lines, one per payer, child and month (LINE_COLUMNS)."""
        return expand(self.line_runs)[LINE_COLUMNS]

    @cached_property
    def owners(self) -> pd.DataFrame:
        """Every private owner's list, one row per child and billed month (OWNER_COLUMNS)."""
        return expand(self.owner_runs)[OWNER_COLUMNS]


def expand(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per month from one row per run (``_first`` as datetime64[M], ``_n`` months)."""
    n = frame["_n"].to_numpy()
    rep = np.repeat(np.arange(len(frame)), n)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n)
    out = pd.DataFrame({c: take(frame[c], rep) for c in frame.columns if c not in ("_first", "_n", "maaned")})
    first = frame["_first"].to_numpy("datetime64[M]")
    start = first.min() if len(first) else np.datetime64("2000-01", "M")
    month = (first - start).astype(np.int64)[rep] + offset
    labels = np.array([str(start + k) for k in range(int(month.max()) + 1 if len(month) else 0)], dtype=object)
    out["maaned"] = labels[month] if len(rep) else pd.Series([], dtype=object)
    return out


def build(runs: pd.DataFrame, rows: pd.DataFrame, rules: RuleSet, months: list[dt.date]) -> Fakturagrunnlag:
    """The invoicing basis from the runs (no fødselsnummer) and the enrollment rows (the payers)."""
    length = runs["antall_maaneder"].to_numpy()
    billed_total = int((runs["belop"].to_numpy().astype(np.int64) * length).sum())
    r = runs[~has_flag(runs["flagg"], "ikke_fakturert")].reset_index(drop=True)
    start = np.datetime64(months[0], "M") if months else np.datetime64("2000-01", "M")
    first = (r["maaned"].to_numpy("datetime64[M]") - start).astype(np.int64)
    grid, combo, warnings = _codes(r, first, r["antall_maaneder"].to_numpy(), rules, months)
    r, first, combo = _split_where_codes_change(r, first, combo, grid)
    payer, row_owner, missing = _payers(r, rows)
    if missing:
        warnings.append(
            f"Fakturagrunnlaget: fant ikke plassen i innskrivingsfilen for {missing} kjøringer; "
            "de står uten betaler. Meld fra til den som drifter fee-engine."
        )
    f = pd.DataFrame(
        {c: r[c].to_numpy() for c in ["barn_id", "husholdning_id", "tilbud", "kommunenummer", "institusjon", *AMOUNTS]}
    )
    f["betaler_fnr"] = payer
    f["foreloepig"] = np.where(r["status"].to_numpy() == "manuell", "ja", "nei")
    for name in FELT:
        f[name] = grid[name][combo, first]
    f["eier_orgnr"] = np.where(row_owner != "", row_owner, grid["eier_orgnr"][combo, first])
    f["maaned"] = ""
    f["_first"] = start + first
    f["_n"] = r["antall_maaneder"].to_numpy()

    private = f["eier_orgnr"].to_numpy() != ""
    lines = f.loc[~private & (f["belop"].to_numpy() > 0), LINE_COLUMNS + ["_first", "_n"]]
    lines = lines.sort_values(["betaler_fnr", "barn_id", "tilbud", "_first"], kind="stable").reset_index(drop=True)
    owners = f.loc[private].assign(reduksjon=lambda d: d["ordinaer_pris"] - d["belop"])
    owners = owners[OWNER_COLUMNS + ["_first", "_n"]]
    owners = owners.sort_values(["eier_orgnr", "institusjon", "barn_id", "tilbud", "_first"], kind="stable")
    return Fakturagrunnlag(lines, owners.reset_index(drop=True), per_payer(lines), billed_total, warnings)


def per_payer(line_runs: pd.DataFrame) -> pd.DataFrame:
    """Lines and their sum per payer and month, from the line runs without expanding every column."""
    if not len(line_runs):
        return pd.DataFrame(columns=PAYER_COLUMNS)
    codes, payers = pd.factorize(line_runs["betaler_fnr"], sort=True)
    n = line_runs["_n"].to_numpy()
    first = line_runs["_first"].to_numpy("datetime64[M]")
    start = first.min()
    span = int((first - start).astype(np.int64).max() + n.max())
    rep = np.repeat(np.arange(len(line_runs)), n)
    month = (first - start).astype(np.int64)[rep] + (np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n))
    key = codes[rep] * span + month
    size = len(payers) * span
    count = np.bincount(key, minlength=size)
    total = np.bincount(key, weights=line_runs["belop"].to_numpy()[rep].astype(np.float64), minlength=size)
    provisional = (line_runs["foreloepig"].to_numpy() == "ja")[rep].astype(np.float64)
    prov = np.bincount(key, weights=provisional, minlength=size)
    used = np.flatnonzero(count)
    return pd.DataFrame(
        {
            "betaler_fnr": np.asarray(payers, dtype=object)[used // span],
            "maaned": np.array([str(start + k) for k in range(span)], dtype=object)[used % span],
            "linjer": count[used].astype(np.int64),
            "belop": np.round(total[used]).astype(np.int64),
            "foreloepig": np.where(prov[used] > 0, "ja", "nei"),
        }
    )


def _split_where_codes_change(
    r: pd.DataFrame, first: np.ndarray, combo: np.ndarray, grid: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Runs over a month where the article, a dimension or the owner changes become one run per month."""
    n = r["antall_maaneder"].to_numpy()
    if not len(r) or n.max() <= 1:
        return r, first, combo
    change = np.zeros(grid["artikkel"].shape, dtype=bool)
    for g in grid.values():
        change[:, 1:] |= g[:, 1:] != g[:, :-1]
    if not change.any():
        return r, first, combo
    cs = np.cumsum(change, axis=1)
    split = (cs[combo, first + n - 1] - cs[combo, first]) > 0
    rep = np.concatenate([np.flatnonzero(~split), np.repeat(np.flatnonzero(split), n[split])])
    offset = np.concatenate(
        [
            np.zeros(int((~split).sum()), dtype=np.int64),
            np.arange(int(n[split].sum())) - np.repeat(np.cumsum(n[split]) - n[split], n[split]),
        ]
    )
    out = r.iloc[rep].reset_index(drop=True)
    out["antall_maaneder"] = np.where(np.isin(rep, np.flatnonzero(split)), 1, out["antall_maaneder"].to_numpy())
    out["maaned"] = (out["maaned"].to_numpy("datetime64[M]") + offset).astype("datetime64[ns]")
    return out, first[rep] + offset, combo[rep]


def _payers(r: pd.DataFrame, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """For each run: the payer's fødselsnummer and the owner's orgnr from the placement it bills."""
    keys = ["barn_id", "tilbud", "institusjon"]
    runs_k = r[keys].assign(run=np.arange(len(r)), first=r["maaned"].to_numpy("datetime64[ns]"))
    rows_k = rows[keys].assign(
        pos=np.arange(len(rows)),
        fra=rows["fra_dato"].to_numpy("datetime64[ns]"),
        til=rows["til_dato"].to_numpy("datetime64[ns]"),
    )
    j = runs_k.merge(rows_k, on=keys, how="inner")
    month_start = j["first"].to_numpy("datetime64[D]")
    month_end = (pd.DatetimeIndex(j["first"]) + pd.offsets.MonthEnd(0)).to_numpy("datetime64[D]")
    fra = j["fra"].to_numpy("datetime64[D]")
    til = j["til"].to_numpy("datetime64[D]")
    lo = np.where(np.isnat(fra), month_start, np.maximum(fra, month_start))
    hi = np.where(np.isnat(til), month_end, np.minimum(til, month_end))
    j["days"] = (hi - lo).astype(np.int64) + 1
    j["start"] = np.where(np.isnat(fra), np.iinfo(np.int64).min, fra.astype(np.int64))
    best = j.sort_values(["run", "days", "start"], ascending=[True, False, False], kind="stable").drop_duplicates("run")
    pos = np.full(len(r), -1, dtype=np.int64)
    pos[best["run"].to_numpy()] = best["pos"].to_numpy()
    found = pos >= 0
    betaler = rows["betaler_fnr"].astype(str).to_numpy(dtype=object)
    foresatt = rows["foresatt_fnr"].astype(str).to_numpy(dtype=object)
    eier = rows["eier_orgnr"].astype(str).to_numpy(dtype=object)
    p = np.where(betaler != "", betaler, foresatt)
    payer = np.where(found, p[np.maximum(pos, 0)] if len(rows) else "", "").astype(object)
    owner = np.where(found, eier[np.maximum(pos, 0)] if len(rows) else "", "").astype(object)
    return payer, owner, int((~found).sum())


def _codes(
    r: pd.DataFrame, first: np.ndarray, n: np.ndarray, rules: RuleSet, months: list[dt.date]
) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """Article, dimensions and owner for each (kommune, offer, institution) and month of the period, looked up
    once each; with every run's row in that grid and the warnings (values not verified, settings missing)."""
    combo, uniques = pd.factorize(pd.MultiIndex.from_frame(r[["kommunenummer", "tilbud", "institusjon"]].astype(str)))
    fields = FELT + ("eier_orgnr",)
    grid = {f: np.full((len(uniques), max(len(months), 1)), "", dtype=object) for f in fields}
    # the months each combination is billed in: +1 where a run starts, −1 after its last month
    diff = np.zeros((len(uniques), len(months) + 1), dtype=np.int64)
    np.add.at(diff, (combo, first), 1)
    np.add.at(diff, (combo, first + n), -1)
    wanted = np.cumsum(diff[:, : len(months)], axis=1) > 0
    used: dict[tuple[str, dt.date], Any] = {}
    without: set[tuple[str, str]] = set()
    for c, mi in zip(*np.nonzero(wanted)):
        kommune, tilbud, institusjon = uniques[c]
        values, seen = kontering(rules, kommune, tilbud, institusjon, months[mi])
        for f in fields:
            grid[f][c, mi] = values[f]
        for path, v in seen:
            used[(path, v.gjelder_fra)] = (path, v)
        if not any(path.endswith(f"faktura.{tilbud}") for path, _ in seen):
            without.add((kommune, tilbud))
    warnings = [
        f"Kommune {k} har ingen faktura.{t} for hele perioden: artikkel og kontering er tomme i "
        f"fakturagrunnlaget for {t}. Legg dem inn i kommunefilen (se docs/kommunefil.md)."
        for k, t in sorted(without)
    ]
    warnings += [
        f"Ikke verifisert verdi brukt: {path} = {format_value(v.verdi)} fra {v.gjelder_fra} (kilde: {v.kilde}"
        + (f"; {v.merknad}" if v.merknad else "")
        + ")"
        for (path, _), (_, v) in sorted(used.items(), key=lambda kv: kv[0])
        if not v.verifisert
    ]
    return grid, combo, warnings


# -- writing --------------------------------------------------------------------------------------
def _private(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 before anything is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    os.close(fd)
    path.chmod(PRIVATE_MODE)
    return path


def owner_file_name(orgnr: str) -> str:
    return f"reduksjoner_eier_{orgnr}.csv"


def write_csv_files(basis: Fakturagrunnlag, directory: Path, d: str | Dialect = DEFAULT_DIALECT) -> list[Path]:
    """``fakturagrunnlag.csv``, ``fakturagrunnlag_per_betaler.csv`` and one list per private owner, all 0600."""
    lines = basis.line_runs
    files = [
        write_expanded(
            lines[LINE_COLUMNS],
            "maaned",
            lines["_first"].to_numpy(),
            lines["_n"].to_numpy(),
            _private(directory / "fakturagrunnlag.csv"),
            d,
            lambda: basis.lines,
        ),
        write_csv(basis.per_payer, _private(directory / "fakturagrunnlag_per_betaler.csv"), d),
    ]
    for orgnr, part in basis.owner_runs.groupby("eier_orgnr", sort=True):
        part = part.reset_index(drop=True)
        files.append(
            write_expanded(
                part[OWNER_COLUMNS],
                "maaned",
                part["_first"].to_numpy(),
                part["_n"].to_numpy(),
                _private(directory / owner_file_name(str(orgnr))),
                d,
                lambda part=part: expand(part)[OWNER_COLUMNS],
            )
        )
    return files


SHEETS = {
    "Fakturalinjer": "én linje per betaler, barn og fakturert måned med beløp over 0, med artikkel og kontering",
    "Per betaler og måned": "summen per betaler og måned (det som blir én faktura)",
    "Private eiere": "per privat barnehage (eiers org.nr.): reduksjonene som er vedtatt, for eierens egen faktura",
}


def write_workbook(basis: Fakturagrunnlag, path: Path, meta: dict[str, Any]) -> Path:
    book = Book(_private(path))
    owners_total = int(basis.owners["belop"].sum()) if len(basis.owners) else 0
    lines_total = int(basis.lines["belop"].sum()) if len(basis.lines) else 0
    front = [
        FrontLine(
            "Fortrolig",
            "Inneholder fulle fødselsnumre (betaler). Bare for fakturering og økonomi; "
            "del ikke filen videre, og slett den når fakturaene er sendt.",
        ),
        None,
        FrontLine("Periode", meta.get("periode", "")),
        FrontLine("Regelsett (versjon)", meta.get("regelsett", "")),
        FrontLine("Laget", meta.get("laget", "")),
        None,
        FrontLine("Fakturalinjer", len(basis.lines)),
        FrontLine("Betalere", int(basis.lines["betaler_fnr"].nunique()) if len(basis.lines) else 0),
        FrontLine("Foreløpige linjer (manuell behandling)", int((basis.lines["foreloepig"] == "ja").sum())),
        FrontLine("Å fakturere (kommunen)", lines_total, "kr"),
        FrontLine("Betales til private eiere", owners_total, "kr"),
        FrontLine("Sum fakturerte måneder i maanedlig.csv", basis.billed_total, "kr"),
        FrontLine("Kontroll", "stemmer" if lines_total + owners_total == basis.billed_total else "STEMMER IKKE"),
        None,
        FrontLine("Advarsler", [w for w in meta.get("advarsler", []) if "faktura" in w]),
    ]
    sheets = dict(SHEETS) if len(basis.owners) else {k: v for k, v in SHEETS.items() if k != "Private eiere"}
    write_front(book, "Fakturagrunnlag for foreldrebetaling", front, sheets)
    write_table(book, "Fakturalinjer", basis.lines, total=sum_totals(basis.lines))
    write_table(book, "Per betaler og måned", basis.per_payer, total=sum_totals(basis.per_payer))
    if len(basis.owners):
        write_table(book, "Private eiere", basis.owners, total=sum_totals(basis.owners))
    book.close()
    path.chmod(PRIVATE_MODE)
    return path


__all__ = [
    "Fakturagrunnlag",
    "build",
    "write_csv_files",
    "write_workbook",
    "LINE_COLUMNS",
    "OWNER_COLUMNS",
    "owner_file_name",
]
