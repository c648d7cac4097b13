"""The household's income basis: not a step that changes the amount, but settings the steps rely on.

An income item in the tax answer that the income list does not know is reported; whether it also
makes the case manual (a caseworker looks at it) is a municipal setting.
"""

from __future__ import annotations

from typing import Literal

from .grunnlag import Kolonne, Steg

STEG = Steg(
    kode="inntektsgrunnlag",
    beskrivelse="Husholdningens inntekt",
    kommunale={"inntekt.ukjent_post": Literal["manuell", "varsle"]},
    kolonner=(Kolonne("ukjent_post_manuell", lambda v, k: v(k + "inntekt.ukjent_post") == "manuell", noeytral=True),),
)
