"""Free core hours (gratis kjernetid) in barnehage: forskrift om foreldrebetaling i barnehager § 3c.

When household income is below the threshold in force and the month is on or after 1 August of the
year the child turns 2 (3 before 1 August 2019) and before 1 August of the year it turns 6, the
price after the sibling discount is reduced by P × min(1, free hours / (full-time hours × place)).
"""

from __future__ import annotations

import numpy as np

from ..money import centi, div_half_up, hundredths, oere, to_kroner
from ..regelsett.skjema import Age, Hours, Kroner
from .grunnlag import Kolonne, Kontekst, Steg, Utfall


def i_aldersgruppen(fodt: np.ndarray, maanedsindeks: np.ndarray, fra_alder: np.ndarray, til_alder: np.ndarray) -> np.ndarray:
    """From 1 August of the year the child turns ``fra_alder`` until 1 August of the year it turns ``til_alder``."""
    aar = fodt.astype("datetime64[Y]").astype(np.int64) + 1970
    return (maanedsindeks >= (aar + fra_alder) * 12 + 7) & (maanedsindeks < (aar + til_alder) * 12 + 7)


def fradrag(foer: np.ndarray, gratis_c: np.ndarray, heltid_c: np.ndarray, plass_bp: np.ndarray,
            gjelder: np.ndarray) -> np.ndarray:
    plass_timer = heltid_c * plass_bp  # hundredths of an hour × 10 000
    gratis = gratis_c * 10_000
    del_ = div_half_up(foer * gratis, np.maximum(plass_timer, 1))
    return np.where(gjelder, np.where(gratis >= plass_timer, foer, del_), 0)


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    alder = k.barnehage & i_aldersgruppen(k.fodselsdato, k.maanedsindeks, k.T("bh_kjerne_fra_alder"),
                                          k.T("bh_kjerne_til_alder"))
    gjelder = k.barnehage & k.inntekt_kjent & (k.inntekt_oere < k.T("bh_kjerne_grense_oere")) & alder
    ned = fradrag(foer, k.T("bh_kjerne_timer_c"), k.T("bh_heltid_timer_c"), k.plass_bp, gjelder)
    return Utfall(etter=foer - ned, flagg={"gratis_kjernetid": gjelder & (ned > 0)},
                  ekstra={"kjernetid_alder": alder, "kjernetid": gjelder})


def forklar(s):  # type: ignore[no-untyped-def]
    billed, bh, known = s.fakturert, s.bh, s.inntekt_kjent
    gjelder, alder = s.col("kjernetid", bool), s.col("kjernetid_alder", bool)
    return [
        s.when(billed & s.har("gratis_kjernetid"), lambda r: "Gratis kjernetid (" + s.hjemmel(STEG, "barnehage")
               + "): inntekten er under " + s.kr(r["bh_kjerne_grense_oere"]) + " kr og barnet er i aldersgruppen; "
               + s.num(r["bh_kjerne_timer_c"]) + " av " + s.num(r["bh_heltid_timer_c"] * r["plass_bp"] // 10_000)
               + " timer per uke er gratis, fradrag " + s.kr_hel(s.reduksjon(STEG, r)) + " kr. "),
        s.when(billed & gjelder & ~s.har("gratis_kjernetid"), lambda r:
               "Gratis kjernetid: inntekten er under " + s.kr(r["bh_kjerne_grense_oere"]) + " kr og barnet er i "
               "aldersgruppen, men prisen er allerede 0 kr. "),
        s.when(billed & bh & known & ~gjelder & alder, lambda r:
               "Gratis kjernetid: inntekten er ikke under grensen på " + s.kr(r["bh_kjerne_grense_oere"]) + " kr. "),
        s.when(billed & bh & known & ~alder, lambda r: "Gratis kjernetid: barnet er ikke i aldersgruppen (fra 1. august "
               "det året barnet fyller " + r["bh_kjerne_fra_alder"].astype(str) + " år til skolestart). "),
    ]


def verdier(p):  # type: ignore[no-untyped-def]
    return {"inntektsgrense": to_kroner(p["bh_kjerne_grense_oere"].to_numpy()),
            "husholdningsinntekt": to_kroner(p["inntekt_oere"].to_numpy()),
            "gratis_timer_per_uke": hundredths(p["bh_kjerne_timer_c"]),
            "timer_i_plassen": hundredths(p["bh_heltid_timer_c"].to_numpy(np.int64) * p["plass_bp"].to_numpy(np.int64) // 10_000)}

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
        Kolonne("bh_kjerne_grense_oere", lambda v, k: oere(v("barnehage.gratis_kjernetid.inntektsgrense")),
                tilbud="barnehage"),
        Kolonne("bh_kjerne_timer_c", lambda v, k: centi(v("barnehage.gratis_kjernetid.timer_per_uke")), tilbud="barnehage"),
        Kolonne("bh_kjerne_fra_alder", lambda v, k: v("barnehage.gratis_kjernetid.fra_alder"), tilbud="barnehage"),
        Kolonne("bh_kjerne_til_alder", lambda v, k: v("barnehage.gratis_kjernetid.til_alder"), tilbud="barnehage"),
        Kolonne("bh_heltid_timer_c", lambda v, k: centi(v("barnehage.heltid_timer_per_uke")), tilbud="barnehage",
                noeytral=1),
    ),
    behold=("bh_kjerne_grense_oere", "bh_kjerne_timer_c", "bh_heltid_timer_c", "bh_kjerne_fra_alder"),
    flagg=("gratis_kjernetid",),
    hjemmel={"barnehage": "barnehage.gratis_kjernetid.inntektsgrense"},
    utkolonne="gratis_timer",
    beregn=beregn,
    forklar=forklar,
    verdier=verdier,
)
