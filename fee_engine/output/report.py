"""``rapport.html``: one self-contained page for the office (inline CSS and SVG, no script, no network).

What needs doing comes first (rejected rows, manual cases, unconfirmed values, each with what to do),
then the totals in children and in households (the two are never mixed: a household with two
children counts once), the reductions, the distribution of monthly amounts, the amount per month,
one line per unit in natural order (Enhet 2 before Enhet 10) with a total line, the manual cases
and the rejected rows. Charts are horizontal bars: every label has room and no value can overlap
another.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..beregning import has_flag
from ..text import kroner, thousands
from .advarsler import Punkt, punkter
from .navn import overskrift
from .summary import AMOUNTS, reductions, totals

MONTHS_NB = ["jan", "feb", "mar", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "des"]


def _kr(v: int | float) -> str:
    """Kroner for HTML: no-break spaces, so an amount never wraps."""
    return kroner(int(v)).replace(" ", "\u00a0")


def _num(v: int | float) -> str:
    return thousands(int(v)).replace(" ", "\u00a0")


def natural_key(text: object) -> tuple:
    """«Enhet 2» before «Enhet 10»: digits compare as numbers."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", str(text)) if t)


def month_label(yyyy_mm: str) -> str:
    y, m = str(yyyy_mm).split("-")[:2]
    return f"{MONTHS_NB[int(m) - 1]} {y}"


_CHAR_PX = 7.0  # a generous width per character at font-size 12 (labels are measured, not guessed per font)


def _bars(
    labels: list[str],
    values: list[int],
    *,
    width: int = 760,
    height: int | None = None,
    fmt: Callable[[int], str] = str,
    title: str,
) -> str:
    """Horizontal bars: the label left of each bar, its value in a column of its own on the right.

    The label column is as wide as the longest label and the value column as wide as the longest
    value, so nothing is cut and no value overlaps another. Negative values are drawn left of the
    zero line, in red.
    """
    n = len(values)
    row, bar = 24, 16
    texts = [fmt(v) for v in values]
    left = int(max((len(lab) for lab in labels), default=0) * _CHAR_PX) + 16
    right = int(max((len(t) for t in texts), default=0) * _CHAR_PX) + 16
    plot = max(width - left - right, 120)
    width = left + plot + right
    height = height or row * max(n, 1) + 10
    lo, hi = min(0, min(values, default=0)), max(0, max(values, default=0))
    scale = plot / ((hi - lo) or 1)
    x0 = left + (-lo) * scale
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}" font-size="12"><title>{html.escape(title)}</title>'
    ]
    for i, (lab, v, t) in enumerate(zip(labels, values, texts)):
        y = 5 + i * row
        x = x0 if v >= 0 else x0 + v * scale
        w = abs(v) * scale
        colour = "#c0392b" if v < 0 else "#305496"
        parts.append(f'<text x="{left - 8}" y="{y + bar - 3}" text-anchor="end">{html.escape(str(lab))}</text>')
        w = max(w, 0.5 if v else 0)  # a value that is not 0 stays visible
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>')
        parts.append(f'<text x="{width - 4}" y="{y + bar - 3}" text-anchor="end">{html.escape(t)}</text>')
    parts.append(f'<line x1="{x0:.1f}" y1="2" x2="{x0:.1f}" y2="{height - 2}" stroke="#888" stroke-width="1"/>')
    parts.append("</svg>")
    return "".join(parts)


def fee_histogram(monthly: pd.DataFrame, step: int = 250) -> tuple[list[str], list[int]]:
    billed = monthly[(monthly["status"] == "ok") & ~has_flag(monthly["flagg"], "ikke_fakturert")]
    if billed.empty:
        return [], []
    top = int(billed["belop"].max())
    edges = np.arange(0, top + step + 1, step)
    counts, _ = np.histogram(billed["belop"], bins=edges)
    labels = [f"{_num(a)}–{_num(b - 1)} kr" for a, b in zip(edges[:-1], edges[1:])]
    return labels, [int(c) for c in counts]


def _table(
    df: pd.DataFrame,
    money: set[str] | frozenset[str] = frozenset(),
    foot: dict[str, Any] | None = None,
    headers: bool = True,
    nowrap: frozenset[str] = frozenset(),
    css: str = "",
) -> str:
    """A table with readable headers (:mod:`.navn`), amounts right-aligned, and an optional total line."""

    def cell(c: str, v: Any, tag: str = "td") -> str:
        number = c in money or isinstance(v, (int, np.integer))
        cls = ' class="num"' if number else (' class="nowrap"' if c in nowrap else "")
        text = (
            _kr(v)
            if c in money and pd.notna(v)
            else (_num(v) if isinstance(v, (int, np.integer)) else ("" if pd.isna(v) else str(v)))
        )
        return f"<{tag}{cls}>{html.escape(text)}</{tag}>"

    head = "".join(f"<th>{html.escape(overskrift(str(c)) if headers else str(c))}</th>" for c in df.columns)
    rows = [
        "<tr>" + "".join(cell(c, v) for c, v in zip(df.columns, rec)) + "</tr>" for rec in df.itertuples(index=False)
    ]
    tfoot = ""
    if foot is not None:
        tfoot = "<tfoot><tr>" + "".join(cell(c, foot.get(c), "td") for c in df.columns) + "</tr></tfoot>"
    table = f'<table class="{css}">' if css else "<table>"
    return f"{table}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>{tfoot}</table>"


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #305496;padding-bottom:.2rem}
.meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.card{background:#f2f5fb;border-radius:8px;padding:.8rem 1.2rem;min-width:160px}
.card b{display:block;font-size:1.4rem}.card small{color:#555}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#305496;color:#fff}td.num{text-align:right;white-space:nowrap}
tfoot td{font-weight:bold;border-top:2px solid #305496}
.warn{background:#fff4d6;border-left:4px solid #e0a800;padding:.5rem .9rem;margin:.5rem 0}
.task{background:#fde8e6;border-left:4px solid #c0392b;padding:.5rem .9rem;margin:.5rem 0}
.warn h3,.task h3{margin:.1rem 0 .3rem;font-size:1rem}.warn p,.task p{margin:.25rem 0}
details{margin:.4rem 0}summary{cursor:pointer;color:#305496}
svg text{font-family:system-ui,-apple-system,'Segoe UI',sans-serif}
.nowrap{white-space:nowrap}table.small{font-size:.78rem}table.small th{font-weight:600}
"""


def _punkt(p: Punkt) -> str:
    cls = "task" if p.alvor == "oppgave" else "warn"
    details = ""
    if p.detaljer:
        rows = pd.DataFrame(p.detaljer, columns=["Verdi i regelsettet", "Verdi", "Fra", "Kilde"])
        what = "Vis verdien" if len(p.detaljer) == 1 else f"Vis de {len(p.detaljer)} verdiene"
        details = f"<details><summary>{what}</summary>{_table(rows, headers=False)}</details>"
    return (
        f'<div class="{cls}"><h3>{html.escape(p.tittel)}</h3><p>{html.escape(p.tekst)}</p>'
        f"<p><b>Gjør dette:</b> {html.escape(p.gjoer)}</p>{details}</div>"
    )


def per_unit(monthly: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One line per unit and offer over the period, in natural order, and the total line."""
    keys = ["kommunenummer", "institusjon", "tilbud"]
    m = monthly.assign(institusjon=monthly["institusjon"].fillna(""))
    g = m.groupby(keys, dropna=False)
    out = g[AMOUNTS].sum()
    out.insert(0, "barn", g["barn_id"].nunique())
    out.insert(1, "barn_maaneder", g.size())
    out = out.reset_index()
    order = sorted(
        range(len(out)),
        key=lambda i: (
            natural_key(out.at[i, "kommunenummer"]),
            natural_key(out.at[i, "institusjon"]),
            out.at[i, "tilbud"],
        ),
    )
    out = out.iloc[order].reset_index(drop=True)
    children = int(monthly.drop_duplicates(["barn_id", "tilbud"]).shape[0])
    foot: dict[str, Any] = {"kommunenummer": "Sum", "barn": children, "barn_maaneder": int(len(monthly))}
    foot.update({c: int(out[c].sum()) for c in AMOUNTS})
    return out, foot


def write_report(
    path: Path,
    *,
    meta: dict[str, Any],
    monthly: pd.DataFrame,
    rejected: pd.DataFrame,
    describe: Callable[[str], str] | None = None,
) -> Path:
    t = totals(monthly)
    red = reductions(monthly)
    per_month = monthly.groupby("maaned")["belop"].sum()
    hist_labels, hist_values = fee_histogram(monthly)
    manual_rows = monthly[monthly["status"] == "manuell"].drop_duplicates(["barn_id", "tilbud"])
    manual = manual_rows[["barn_id", "husholdning_id", "tilbud", "institusjon", "manuell_grunn"]]
    manual = manual.iloc[sorted(range(len(manual)), key=lambda i: natural_key(manual.iat[i, 0]))]
    households = int(monthly["husholdning_id"].nunique())
    manual_households = int(manual_rows["husholdning_id"].nunique())
    units, foot = per_unit(monthly)
    money = set(AMOUNTS)
    items = punkter(
        meta.get("advarsler", []),
        meta.get("merknader", []),
        rejected_rows=int(meta.get("rader_avvist", 0)),
        manual_children=t["barn_manuell"],
        manual_households=manual_households,
        describe=describe,
    )
    cards = [
        ("Barn med vedtak", _num(t["barn"]), f"i {_num(households)} husholdninger"),
        ("Til manuell behandling", _num(t["barn_manuell"]), f"barn, i {_num(manual_households)} husholdninger"),
        ("Avviste rader", _num(meta.get("rader_avvist", 0)), "i innskrivingsfilen"),
        ("Ordinær pris i perioden", _kr(t["ordinaer_pris"]), "før reduksjoner"),
        ("Å fakturere i perioden", _kr(t["belop"]), "foreløpige beløp medregnet"),
    ]
    card_html = "".join(
        f'<div class="card">{html.escape(k)}<b>{html.escape(v)}</b><small>{html.escape(s)}</small></div>'
        for k, v, s in cards
    )
    todo = "".join(_punkt(p) for p in items) or "<p>Ingenting: alle rader er beregnet og alle verdier er bekreftet.</p>"
    rej = _table(rejected[["rad", "kolonne", "verdi", "aarsak"]]) if len(rejected) else "<p>Ingen.</p>"
    red_table = _table(
        red.rename(columns={"ordning": "Ordning", "husholdninger": "Husholdninger", "barn": "Barn"}), headers=False
    )
    months = [month_label(m) for m in per_month.index]
    body = f"""<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><title>Foreldrebetaling {html.escape(meta["periode"])}</title>
<style>{CSS}</style></head><body>
<h1>Foreldrebetaling i barnehage og SFO</h1>
<p class="meta">Periode {html.escape(meta["periode"])} · regelsett {html.escape(meta["regelsett"])} ·
innskrivingsfil {html.escape(meta["innskriving"])} · skattegrunnlag: {html.escape(meta["skattekilde"])} ·
laget {html.escape(meta["laget"])}</p>
<div class="cards">{card_html}</div>
<h2>Dette må gjøres</h2>
{todo}
<h2>Reduksjoner</h2>
<p>Hvor mange husholdninger og barn som fikk hver ordning minst én måned i perioden. En husholdning med to barn
teller én gang blant husholdningene og to ganger blant barna.</p>
{red_table}
{_bars(list(red["ordning"]), [int(v) for v in red["husholdninger"]], fmt=_num, title="Husholdninger med hver ordning")}
<h2>Fordeling av månedsbeløp</h2>
<p>Antall barn-måneder per beløpsintervall, fakturerte måneder med status ok.</p>
{_bars(hist_labels, hist_values, fmt=_num, title="Fordeling av månedsbeløp")}
<h2>Å fakturere per måned</h2>
{_bars(months, [int(v) for v in per_month.values], fmt=_kr, title="Sum per måned")}
<h2>Per enhet</h2>
<p>Hele perioden, én linje per enhet og tilbud. «Barn» teller hvert barn én gang; summen nederst teller barn som
har gått i flere enheter én gang.</p>
{_table(units, money, foot, nowrap=frozenset({"institusjon", "kommunenummer"}), css="small")}
<h2>Til manuell behandling</h2>
<p>{_num(t["barn_manuell"])} barn i {_num(manual_households)} husholdninger.</p>
{_table(manual, nowrap=frozenset({"institusjon", "barn_id", "husholdning_id"})) if len(manual) else "<p>Ingen.</p>"}
<h2>Avviste rader</h2>
{rej}
<h2>Regelsett og kilder</h2>
<p>Regelsett {html.escape(meta["regelsett"])} fra {html.escape(meta["regelsett_mappe"])}. Hver verdi i regelsettet har
dato, kilde og hjemmel; se <code>fee-engine rules show --date ÅÅÅÅ-MM-DD</code>. Forklaringen for hvert barn står i
vedtak.csv og vedtak.xlsx.</p>
</body></html>
"""
    path.write_text(body, encoding="utf-8")
    return path
