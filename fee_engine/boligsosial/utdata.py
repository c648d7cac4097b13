"""What ``fee-engine inntekt`` writes: ``saker.xlsx``, ``sak/<sak_id>.html`` per case, ``inntekt.json``.

Every identifier is masked to the birth date (``010180*****``), in every file; payers that
are organisations keep their organisation number. Skatteoppgjør amounts are whole kroner (as
Skatteetaten gives them); a-ordningen's are kroner with øre (its amounts may have decimals).
The HTML page of a case is self-contained (inline CSS, no script, no network).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from ..identity import mask_digits_in_text
from ..text import kroner_og_oere
from .sammendrag import FORDELER, Sak

KR = '#,##0 "kr"'
KR_OERE = '#,##0.00 "kr"'
ROLLE_TEKST = {"soeker": "søker", "ektefelle": "ektefelle", "samboer": "samboer", "husstandsmedlem": "husstandsmedlem"}
STATUS_TEKST = {"ok": "ok", "ingen_data": "ingen data", "ukjent_person": "ukjent person", "feil": "feilet"}


def kroner(oere: int | None) -> float | None:
    """Øre as kroner for JSON and the workbook: exact for every amount up to 10¹³ kroner."""
    return None if oere is None else oere / 100


def kroner_exact(oere: int | None) -> Decimal | None:
    """Øre as kroner for the workbook, written as the exact decimal (a float would be written 92569.64999999999)."""
    return None if oere is None else Decimal(oere).scaleb(-2)


def _kr_text(value: int | None) -> str:
    return "–" if value is None else f"{value:,} kr".replace(",", "\u00a0")


def _oere_text(oere: int | None) -> str:
    return "–" if oere is None else kroner_og_oere(oere).replace(" ", "\u00a0") + "\u00a0kr"


# -- JSON ------------------------------------------------------------------------------------------------
def case_json(sak: Sak) -> dict[str, Any]:
    def person(p) -> dict[str, Any]:
        s, a = p.skatt, p.aordning
        return {
            "rolle": p.rolle,
            "person": p.maskert,
            "skatteoppgjoer": {
                "status": s.status,
                "grunn": s.grunn,
                "inntektsaar": s.inntektsaar,
                "inntekt": s.inntekt,
                "bruttoformue": s.bruttoformue,
                "nettoformue": s.nettoformue,
                "samlet_gjeld": s.samlet_gjeld,
                "sum_formuesposter": s.sum_formuesposter,
                "ukjente_poster": list(s.ukjente_poster),
                "poster": [{"tekniskNavn": n, "kategori": k, "beloep": b} for n, k, b in s.poster],
            },
            "aordning": {
                "status": a.status,
                "grunn": a.grunn,
                "maaneder": a.maaneder,
                "sum": kroner(a.total_oere),
                "snitt_per_maaned": kroner(a.snitt_oere),
                "per_type": {t: kroner(v) for t, v in a.per_type_oere.items()},
                "rader": [
                    {
                        **{k: r[k] for k in ("opplysningspliktig", "virksomhet", "maaned")},
                        **{k: kroner(r[k]) for k in (*FORDELER, "annen_fordel", "sum")},
                    }
                    for r in a.rader
                ],
            },
        }

    return {
        "sak_id": sak.sak_id,
        "komplett": sak.komplett,
        "personer": [person(p) for p in sak.personer],
        "sum": {
            "inntektsaar": sak.inntektsaar,
            "inntekt": sak.sum_skatt("inntekt"),
            "bruttoformue": sak.sum_skatt("bruttoformue"),
            "nettoformue": sak.sum_skatt("nettoformue"),
            "samlet_gjeld": sak.sum_skatt("samlet_gjeld"),
            "sum_formuesposter": sak.sum_skatt("sum_formuesposter"),
            "aordning": kroner(sak.aordning_total_oere),
            "aordning_snitt_per_maaned": kroner(sak.aordning_snitt_oere),
        },
        "merknader": sak.merknader,
    }


def write_json(path: Path, saker: list[Sak], meta: dict[str, Any]) -> Path:
    body = {"meta": meta, "saker": [case_json(s) for s in saker]}
    path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


# -- the workbook ----------------------------------------------------------------------------------------
def write_workbook(path: Path, saker: list[Sak], meta: dict[str, Any], rejected: list[dict[str, Any]]) -> Path:
    wb = Workbook(write_only=True)
    header_font, header_fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="305496")

    def sheet(title: str, columns: list[tuple[str, str | None, int]], rows: list[list[Any]]) -> None:
        from openpyxl.cell import WriteOnlyCell

        ws = wb.create_sheet(title)
        for i, (_, _, width) in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        head = []
        for name, _, _ in columns:
            c = WriteOnlyCell(ws, name)
            c.font, c.fill = header_font, header_fill
            head.append(c)
        ws.append(head)
        for row in rows:
            cells = []
            for (_, fmt, _), value in zip(columns, row):
                if fmt and value is not None:
                    c = WriteOnlyCell(ws, value)
                    c.number_format = fmt
                    cells.append(c)
                else:
                    cells.append(value)
            ws.append(cells)
        if rows:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"

    sheet(
        "Forside",
        [("", None, 28), ("", None, 90)],
        [[k, v if isinstance(v, (int, str)) else json.dumps(v, ensure_ascii=False)] for k, v in meta.items()],
    )
    sheet(
        "Saker",
        [
            ("sak_id", None, 14),
            ("personer", None, 9),
            ("komplett", None, 10),
            ("inntektsaar", None, 11),
            ("inntekt", KR, 14),
            ("bruttoformue", KR, 14),
            ("nettoformue", KR, 14),
            ("samlet_gjeld", KR, 14),
            ("aordning_periode", None, 17),
            ("aordning_sum", KR_OERE, 16),
            ("aordning_snitt_per_maaned", KR_OERE, 16),
            ("merknader", None, 90),
        ],
        [
            [
                s.sak_id,
                len(s.personer),
                "ja" if s.komplett else "nei",
                s.inntektsaar,
                s.sum_skatt("inntekt"),
                s.sum_skatt("bruttoformue"),
                s.sum_skatt("nettoformue"),
                s.sum_skatt("samlet_gjeld"),
                meta["periode"],
                kroner_exact(s.aordning_total_oere),
                kroner_exact(s.aordning_snitt_oere),
                "; ".join(s.merknader),
            ]
            for s in saker
        ],
    )
    sheet(
        "Personer",
        [
            ("sak_id", None, 14),
            ("rolle", None, 16),
            ("person", None, 13),
            ("skatt_status", None, 14),
            ("inntektsaar", None, 11),
            ("inntekt", KR, 14),
            ("bruttoformue", KR, 14),
            ("nettoformue", KR, 14),
            ("samlet_gjeld", KR, 14),
            ("aordning_status", None, 14),
            ("aordning_sum", KR_OERE, 16),
            ("aordning_snitt_per_maaned", KR_OERE, 16),
            ("grunn", None, 70),
        ],
        [
            [
                s.sak_id,
                p.rolle,
                p.maskert,
                p.skatt.status,
                p.skatt.inntektsaar,
                p.skatt.inntekt,
                p.skatt.bruttoformue,
                p.skatt.nettoformue,
                p.skatt.samlet_gjeld,
                p.aordning.status,
                kroner_exact(p.aordning.total_oere),
                kroner_exact(p.aordning.snitt_oere),
                "; ".join(x for x in (p.skatt.grunn, p.aordning.grunn) if x),
            ]
            for s in saker
            for p in s.personer
        ],
    )
    sheet(
        "A-ordningen",
        [
            ("sak_id", None, 14),
            ("rolle", None, 16),
            ("person", None, 13),
            ("opplysningspliktig", None, 18),
            ("virksomhet", None, 14),
            ("maaned", None, 9),
            *((f, KR_OERE, 18) for f in FORDELER),
            ("annen_fordel", KR_OERE, 14),
            ("sum", KR_OERE, 16),
        ],
        [
            [
                s.sak_id,
                p.rolle,
                p.maskert,
                r["opplysningspliktig"],
                r["virksomhet"],
                r["maaned"],
                *(kroner_exact(r[f]) for f in FORDELER),
                kroner_exact(r["annen_fordel"]),
                kroner_exact(r["sum"]),
            ]
            for s in saker
            for p in s.personer
            for r in p.aordning.rader
        ],
    )
    sheet(
        "Skatteposter",
        [
            ("sak_id", None, 14),
            ("rolle", None, 16),
            ("person", None, 13),
            ("inntektsaar", None, 11),
            ("tekniskNavn", None, 60),
            ("kategori", None, 16),
            ("beloep", KR, 14),
        ],
        [
            [s.sak_id, p.rolle, p.maskert, p.skatt.inntektsaar, n, k, b]
            for s in saker
            for p in s.personer
            for n, k, b in p.skatt.poster
        ],
    )
    sheet(
        "Avvist",
        [("rad", None, 6), ("kolonne", None, 20), ("verdi", None, 20), ("aarsak", None, 80), ("kode", None, 16)],
        [[r["rad"], r["kolonne"], r["verdi"], r["aarsak"], r["kode"]] for r in rejected],
    )
    wb.save(path)
    return path


# -- one self-contained page per case ----------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#1a1a1a}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n,th.n{text-align:right;white-space:nowrap}th{background:#305496;color:#fff}
.merk{background:#fff4e5;border-left:4px solid #e67e22;padding:.5em 1em}.liten{color:#555;font-size:.9em}"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(head: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    th = "".join(f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def case_html(sak: Sak, meta: dict[str, Any]) -> str:
    rolle = lambda p: _e(ROLLE_TEKST.get(p.rolle, p.rolle))  # noqa: E731
    summary = _table(
        ["", "beløp"],
        [
            [
                "Inntekt etter skatteoppgjøret" + (f" ({_e(sak.inntektsaar)})" if sak.inntektsaar else ""),
                _kr_text(sak.sum_skatt("inntekt")),
            ],
            ["Bruttoformue", _kr_text(sak.sum_skatt("bruttoformue"))],
            ["Nettoformue", _kr_text(sak.sum_skatt("nettoformue"))],
            ["Samlet gjeld", _kr_text(sak.sum_skatt("samlet_gjeld"))],
            [f"Innrapportert i a-ordningen {_e(meta['periode'])}", _oere_text(sak.aordning_total_oere)],
            ["  i snitt per måned", _oere_text(sak.aordning_snitt_oere)],
        ],
        {1},
    )
    persons = _table(
        [
            "rolle",
            "person",
            "skatteoppgjør",
            "inntekt",
            "bruttoformue",
            "nettoformue",
            "samlet gjeld",
            "a-ordningen",
            "snitt per måned",
        ],
        [
            [
                rolle(p),
                _e(p.maskert),
                _e(f"{p.skatt.inntektsaar}" if p.skatt.status == "ok" else p.skatt.status),
                _kr_text(p.skatt.inntekt),
                _kr_text(p.skatt.bruttoformue),
                _kr_text(p.skatt.nettoformue),
                _kr_text(p.skatt.samlet_gjeld),
                _oere_text(p.aordning.total_oere),
                _oere_text(p.aordning.snitt_oere),
            ]
            for p in sak.personer
        ],
        {3, 4, 5, 6, 7, 8},
    )
    months = _table(
        [
            "person",
            "opplysningspliktig",
            "virksomhet",
            "måned",
            "kontantytelse",
            "naturalytelse",
            "utgiftsgodtgjørelse",
            "sum",
        ],
        [
            [
                _e(p.maskert),
                _e(r["opplysningspliktig"]),
                _e(r["virksomhet"]),
                _e(r["maaned"]),
                *(_oere_text(r[f]) for f in FORDELER),
                _oere_text(r["sum"]),
            ]
            for p in sak.personer
            for r in p.aordning.rader
        ],
        {4, 5, 6, 7},
    )
    items = "".join(
        f"<h3>{rolle(p)} {_e(p.maskert)}, skatteoppgjøret for {_e(p.skatt.inntektsaar)}</h3>"
        + _table(["tekniskNavn", "kategori", "beløp"], [[_e(n), _e(k), _kr_text(b)] for n, k, b in p.skatt.poster], {2})
        for p in sak.personer
        if p.skatt.poster
    )
    notes = "".join(f"<li>{_e(m)}</li>" for m in sak.merknader)
    warning = (
        (
            f'<div class="merk"><strong>Ufullstendig:</strong> summene gjelder bare personene med svar.'
            f"<ul>{notes}</ul></div>"
        )
        if notes
        else ""
    )
    text = f"""<!DOCTYPE html>
<html lang="nb"><head><meta charset="utf-8"><title>Sak {_e(sak.sak_id)}: husstandens økonomi</title>
<style>{_CSS}</style></head><body>
<h1>Sak {_e(sak.sak_id)}: husstandens økonomi</h1>
<p class="liten">Formål: boligsosial bistand (rettighetspakke {_e(meta["rettighetspakke"])}). Hentet {_e(meta["laget"])}
fra {_e(meta["skattekilde"])}. A-ordningen: de {_e(meta["maaneder"])} siste hele månedene, {_e(meta["periode"])}
(en måned er komplett fra den 10. i måneden etter).</p>
{warning}
<h2>Sum for husstanden</h2>{summary}
<h2>Per person</h2>{persons}
<h2>A-ordningen per opplysningspliktig og måned</h2>{
        months if any(p.aordning.rader for p in sak.personer) else "<p>Ingen innrapportert inntekt i perioden.</p>"
    }
<h2>Skatteoppgjøret, postene slik rettighetspakken gir dem</h2>{items or "<p>Ingen poster.</p>"}
<p class="liten">Inntekt etter skatteoppgjøret er postene inntektslisten for året teller (personinntekt og
kapitalinntekt, brutto, næring én gang). Opplysningene kan bare brukes til boligsosial bistand.</p>
</body></html>
"""
    return mask_digits_in_text(text) if _holds_a_number(text, sak) else text


def _holds_a_number(text: str, sak: Sak) -> bool:
    return any(p.person in text for p in sak.personer)


def write_case_pages(folder: Path, saker: list[Sak], meta: dict[str, Any]) -> Path:
    folder.mkdir()
    for sak in saker:
        (folder / f"{sak.sak_id}.html").write_text(case_html(sak, meta), encoding="utf-8")
    return folder


def now_text() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M")
