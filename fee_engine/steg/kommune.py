"""Municipal settings that no legal step reads but everything a parent reads follows.

``maalform``: the municipality's written standard (bokmål or nynorsk, målloven § 5–6 and its own
vedtak). Letters, ``forklaring`` in ``vedtak.csv``, the report and the calculator use it.
"""

from __future__ import annotations

from typing import Literal

from .grunnlag import Kolonne, Steg

Maalform = Literal["bokmål", "nynorsk"]

STEG = Steg(
    kode="kommune",
    beskrivelse="Kommunens innstillinger for det foreldre leser",
    kommunale={"maalform": Maalform},
    kolonner=(Kolonne("maalform", lambda v, k: v(k + "maalform"), noeytral="bokmål", belop=False),),
    behold=("maalform",),
)
