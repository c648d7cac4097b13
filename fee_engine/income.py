"""Household income from summert skattegrunnlag (the README, «The rules»).

* Person income = the sum of the ``grunnlag`` items whose ``tekniskNavn`` the dated
  income list for that inntektsår counts (personinntekt, kapitalinntekt, a business
  once by its surplus). Gross: deductions are never subtracted, and neither is an item
  with a negative amount (a business's deficit is not set off against wages: negative
  personinntekt is carried forward, skatteloven § 12-13; a capital loss is not deducted
  from gross kapitalinntekt), so income is never below zero.
* An item with kategori ``inntekt`` that the list does not know is reported.
* Household income = the sum over its adults. ``dokumentert_inntekt`` replaces the
  lookup; ``soekt_redusert = nei`` means no lookup at all.
* No usable data for an adult makes the household ``manuell`` with the reason; missing
  data is never taken as zero income.

Every answer was checked against the API's shape when it was read (:mod:`fee_engine.taxdata.answer`:
``kategori`` string or list, absent arrays, unknown fields skipped, ``beloep`` a whole number);
an answer that does not fit makes the household ``manuell``, never zero income.

Why a household is ``manuell`` is in ``manuell_grunn`` (text) and ``manuell_kode``
(``midlertidig_feil``: the lookup still failed after all retries, a re-run asks again;
``ugyldig_svar``, ``ukjent_person``, ``ingen_grunnlag``, ``slettet``, ``skjermet``,
``oppslag_feilet``; two adults' codes joined with ``+``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from .regelsett import COUNTED, RuleSet
from .taxdata.answer import Answer, InvalidAnswer, convert
from .taxdata.base import Lookup
from .text import one_object_per_text, per_value

STAGE_TEXT = {"oppgjoer": "skatteoppgjør", "utkast": "utkast til skattemelding"}

NO_DATA_REASON = {  # the code is the one the service gave (SSG-00x; through KS Fiks possibly Fiks's own)
    "ukjent_person": "Skatteetaten kjenner ikke personen ({kode})",
    "ingen_data": "ingen skattegrunnlag for {years} ({kode})",
    "slettet": "skattegrunnlaget finnes ikke lenger ({kode})",
}
NO_DATA_DEFAULT_CODE = {"ukjent_person": "SSG-007", "ingen_data": "SSG-008", "slettet": "SSG-011"}
NO_DATA_CODE = {"ukjent_person": "ukjent_person", "ingen_data": "ingen_grunnlag", "slettet": "slettet"}
TRANSIENT = "midlertidig_feil"
TRANSIENT_REASON = "midlertidig feil – kjør på nytt"
INVALID_CODES = ("UGYLDIG-SVAR", "UGYLDIG-FIL")


class PersonIncome(msgspec.Struct, frozen=True):  # a Struct: made in C, one per person (a dataclass took 1 µs)
    person: str
    ok: bool
    reason: str = ""
    inntektsaar: int | None = None
    stadie: str | None = None
    income_oere: int = 0
    unknown_items: tuple[str, ...] = ()
    kode: str = ""  # why not ok: see the module docstring


class Decided(msgspec.Struct):
    """What a batch keeps of its lookups: each person's income (in the order the persons were looked up), how
    many lookups were made, and for how many persons the last one failed for a reason that may pass
    (``midlertidig``). Made where the lookups were read (:func:`decide`), in each process that read some.

    The persons' :class:`PersonIncome` fields are held as columns, one list per field (no year: 0; no stage:
    «»): made in the process that read the answers, while its persons' objects are fresh in its caches, they go
    to the process that adds up the households as a few lists (MessagePack) and become its arrays at once
    (:func:`household_incomes`). Read field by field from some 100 000 objects there, they took 75 ms."""

    person: list[str]
    ok: list[bool]
    income_oere: list[int]
    inntektsaar: list[int]
    stadie: list[str]
    reason: list[str]
    kode: list[str]
    unknown_items: list[tuple[str, ...]]
    lookups: int = 0
    incomplete: int = 0

    @classmethod
    def of(cls, persons: Iterable[PersonIncome], lookups: int = 0, incomplete: int = 0) -> Decided:
        """``persons`` as columns: each person's fields read in one pass, in C."""
        rows = list(map(attrgetter(*_FIELDS), persons))
        if not rows:
            return cls([], [], [], [], [], [], [], [], lookups, incomplete)
        person, ok, income, year, stage, reason, kode, unknown = map(list, zip(*rows))
        if None in year:
            year = [y or 0 for y in year]
        if None in stage:
            stage = [x or "" for x in stage]
        return cls(person, ok, income, year, stage, reason, kode, unknown, lookups, incomplete)

    def merged(self, other: Decided) -> Decided:
        """Both processes' persons, this one's first, and their counts."""
        columns = [getattr(self, f) + getattr(other, f) for f in _FIELDS]
        return Decided(*columns, self.lookups + other.lookups, self.incomplete + other.incomplete)

    @property
    def persons(self) -> list[PersonIncome]:
        """Each person's :class:`PersonIncome`, in the order they were looked up."""
        return [
            PersonIncome(p, ok, reason, year or None, stage or None, income, tuple(unknown), kode)
            for p, ok, income, year, stage, reason, kode, unknown in zip(*(getattr(self, f) for f in _FIELDS))
        ]

    def incomes(self) -> dict[str, PersonIncome]:
        return {p.person: p for p in self.persons}


# Decided's columns, in the order of its fields: PersonIncome's fields of the same names
_FIELDS = ("person", "ok", "income_oere", "inntektsaar", "stadie", "reason", "kode", "unknown_items")


def decide(lookups: dict[str, list[Lookup]], rules: RuleSet) -> Decided:
    """:func:`person_incomes` of the lookups, with the counts a run reports of them."""
    return Decided.of(
        person_incomes(lookups, rules).values(),
        sum(len(tried) for tried in lookups.values()),
        sum(1 for tried in lookups.values() if tried[-1].midlertidig),
    )


def _kategori(raw: Any) -> str:
    if isinstance(raw, list):
        return raw[0] if raw else "-"
    return raw or "-"


def _failed(person: str, tried: list[Lookup]) -> PersonIncome:
    last = tried[-1]
    if last.status == "feil":
        if last.midlertidig:
            return PersonIncome(person, False, f"{TRANSIENT_REASON} ({last.kode}: {last.melding})", kode=TRANSIENT)
        if last.kode in INVALID_CODES:
            return PersonIncome(person, False, f"{last.melding} ({last.kode})", kode="ugyldig_svar")
        return PersonIncome(person, False, f"oppslaget feilet ({last.kode}: {last.melding})", kode="oppslag_feilet")
    years = ", ".join(f"{STAGE_TEXT.get(t.stadie, t.stadie)} {t.inntektsaar}" for t in tried)
    kode = last.kode if last.kode and last.kode != "HTTP-410" else NO_DATA_DEFAULT_CODE[last.status]
    return PersonIncome(
        person, False, NO_DATA_REASON[last.status].format(years=years, kode=kode), kode=NO_DATA_CODE[last.status]
    )


def person_incomes(lookups: dict[str, list[Lookup]], rules: RuleSet) -> dict[str, PersonIncome]:
    """Decide each person's income from the lookups made for them (the last one decides).

    One pass over the responses: each item is classified by a dict lookup in the income list of
    its inntektsår and summed in integer øre.
    """
    out: dict[str, PersonIncome] = {}
    counted = set(COUNTED)
    classes_by_year: dict[int, dict[str, str]] = {}
    for person, tried in lookups.items():
        last = tried[-1]
        if last.status != "ok":
            out[person] = _failed(person, tried)
            continue
        answer = last.body
        if type(answer) is not Answer:  # a body that did not come through the decoder (a dict): the same checks
            try:
                if answer is None:
                    raise InvalidAnswer("svaret mangler innhold")
                answer = convert(answer, person, last.inntektsaar, last.stadie)
            except InvalidAnswer as exc:
                out[person] = PersonIncome(person, False, f"ugyldig svar: {exc}", kode="ugyldig_svar")
                continue
        grunnlag = answer.grunnlag or ()
        if answer.skjermet is True and not grunnlag:
            out[person] = PersonIncome(
                person, False, "personen er skjermet og Skatteetaten sendte ingen tall", kode="skjermet"
            )
            continue
        classes = classes_by_year.get(last.inntektsaar)
        if classes is None:
            classes = classes_by_year[last.inntektsaar] = rules.income_classification(last.inntektsaar)
        total, unknown = 0, set()
        for item in grunnlag:
            cls = classes.get(item.tekniskNavn)
            if cls in counted:
                b = item.beloep
                b = b if type(b) is int else int(b)
                if b > 0:  # a negative item (a loss, a deficit) is not subtracted: gross income
                    total += b * 100
            elif cls is None and _kategori(item.kategori) == "inntekt":
                unknown.add(item.tekniskNavn)
        out[person] = PersonIncome(
            person,
            True,
            inntektsaar=last.inntektsaar,
            stadie=last.stadie,
            income_oere=total,
            unknown_items=tuple(sorted(unknown)),
        )
    return out


HOUSEHOLD_INCOME_COLUMNS = [
    "husholdning_id",
    "inntekt_oere",
    "inntekt_status",
    "manuell_grunn",
    "inntektsaar",
    "stadie",
    "ukjente_poster",
    "manuell_kode",
]
# Each adult's income basis as data, for explanations and letters in either målform: year (0 = none),
# stage ('' = none), income in øre (-1 = none).
PERSON_COLUMNS = ["soeker_aar", "soeker_stadie", "soeker_oere", "partner_aar", "partner_stadie", "partner_oere"]


# The households' text columns of few distinct values.
FEW_TEXTS = (
    "inntekt_status",
    "manuell_grunn",
    "inntektsaar",
    "stadie",
    "manuell_kode",
    "soeker_stadie",
    "partner_stadie",
)


def _texts_at(n: int, at: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """``n`` texts: ``texts`` at the rows ``at`` (made for those rows only), «» elsewhere."""
    out = np.full(n, "", dtype=object)
    out[at] = texts
    return out


def _person_columns(persons: Decided) -> dict[str, np.ndarray]:
    """The persons' incomes as arrays, one entry per person and a last one for no one (not ok, no income, empty
    texts); the year as text made once per distinct year."""

    def texts(values: list, last: object = "") -> np.ndarray:  # an element each (a tuple too)
        return np.fromiter(chain(values, (last,)), dtype=object, count=len(values) + 1)

    year_n = np.array([*persons.inntektsaar, 0], dtype=np.int64)
    unknown = texts(persons.unknown_items, ())
    return {
        "person": texts(persons.person),
        "ok": np.array([*persons.ok, False], dtype=bool),
        "income": np.array([*persons.income_oere, 0], dtype=np.int64),
        "year": per_value(year_n, str),
        "year_n": year_n,
        "stage": texts(persons.stadie),
        "reason": texts(persons.reason),
        "kode": texts(persons.kode),
        "has_unknown": np.array([*map(bool, persons.unknown_items), False], dtype=bool),
        "unknown": unknown,
    }


def household_incomes(households: pd.DataFrame, persons: Decided | Mapping[str, PersonIncome]) -> pd.DataFrame:
    """One row per household: income in øre (-1 = none), status and how it was found.

    ``persons``: the persons' incomes, as a batch decided them (:class:`Decided`) or by person id.

    ``households`` has ``husholdning_id``, ``voksne`` (tuple of person ids, applicant first),
    ``soekt_redusert`` and ``dok_inntekt_oere`` (-1 = not given). Vectorised: a household has
    at most two adults, so the applicant and the partner are two columns side by side, each taken
    by position from columns of the persons' incomes (each person's fields read once).
    """
    n = len(households)
    applied = households["soekt_redusert"].to_numpy(bool)
    documented = households["dok_inntekt_oere"].to_numpy(np.int64)
    adults = households["voksne"].tolist()
    out = pd.DataFrame(
        {"husholdning_id": households["husholdning_id"].to_numpy(), "inntekt_oere": np.full(n, -1, np.int64)}
    )
    for c in HOUSEHOLD_INCOME_COLUMNS[2:]:
        out[c] = ""
    looked_up = applied & (documented < 0)
    if not isinstance(persons, Decided):
        persons = msgspec.structs.replace(Decided.of(persons.values()), person=list(persons))
    pc = _person_columns(persons)
    index = pd.Index(pc["person"][:-1])
    side = {}
    for i, role in enumerate(("søker", "partner")):
        ids = np.array([a[i] if len(a) > i else "" for a in adults], dtype=object)
        wanted = looked_up & (ids != "") if i else looked_up
        at = index.get_indexer(ids)
        missing = wanted & (at < 0)
        if missing.any():  # every adult of a household that was looked up has an income (or a reason)
            raise KeyError(f"ingen inntekt for {role} i husholdning {out['husholdning_id'].to_numpy()[missing][0]}")
        j = np.where(wanted, at, len(index))  # the others: the last entry, no one
        ok = pc["ok"][j]
        failed, good = wanted & ~ok, wanted & ok
        inc = np.where(good, pc["income"][j], 0)
        f = np.flatnonzero(failed)  # the reasons are made for these rows only
        side[role] = dict(
            failed=failed,
            inc=inc,
            year=np.where(good, pc["year"][j], ""),
            stage=np.where(good, pc["stage"][j], ""),
            reason=_texts_at(n, f, f"{role}: " + pc["reason"][j[f]]),
            code=np.where(failed, pc["kode"][j], ""),
            unknown=good & pc["has_unknown"][j],
            j=j,
        )
    a, b = side["søker"], side["partner"]

    def join(x: np.ndarray, y: np.ndarray, sep: str, unique: bool = False) -> np.ndarray:
        """x and y joined by sep where both are given (once where they are equal and ``unique``), else the one
        given; the joined texts made only for the rows that have both."""
        both = (x != "") & (y != "")
        if unique:
            both &= x != y
        out = np.where(x != "", x, y).astype(object)
        out[both] = x[both] + sep + y[both]
        return out

    manual = looked_up & (a["failed"] | b["failed"])
    known = looked_up & ~manual
    out["inntekt_status"] = np.where(
        ~applied, "ikke_soekt", np.where(documented >= 0, "kjent", np.where(manual, "manuell", "kjent"))
    )
    out["inntekt_oere"] = np.where(documented >= 0, documented, np.where(known, a["inc"] + b["inc"], -1))
    out["manuell_grunn"] = np.where(manual, join(a["reason"], b["reason"], "; "), "")
    out["manuell_kode"] = np.where(manual, join(a["code"], b["code"], "+", unique=True), "")
    out["inntektsaar"] = np.where(looked_up, join(a["year"], b["year"], "/", unique=True), "")
    out["stadie"] = np.where(
        documented >= 0, "dokumentert", np.where(looked_up, join(a["stage"], b["stage"], "/", unique=True), "")
    )
    listed = np.full(n, "", dtype=object)
    some = np.flatnonzero(a["unknown"] | b["unknown"])  # few households: their items joined one by one
    items = pc["unknown"]
    for k in some.tolist():
        x = items[a["j"][k]] if a["unknown"][k] else ()
        y = items[b["j"][k]] if b["unknown"][k] else ()
        listed[k] = ", ".join(sorted(set(x) | set(y)))
    out["ukjente_poster"] = listed
    for role, side_ in (("soeker", a), ("partner", b)):
        has = side_["stage"] != ""
        out[f"{role}_aar"] = np.where(has, pc["year_n"][side_["j"]], 0)
        out[f"{role}_stadie"] = side_["stage"]
        out[f"{role}_oere"] = np.where(has, side_["inc"], -1)
    if n:  # few distinct texts, one string object each (text.py says why); no households: the columns as made
        for c in FEW_TEXTS:
            out[c] = one_object_per_text(out[c].to_numpy())
    return out[HOUSEHOLD_INCOME_COLUMNS + PERSON_COLUMNS]
