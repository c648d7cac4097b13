"""What a rule file may hold: value types and the pydantic models of parameters and files.

Every parameter has a dotted path (``barnehage.maksimalpris.generell``; municipal ones
``kommune.0301.sone``), a description, a legal reference (``hjemmel``) and dated values, each
with its source (``kilde``) and a ``verifisert`` flag. Which paths exist, and the type of each,
is declared by the legal steps that read them (:mod:`fee_engine.steg`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import RuleSetError

Zone = Literal["generell", "sentralitet_5_6", "tiltakssone"]
Grade = Literal[1, 2, 3, 4, 5, 6, 7]
Month = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
# Whole or decimal kroner in YAML, converted to øre exactly on use. Bounded: no national or
# municipal amount in this domain is negative or above a million kroner.
Kroner = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Hours = Annotated[float, Field(gt=0, le=168, allow_inf_nan=False)]
Age = Annotated[int, Field(ge=0, le=18)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiblingRates(Strict):
    barn_2: Percent
    barn_3_og_flere: Percent


class PriceStep(Strict):
    fra_timer: Annotated[float, Field(ge=0, le=168, allow_inf_nan=False)]
    pris: Kroner


class Value(Strict):
    gjelder_fra: dt.date
    verdi: Any
    kilde: str
    verifisert: bool
    merknad: str | None = None


class ShortReference(Strict):
    """The legal reference as a parent reads it (no caveats, no brackets), from a date."""

    gjelder_fra: dt.date
    tekst: str = Field(min_length=1, pattern=r"^[^()\[\]]*$")


class Parameter(Strict):
    path: str = ""
    beskrivelse: str
    enhet: str | None = None
    hjemmel: str  # the full reference, with what is and is not verified: for the office and vedtak.json
    hjemmel_kort: list[ShortReference] = []  # what letters and explanations show (default: hjemmel)
    verdier: list[Value] = Field(min_length=1)

    def short_reference(self, day: dt.date) -> str:
        found = None
        for ref in sorted(self.hjemmel_kort, key=lambda r: r.gjelder_fra):
            if ref.gjelder_fra <= day:
                found = ref.tekst
        return found or self.hjemmel

    @field_validator("verdier")
    @classmethod
    def _dates_unique(cls, v: list[Value]) -> list[Value]:
        dates = [x.gjelder_fra for x in v]
        dupes = sorted({d for d in dates if dates.count(d) > 1})
        if dupes:
            raise ValueError(f"to verdier gjelder fra samme dato: {', '.join(map(str, dupes))}")
        return sorted(v, key=lambda x: x.gjelder_fra)

    def value_on(self, day: dt.date) -> Value:
        found = None
        for v in self.verdier:
            if v.gjelder_fra <= day:
                found = v
            else:
                break
        if found is None:
            raise RuleSetError(
                f"{self.path}: ingen verdi gjelder {day.isoformat()} "
                f"(første verdi gjelder fra {self.verdier[0].gjelder_fra.isoformat()})"
            )
        return found


class Municipality(Strict):
    kommunenummer: str = Field(pattern=r"^[0-9]{4}$")
    navn: str
    parametere: dict[str, Parameter]


class IncomeList(Strict):
    """Classification of tekniskNavn for one inntektsår (rules/inntekt/<år>.yaml)."""

    inntektsaar: int
    verifisert: bool
    kilde: str
    bygger_paa: int | None = None
    personinntekt: list[str] = []
    kapitalinntekt: list[str] = []
    naeringsoverskudd: list[str] = []
    utelatt: dict[str, list[str]] = {}
    legg_til: dict[str, Any] = {}
    fjern: list[str] = []


COUNTED = ("personinntekt", "kapitalinntekt", "naeringsoverskudd")


class RuleSetInfo(Strict):
    versjon: str
    beskrivelse: str = ""
    gyldig_til: dt.date
