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
        "søker": "søkeren",
        "partner": "partneren",
        "begge": "søkeren og partneren",
        "oppgjoer": "skatteoppgjøret",
        "utkast": "skattemeldingen",
        "utkast_brukt": "Skatteoppgjøret for {aar} er ikke klart ennå, derfor er skattemeldingen for {aar} brukt for "
        "{rolle}. ",
        "eldre_brukt": "Skatteoppgjøret og skattemeldingen for {forventet} er ikke klare ennå, derfor er "
        "skatteoppgjøret for {aar} brukt for {rolle}. ",
    },
    "nynorsk": {
        "inntekt": "Inntekta til hushaldet er {inntekt} kr: {deler}. ",
        "dokumentert": "Inntekta til hushaldet er {inntekt} kr, som de har dokumentert. ",
        "del": "{rolle} {belop} kr frå {kilde} for {aar}",
        "søker": "søkjaren",
        "partner": "partnaren",
        "begge": "søkjaren og partnaren",
        "oppgjoer": "skatteoppgjeret",
        "utkast": "skattemeldinga",
        "utkast_brukt": "Skatteoppgjeret for {aar} er ikkje klart enno, difor er skattemeldinga for {aar} brukt for "
        "{rolle}. ",
        "eldre_brukt": "Skatteoppgjeret og skattemeldinga for {forventet} er ikkje klare enno, difor er "
        "skatteoppgjeret for {aar} brukt for {rolle}. ",
    },
}


def setning(s: Setninger, r: pd.DataFrame) -> np.ndarray:
    """The household's income and where it comes from, person by person, and why an older year was used.

    Each piece is written only for the rows that show it (an adult's part where there is that adult, a note where
    an older year or the draft was used): most rows have no note, and many households one adult."""
    t = s.tekst(TEKST)
    n = len(r)
    documented = r["stadie"].to_numpy().astype(str) == "dokumentert"
    parts = []
    kinds, years = [], []  # per role: which note it needs ("", "utkast", "eldre") and for which year
    expected = r["forventet_aar"].to_numpy(np.int64) if "forventet_aar" in r else None
    for role in ("soeker", "partner"):
        stage = r[f"{role}_stadie"].to_numpy().astype(str)
        has = stage != ""
        word = t["søker" if role == "soeker" else "partner"]
        year = r[f"{role}_aar"].to_numpy()
        at = np.flatnonzero(has)
        kilde = np.where(stage[at] == "utkast", t["utkast"], t["oppgjoer"])
        part = np.full(n, "", dtype=object)
        if len(at):
            oere = r[f"{role}_oere"].to_numpy()[at]
            part[at] = s.fill(t["del"], rolle=word, belop=s.kr(oere), kilde=kilde, aar=year[at])
        parts.append(part)
        if expected is not None:
            kind = np.where(has & (stage == "utkast"), "utkast", "")
            kind = np.where(has & (stage == "oppgjoer") & (year < expected), "eldre", kind)
            kinds.append(kind)
            years.append(year)
    notes = np.full(n, "", dtype=object)
    if expected is not None:
        # one sentence for both adults when they share the reason and the year, else one each
        same = (kinds[0] == kinds[1]) & (kinds[0] != "") & (years[0] == years[1])
        for i, role in enumerate(("søker", "partner")):
            shown = kinds[i] if i == 0 else np.where(same, "", kinds[i])
            for kind, key in (("utkast", "utkast_brukt"), ("eldre", "eldre_brukt")):
                at = np.flatnonzero(shown == kind)
                if len(at):
                    word = np.where(same[at], t["begge"], t[role])
                    fields = {"aar": years[i][at], "rolle": word}
                    if kind == "eldre":
                        fields["forventet"] = expected[at]
                    notes[at] = notes[at] + s.fill(t[key], **fields)
    a, b = parts
    deler = np.where(a != "", a, b)
    both = np.flatnonzero((a != "") & (b != ""))
    deler[both] = a[both] + ", " + b[both]
    inntekt = s.kr_eksakt(r["inntekt_oere"])  # a documented income may have øre
    sentence = s.fill(t["inntekt"], inntekt=inntekt, deler=deler) + notes
    return np.where(documented, s.fill(t["dokumentert"], inntekt=inntekt), sentence)
