"""The 6 % rule: the fee per child is at most 6 % of household income over the billed months.

Barnehage: forskrift om foreldrebetaling i barnehager § 3b (before 2020: § 3 third paragraph).
SFO: forskrift til opplæringslova § 1B-1 (grades 1–2 from 1 August 2020, 1–4 from 1 August 2021).
Only when the household applied and its income is known; a manual case waits for a caseworker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..money import bp, div_half_up, grade_mask, hundredths, in_grades, to_kroner
from ..regelsett.skjema import Grade, Percent
from ..text import kroner_og_oere, per_value

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger

from .grunnlag import Kolonne, Kontekst, Steg, Utfall
from .inntektsgrunnlag import setning as inntektsgrunnlag


def seks_prosent(
    foer: np.ndarray, inntekt_oere: np.ndarray, andel_bp: np.ndarray, maaneder: np.ndarray, gjelder: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P1 = min(P0, andel × inntekt / fakturerte måneder). Returns (P1, the cap per month)."""
    tak = div_half_up(np.maximum(inntekt_oere, 0) * andel_bp, 10_000 * maaneder)
    return np.where(gjelder, np.minimum(foer, tak), foer), tak


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    andel = np.where(k.barnehage, k.T("bh_inntekt_bp"), k.T("sfo_inntekt_bp"))
    trinn_ok = k.barnehage | in_grades(k.trinn, k.T("sfo_red_trinn"))
    brukt = k.inntekt_kjent & trinn_ok
    etter, tak = seks_prosent(foer, k.inntekt_oere, andel, k.fakturerte_mnd, brukt)
    return Utfall(
        etter=etter,
        flagg={"inntekt_6_prosent": etter < foer},
        ekstra={
            "inntekt_tak_oere": tak,
            "inntekt_brukt": brukt,
            "fakturerte_mnd": k.fakturerte_mnd,
            "andel_bp": andel,
            "inntekt_trinn": trinn_ok,
        },
    )


TEKST = {
    "bokmål": {
        "ikke_soekt_bh": "Dere har ikke søkt om redusert foreldrebetaling eller gratis kjernetid. ",
        "ikke_soekt_sfo": "Dere har ikke søkt om redusert foreldrebetaling. ",
        "satt_ned": "Redusert foreldrebetaling: prisen skal ikke være mer enn {andel} % av inntekten fordelt på {mnd} "
        "betalingsmåneder, {inntekt} kr × {andel} % / {mnd} = {tak} kr i måneden. Prisen settes ned fra "
        "{foer} kr til {etter} kr ({hjemmel}). ",
        "satt_ned_oere": "Redusert foreldrebetaling: prisen skal ikke være mer enn {andel} % av inntekten fordelt på "
        "{mnd} betalingsmåneder, {inntekt} kr × {andel} % / {mnd} = {tak} kr i måneden. Det er mindre enn 1 krone "
        "under prisen, så prisen settes ned fra {foer} kr til {etter} kr ({hjemmel}). ",
        "ikke_lavere": "Redusert foreldrebetaling: {andel} % av inntekten fordelt på {mnd} betalingsmåneder er "
        "{inntekt} kr × {andel} % / {mnd} = {tak} kr i måneden. Det er ikke lavere enn prisen, så "
        "prisen blir ikke satt ned ({hjemmel}). ",
        "trinn": "Redusert foreldrebetaling gjelder ikke for {trinn}. trinn. ",
    },
    "nynorsk": {
        "ikke_soekt_bh": "De har ikkje søkt om redusert foreldrebetaling eller gratis kjernetid. ",
        "ikke_soekt_sfo": "De har ikkje søkt om redusert foreldrebetaling. ",
        "satt_ned": "Redusert foreldrebetaling: prisen skal ikkje vere meir enn {andel} % av inntekta fordelt på {mnd} "
        "betalingsmånader, {inntekt} kr × {andel} % / {mnd} = {tak} kr i månaden. Prisen blir sett ned "
        "frå {foer} kr til {etter} kr ({hjemmel}). ",
        "satt_ned_oere": "Redusert foreldrebetaling: prisen skal ikkje vere meir enn {andel} % av inntekta fordelt på "
        "{mnd} betalingsmånader, {inntekt} kr × {andel} % / {mnd} = {tak} kr i månaden. Det er mindre enn 1 krone "
        "under prisen, så prisen blir sett ned frå {foer} kr til {etter} kr ({hjemmel}). ",
        "ikke_lavere": "Redusert foreldrebetaling: {andel} % av inntekta fordelt på {mnd} betalingsmånader er "
        "{inntekt} kr × {andel} % / {mnd} = {tak} kr i månaden. Det er ikkje lågare enn prisen, så "
        "prisen blir ikkje sett ned ({hjemmel}). ",
        "trinn": "Redusert foreldrebetaling gjeld ikkje for {trinn}. trinn. ",
    },
}


def forklar(s: Setninger) -> list[np.ndarray]:
    t = s.tekst(TEKST)
    bh, sfo, billed, manual, known = s.bh, s.sfo, s.fakturert, s.manuell, s.inntekt_kjent
    used = s.col("inntekt_brukt", bool)
    status = s.col("inntekt_status").astype(str)
    foer = s.foer(STEG)

    def ref(r: pd.DataFrame) -> pd.Series:
        return s.hjemmel(STEG, "barnehage", r).where(r["tilbud"] == "barnehage", s.hjemmel(STEG, "sfo", r))

    def fields(r: pd.DataFrame) -> dict:
        return {
            "andel": s.num(r["andel_bp"]),
            "mnd": r["fakturerte_mnd"].astype(str),
            "inntekt": s.kr_eksakt(r["inntekt_oere"]),
            "tak": s.kr(r["inntekt_tak_oere"]),
            "hjemmel": ref(r),
        }

    # In whole kroner a reduction of less than a krone can vanish («from 2 000 kr to 2 000 kr»): those say the øre.
    lowered = billed & s.har("inntekt_6_prosent")
    hidden = lowered & (to_kroner(s.col(foer, np.int64)) == to_kroner(s.col(STEG.etter, np.int64)))

    def in_oere(values: pd.Series) -> np.ndarray:
        return per_value(values.to_numpy(np.int64), kroner_og_oere)

    return [
        s.when(billed & (status == "ikke_soekt") & ~manual & bh, t["ikke_soekt_bh"]),
        s.when(billed & (status == "ikke_soekt") & ~manual & sfo, t["ikke_soekt_sfo"]),
        s.when(billed & known, lambda r: inntektsgrunnlag(s, r)),
        s.when(
            lowered & ~hidden,
            lambda r: s.fill(t["satt_ned"], foer=s.kr(r[foer]), etter=s.kr(r[STEG.etter]), **fields(r)),
        ),
        s.when(
            hidden,
            lambda r: s.fill(
                t["satt_ned_oere"],
                foer=in_oere(r[foer]),
                etter=in_oere(r[STEG.etter]),
                **{**fields(r), "tak": in_oere(r["inntekt_tak_oere"])},
            ),
        ),
        s.when(
            billed & used & ~s.har("inntekt_6_prosent") & ~manual & ~s.har("saerskilte_behov"),
            lambda r: s.fill(t["ikke_lavere"], **fields(r)),
        ),
        s.when(billed & sfo & known & ~used, lambda r: s.fill(t["trinn"], trinn=r["trinn"].astype(str))),
    ]


def verdier(p: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "husholdningsinntekt": to_kroner(p["inntekt_oere"].to_numpy()),
        "andel_prosent": hundredths(p["andel_bp"]),
        "fakturerte_maaneder": p["fakturerte_mnd"].to_numpy(),
        "tak_per_maaned": to_kroner(p["inntekt_tak_oere"].to_numpy()),
    }


STEG = Steg(
    kode="inntektsgrense",
    beskrivelse="Redusert foreldrebetaling: høyst 6 % av husholdningens inntekt",
    nasjonale={
        "barnehage.redusert_betaling.maks_andel_av_inntekt": Percent,
        "sfo.redusert_betaling.maks_andel_av_inntekt": Percent,
        "sfo.redusert_betaling.trinn": list[Grade],
    },
    kolonner=(
        Kolonne(
            "bh_inntekt_bp", lambda v, k: bp(v("barnehage.redusert_betaling.maks_andel_av_inntekt")), tilbud="barnehage"
        ),
        Kolonne("sfo_inntekt_bp", lambda v, k: bp(v("sfo.redusert_betaling.maks_andel_av_inntekt")), tilbud="sfo"),
        Kolonne("sfo_red_trinn", lambda v, k: grade_mask(v("sfo.redusert_betaling.trinn")), tilbud="sfo"),
    ),
    flagg=("inntekt_6_prosent",),
    hjemmel={"barnehage": "barnehage.redusert_betaling.maks_andel_av_inntekt", "sfo": "sfo.redusert_betaling.trinn"},
    utkolonne="inntektsreduksjon",
    etterkolonne="etter_inntektsgrense",
    beregn=beregn,
    forklar=forklar,
    verdier=verdier,
)
