"""``rapport.html``: one self-contained page for the office (inline CSS and SVG, no network)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..beregning import has_flag
from ..text import kroner, thousands
from .summary import by_institution_month, households_with, totals


def _kr(v: int | float) -> str:
    """Kroner for HTML: no-break spaces, so an amount never wraps."""
    return kroner(int(v)).replace(" ", "\u00a0")


def _bars(labels: list[str], values: list[int], *, width: int = 720, height: int = 240, fmt=str, title: str) -> str:
    """A plain SVG bar chart with labels under the bars and values above them."""
    n = max(len(values), 1)
    top = max(max((abs(v) for v in values), default=0), 1)
    pad_l, pad_b, pad_t = 100, 70, 22
    bw = (width - pad_l - 10) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>']
    for i, (lab, v) in enumerate(zip(labels, values)):
        h = (height - pad_b - pad_t) * abs(v) / top  # a negative value is drawn as high as its size, in red
        x = pad_l + i * bw
        y = height - pad_b - h
        colour = "#c0392b" if v < 0 else "#305496"
        parts.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{max(bw - 4, 1):.1f}" height="{h:.1f}" fill="{colour}"/>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle">{html.escape(fmt(v))}</text>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - pad_b + 14:.1f}" font-size="11" text-anchor="end" '
                     f'transform="rotate(-30 {x + bw / 2:.1f} {height - pad_b + 14:.1f})">{html.escape(lab)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def fee_histogram(monthly: pd.DataFrame, step: int = 250) -> tuple[list[str], list[int]]:
    billed = monthly[(monthly["status"] == "ok") & ~has_flag(monthly["flagg"], "ikke_fakturert")]
    if billed.empty:
        return [], []
    top = int(billed["belop"].max())
    edges = np.arange(0, top + step + 1, step)
    counts, _ = np.histogram(billed["belop"], bins=edges)
    labels = [f"{int(a)}–{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:])]
    return labels, [int(c) for c in counts]


def _table(df: pd.DataFrame, money: set[str] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, rec):
            text = _kr(v) if c in money and pd.notna(v) else ("" if pd.isna(v) else str(v))
            cls = ' class="num"' if c in money or isinstance(v, (int, np.integer)) else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #305496;padding-bottom:.2rem}
.meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.card{background:#f2f5fb;border-radius:8px;padding:.8rem 1.2rem;min-width:160px}
.card b{display:block;font-size:1.4rem}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#305496;color:#fff}td.num{text-align:right;white-space:nowrap}
.warn{background:#fff4d6;border-left:4px solid #e0a800;padding:.4rem .8rem;margin:.3rem 0}
"""


def write_report(path: Path, *, meta: dict[str, Any], monthly: pd.DataFrame, rejected: pd.DataFrame) -> Path:
    t = totals(monthly)
    hh = households_with(monthly)
    per_month = monthly.groupby("maaned")["belop"].sum()
    hist_labels, hist_values = fee_histogram(monthly)
    manual = (monthly[monthly["status"] == "manuell"]
              .drop_duplicates(["barn_id", "tilbud"])[["barn_id", "husholdning_id", "tilbud", "institusjon", "manuell_grunn"]]
              .rename(columns={"manuell_grunn": "grunn"}))
    summary = by_institution_month(monthly)
    inst = summary.groupby(["kommunenummer", "institusjon", "tilbud"], dropna=False)[
        ["ordinaer_pris", "inntektsreduksjon", "saerskilte_behov_fritak", "soeskenmoderasjon", "gratis_timer", "belop"]
    ].sum().reset_index()
    labels = {"kommunenummer": "Kommune", "institusjon": "Enhet", "tilbud": "Tilbud", "ordinaer_pris": "Ordinær pris",
              "inntektsreduksjon": "6 %-reduksjon", "saerskilte_behov_fritak": "Særskilte behov",
              "soeskenmoderasjon": "Søsken", "gratis_timer": "Gratis timer", "belop": "Å fakturere"}
    inst = inst.rename(columns=labels)
    money = {labels[c] for c in ("ordinaer_pris", "inntektsreduksjon", "saerskilte_behov_fritak", "soeskenmoderasjon",
                                 "gratis_timer", "belop")}
    cards = [("Barn med vedtak", f"{t['barn']}"), ("Til manuell behandling", f"{t['barn_manuell']}"),
             ("Avviste rader", f"{meta.get('rader_avvist', 0)}"), ("Ordinær pris i perioden", _kr(t["ordinaer_pris"])),
             ("Å fakturere i perioden", _kr(t["belop"]))]
    warnings = "".join(f'<div class="warn">{html.escape(w)}</div>' for w in meta.get("advarsler", [])) or "<p>Ingen.</p>"
    rej = _table(rejected[["rad", "kolonne", "verdi", "aarsak"]]) if len(rejected) else "<p>Ingen.</p>"
    body = f"""<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><title>Foreldrebetaling {html.escape(meta['periode'])}</title>
<style>{CSS}</style></head><body>
<h1>Foreldrebetaling i barnehage og SFO</h1>
<p class="meta">Periode {html.escape(meta['periode'])} · regelsett {html.escape(meta['regelsett'])} ·
innskrivingsfil {html.escape(meta['innskriving'])} · skattegrunnlag: {html.escape(meta['skattekilde'])} ·
laget {html.escape(meta['laget'])}</p>
<div class="cards">{''.join(f'<div class="card">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in cards)}</div>
<h2>Reduksjoner</h2>
{_table(pd.DataFrame({'ordning': list(hh), 'husholdninger': list(hh.values())}))}
{_bars(list(hh), list(hh.values()), title="Husholdninger med hver ordning")}
<h2>Fordeling av månedsbeløp</h2>
<p>Antall barn-måneder per beløpsintervall (kr), fakturerte måneder med status ok.</p>
{_bars(hist_labels, hist_values, title="Fordeling av månedsbeløp", width=max(720, 38 * len(hist_values)))}
<h2>Å fakturere per måned</h2>
{_bars([str(m) for m in per_month.index], [int(v) for v in per_month.values], fmt=thousands, title="Sum per måned")}
<h2>Per enhet</h2>
{_table(inst, money)}
<h2>Til manuell behandling</h2>
{_table(manual) if len(manual) else '<p>Ingen.</p>'}
<h2>Avviste rader</h2>
{rej}
<h2>Advarsler</h2>
{warnings}
<h2>Regelsett og kilder</h2>
<p>Regelsett {html.escape(meta['regelsett'])} fra {html.escape(meta['regelsett_mappe'])}. Hver verdi i regelsettet har
dato, kilde og hjemmel; se <code>fee-engine rules show --date ÅÅÅÅ-MM-DD</code>. Forklaringen for hvert barn står i
vedtak.csv og vedtak.xlsx.</p>
</body></html>
"""
    path.write_text(body, encoding="utf-8")
    return path
