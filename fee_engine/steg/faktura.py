"""Municipal settings for the invoicing basis (``fakturagrunnlag``): no legal step reads them.

Per offer, the article (product) code the invoicing system bills and the accounting dimensions
the income is posted to: ``ansvar``, ``tjeneste`` (tjeneste/funksjon, e.g. KOSTRA-funksjon 201
for barnehage and 215 for SFO) and ``art``. An institution may override any of them, and may name
the organisation number of its private owner (``eier_orgnr``): a private barnehage invoices the
parents itself, so its children are not in the municipality's invoicing basis but in a list per
owner of the reductions decided. An ``eier_orgnr`` column in the enrollment file wins over the
setting.

All three parameters are optional: a municipal file without them still loads, and the invoicing
basis then has empty codes (the run warns).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, field_validator
from stdnum.no import orgnr

from ..errors import RuleSetError
from ..regelsett.skjema import Strict
from .grunnlag import Steg

if TYPE_CHECKING:
    from ..regelsett import RuleSet, Value


def _as_text(v: Any) -> Any:
    """Codes are text (leading zeros kept); a YAML number is accepted as its digits."""
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


Kode = Annotated[str, BeforeValidator(_as_text), Field(min_length=1, max_length=40)]


class Kontering(Strict):
    """What one offer's invoice lines carry."""

    artikkel: Kode
    ansvar: Kode
    tjeneste: Kode
    art: Kode

    def __str__(self) -> str:
        return f"artikkel {self.artikkel}, ansvar {self.ansvar}, tjeneste {self.tjeneste}, art {self.art}"


class Enhet(Strict):
    """An institution's own values, each optional (the offer's value where left out)."""

    artikkel: Kode | None = None
    ansvar: Kode | None = None
    tjeneste: Kode | None = None
    art: Kode | None = None
    eier_orgnr: Kode | None = None  # a private owner: invoices the parents itself

    @field_validator("eier_orgnr")
    @classmethod
    def _orgnr(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = orgnr.compact(v)
        if not orgnr.is_valid(v):
            raise ValueError("eier_orgnr må ha 9 sifre med gyldig kontrollsiffer (mod 11)")
        return v

    def __str__(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.model_dump().items() if v is not None) or "(ingen)"


FELT = ("artikkel", "ansvar", "tjeneste", "art")

STEG = Steg(
    kode="faktura",
    beskrivelse="Artikkel og konteringsdimensjoner i fakturagrunnlaget",
    kommunale={"faktura.barnehage": Kontering, "faktura.sfo": Kontering, "faktura.enheter": dict[str, Enhet]},
    valgfrie=frozenset({"faktura.barnehage", "faktura.sfo", "faktura.enheter"}),
)


def kontering(
    rules: RuleSet, kommune: str, tilbud: str, institusjon: str, day: dt.date
) -> tuple[dict[str, str], list[tuple[str, Value]]]:
    """The codes of an invoice line and the owner's orgnr ('' = none), with the rule values used.

    Returns ``({"artikkel", "ansvar", "tjeneste", "art", "eier_orgnr"}, [(path, Value), ...])``;
    a setting the municipal file does not have gives empty codes.
    """
    params = rules.municipality(kommune).parametere
    out = {f: "" for f in FELT + ("eier_orgnr",)}
    used = []
    for path in (f"faktura.{tilbud}", "faktura.enheter"):
        if path not in params:
            continue
        full = f"kommune.{kommune}.{path}"
        try:
            value = rules.value(full, day)
        except RuleSetError:  # no value dated on or before this month: the codes stay empty
            continue
        verdi = value.verdi
        if path == "faktura.enheter":
            verdi = verdi.get(institusjon) if institusjon else None
            if verdi is None:
                continue
        used.append((full, value))
        for f in out:
            v = getattr(verdi, f, None)
            if v is not None:
                out[f] = v
    return out, used
