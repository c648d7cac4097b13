"""From the step records to what people read: monthly rows, vedtak periods and their forklaring.

Months with the same result are merged into one period per child; the explanation is written once
per period from the step records the calculation kept (never recomputed), each step contributing
its own sentences (:mod:`fee_engine.steg`), with the legal reference of each step taken from the
rule set's ``hjemmel``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..beregning import PLASS, expand_runs, flag_text
from ..money import to_kroner
from ..regelsett import RuleSet
from ..sortering import distinct_codes, distinct_rows, lexsort
from ..steg import REKKEFOLGE, STEGKOLONNER
from ..text import is_text, year_months
from .setninger import Setninger, maaned_tekst

MONTHLY_COLUMNS = [
    "barn_id",
    "husholdning_id",
    "tilbud",
    "kommunenummer",
    "institusjon",
    "maaned",
    *STEGKOLONNER,
    "belop",
    "status",
    "forklaring_kode",
    "manuell_grunn",
]

# What must be equal for two consecutive months to share one vedtak period: the place, the household's
# income basis, every step's record and every number its sentences show.
PERIOD_KEY = [
    "institusjon",
    "kommunenummer",
    "plass_bp",
    "timer_c",
    "trinn",
    "pris_oere",
    "saerskilte_behov",
    "inntekt_oere",
    "belop",
    "status",
    "flagg",
    "manuell_grunn",
    "ordinaer_pris",
    "saerskilte_behov_fritak",
    "etter_inntektsgrense",
    "soeskenmoderasjon",
    "gratis_timer",
    *[s.etter for s in REKKEFOLGE],
    *dict.fromkeys(c for s in REKKEFOLGE for c in s.behold),
    "inntekt_tak_oere",
    "soesken_rang",
    "soesken_bp",
    "kjernetid",
    "kjernetid_alder",
    "uverifisert",
]


def with_flag_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``forklaring_kode`` from ``flagg`` (text only when written)."""
    return frame.assign(forklaring_kode=flag_text(frame["flagg"]))


def monthly(runs: pd.DataFrame, extra_columns: list[str], flags: bool = False) -> pd.DataFrame:
    """``maanedlig.csv``: the runs expanded to one row per child and month, output columns only
    (``flags=True`` keeps the ``flagg`` bitmask for summaries)."""
    cols = MONTHLY_COLUMNS + extra_columns + (["flagg"] if flags else [])
    out = expand_runs(with_flag_text(runs), cols)
    out["maaned"] = year_months(out["maaned"])
    return out


@dataclass(frozen=True)
class Perioder:
    """The vedtak periods found in the runs, not yet copied out of them: ``rows`` are the runs that begin each
    period (in the order of the periods), ``til`` each period's last month. :meth:`take` copies out the periods
    a writer needs at the time, so two processes each copy only their own part, a block at a time."""

    runs: pd.DataFrame
    rows: np.ndarray
    til: np.ndarray  # datetime64[ns], the first day of the period's last month

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Periods ``start:stop`` as a table: their first runs' columns and ``til``."""
        first = self.runs.take(self.rows[start:stop]).reset_index(drop=True)
        first["til"] = self.til[start:stop]
        return first


def find_periods(runs: pd.DataFrame) -> Perioder:
    """Merge consecutive runs with equal results into periods (the first run of each carries the data),
    ordered by child, offer and month. ``til`` is the last month of the period. Only the keys are put in order.

    Each run is compared with the run before it in that order where the two may be one period (the same child
    and offer, the months following on). That run is nearly always the one just before it in the runs' own order
    (the runs are in order of child and month), so each column is compared with its neighbour in place, and only
    the few other pairs value by value: no column is copied into the periods' order (at 500 000 children,
    1.9 M runs and 40 columns, finding the periods took 1.7 s with those copies and takes 0.6 s without)."""
    plass = runs[PLASS].to_numpy()  # the child and offer, ranked in the text order of (barn_id, tilbud)
    start = runs["maaned"].to_numpy("datetime64[M]").astype(np.int64)
    end = start + runs["antall_maaneder"].to_numpy() - 1
    order = lexsort([plass, start])  # stable: by child, offer, month
    n = len(order)
    before = np.full(n, -1, dtype=np.int64)  # each run's predecessor in that order
    before[order[1:]] = order[:-1]
    b = np.maximum(before, 0)
    merge = (before >= 0) & (plass[b] == plass) & (end[b] + 1 == start)
    near = merge & (before == np.arange(n) - 1)  # the predecessor is the run just before
    far = np.flatnonzero(merge & ~near)
    for c in PERIOD_KEY:
        col = runs[c]
        text = is_text(col)
        values = col.to_numpy(dtype=object if text else None)
        equal = np.zeros(n, dtype=bool)
        equal[1:] = values[1:] == values[:-1]
        far_equal = values[far] == values[before[far]]
        equal &= near
        if text:  # two missing values are the same value here: looked for only where the values differ
            check = np.flatnonzero(near & ~equal)
            equal[check] = pd.isna(values[check]) & pd.isna(values[check - 1])
            other = far[~far_equal]
            far_equal[~far_equal] = pd.isna(values[other]) & pd.isna(values[before[other]])
        equal[far] = far_equal
        merge &= equal
    same = merge[order]
    pid = np.cumsum(~same)
    last_end = pd.Series(end[order]).groupby(pid, sort=False).max().to_numpy()
    return Perioder(runs, order[~same], last_end.astype("datetime64[M]").astype("datetime64[ns]"))


def periods(runs: pd.DataFrame) -> pd.DataFrame:
    """Every vedtak period as a table (:func:`find_periods`, copied out whole)."""
    return find_periods(runs).take()


def vedtak(runs: pd.DataFrame, rules: RuleSet, extra_columns: list[str]) -> pd.DataFrame:
    return vedtak_table(periods(runs), rules, extra_columns)


def vedtak_table(p: pd.DataFrame, rules: RuleSet, extra_columns: list[str]) -> pd.DataFrame:
    """``vedtak.csv`` from the periods: one row each, with the explanation."""
    return vedtak_table_numbered(p, rules, extra_columns)[0]


def vedtak_table_numbered(
    p: pd.DataFrame, rules: RuleSet, extra_columns: list[str]
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """:func:`vedtak_table`, and for its columns ``forklaring`` and ``merknad_saksbehandler`` each row's number and
    the texts of the numbers (``texts[numbers]`` is the column; a text may have several numbers). A writer then
    looks at each text once instead of comparing a text per row (an explanation is some 700 characters)."""
    p = p.reset_index(drop=True)
    text_numbers, texts = explain_numbered(p, rules)
    note_numbers, notes = office_note_numbered(p)
    out = pd.DataFrame(
        {
            "barn_id": p["barn_id"],
            "husholdning_id": p["husholdning_id"],
            "tilbud": p["tilbud"],
            "kommunenummer": p["kommunenummer"],
            "institusjon": p["institusjon"],
            "fra_maaned": year_months(p["maaned"]),
            "til_maaned": year_months(p["til"]),
            **{c: p[c] for c in STEGKOLONNER},  # in the order of maanedlig.csv
            "belop": p["belop"],
            "status": p["status"],
            "inntektsaar": p["inntektsaar"],
            "stadie": p["stadie"],
            "husholdningsinntekt": np.where(p["inntekt_oere"] >= 0, to_kroner(p["inntekt_oere"].to_numpy()), pd.NA),
            "regelsett": rules.version,
            "forklaring_kode": flag_text(p["flagg"]),
            "forklaring": pd.Series(texts[text_numbers], dtype=object),
            "merknad_saksbehandler": pd.Series(notes[note_numbers], dtype=object),
        }
    )
    for c in extra_columns:
        out[c] = p[c].to_numpy()
    return out, {"forklaring": (text_numbers, texts), "merknad_saksbehandler": (note_numbers, notes)}


INTRO = {
    "bokmål": {
        "barnehage": "Barnehage, plass på {plass} %. ",
        "sfo": "SFO, {trinn}. trinn, {timer} timer i uka. ",
        "avrunding": "Beløpene i forklaringen er rundet til hele kroner; beløpet å betale er regnet ut nøyaktig "
        "og deretter rundet til hele kroner.",
    },
    "nynorsk": {
        "barnehage": "Barnehage, plass på {plass} %. ",
        "sfo": "SFO, {trinn}. trinn, {timer} timar i veka. ",
        "avrunding": "Beløpa i forklaringa er runda av til heile kroner; beløpet å betale er rekna ut nøyaktig "
        "og deretter runda av til heile kroner.",
    },
}


def explain(p: pd.DataFrame, rules: RuleSet) -> pd.Series:
    """The whole calculation in words a parent understands, one string per period row, in the municipality's
    målform: what the place is, each step's sentences in the order the steps are taken, how amounts are rounded."""
    numbers, texts = explain_numbered(p, rules)
    return pd.Series(texts[numbers], dtype=object)


def explain_numbered(p: pd.DataFrame, rules: RuleSet) -> tuple[np.ndarray, np.ndarray]:
    """:func:`explain` as each row's number and the texts of the numbers: rows whose sentences are all the same
    share a number, and their explanation is joined once."""
    p = p.reset_index(drop=True)
    numbers = np.zeros(len(p), dtype=np.int64)
    texts: list[np.ndarray] = []
    maalform = p["maalform"].astype(str) if "maalform" in p else pd.Series(["bokmål"] * len(p))
    size = 0
    forms = pd.unique(maalform)
    for form in forms:
        rows = (maalform == form).to_numpy()
        # the rows of one målform by their positions (each column taken at them when a sentence reads it)
        these, written = _explain_one(p, rules, form, np.flatnonzero(rows) if len(forms) > 1 else None)
        numbers[rows] = these + size
        texts.append(written)
        size += len(written)
    return numbers, np.concatenate(texts) if texts else np.empty(0, dtype=object)


def _explain_one(
    p: pd.DataFrame, rules: RuleSet, maalform: str, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    s = Setninger(p, rules, maalform, rows)
    t = INTRO[maalform]
    parts = [
        s.when(s.bh, lambda r: s.fill(t["barnehage"], plass=s.num(r["plass_bp"]))),
        s.when(s.sfo, lambda r: s.fill(t["sfo"], trinn=r["trinn"].astype(str), timer=s.num(r["timer_c"]))),
    ]
    for step in REKKEFOLGE:
        if step.forklar is not None:
            parts += step.forklar(s)
    parts.append(s.when(s.fakturert, t["avrunding"]))  # a month not billed has nothing to round
    # the rows numbered by the combination of their sentences; each combination's explanation joined once
    codes, sizes = [], []
    for part in parts:
        known = s.numbers(part)
        if known is None:  # a sentence not made by s.when: numbered by its texts
            numbers, distinct = pd.factorize(part)
            known = numbers, len(distinct)
        if known[1]:  # a sentence no row has adds nothing
            codes.append(known[0] + 1)  # -1 (no sentence) becomes 0
            sizes.append(known[1] + 1)
    row, first = distinct_codes(codes, sizes, n=s.n)
    written = [part[first].tolist() for part in parts]
    return row, np.array(list(map("".join, zip(*written))), dtype=object)


# What the office needs to know about a decision, in words that say what to do.
HANDLING = {
    "midlertidig_feil": "kjør batchen på nytt; bare disse oppslagene gjøres igjen",
    "ukjent_person": "kontroller fødselsnummeret, eller be om dokumentert inntekt",
    "ingen_grunnlag": "be om dokumentert inntekt (skattemelding eller lønnsslipper)",
    "slettet": "be om dokumentert inntekt (skattemelding eller lønnsslipper)",
    "skjermet": "innhent inntektsopplysningene manuelt",
    "ugyldig_svar": "kontroller svaret fra Skatteetaten og kjør på nytt",
    "oppslag_feilet": "se koden, rett det som er galt, og kjør på nytt",
}


def office_note(p: pd.DataFrame) -> pd.Series:
    """``merknad_saksbehandler``: why a case is manual and what to do, unknown income items, unverified values.

    Written once per distinct combination of those (a few hundred in a batch), then spread to the rows."""
    numbers, notes = office_note_numbered(p)
    return pd.Series(notes[numbers], dtype=object)


def office_note_numbered(p: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """:func:`office_note` as each row's number and the notes of the numbers."""
    n = len(p)
    empty = np.full(n, "", dtype=object)
    cols = {
        "manuell": (p["status"] == "manuell").to_numpy(),
        "kode": p["manuell_kode"].to_numpy() if "manuell_kode" in p else empty,
        "grunn": p["manuell_grunn"].to_numpy(),
        "ukjent": p["ukjente_poster"].to_numpy() if "ukjente_poster" in p else empty,
        "uverifisert": p["uverifisert"].to_numpy() if "uverifisert" in p else empty,
    }
    codes, at = distinct_rows(list(cols.values()))  # each combination from its first row
    notes = []
    for manual, code, reason, unknown, unverified in zip(*(np.asarray(v)[at].tolist() for v in cols.values())):
        note = ""
        first = str(code).split("+")[0]
        if manual and first:
            note += f"Manuell: {reason}. Gjør: {HANDLING.get(first, 'vurder inntekten')}. "
        if unknown:
            why = (
                "Manuell fordi skattegrunnlaget har en ukjent inntektspost"
                if manual and not first
                else "Ukjent inntektspost i skattegrunnlaget, ikke talt med"
            )
            note += f"{why}: {unknown}. Gjør: vurder om den skal regnes som inntekt, og legg den inn i inntektslisten. "
        if unverified:
            note += (
                f"Ikke verifiserte verdier brukt: {unverified}. Gjør: kontroller dem mot kilden før vedtaket sendes. "
            )
        notes.append(note.strip())
    return (codes, np.asarray(notes, dtype=object)) if len(notes) else (np.zeros(n, np.int64), np.full(1, "", object))


__all__ = [
    "monthly",
    "periods",
    "find_periods",
    "Perioder",
    "vedtak",
    "vedtak_table",
    "vedtak_table_numbered",
    "explain",
    "explain_numbered",
    "office_note",
    "with_flag_text",
    "MONTHLY_COLUMNS",
    "maaned_tekst",
]
