"""One household's fee for one month, typed in by hand: the calculator behind the web page and ``POST /api/beregn``.

It goes through the real engine, not a copy of it: the children are written to a temporary
enrollment file and read by :func:`fee_engine.enrollment.read_enrollment` (so every problem is
reported in the same words as ``fee-engine validate``), the household's income is the given
amount, taken as ``dokumentert_inntekt`` is (status ``kjent``, nothing is looked up), and the fee
comes from :func:`fee_engine.beregning.calculate` with the explanation and step records of
:mod:`fee_engine.forklaring`, in the municipality's målform.

No fødselsnummer is needed, read or stored: ``foresatt_fnr`` and ``partner_fnr`` are optional
here and, if sent, ignored (never written to the temporary file). A household without an income
is treated as one that did not apply for a reduced fee.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import forklaring
from .beregning import calculate, month_table
from .enrollment import KNOWN, MAX_INNTEKT_KR, REASONS, read_enrollment
from .enrollment.fields import parse_kroner
from .errors import FeeEngineError
from .forklaring.poster import step_records
from .identity import mask_digits_in_text
from .income import household_incomes
from .regelsett import RuleSet, format_value
from .steg import STEGKOLONNER
from .taxdata import fallback_plan

# What the calculator reads of a child: the enrollment columns without the fødselsnumre.
FNR_FIELDS = ("foresatt_fnr", "partner_fnr")
FIELDS = [c for c in KNOWN if c not in FNR_FIELDS]
MAX_BARN = 30
AMOUNT_FIELDS = list(STEGKOLONNER)

# The calculator's own reasons (the enrollment's are in fee_engine.enrollment.REASONS), bokmål and English.
OWN_REASONS: dict[str, tuple[str, str]] = {
    "maaned": ("ugyldig måned (bruk ÅÅÅÅ-MM, f.eks. 2024-10)", "invalid month (use YYYY-MM, e.g. 2024-10)"),
    "ingen_barn": ("minst ett barn må være med", "at least one child is needed"),
    "for_mange_barn": (f"høyst {MAX_BARN} barn i én beregning", f"at most {MAX_BARN} children in one calculation"),
    "ikke_objekt": (
        "må være et objekt med kolonnene i innskrivingsfilen",
        "must be an object with the enrollment file's columns",
    ),
    "ukjent_felt": ("ukjent felt; kjente felt er {kjente}", "unknown field; known fields are {kjente}"),
    "verditype": ("må være tekst, et tall eller ja/nei", "must be text, a number or yes/no"),
    "inntekt_objekt": (
        "må være et objekt {{husholdning_id: inntekt i kroner}}",
        "must be an object {{husholdning_id: income in kroner}}",
    ),
    "ukjent_husholdning": ("ingen barn har denne husholdning_id", "no child has this husholdning_id"),
    "to_inntekter": (
        "husholdningen har både inntekt og dokumentert_inntekt med ulike beløp",
        "the household has both inntekt and dokumentert_inntekt with different amounts",
    ),
    "utenfor_maaned": (
        "plassen gjelder ikke i {maaned} (se fra_dato og til_dato)",
        "the place does not cover {maaned} (see fra_dato and til_dato)",
    ),
    "regelsett": ("{melding}", "{melding}"),
}


@dataclass
class Feil:
    """One problem with the input: the field (``barn[0].plass_prosent``, ``inntekt.H1``, ``maaned``), the value
    as given (masked like ``validate`` masks it), the reason in bokmål and English and its code."""

    felt: str
    verdi: str
    aarsak: str
    aarsak_en: str
    kode: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class KalkulatorFeil(FeeEngineError):
    exit_code = 1

    def __init__(self, feil: list[Feil]) -> None:
        for f in feil:  # a field name or value echoed back never shows a whole fødselsnummer
            f.felt, f.verdi = mask_digits_in_text(f.felt), mask_digits_in_text(f.verdi)
        super().__init__("; ".join(f"{f.felt}: {f.aarsak}" for f in feil))
        self.feil = feil


def _own(felt: str, verdi: object, kode: str, **fmt: object) -> Feil:
    nb, en = OWN_REASONS[kode]
    return Feil(felt, "" if verdi is None else str(verdi), nb.format(**fmt), en.format(**fmt), kode)


@dataclass
class Barnresultat:
    barn_id: str
    husholdning_id: str
    tilbud: str
    kommunenummer: str
    maaned: str
    belop: int
    status: str
    forklaring: str
    steg: list[dict[str, Any]]
    ordinaer_pris: int = 0
    saerskilte_behov_fritak: int = 0
    etter_inntektsgrense: int = 0
    inntektsreduksjon: int = 0
    soeskenmoderasjon: int = 0
    gratis_timer: int = 0
    manuell_grunn: str = ""
    maalform: str = "bokmål"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Beregning:
    barn: list[Barnresultat]
    regelsett: str
    advarsler: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"barn": [b.as_dict() for b in self.barn], "regelsett": self.regelsett, "advarsler": self.advarsler}


def parse_maaned(text: object) -> dt.date:
    t = str(text or "").strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", t):
        raise KalkulatorFeil([_own("maaned", text, "maaned")])
    try:
        return dt.date(int(t[:4]), int(t[5:]), 1)
    except ValueError:
        raise KalkulatorFeil([_own("maaned", text, "maaned")]) from None


def _cell(value: object) -> str | None:
    """A JSON value as the text a spreadsheet cell would hold (None: not a value the file could hold)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nei"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, str):
        return value
    return None


def _rows(barn: object) -> tuple[list[dict[str, str]], list[Feil]]:
    problems: list[Feil] = []
    if not isinstance(barn, list) or not barn:
        return [], [_own("barn", "", "ingen_barn")]
    if len(barn) > MAX_BARN:
        return [], [_own("barn", len(barn), "for_mange_barn")]
    rows = []
    for i, child in enumerate(barn):
        if not isinstance(child, Mapping):
            problems.append(_own(f"barn[{i}]", "", "ikke_objekt"))
            rows.append({})
            continue
        row: dict[str, str] = {}
        for key, value in child.items():
            name = str(key).strip().lower()
            if name in FNR_FIELDS:
                continue  # not needed, never written
            if name not in FIELDS:
                problems.append(_own(f"barn[{i}].{key}", "", "ukjent_felt", kjente=", ".join(FIELDS)))
                continue
            text = _cell(value)
            if text is None:
                problems.append(_own(f"barn[{i}].{name}", "", "verditype"))
                continue
            row[name] = text
        rows.append(row)
    return rows, problems


def _incomes(inntekt: object, households: set[str]) -> tuple[dict[str, int], list[Feil]]:
    """Household income in øre by husholdning_id (an entry of null: no income given)."""
    if inntekt is None:
        return {}, []
    if not isinstance(inntekt, Mapping):
        return {}, [_own("inntekt", "", "inntekt_objekt")]
    problems, given = [], {}
    keys, texts = [], []
    for hh, value in inntekt.items():
        felt = f"inntekt.{hh}"
        if str(hh) not in households:
            problems.append(_own(felt, hh, "ukjent_husholdning"))
            continue
        if type(value) is int and 0 <= value <= MAX_INNTEKT_KR:  # whole kroner as a JSON number: nothing to parse
            given[str(hh)] = value * 100
            continue
        text = _cell(value) if not isinstance(value, bool) else None
        if text is None:
            problems.append(_own(felt, "", "verditype"))
            continue
        if text.strip():  # anything else is read as the enrollment file's kroner are (the same messages)
            keys.append(str(hh))
            texts.append(text.strip())
    if texts:
        oere, code = parse_kroner(pd.Series(texts, dtype=object), MAX_INNTEKT_KR)
        for hh, text, o, c in zip(keys, texts, oere.tolist(), code.tolist()):
            if c:
                nb, en = REASONS[c]
                fmt = {
                    "hint": " i kroner, f.eks. 300000 eller 300 000",
                    "hint_en": " in kroner, e.g. 300000 or 300 000",
                    "max": f"{MAX_INNTEKT_KR:,} kr".replace(",", " "),
                }
                problems.append(Feil(f"inntekt.{hh}", text, nb.format(**fmt), en.format(**fmt), c))
            else:
                given[hh] = int(o)
    return given, problems


def beregn(rules: RuleSet, maaned: object, barn: object, inntekt: object = None) -> Beregning:
    """The fee of every child in ``barn`` (objects with the enrollment columns) for ``maaned`` (``ÅÅÅÅ-MM``), the
    households' income in kroner by ``husholdning_id`` in ``inntekt``. Raises :class:`KalkulatorFeil` with every
    problem found."""
    problems: list[Feil] = []
    month: dt.date | None = None
    try:
        month = parse_maaned(maaned)
        rules.value("barnehage.maksimalpris.generell", month)
    except KalkulatorFeil as exc:
        problems += exc.feil
    except FeeEngineError as exc:
        problems.append(_own("maaned", maaned, "regelsett", melding=str(exc)))
        month = None
    rows, row_problems = _rows(barn)
    problems += row_problems
    if not rows:
        raise KalkulatorFeil(problems)
    households = {r.get("husholdning_id", "").strip() for r in rows}
    given, income_problems = _incomes(inntekt, households)

    period_end = pd.Timestamp(month) + pd.offsets.MonthEnd(0) if month else None
    with tempfile.TemporaryDirectory(prefix="fee-engine-kalkulator-") as tmp:
        path = Path(tmp) / "barn.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS, delimiter=";", extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        enrollment = read_enrollment(
            path, known_kommuner=set(rules.municipalities), period_end=period_end, require_fnr=False
        )
    for r in enrollment.rejections.itertuples(index=False):
        problems.append(Feil(f"barn[{int(r.rad) - 2}].{r.kolonne}", str(r.verdi), r.aarsak, r.aarsak_en, r.kode))
    if month is not None and period_end is not None:
        enrollment.split_period(pd.Timestamp(month), period_end)
        for r in enrollment.outside.itertuples(index=False):  # type: ignore[union-attr]
            column = "fra_dato" if pd.notna(r.fra_dato) and r.fra_dato > period_end else "til_dato"
            value = r.fra_dato if column == "fra_dato" else r.til_dato
            problems.append(
                _own(f"barn[{int(r.rad) - 2}].{column}", f"{value:%Y-%m-%d}", "utenfor_maaned", maaned=f"{month:%Y-%m}")
            )
    problems += income_problems
    children = enrollment.rows
    documented = children.drop_duplicates("husholdning_id").set_index("husholdning_id")["dok_inntekt_oere"]
    for hh, oere in given.items():
        if hh in documented.index and 0 <= documented[hh] != oere:
            problems.append(_own(f"inntekt.{hh}", oere // 100, "to_inntekter"))
    if problems or month is None:
        problems.sort(key=lambda f: _order(f.felt))
        raise KalkulatorFeil(problems)
    if children.empty:  # every row was outside the month (reported above) or none was given
        raise KalkulatorFeil([_own("barn", "", "ingen_barn")])
    return _calculate(rules, month, children, given)


def _order(felt: str) -> tuple[int, int, str]:
    m = re.match(r"barn\[(\d+)\]", felt)
    return (1, int(m.group(1)), felt) if m else (0 if felt == "maaned" else 2, 0, felt)


def _calculate(rules: RuleSet, month: dt.date, children: pd.DataFrame, given: dict[str, int]) -> Beregning:
    first = children.drop_duplicates("husholdning_id")
    hh = pd.DataFrame({"husholdning_id": first["husholdning_id"].to_numpy()})
    income = hh["husholdning_id"].map(given)
    documented = first["dok_inntekt_oere"].to_numpy(np.int64)
    oere = np.where(income.notna(), income.fillna(-1).astype(np.int64), documented)
    # An income given means the household applies (unless it says soekt_redusert = nei); no income: no application.
    hh["soekt_redusert"] = (oere >= 0) & first["soekt_redusert"].to_numpy(bool)
    hh["dok_inntekt_oere"] = oere
    hh["voksne"] = [()] * len(hh)
    hh_income = household_incomes(hh, {})
    hh_income["forventet_aar"] = fallback_plan(month.year if month.month >= 8 else month.year - 1)[0][0]

    months = [month]
    kommuner = sorted(children["kommunenummer"].unique())
    offers = tuple(sorted(children["tilbud"].unique()))
    table, sider, unverified = month_table(rules, months, kommuner, offers)
    runs = calculate(children, hh_income, table, sider, months, expand=False)
    p = forklaring.periods(runs)
    text = forklaring.explain(p, rules)
    records = step_records(p, rules)
    p = p.reset_index(drop=True)
    by_key = {(b, t): i for i, (b, t) in enumerate(zip(p["barn_id"], p["tilbud"]))}
    out = []
    for b, t in dict.fromkeys(zip(children["barn_id"], children["tilbud"])):
        i = by_key[(b, t)]
        row = p.iloc[i]
        out.append(
            Barnresultat(
                barn_id=str(b),
                husholdning_id=str(row["husholdning_id"]),
                tilbud=str(t),
                kommunenummer=str(row["kommunenummer"]),
                maaned=f"{month:%Y-%m}",
                belop=int(row["belop"]),
                status=str(row["status"]),
                forklaring=str(text[i]),
                steg=records[i],
                **{c: int(row[c]) for c in AMOUNT_FIELDS},
                manuell_grunn=str(row["manuell_grunn"] or ""),
                maalform=str(row.get("maalform", "bokmål")),
            )
        )
    warnings = [
        f"Ikke verifisert verdi brukt: {path} = {format_value(v.verdi)} fra {v.gjelder_fra} (kilde: {v.kilde})"
        for path, v in unverified
    ]
    return Beregning(out, rules.version, warnings)


def beregn_json(rules: RuleSet, body: object) -> dict[str, Any]:
    """``POST /api/beregn``: ``{"maaned", "barn": [...], "inntekt": {...}}`` -> ``{"barn": [...], ...}``."""
    if not isinstance(body, Mapping):
        raise KalkulatorFeil([_own("", "", "ikke_objekt")])
    unknown = [k for k in body if k not in ("maaned", "barn", "inntekt")]
    if unknown:
        raise KalkulatorFeil([_own(str(k), "", "ukjent_felt", kjente="maaned, barn, inntekt") for k in unknown])
    return beregn(rules, body.get("maaned"), body.get("barn"), body.get("inntekt")).as_dict()


def municipalities(rules: RuleSet, day: dt.date) -> list[tuple[str, str, str]]:
    """(kommunenummer, navn, målform) of every municipality in the rule set."""
    out = []
    for nr, m in sorted(rules.municipalities.items()):
        try:
            form = str(rules.value(f"kommune.{nr}.maalform", day).verdi)
        except FeeEngineError:
            form = "bokmål"
        out.append((nr, getattr(m, "navn", nr), form))
    return out


__all__ = [
    "beregn",
    "beregn_json",
    "Beregning",
    "Barnresultat",
    "Feil",
    "KalkulatorFeil",
    "FIELDS",
    "municipalities",
    "parse_maaned",
]
