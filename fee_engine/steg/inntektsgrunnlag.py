"""The household's income basis: not a step that changes the amount, but settings the steps rely on.

An income item in the tax answer that the income list does not know is reported; whether it also
makes the case manual (a caseworker looks at it) is a municipal setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .grunnlag import Kolonne, Steg

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger

STEG = Steg(
    kode="inntektsgrunnlag",
    beskrivelse="Husholdningens inntekt",
    kommunale={"inntekt.ukjent_post": Literal["manuell", "varsle"]},
    kolonner=(Kolonne("ukjent_post_manuell", lambda v, k: v(k + "inntekt.ukjent_post") == "manuell", noeytral=True),),
)


TEKST = {
    "bokmål": {
        "inntekt": "Husholdningens inntekt er {inntekt} kr: {deler}. ",
        "dokumentert": "Husholdningens inntekt er {inntekt} kr, som dere har dokumentert. ",
        "del": "{rolle} {belop} kr fra {kilde} for {aar}",
        "søker": "søkeren", "partner": "partneren",
        "oppgjoer": "skatteoppgjøret", "utkast": "skattemeldingen",
        "utkast_brukt": "Skatteoppgjøret for {aar} er ikke klart ennå, derfor er skattemeldingen for {aar} brukt for "
                        "{rolle}. ",
        "eldre_brukt": "Skatteoppgjøret og skattemeldingen for {forventet} er ikke klare ennå, derfor er "
                       "skatteoppgjøret for {aar} brukt for {rolle}. ",
    },
    "nynorsk": {
        "inntekt": "Inntekta til hushaldet er {inntekt} kr: {deler}. ",
        "dokumentert": "Inntekta til hushaldet er {inntekt} kr, som de har dokumentert. ",
        "del": "{rolle} {belop} kr frå {kilde} for {aar}",
        "søker": "søkjaren", "partner": "partnaren",
        "oppgjoer": "skatteoppgjeret", "utkast": "skattemeldinga",
        "utkast_brukt": "Skatteoppgjeret for {aar} er ikkje klart enno, difor er skattemeldinga for {aar} brukt for "
                        "{rolle}. ",
        "eldre_brukt": "Skatteoppgjeret og skattemeldinga for {forventet} er ikkje klare enno, difor er "
                       "skatteoppgjeret for {aar} brukt for {rolle}. ",
    },
}


def setning(s: Setninger, r: pd.DataFrame) -> pd.Series:
    """The household's income and where it comes from, person by person, and why an older year was used."""
    t = s.tekst(TEKST)
    n = len(r)
    documented = (r["stadie"].astype(str) == "dokumentert").to_numpy()
    parts = []
    notes = pd.Series([""] * n, dtype=object)
    expected = r["forventet_aar"].astype(np.int64) if "forventet_aar" in r else None
    for role in ("soeker", "partner"):
        has = (r[f"{role}_stadie"].astype(str) != "").to_numpy()
        word = t["søker" if role == "soeker" else "partner"]
        stage = r[f"{role}_stadie"].astype(str)
        year = r[f"{role}_aar"].astype(str)
        part = s.fill(t["del"], rolle=pd.Series([word] * n), belop=s.kr(r[f"{role}_oere"]),
                      kilde=stage.map({"oppgjoer": t["oppgjoer"], "utkast": t["utkast"]}).fillna(""), aar=year)
        parts.append(part.where(has, ""))
        if expected is not None:
            draft = has & (stage == "utkast").to_numpy()
            older = has & (stage == "oppgjoer").to_numpy() & (r[f"{role}_aar"].to_numpy() < expected.to_numpy())
            notes = notes + s.fill(t["utkast_brukt"], aar=year, rolle=pd.Series([word] * n)).where(draft, "")
            notes = notes + s.fill(t["eldre_brukt"], forventet=expected.astype(str), aar=year,
                                   rolle=pd.Series([word] * n)).where(older, "")
    a, b = parts
    deler = (a + ", " + b).where((a != "") & (b != ""), a + b)
    sentence = s.fill(t["inntekt"], inntekt=s.kr(r["inntekt_oere"]), deler=deler)
    doc = s.fill(t["dokumentert"], inntekt=s.kr(r["inntekt_oere"]))
    return pd.Series(np.where(documented, doc, sentence + notes))
