"""Billed months: what the household pays each month, and the months that are not billed.

Barnehage is billed 11 months (July free: the merknader to forskrift om foreldrebetaling i barnehager
§ 1 set the yearly maximum as 11 monthly amounts); SFO as the municipality decides. A month that is
not billed is 0. This step also says, once per period, what is to be paid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..regelsett.skjema import Month
from .grunnlag import Kolonne, Kontekst, Steg, Utfall

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    return Utfall(
        etter=np.where(k.fakturert, foer, 0), flagg={"ikke_fakturert": ~k.fakturert}, ekstra={"fakturert": k.fakturert}
    )


# Why a case waits for a caseworker, in a parent's words (the office's note has the codes and what to do).
# Each reason ends a «fordi»-clause, so the negation stands before the verb (subordinate-clause word order).
GRUNN = {
    "bokmål": {
        "ukjent_person": "vi ikke fant skatteopplysninger om alle de voksne i husholdningen",
        "ingen_grunnlag": "vi ikke fant skatteopplysninger for de siste årene",
        "slettet": "vi ikke fant skatteopplysninger for de siste årene",
        "skjermet": "skatteopplysningene ikke kan hentes automatisk",
        "midlertidig_feil": "vi ikke fikk hentet skatteopplysningene denne gangen",
        "ugyldig_svar": "skatteopplysningene vi fikk, ikke kunne leses",
        "oppslag_feilet": "vi ikke fikk hentet skatteopplysningene",
        "ukjent_post": "skatteopplysningene har en inntekt som må vurderes",
        "": "inntekten må vurderes",
    },
    "nynorsk": {
        "ukjent_person": "vi ikkje fann skatteopplysningar om alle dei vaksne i hushaldet",
        "ingen_grunnlag": "vi ikkje fann skatteopplysningar for dei siste åra",
        "slettet": "vi ikkje fann skatteopplysningar for dei siste åra",
        "skjermet": "skatteopplysningane ikkje kan hentast automatisk",
        "midlertidig_feil": "vi ikkje fekk henta skatteopplysningane denne gongen",
        "ugyldig_svar": "skatteopplysningane vi fekk, ikkje kunne lesast",
        "oppslag_feilet": "vi ikkje fekk henta skatteopplysningane",
        "ukjent_post": "skatteopplysningane har ei inntekt som må vurderast",
        "": "inntekta må vurderast",
    },
}

TEKST = {
    "bokmål": {
        "betal": "Å betale: {belop} kr i måneden for {periode}. ",
        "manuell_bh": "En saksbehandler må se på saken fordi {grunn}. Redusert foreldrebetaling og gratis kjernetid blir "
        "vurdert da. Til saken er avgjort, er beløpet {belop} kr i måneden for {periode}. ",
        "manuell_sfo": "En saksbehandler må se på saken fordi {grunn}. Redusert foreldrebetaling blir vurdert da. Til "
        "saken er avgjort, er beløpet {belop} kr i måneden for {periode}. ",
        "manuell_uten": "En saksbehandler må se på inntekten fordi {grunn}, men på dette trinnet avhenger ikke prisen av "
        "inntekten. Å betale: {belop} kr i måneden for {periode}. ",
        "plassbytte": "Barnet byttet plass i {maaned}. Måneden betales én gang, for plassen der barnet hadde flest "
        "dager. ",
        "fri": "{periode}: betalingsfri måned. ",
    },
    "nynorsk": {
        "betal": "Å betale: {belop} kr i månaden for {periode}. ",
        "manuell_bh": "Ein saksbehandlar må sjå på saka fordi {grunn}. Redusert foreldrebetaling og gratis kjernetid blir "
        "vurdert då. Til saka er avgjord, er beløpet {belop} kr i månaden for {periode}. ",
        "manuell_sfo": "Ein saksbehandlar må sjå på saka fordi {grunn}. Redusert foreldrebetaling blir vurdert då. Til "
        "saka er avgjord, er beløpet {belop} kr i månaden for {periode}. ",
        "manuell_uten": "Ein saksbehandlar må sjå på inntekta fordi {grunn}, men på dette trinnet er prisen ikkje avhengig "
        "av inntekta. Å betale: {belop} kr i månaden for {periode}. ",
        "plassbytte": "Barnet bytte plass i {maaned}. Månaden blir betalt éin gong, for plassen der barnet hadde flest "
        "dagar. ",
        "fri": "{periode}: betalingsfri månad. ",
    },
}


def grunn(s: Setninger, r: pd.DataFrame) -> np.ndarray:
    """Why the case waits, in the parent's words (the first adult's reason when there are two)."""
    words = GRUNN[s.maalform]
    code = r["manuell_kode"].astype(str).str.split("+").str[0] if "manuell_kode" in r else pd.Series([""] * len(r))
    code = np.where(r["inntekt_status"].to_numpy().astype(str) == "kjent", "ukjent_post", code.to_numpy().astype(str))
    return np.array([words.get(c, words[""]) for c in code], dtype=object)


def forklar(s: Setninger) -> list[np.ndarray]:
    t = s.tekst(TEKST)
    billed, manual, bh, sfo = s.fakturert, s.manuell, s.bh, s.sfo
    red_grade = bh | s.col("inntekt_trinn", bool)

    def fields(r: pd.DataFrame) -> dict:
        return {"belop": s.kr_hel(r["belop"]), "periode": s.periode(r)}

    def capital(text: pd.Series) -> pd.Series:
        return text.str.slice(0, 1).str.upper() + text.str.slice(1)  # a sentence starts with a capital letter

    return [
        s.when(billed & ~manual, lambda r: s.fill(t["betal"], **fields(r))),
        s.when(billed & manual & bh, lambda r: s.fill(t["manuell_bh"], grunn=grunn(s, r), **fields(r))),
        s.when(billed & manual & sfo & red_grade, lambda r: s.fill(t["manuell_sfo"], grunn=grunn(s, r), **fields(r))),
        s.when(billed & manual & sfo & ~red_grade, lambda r: s.fill(t["manuell_uten"], grunn=grunn(s, r), **fields(r))),
        s.when(s.har("plassbytte"), lambda r: s.fill(t["plassbytte"], maaned=s.maaned_tekst(r["maaned"]))),
        s.when(~billed, lambda r: s.fill(t["fri"], periode=capital(s.periode(r)))),
    ]


STEG = Steg(
    kode="fakturering",
    beskrivelse="Måneder det betales for",
    kommunale={"barnehage.fakturerte_maaneder": list[Month], "sfo.fakturerte_maaneder": list[Month]},
    kolonner=(
        # ``v.maaned`` is the number (1–12) of the month the table row is for
        Kolonne(
            "bh_fakturert",
            lambda v, k: v.maaned in v(k + "barnehage.fakturerte_maaneder"),
            tilbud="barnehage",
            noeytral=False,
        ),
        Kolonne(
            "bh_fakt_mnd", lambda v, k: len(v(k + "barnehage.fakturerte_maaneder")), tilbud="barnehage", noeytral=1
        ),
        Kolonne(
            "sfo_fakturert", lambda v, k: v.maaned in v(k + "sfo.fakturerte_maaneder"), tilbud="sfo", noeytral=False
        ),
        Kolonne("sfo_fakt_mnd", lambda v, k: len(v(k + "sfo.fakturerte_maaneder")), tilbud="sfo", noeytral=1),
    ),
    flagg=("ikke_fakturert",),
    hjemmel={"barnehage": "kommune.barnehage.fakturerte_maaneder", "sfo": "kommune.sfo.fakturerte_maaneder"},
    beregn=beregn,
    forklar=forklar,
)
