"""Compare one batch under two rule sets: per child and month, per institution and month, in total.

Tax data is looked up once and shared by both calculations, so every difference
comes from the rules. ``endringer.csv`` lists only child-months whose amount
differs, and names the steps that changed (``ordinaer_pris``, ``inntektsreduksjon``,
``saerskilte_behov_fritak``, ``soeskenmoderasjon``, ``gratis_timer``, ``status``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .output.csv import write_csv
from .output.excel import Book, FrontLine, sum_totals, write_front, write_table
from .output.report import CSS, _bars, _kr, _table
from .steg import REKKEFOLGE
from .text import thousands

KEY = ["barn_id", "tilbud", "maaned"]
# Each step's record in the monthly output (its reduction in kroner, in the order the steps are taken), and the status.
STEP_COLUMNS = ["ordinaer_pris", *dict.fromkeys(s.utkolonne for s in REKKEFOLGE if s.utkolonne), "status"]
CHANGE_COLUMNS = [
    "barn_id",
    "husholdning_id",
    "tilbud",
    "kommunenummer",
    "institusjon",
    "maaned",
    "belop_a",
    "belop_b",
    "differanse",
    "status_a",
    "status_b",
    "steg",
]


@dataclass
class DiffResult:
    changes: pd.DataFrame
    summary: pd.DataFrame
    revenue_a: int
    revenue_b: int
    rules_a: str
    rules_b: str
    rows_rejected: int = 0  # rows of the enrollment file rejected (set by the batch)

    @property
    def difference(self) -> int:
        return self.revenue_b - self.revenue_a


def compare(monthly_a: pd.DataFrame, monthly_b: pd.DataFrame, rules_a: str, rules_b: str) -> DiffResult:
    cols = KEY + ["husholdning_id", "kommunenummer", "institusjon", "belop", *STEP_COLUMNS]
    m = monthly_a[cols].merge(monthly_b[cols], on=KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
    for c in ("husholdning_id", "kommunenummer", "institusjon"):
        m[c] = m[f"{c}_a"].fillna(m[f"{c}_b"])
    m["belop_a"] = m["belop_a"].fillna(0).astype(np.int64)
    m["belop_b"] = m["belop_b"].fillna(0).astype(np.int64)
    m["differanse"] = m["belop_b"] - m["belop_a"]
    steps = np.full(len(m), "", dtype=object)
    for c in STEP_COLUMNS:
        a, b = m[f"{c}_a"], m[f"{c}_b"]
        changed = ~((a == b) | (a.isna() & b.isna()))
        steps = np.where(changed, np.where(steps == "", c, steps + "+" + c), steps)
    steps = np.where(m["_merge"] == "left_only", "bare_i_a", np.where(m["_merge"] == "right_only", "bare_i_b", steps))
    m["steg"] = steps
    differs = (m["differanse"] != 0) | (m["_merge"] != "both")
    changes = m.loc[differs, CHANGE_COLUMNS].sort_values(KEY, kind="stable").reset_index(drop=True)

    keys = ["maaned", "kommunenummer", "institusjon", "tilbud"]
    rev = m.groupby(keys, dropna=False)[["belop_a", "belop_b", "differanse"]].sum()
    per_household = m.groupby(keys + ["husholdning_id"], dropna=False)["differanse"].sum().reset_index()
    better = per_household[per_household["differanse"] < 0].groupby(keys, dropna=False).size()
    worse = per_household[per_household["differanse"] > 0].groupby(keys, dropna=False).size()
    summary = (
        rev.assign(
            husholdninger_bedre=better.reindex(rev.index, fill_value=0),
            husholdninger_verre=worse.reindex(rev.index, fill_value=0),
        )
        .reset_index()
        .rename(columns={"belop_a": "inntekt_a", "belop_b": "inntekt_b"})
    )
    return DiffResult(changes, summary, int(m["belop_a"].sum()), int(m["belop_b"].sum()), rules_a, rules_b)


DIFF_SHEETS = {
    "Endringer": "hvert barn og hver måned der beløpet er ulikt under A og B, med stegene som endret seg",
    "Oppsummering": "per måned og enhet: inntekt under A og B, differansen, husholdninger med lavere og høyere beløp",
}


def write_diff(
    result: DiffResult, out: Path, formats: tuple[str, ...], csv_dialect: str = "excel", rows_rejected: int = 0
) -> list[Path]:
    files = [
        write_csv(result.changes, out / "endringer.csv", csv_dialect),
        write_csv(result.summary, out / "oppsummering.csv", csv_dialect),
    ]
    if "xlsx" in formats:
        book = Book(out / "endringer.xlsx")
        children = result.changes.drop_duplicates(["barn_id", "tilbud"]).shape[0]
        write_front(
            book,
            "Endringer mellom to regelsett",
            [
                FrontLine("Regelsett A", result.rules_a),
                FrontLine("Regelsett B", result.rules_b),
                None,
                FrontLine("Inntekt A", result.revenue_a, "kr"),
                FrontLine("Inntekt B", result.revenue_b, "kr"),
                FrontLine("Differanse (B − A)", result.difference, "kr"),
                None,
                FrontLine("Barn-måneder endret", len(result.changes)),
                FrontLine("Barn berørt", children),
                FrontLine("Rader avvist i innskrivingsfilen", rows_rejected),
            ],
            DIFF_SHEETS,
        )
        write_table(book, "Endringer", result.changes, total=sum_totals(result.changes))
        write_table(book, "Oppsummering", result.summary, total=sum_totals(result.summary))
        files.append(book.close())
    if "html" in formats:
        files.append(_write_html(result, out / "endringer.html"))
    return files


def _write_html(r: DiffResult, path: Path) -> Path:
    by_month = r.summary.groupby("maaned")["differanse"].sum()
    per_child = r.changes.groupby(["barn_id", "tilbud"])["differanse"].sum()
    households = r.summary[["husholdninger_bedre", "husholdninger_verre"]].sum()
    bins = np.linspace(per_child.min(), per_child.max(), 11) if len(per_child) else np.array([0, 1])
    counts, edges = np.histogram(per_child, bins=bins if len(np.unique(bins)) > 1 else 1)
    labels = [f"{int(a)}…{int(b)}" for a, b in zip(edges[:-1], edges[1:])]
    table = (
        r.summary.groupby(["kommunenummer", "institusjon", "tilbud"], dropna=False)[
            ["inntekt_a", "inntekt_b", "differanse"]
        ]
        .sum()
        .reset_index()
    )
    body = f"""<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>Endringer</title><style>{CSS}</style></head><body>
<h1>Endringer mellom to regelsett</h1>
<p class="meta">A: regelsett {html.escape(r.rules_a)} · B: regelsett {html.escape(r.rules_b)}</p>
<div class="cards">
<div class="card">Inntekt A<b>{_kr(r.revenue_a)}</b></div><div class="card">Inntekt B<b>{_kr(r.revenue_b)}</b></div>
<div class="card">Differanse (B − A)<b>{_kr(r.difference)}</b></div>
<div class="card">Barn-måneder endret<b>{len(r.changes)}</b></div>
<div class="card">Barn berørt<b>{len(per_child)}</b></div></div>
<p>Husholdning-måneder med lavere beløp: {int(households["husholdninger_bedre"])}; med høyere beløp:
{int(households["husholdninger_verre"])}.</p>
<h2>Differanse per måned</h2>
{_bars([str(m) for m in by_month.index], [int(v) for v in by_month.values], fmt=thousands, title="Differanse per måned")}
<h2>Fordeling av endring per barn over perioden (kr)</h2>
{_bars(labels, [int(c) for c in counts], title="Endring per barn")}
<h2>Per enhet</h2>
{_table(table, {"inntekt_a", "inntekt_b", "differanse"})}
</body></html>"""
    path.write_text(body, encoding="utf-8")
    return path
