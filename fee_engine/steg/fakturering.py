"""Billed months: what the household pays each month, and the months that are not billed.

Barnehage is billed 11 months (July free: the merknader to forskrift om foreldrebetaling i barnehager
§ 1 set the yearly maximum as 11 monthly amounts); SFO as the municipality decides. A month that is
not billed is 0. This step also says, once per period, what is to be paid.
"""

from __future__ import annotations

import numpy as np

from ..regelsett.skjema import Month
from .grunnlag import Kolonne, Kontekst, Steg, Utfall


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    return Utfall(etter=np.where(k.fakturert, foer, 0), flagg={"ikke_fakturert": ~k.fakturert},
                  ekstra={"fakturert": k.fakturert})


def forklar(s):  # type: ignore[no-untyped-def]
    billed, manual, bh, sfo = s.fakturert, s.manuell, s.bh, s.sfo
    red_grade = bh | s.col("inntekt_trinn", bool)
    periode = s.periode
    return [
        s.when(billed & ~manual, lambda r: "Å betale: " + s.kr_hel(r["belop"]) + " kr per måned for " + periode(r) + ". "),
        s.when(billed & manual & bh, lambda r: "Manuell behandling: " + r["manuell_grunn"].astype(str)
               + ". Redusert foreldrebetaling og gratis kjernetid venter på saksbehandler; til saken er behandlet er "
               "beløpet " + s.kr_hel(r["belop"]) + " kr per måned for " + periode(r) + ". "),
        s.when(billed & manual & sfo & red_grade, lambda r: "Manuell behandling: " + r["manuell_grunn"].astype(str)
               + ". Redusert foreldrebetaling venter på saksbehandler; til saken er behandlet er beløpet "
               + s.kr_hel(r["belop"]) + " kr per måned for " + periode(r) + ". "),
        s.when(billed & manual & sfo & ~red_grade, lambda r: "Manuell behandling: " + r["manuell_grunn"].astype(str)
               + ". Beløpet avhenger ikke av inntekten på dette trinnet: " + s.kr_hel(r["belop"])
               + " kr per måned for " + periode(r) + ". "),
        s.when(s.har("plassbytte"), lambda r: "Barnet byttet plass i " + s.maaned_tekst(r["maaned"])
               + "; måneden faktureres én gang, for plassen med flest dager i måneden. "),
        s.when(~billed, lambda r: periode(r).str.slice(0, 1).str.upper() + periode(r).str.slice(1)
               + ": betalingsfri måned, ikke fakturert. "),
    ]


STEG = Steg(
    kode="fakturering",
    beskrivelse="Måneder det betales for",
    kommunale={"barnehage.fakturerte_maaneder": list[Month], "sfo.fakturerte_maaneder": list[Month]},
    kolonner=(
        # ``v.maaned`` is the number (1–12) of the month the table row is for
        Kolonne("bh_fakturert", lambda v, k: v.maaned in v(k + "barnehage.fakturerte_maaneder"), tilbud="barnehage",
                noeytral=False),
        Kolonne("bh_fakt_mnd", lambda v, k: len(v(k + "barnehage.fakturerte_maaneder")), tilbud="barnehage", noeytral=1),
        Kolonne("sfo_fakturert", lambda v, k: v.maaned in v(k + "sfo.fakturerte_maaneder"), tilbud="sfo", noeytral=False),
        Kolonne("sfo_fakt_mnd", lambda v, k: len(v(k + "sfo.fakturerte_maaneder")), tilbud="sfo", noeytral=1),
    ),
    flagg=("ikke_fakturert",),
    hjemmel={"barnehage": "kommune.barnehage.fakturerte_maaneder", "sfo": "kommune.sfo.fakturerte_maaneder"},
    beregn=beregn,
    forklar=forklar,
)
