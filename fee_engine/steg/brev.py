"""Settings the decision letters read: no legal step changes the amount here.

Municipal (``kommune.NNNN.brev.*``): who sends the letter, how to get in touch, where an appeal
goes and who decides it, and who signs. Optional in a municipal file: a run without ``--format brev``
does not need them, and a run with it names what is missing.

National (``forvaltning.*``): the legal references every letter must carry (the rules on reasons,
notice, appeal and its deadline, access to the case documents) as dated values, because the
section numbers change when the new forvaltningslov comes into force.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..regelsett.skjema import Strict
from .grunnlag import Steg

Linjer = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
Tekst = Annotated[str, Field(min_length=1)]


class Maalformtekst(Strict):
    """A short text in both written standards (the law's name: «forvaltningsloven» / «forvaltningslova»)."""

    bokmål: Tekst
    nynorsk: Tekst


KOMMUNALE = {
    "brev.avsender": Linjer,  # the office: name and postal address, one line each
    "brev.kontakt": Linjer,  # telephone, e-mail, web address
    "brev.klageinstans": Tekst,  # who decides an appeal the office does not grant
    "brev.klageadresse": Linjer,  # where to send an appeal
    "brev.signatur": Linjer,  # the lines under «Med vennlig hilsen»
}

STEG = Steg(
    kode="brev",
    beskrivelse="Innstillinger og lovhenvisninger for vedtaksbrev",
    nasjonale={
        "forvaltning.lov": Maalformtekst,
        "forvaltning.innsyn": Tekst,
        "forvaltning.begrunnelse": Tekst,
        "forvaltning.underretning": Tekst,
        "forvaltning.klage": Tekst,
        "forvaltning.klagefrist": Tekst,
        "forvaltning.klagefrist_uker": Annotated[int, Field(ge=1, le=52)],
    },
    kommunale=KOMMUNALE,
    valgfrie=frozenset(KOMMUNALE),
)
