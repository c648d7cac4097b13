"""A case's economy: the latest skatteoppgjør and the last months in a-ordningen, per person and summed.

Skatteoppgjør (Summert skattegrunnlag, package ``kommuneboligsosialeformaal``, stage ``oppgjoer``
only): the year before the date asked for, else the year before that. Per person:

* ``inntekt``: the ``grunnlag`` items the income list of the year counts (``rules/inntekt/<år>.yaml``:
  personinntekt and kapitalinntekt, gross, a business once by its surplus), as for the fee;
  items of kategori ``inntekt`` the list does not know are named (``ukjente_poster``), not counted;
* ``bruttoformue``, ``nettoformue``, ``samlet_gjeld``: those items when the answer has them
  (``None``: not in the answer), and ``sum_formuesposter``: the items of kategori ``formue``;
* every item as the package gives it (``tekniskNavn``, ``kategori``, ``beloep``).

A-ordningen (Inntekt API): per payer (opplysningspliktig, virksomhet) and month, the amounts by
``fordel`` (kontantytelse, naturalytelse, utgiftsgodtgjoerelse) and their sum; per person the
total and the monthly average over the months asked for (øre, half up); totals by kind
(``loennsinntekt``, ``ytelseFraOffentlige``, ``pensjonEllerTrygd``, ``naeringsinntekt``).
A payer that is a person (11 digits) is masked like every fødselsnummer.

Missing data is never zero: a person without an answer is named with the reason, and the
case's sums say they are incomplete (``komplett`` false).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..errors import RuleSetError
from ..identity import mask
from ..income import person_incomes
from ..regelsett import RuleSet
from ..taxdata.base import Lookup
from .aordning import AordningLookup, months_between, oere

FORDELER = ("kontantytelse", "naturalytelse", "utgiftsgodtgjoerelse")
TYPER = ("loennsinntekt", "ytelseFraOffentlige", "pensjonEllerTrygd", "naeringsinntekt", "annet")
AORDNING_REASON = {
    "ukjent_person": "Skatteetaten kjenner ikke personen i a-ordningen ({kode})",
    "ingen_data": "ingen inntekt innrapportert i a-ordningen for perioden ({kode})",
}


@dataclass
class Skatt:
    status: str  # ok, or why not: ukjent_person, ingen_grunnlag, slettet, skjermet, ugyldig_svar, midlertidig_feil …
    grunn: str = ""
    inntektsaar: int | None = None
    inntekt: int | None = None  # kroner
    bruttoformue: int | None = None
    nettoformue: int | None = None
    samlet_gjeld: int | None = None
    sum_formuesposter: int | None = None
    ukjente_poster: tuple[str, ...] = ()
    poster: list[tuple[str, str, int]] = field(default_factory=list)
    midlertidig: bool = False


@dataclass
class Aordning:
    status: str  # ok, ingen_data, ukjent_person, feil
    grunn: str = ""
    maaneder: int = 0
    rader: list[dict[str, Any]] = field(default_factory=list)  # per payer and month
    total_oere: int | None = None
    snitt_oere: int | None = None
    per_type_oere: dict[str, int] = field(default_factory=dict)
    midlertidig: bool = False


@dataclass
class Person:
    person: str  # the full number, for lookups only: every output masks it
    rolle: str
    skatt: Skatt
    aordning: Aordning

    @property
    def maskert(self) -> str:
        return mask(self.person)


@dataclass
class Sak:
    sak_id: str
    personer: list[Person]

    def _sum(self, values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    @property
    def skatt_komplett(self) -> bool:
        return all(p.skatt.status == "ok" for p in self.personer)

    @property
    def aordning_komplett(self) -> bool:
        return all(p.aordning.status in ("ok", "ingen_data") for p in self.personer)

    @property
    def komplett(self) -> bool:
        return self.skatt_komplett and self.aordning_komplett

    @property
    def midlertidig(self) -> bool:
        return any(p.skatt.midlertidig or p.aordning.midlertidig for p in self.personer)

    def sum_skatt(self, name: str) -> int | None:
        return self._sum([getattr(p.skatt, name) for p in self.personer])

    @property
    def aordning_total_oere(self) -> int | None:
        return self._sum([p.aordning.total_oere for p in self.personer])

    @property
    def aordning_snitt_oere(self) -> int | None:
        total = self.aordning_total_oere
        months = max((p.aordning.maaneder for p in self.personer), default=0)
        return average(total, months) if total is not None and months else None

    @property
    def inntektsaar(self) -> str:
        return "/".join(sorted({str(p.skatt.inntektsaar) for p in self.personer if p.skatt.inntektsaar}))

    @property
    def merknader(self) -> list[str]:
        out = []
        for p in self.personer:
            if p.skatt.status != "ok":
                out.append(f"{p.rolle} {p.maskert}: skatteoppgjør: {p.skatt.grunn}")
            elif p.skatt.ukjente_poster:
                out.append(
                    f"{p.rolle} {p.maskert}: ukjente inntektsposter (ikke talt med): "
                    + ", ".join(p.skatt.ukjente_poster)
                )
            if p.aordning.status != "ok":
                out.append(f"{p.rolle} {p.maskert}: a-ordningen: {p.aordning.grunn}")
        return out


def average(total_oere: int, months: int) -> int:
    """The monthly average in øre, half up (away from zero for a negative total)."""
    return int((Decimal(total_oere) / months).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def skatt_for(person: str, tried: list[Lookup], rules: RuleSet) -> Skatt:
    last = tried[-1]
    try:
        pi = person_incomes({person: tried}, rules)[person]
    except RuleSetError as exc:  # no income list for that year: every item is still listed
        pi = None
        reason = f"inntekten er ikke regnet ut: {exc}"
    if pi is not None and not pi.ok:
        return Skatt(pi.kode or "feil", pi.reason, midlertidig=last.midlertidig)
    items = list(last.body.grunnlag or ()) if last.body is not None else []
    poster = [(i.tekniskNavn, _kategori(i.kategori), i.kroner) for i in items]
    by_name = {name: amount for name, _, amount in poster}
    skatt = Skatt(
        "ok",
        inntektsaar=last.inntektsaar,
        poster=poster,
        bruttoformue=by_name.get("bruttoformue"),
        nettoformue=by_name.get("nettoformue"),
        samlet_gjeld=by_name.get("samletGjeld"),
        sum_formuesposter=sum(a for _, k, a in poster if k == "formue"),
    )
    if pi is None:
        skatt.grunn = reason
    else:
        skatt.inntekt = pi.income_oere // 100  # whole kroner in, whole kroner out
        skatt.ukjente_poster = pi.unknown_items
    return skatt


def _kategori(raw: Any) -> str:
    if isinstance(raw, list):
        return raw[0] if raw else "-"
    return raw or "-"


def _payer(value: str | None) -> str:
    text = value or ""
    return mask(text) if len(text) == 11 and text.isdigit() else text  # a person as employer is masked


def aordning_for(res: AordningLookup) -> Aordning:
    months = len(months_between(res.fra, res.til))
    if res.status == "feil":
        return Aordning(
            "feil",
            f"oppslaget feilet ({res.kode}: {res.melding})" if res.melding else f"oppslaget feilet ({res.kode})",
            months,
            midlertidig=res.midlertidig,
        )
    if res.status != "ok":
        a = Aordning(res.status, AORDNING_REASON[res.status].format(kode=res.kode), months)
        if res.status == "ingen_data":  # nothing reported for the period: that is what a-ordningen says
            a.total_oere, a.snitt_oere = 0, 0
        return a
    cells: dict[tuple[str, str, str], dict[str, int]] = {}
    per_type = {t: 0 for t in TYPER}
    for o in (res.body.oppgaveInntektsmottaker or ()) if res.body else ():
        key = (_payer(o.opplysningspliktigId), _payer(o.virksomhetId), o.kalendermaaned)
        cell = cells.setdefault(key, {f: 0 for f in FORDELER} | {"annen_fordel": 0})
        for post in o.inntekt or ():
            amount = oere(post.beloep)
            cell[post.fordel if post.fordel in FORDELER else "annen_fordel"] += amount
            per_type[post.type] += amount
    rader = []
    for (payer, unit, month), cell in sorted(cells.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        rader.append(
            {"opplysningspliktig": payer, "virksomhet": unit, "maaned": month, **cell, "sum": sum(cell.values())}
        )
    total = sum(r["sum"] for r in rader)
    return Aordning("ok", "", months, rader, total, average(total, months), {t: v for t, v in per_type.items() if v})


def summarise(
    cases: dict[str, list[tuple[str, str]]],
    ssg: dict[str, list[Lookup]],
    aord: dict[str, AordningLookup],
    rules: RuleSet,
) -> list[Sak]:
    skatt_cache: dict[str, Skatt] = {}
    aord_cache: dict[str, Aordning] = {}
    out = []
    for sak_id, members in cases.items():
        personer = []
        for person, rolle in members:
            if person not in skatt_cache:
                skatt_cache[person] = skatt_for(person, ssg[person], rules)
                aord_cache[person] = aordning_for(aord[person])
            personer.append(Person(person, rolle, skatt_cache[person], aord_cache[person]))
        out.append(Sak(sak_id, personer))
    return out
