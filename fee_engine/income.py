"""Household income from summert skattegrunnlag (CALCULATION.md, «Household income»).

* Person income = the sum of the ``grunnlag`` items whose ``tekniskNavn`` the dated
  income list for that inntektsår counts (personinntekt, kapitalinntekt, a business
  once by its surplus). Gross: deductions are never subtracted.
* An item with kategori ``inntekt`` that the list does not know is reported.
* Household income = the sum over its adults. ``dokumentert_inntekt`` replaces the
  lookup; ``soekt_redusert = nei`` means no lookup at all.
* No usable data for an adult makes the household ``manuell`` with the reason; missing
  data is never taken as zero income.

Responses are parsed leniently: ``kategori`` as string or list, absent arrays,
unknown fields ignored, ``beloep`` as number or numeric string.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from .regelsett import COUNTED, RuleSet
from .text import kroner_from_oere
from .taxdata.base import Lookup

STAGE_TEXT = {"oppgjoer": "skatteoppgjør", "utkast": "utkast til skattemelding"}

NO_DATA_REASON = {
    "ukjent_person": "Skatteetaten kjenner ikke personen (SSG-007)",
    "ingen_data": "ingen skattegrunnlag for {years} (SSG-008)",
    "slettet": "skattegrunnlaget finnes ikke lenger (SSG-011)",
}


@dataclass(frozen=True)
class PersonIncome:
    person: str
    ok: bool
    reason: str = ""
    inntektsaar: int | None = None
    stadie: str | None = None
    income_oere: int = 0
    unknown_items: tuple[str, ...] = ()


def _kategori(raw: Any) -> str:
    if isinstance(raw, list):
        return str(raw[0]) if raw else "-"
    return str(raw) if raw else "-"


def _beloep_oere(raw: Any) -> int | None:
    if type(raw) is int:  # the API's own type: whole kroner
        return raw * 100
    try:
        return int(Decimal(str(raw)) * 100)
    except (InvalidOperation, ValueError):
        return None


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
            if last.status == "feil":
                reason = f"oppslaget feilet ({last.kode}: {last.melding})"
            else:
                years = ", ".join(f"{STAGE_TEXT[t.stadie]} {t.inntektsaar}" for t in tried)
                reason = NO_DATA_REASON[last.status].format(years=years)
            out[person] = PersonIncome(person, False, reason)
            continue
        body = last.body or {}
        grunnlag = body.get("grunnlag") or []
        if body.get("skjermet") is True and not grunnlag:
            out[person] = PersonIncome(person, False, "personen er skjermet og Skatteetaten sendte ingen tall")
            continue
        classes = classes_by_year.get(last.inntektsaar)
        if classes is None:
            classes = classes_by_year[last.inntektsaar] = rules.income_classification(last.inntektsaar)
        total, unknown, bad_amount = 0, set(), False
        for item in grunnlag:
            if not isinstance(item, dict):
                continue
            amount = _beloep_oere(item.get("beloep"))
            if amount is None:
                bad_amount = True
                break
            name = str(item.get("tekniskNavn", ""))
            cls = classes.get(name)
            if cls in counted:
                total += amount
            elif cls is None and _kategori(item.get("kategori")) == "inntekt":
                unknown.add(name)
        if bad_amount:
            out[person] = PersonIncome(person, False, "svaret fra Skatteetaten har et beløp som ikke er et tall")
            continue
        out[person] = PersonIncome(person, True, inntektsaar=last.inntektsaar, stadie=last.stadie, income_oere=total,
                                   unknown_items=tuple(sorted(unknown)))
    return out


HOUSEHOLD_INCOME_COLUMNS = ["husholdning_id", "inntekt_oere", "inntekt_status", "manuell_grunn", "inntektsaar", "stadie",
                            "inntekt_kilde", "ukjente_poster"]
# Each adult's part, for the decision letters: inntektsår, stadie and income in øre ("", "", -1 = none).
PERSON_COLUMNS = [f"{rolle}_{c}" for rolle in ("soeker", "partner") for c in ("inntektsaar", "stadie", "inntekt_oere")]


def household_incomes(households: pd.DataFrame, persons: dict[str, PersonIncome]) -> pd.DataFrame:
    """One row per household: income in øre (-1 = none), status and how it was found.

    ``households`` has ``husholdning_id``, ``voksne`` (tuple of person ids, applicant first),
    ``soekt_redusert`` and ``dok_inntekt_oere`` (-1 = not given). Vectorised: a household has
    at most two adults, so the applicant and the partner are two columns side by side.
    """
    n = len(households)
    applied = households["soekt_redusert"].to_numpy(bool)
    documented = households["dok_inntekt_oere"].to_numpy(np.int64)
    adults = households["voksne"].tolist()
    out = pd.DataFrame({"husholdning_id": households["husholdning_id"].to_numpy(), "inntekt_oere": np.full(n, -1, np.int64)})
    for c in ("inntekt_status", "manuell_grunn", "inntektsaar", "stadie", "inntekt_kilde", "ukjente_poster"):
        out[c] = ""
    looked_up = applied & (documented < 0)
    side = {}
    for i, role in enumerate(("søker", "partner")):
        pis = [persons[a[i]] if looked_up[k] and len(a) > i else None for k, a in enumerate(adults)]
        failed = np.array([p is not None and not p.ok for p in pis], dtype=bool)
        good = [p if p is not None and p.ok else None for p in pis]
        inc = np.array([p.income_oere if p else 0 for p in good], dtype=np.int64)
        year = np.array([str(p.inntektsaar) if p else "" for p in good], dtype=object)
        stage = np.array([p.stadie or "" if p else "" for p in good], dtype=object)
        part = np.array([f"{role}: {STAGE_TEXT[p.stadie or 'oppgjoer']} {p.inntektsaar}, {kroner_from_oere(p.income_oere)}"
                         if p else "" for p in good], dtype=object)
        reason = np.array([f"{role}: {p.reason}" if f else "" for p, f in zip(pis, failed)], dtype=object)
        side[role] = dict(failed=failed, inc=inc, year=year, stage=stage, part=part, reason=reason,
                          unknown=[p.unknown_items if p else () for p in good])
    a, b = side["søker"], side["partner"]

    def join(x: np.ndarray, y: np.ndarray, sep: str, unique: bool = False) -> np.ndarray:
        both = (x != "") & (y != "")
        same = both & (x == y) if unique else np.zeros(len(x), dtype=bool)
        return np.where(same, x, np.where(both, x + sep + y, np.where(x != "", x, y)))

    manual = looked_up & (a["failed"] | b["failed"])
    known = looked_up & ~manual
    out["inntekt_status"] = np.where(~applied, "ikke_soekt", np.where(documented >= 0, "kjent",
                                     np.where(manual, "manuell", "kjent")))
    out["inntekt_oere"] = np.where(documented >= 0, documented, np.where(known, a["inc"] + b["inc"], -1))
    out["manuell_grunn"] = np.where(manual, join(a["reason"], b["reason"], "; "), "")
    out["inntektsaar"] = np.where(looked_up, join(a["year"], b["year"], "/", unique=True), "")
    out["stadie"] = np.where(documented >= 0, "dokumentert", np.where(looked_up, join(a["stage"], b["stage"], "/", unique=True), ""))
    documented_text = np.array([f"dokumentert inntekt {kroner_from_oere(d)} (erstatter skattegrunnlaget)" if d >= 0 else ""
                                for d in documented.tolist()], dtype=object)
    out["inntekt_kilde"] = np.where(~applied, "husholdningen har ikke søkt om redusert betaling",
                                    np.where(documented >= 0, documented_text, join(a["part"], b["part"], "; ")))
    out["ukjente_poster"] = [", ".join(sorted(set(x) | set(y))) for x, y in zip(a["unknown"], b["unknown"])]
    for rolle, part in (("soeker", a), ("partner", b)):
        has = known & (part["year"] != "")
        out[f"{rolle}_inntektsaar"] = np.where(has, part["year"], "")
        out[f"{rolle}_stadie"] = np.where(has, part["stage"], "")
        out[f"{rolle}_inntekt_oere"] = np.where(has, part["inc"], -1)
    return out[HOUSEHOLD_INCOME_COLUMNS + PERSON_COLUMNS]
