"""Free core hours (gratis kjernetid) in barnehage: forskrift om foreldrebetaling i barnehager § 3c.

When household income is below the threshold in force and the month is on or after 1 August of the
year the child turns 2 (3 before 1 August 2019) and before 1 August of the year it turns 6, the
price after the sibling discount is reduced by P × min(1, free hours / (full-time hours × place)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..money import centi, div_half_up, hundredths, oere, to_kroner
from ..regelsett.skjema import Age, Hours, Kroner
from ..text import per_value

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger

from .grunnlag import Kolonne, Kontekst, Steg, Utfall


def i_aldersgruppen(
    fodt: np.ndarray, maanedsindeks: np.ndarray, fra_alder: np.ndarray, til_alder: np.ndarray
) -> np.ndarray:
    """From 1 August of the year the child turns ``fra_alder`` until 1 August of the year it turns ``til_alder``."""
    aar = fodt.astype("datetime64[Y]").astype(np.int64) + 1970
    return (maanedsindeks >= (aar + fra_alder) * 12 + 7) & (maanedsindeks < (aar + til_alder) * 12 + 7)


def fradrag(
    foer: np.ndarray, gratis_c: np.ndarray, heltid_c: np.ndarray, plass_bp: np.ndarray, gjelder: np.ndarray
) -> np.ndarray:
    plass_timer = heltid_c * plass_bp  # hundredths of an hour × 10 000
    gratis = gratis_c * 10_000
    del_ = div_half_up(foer * gratis, np.maximum(plass_timer, 1))
    return np.where(gjelder, np.where(gratis >= plass_timer, foer, del_), 0)


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    alder = k.barnehage & i_aldersgruppen(
        k.fodselsdato, k.maanedsindeks, k.T("bh_kjerne_fra_alder"), k.T("bh_kjerne_til_alder")
    )
    gjelder = k.barnehage & k.inntekt_kjent & (k.inntekt_oere < k.T("bh_kjerne_grense_oere")) & alder
    ned = fradrag(foer, k.T("bh_kjerne_timer_c"), k.T("bh_heltid_timer_c"), k.plass_bp, gjelder)
    return Utfall(
        etter=foer - ned,
        flagg={"gratis_kjernetid": gjelder & (ned > 0)},
        ekstra={"kjernetid_alder": alder, "kjernetid": gjelder},
    )


TEKST = {
    "bokmål": {
        "gitt": "Gratis kjernetid: inntekten er under {grense} kr og barnet er i aldersgruppen, så {gratis} av {timer} "
        "timer i uka er gratis, {foer} kr × {gratis}/{timer} = {fradrag} kr i fradrag ({hjemmel}). ",
        "alt": "Gratis kjernetid: inntekten er under {grense} kr og barnet er i aldersgruppen. Plassen er {timer} timer i "
        "uka, og {gratis} timer er gratis, så hele prisen, {fradrag} kr, trekkes fra ({hjemmel}). ",
        "null": "Gratis kjernetid gjelder også, men prisen er allerede 0 kr. ",
        "over_grensen": "Gratis kjernetid gjelder ikke: inntekten er ikke under grensen på {grense} kr. ",
        "alder": "Gratis kjernetid gjelder ikke: ordningen gjelder fra 1. august det året barnet fyller {fra} år til "
        "barnet begynner på skolen. ",
    },
    "nynorsk": {
        "gitt": "Gratis kjernetid: inntekta er under {grense} kr og barnet er i aldersgruppa, så {gratis} av {timer} "
        "timar i veka er gratis, {foer} kr × {gratis}/{timer} = {fradrag} kr i frådrag ({hjemmel}). ",
        "alt": "Gratis kjernetid: inntekta er under {grense} kr og barnet er i aldersgruppa. Plassen er {timer} timar i "
        "veka, og {gratis} timar er gratis, så heile prisen, {fradrag} kr, blir trekt frå ({hjemmel}). ",
        "null": "Gratis kjernetid gjeld òg, men prisen er alt 0 kr. ",
        "over_grensen": "Gratis kjernetid gjeld ikkje: inntekta er ikkje under grensa på {grense} kr. ",
        "alder": "Gratis kjernetid gjeld ikkje: ordninga gjeld frå 1. august det året barnet fyller {fra} år til "
        "barnet byrjar på skulen. ",
    },
}


def plass_timer(heltid_c: pd.Series, plass_bp: pd.Series) -> np.ndarray:
    """The place's hours a week as the deduction uses them, «20», «32,8» or «20,008» (41 hours × 48,80 %): never
    rounded, so the fraction shown is the one computed (a place of 20,008 hours is not «20 av 20 timer»)."""

    def write(v: int) -> str:  # millionths of an hour
        whole, part = divmod(v, 1_000_000)
        return str(whole) if part == 0 else f"{whole},{part:06d}".rstrip("0")

    return per_value(heltid_c.to_numpy(np.int64) * plass_bp.to_numpy(np.int64), write)


def forklar(s: Setninger) -> list[np.ndarray]:
    t = s.tekst(TEKST)
    billed, bh, known = s.fakturert, s.bh, s.inntekt_kjent
    gjelder, alder = s.col("kjernetid", bool), s.col("kjernetid_alder", bool)
    # the whole price off where the free hours are at least the place's hours, compared exactly as fradrag does
    alt = s.col("bh_kjerne_timer_c", np.int64) * 10_000 >= s.col("bh_heltid_timer_c", np.int64) * s.col(
        "plass_bp", np.int64
    )

    def fields(r: pd.DataFrame) -> dict:
        return {
            "grense": s.kr(r["bh_kjerne_grense_oere"]),
            "gratis": s.num(r["bh_kjerne_timer_c"]),
            "timer": plass_timer(r["bh_heltid_timer_c"], r["plass_bp"]),
            "foer": s.kr(r[s.foer(STEG)]),
            "fradrag": s.kr_hel(s.reduksjon(STEG, r)),
            "hjemmel": s.hjemmel(STEG, "barnehage", r),
        }

    gitt = billed & s.har("gratis_kjernetid")
    return [
        s.when(gitt & ~alt, lambda r: s.fill(t["gitt"], **fields(r))),
        s.when(gitt & alt, lambda r: s.fill(t["alt"], **fields(r))),
        s.when(billed & gjelder & ~s.har("gratis_kjernetid"), t["null"]),
        s.when(
            billed & bh & known & ~gjelder & alder,
            lambda r: s.fill(t["over_grensen"], grense=s.kr(r["bh_kjerne_grense_oere"])),
        ),
        s.when(billed & bh & known & ~alder, lambda r: s.fill(t["alder"], fra=r["bh_kjerne_fra_alder"].astype(str))),
    ]


def _millionths(values: np.ndarray) -> np.ndarray:
    """Millionths as numbers people read: 20 000 000 -> 20, 20 008 000 -> 20.008 (object array)."""
    return np.array([v // 1_000_000 if v % 1_000_000 == 0 else v / 1_000_000 for v in values.tolist()], dtype=object)


def verdier(p: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "inntektsgrense": to_kroner(p["bh_kjerne_grense_oere"].to_numpy()),
        "husholdningsinntekt": to_kroner(p["inntekt_oere"].to_numpy()),
        "gratis_timer_per_uke": hundredths(p["bh_kjerne_timer_c"]),
        "timer_i_plassen": _millionths(
            p["bh_heltid_timer_c"].to_numpy(np.int64) * p["plass_bp"].to_numpy(np.int64)
        ),  # exact, as the deduction uses them: 41 hours × 48,80 % is 20,008 hours, not 20
    }


STEG = Steg(
    kode="gratis_kjernetid",
    beskrivelse="Gratis kjernetid i barnehage",
    nasjonale={
        "barnehage.gratis_kjernetid.inntektsgrense": Kroner,
        "barnehage.gratis_kjernetid.timer_per_uke": Hours,
        "barnehage.gratis_kjernetid.fra_alder": Age,
        "barnehage.gratis_kjernetid.til_alder": Age,
        "barnehage.heltid_timer_per_uke": Hours,
    },
    kolonner=(
        Kolonne(
            "bh_kjerne_grense_oere",
            lambda v, k: oere(v("barnehage.gratis_kjernetid.inntektsgrense")),
            tilbud="barnehage",
        ),
        Kolonne(
            "bh_kjerne_timer_c", lambda v, k: centi(v("barnehage.gratis_kjernetid.timer_per_uke")), tilbud="barnehage"
        ),
        Kolonne("bh_kjerne_fra_alder", lambda v, k: v("barnehage.gratis_kjernetid.fra_alder"), tilbud="barnehage"),
        Kolonne("bh_kjerne_til_alder", lambda v, k: v("barnehage.gratis_kjernetid.til_alder"), tilbud="barnehage"),
        Kolonne(
            "bh_heltid_timer_c", lambda v, k: centi(v("barnehage.heltid_timer_per_uke")), tilbud="barnehage", noeytral=1
        ),
    ),
    behold=("bh_kjerne_grense_oere", "bh_kjerne_timer_c", "bh_heltid_timer_c", "bh_kjerne_fra_alder"),
    flagg=("gratis_kjernetid",),
    hjemmel={"barnehage": "barnehage.gratis_kjernetid.inntektsgrense"},
    utkolonne="gratis_timer",
    beregn=beregn,
    forklar=forklar,
    verdier=verdier,
)
