"""12 free SFO hours a week: grade 1 from 1 August 2022, grade 2 from 2023, grade 3 from 2024.

Forskrift til opplæringslova § 1B-4 until 31 July 2024; opplæringsforskrifta after. Automatic (no
application). A place of at most 12 hours a week is free; otherwise the deduction is P × 12 / agreed hours,
or a fixed monthly value (municipal setting), never more than the price; taken after the 6 % rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..money import centi, div_half_up, grade_mask, hundredths, in_grades, oere
from ..regelsett.skjema import Grade, Hours, Kroner

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger

from .grunnlag import Kolonne, Kontekst, Steg, Utfall, Verdi


def fradrag(
    foer: np.ndarray,
    timer_c: np.ndarray,
    gratis_c: np.ndarray,
    fast: np.ndarray,
    fast_oere: np.ndarray,
    gjelder: np.ndarray,
) -> np.ndarray:
    """A place of no more hours than the free ones is free whatever the valuation; otherwise the free
    hours' share of the price, or the municipality's fixed value (never more than the price)."""
    andel = div_half_up(foer * gratis_c, np.maximum(timer_c, 1))
    verdi = np.where(gratis_c >= timer_c, foer, np.where(fast, np.minimum(foer, fast_oere), andel))
    return np.where(gjelder, verdi, 0)


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    gjelder = k.sfo & in_grades(k.trinn, k.T("sfo_gratis_trinn"))
    ned = fradrag(
        foer, k.timer_c, k.T("sfo_gratis_timer_c"), k.T("sfo_gratis_fast", bool), k.T("sfo_gratis_fast_oere"), gjelder
    )
    return Utfall(
        etter=foer - ned, flagg={"gratis_timer_sfo": gjelder & (ned > 0)}, ekstra={"gratis_timer_sfo": gjelder}
    )


TEKST = {
    "bokmål": {
        "andel": "{gratis} timer SFO i uka er gratis på {trinn}. trinn: {foer} kr × {gratis}/{timer} = {fradrag} kr i "
        "fradrag ({hjemmel}). ",
        "alt": "{gratis} timer SFO i uka er gratis på {trinn}. trinn, og plassen har ikke flere timer enn det, så hele "
        "prisen, {fradrag} kr, trekkes fra ({hjemmel}). ",
        "fast": "{gratis} timer SFO i uka er gratis på {trinn}. trinn. Kommunen har satt verdien av dem til {fast} kr i "
        "måneden, så fradraget er {fradrag} kr ({hjemmel}). ",
    },
    "nynorsk": {
        "andel": "{gratis} timar SFO i veka er gratis på {trinn}. trinn: {foer} kr × {gratis}/{timer} = {fradrag} kr i "
        "frådrag ({hjemmel}). ",
        "alt": "{gratis} timar SFO i veka er gratis på {trinn}. trinn, og plassen har ikkje fleire timar enn det, så heile "
        "prisen, {fradrag} kr, blir trekt frå ({hjemmel}). ",
        "fast": "{gratis} timar SFO i veka er gratis på {trinn}. trinn. Kommunen har sett verdien av dei til {fast} kr i "
        "månaden, så frådraget er {fradrag} kr ({hjemmel}). ",
    },
}


def forklar(s: Setninger) -> list[np.ndarray]:
    t = s.tekst(TEKST)
    gitt = s.fakturert & s.har("gratis_timer_sfo")
    alt = s.col("sfo_gratis_timer_c", np.int64) >= s.col("timer_c", np.int64)
    fast = s.col("sfo_gratis_fast", bool)

    def fields(r: pd.DataFrame) -> dict:
        return {
            "gratis": s.num(r["sfo_gratis_timer_c"]),
            "trinn": r["trinn"].astype(str),
            "timer": s.num(r["timer_c"]),
            "foer": s.kr(r[s.foer(STEG)]),
            "fradrag": s.kr_hel(s.reduksjon(STEG, r)),
            "fast": s.kr(r["sfo_gratis_fast_oere"]),
            "hjemmel": s.hjemmel(STEG, "sfo", r),
        }

    return [
        s.when(gitt & alt, lambda r: s.fill(t["alt"], **fields(r))),
        s.when(gitt & ~alt & fast, lambda r: s.fill(t["fast"], **fields(r))),
        s.when(gitt & ~alt & ~fast, lambda r: s.fill(t["andel"], **fields(r))),
    ]


def _fast(v: Verdi, k: str) -> int:
    return oere(v(k + "sfo.gratis_timer.fast_belop")) if v(k + "sfo.gratis_timer.verdsetting") == "fast_belop" else 0


def verdier(p: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "gratis_timer_per_uke": hundredths(p["sfo_gratis_timer_c"]),
        "avtalte_timer_per_uke": hundredths(p["timer_c"]),
    }


STEG = Steg(
    kode="gratis_timer_sfo",
    beskrivelse="12 gratis timer SFO per uke",
    nasjonale={"sfo.gratis_timer.timer_per_uke": Hours, "sfo.gratis_timer.trinn": list[Grade]},
    kommunale={
        "sfo.gratis_timer.verdsetting": Literal["andel_av_avtalte_timer", "fast_belop"],
        "sfo.gratis_timer.fast_belop": Kroner,
    },
    valgfrie=frozenset({"sfo.gratis_timer.fast_belop"}),
    kolonner=(
        Kolonne("sfo_gratis_trinn", lambda v, k: grade_mask(v("sfo.gratis_timer.trinn")), tilbud="sfo"),
        Kolonne("sfo_gratis_timer_c", lambda v, k: centi(v("sfo.gratis_timer.timer_per_uke")), tilbud="sfo"),
        Kolonne(
            "sfo_gratis_fast",
            lambda v, k: v(k + "sfo.gratis_timer.verdsetting") == "fast_belop",
            tilbud="sfo",
            noeytral=False,
        ),
        Kolonne("sfo_gratis_fast_oere", _fast, tilbud="sfo"),
    ),
    behold=("sfo_gratis_timer_c", "sfo_gratis_fast", "sfo_gratis_fast_oere"),
    flagg=("gratis_timer_sfo",),
    hjemmel={"sfo": "sfo.gratis_timer.trinn"},
    utkolonne="gratis_timer",
    beregn=beregn,
    forklar=forklar,
    verdier=verdier,
)
