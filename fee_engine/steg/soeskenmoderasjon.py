"""Sibling discount (søskenmoderasjon).

Barnehage: forskrift om foreldrebetaling i barnehager § 3a. Among a household's billed children in
the same offer, municipality and month, rank by the fee before the discount (after the 6 % rule),
highest first; ties: the oldest child first, then ``barn_id`` in text order, never the order of the
rows in the file. Child 2 pays 70 %; child 3 and later 50 % before 1 August 2023, 0 % after. A
municipality may give more. SFO: only where the municipal file sets a discount.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..money import bp, hundredths, percent_of
from ..regelsett.skjema import Percent, SiblingRates
from ..sortering import lexsort

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger

from .grunnlag import Kolonne, Kontekst, Steg, Utfall, Verdi


def rang_i_husholdningen(
    med: np.ndarray,
    husholdning: np.ndarray,
    kommune: np.ndarray,
    maaned: np.ndarray,
    pris_oere: np.ndarray,
    fodt_dager: np.ndarray,
    barn: np.ndarray,
) -> np.ndarray:
    """1-based rank within (household, municipality, month) for the rows in ``med``; 0 elsewhere.

    One sort over the whole batch (its keys packed into few words: :mod:`fee_engine.sortering`): no loop per
    household. ``barn`` are codes in ``barn_id``'s text order.
    """
    rang = np.zeros(len(med), dtype=np.int64)
    idx = np.flatnonzero(med)
    if idx.size == 0:
        return rang
    order = idx[lexsort([husholdning[idx], kommune[idx], maaned[idx], -pris_oere[idx], fodt_dager[idx], barn[idx]])]
    g = np.stack([husholdning[order], kommune[order], maaned[order]])
    ny = np.ones(order.size, dtype=bool)
    ny[1:] = (g[:, 1:] != g[:, :-1]).any(axis=0)
    start = np.maximum.accumulate(np.where(ny, np.arange(order.size), 0))
    rang[order] = np.arange(order.size) - start + 1
    return rang


def moderasjon_bp(rang: np.ndarray, barn_2: np.ndarray, barn_3: np.ndarray) -> np.ndarray:
    """The discount in basis points for each rank: none for 1, ``barn_2`` for 2, ``barn_3`` for 3 and later."""
    return np.select([rang == 2, rang >= 3], [barn_2, barn_3], default=0).astype(np.int64)


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    husholdning = k.hh_pos[k.child].astype(np.int64)
    barn = k.koder.barn[k.child]  # ties: barn_id in text order
    fodt = k.fodselsdato
    days = fodt.astype(np.int64)
    known = ~np.isnat(fodt)
    # no birth date: after every child who has one (the day after the last), a key of a few bits like the others
    fodt_dager = np.where(known, days, (days[known].max() + 1) if known.any() else 0)
    rang = np.zeros(k.n, dtype=np.int64)
    for tilbud in (k.barnehage, k.sfo):
        r = rang_i_husholdningen(
            k.fakturert & tilbud, husholdning, k.kommune_kode.astype(np.int64), k.maaned, foer, fodt_dager, barn
        )
        rang = np.where(tilbud, r, rang)
    barn_2 = np.where(k.barnehage, k.T("bh_sib2_bp"), k.T("sfo_sib2_bp"))
    barn_3 = np.where(k.barnehage, k.T("bh_sib3_bp"), k.T("sfo_sib3_bp"))
    sats = moderasjon_bp(rang, barn_2, barn_3)
    ned = percent_of(foer, sats)
    return Utfall(
        etter=foer - ned,
        flagg={"soesken_2": (rang == 2) & (ned > 0), "soesken_3": (rang >= 3) & (ned > 0)},
        ekstra={"soesken_rang": rang, "soesken_bp": sats},
    )


TEKST = {
    "bokmål": {
        "moderasjon": "Søskenmoderasjon: barnet er barn nr. {rang} i husholdningen og får {sats} % moderasjon, "
        "{foer} kr × {sats} % = {fradrag} kr ({hjemmel}). "
    },
    "nynorsk": {
        "moderasjon": "Søskenmoderasjon: barnet er barn nr. {rang} i hushaldet og får {sats} % moderasjon, "
        "{foer} kr × {sats} % = {fradrag} kr ({hjemmel}). "
    },
}


def forklar(s: Setninger) -> list[np.ndarray]:
    t = s.tekst(TEKST)

    def ref(r: pd.DataFrame) -> pd.Series:
        return s.hjemmel(STEG, "barnehage", r).where(r["tilbud"] == "barnehage", s.hjemmel(STEG, "sfo", r))

    return [
        s.when(
            s.fakturert & s.har("soesken_2", "soesken_3"),
            lambda r: s.fill(
                t["moderasjon"],
                rang=r["soesken_rang"].astype(str),
                sats=s.num(r["soesken_bp"]),
                foer=s.kr(r[s.foer(STEG)]),
                fradrag=s.kr_hel(s.reduksjon(STEG, r)),
                hjemmel=ref(r),
            ),
        )
    ]


def _nasjonal_og_kommunal(v: Verdi, k: str, nr: int) -> int:
    nasjonal = bp(v("barnehage.soeskenmoderasjon.barn_2" if nr == 2 else "barnehage.soeskenmoderasjon.barn_3_og_flere"))
    kommunal = v(k + "barnehage.soeskenmoderasjon")
    if kommunal is None:
        return nasjonal
    return max(nasjonal, bp(kommunal.barn_2 if nr == 2 else kommunal.barn_3_og_flere))


def _sfo(v: Verdi, k: str, nr: int) -> int:
    kommunal = v(k + "sfo.soeskenmoderasjon")
    return 0 if kommunal is None else bp(kommunal.barn_2 if nr == 2 else kommunal.barn_3_og_flere)


def verdier(p: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"barn_nr": p["soesken_rang"].to_numpy(), "moderasjon_prosent": hundredths(p["soesken_bp"])}


STEG = Steg(
    kode="soeskenmoderasjon",
    beskrivelse="Søskenmoderasjon",
    nasjonale={"barnehage.soeskenmoderasjon.barn_2": Percent, "barnehage.soeskenmoderasjon.barn_3_og_flere": Percent},
    kommunale={"barnehage.soeskenmoderasjon": SiblingRates | None, "sfo.soeskenmoderasjon": SiblingRates | None},
    kolonner=(
        Kolonne("bh_sib2_bp", lambda v, k: _nasjonal_og_kommunal(v, k, 2), tilbud="barnehage"),
        Kolonne("bh_sib3_bp", lambda v, k: _nasjonal_og_kommunal(v, k, 3), tilbud="barnehage"),
        Kolonne("sfo_sib2_bp", lambda v, k: _sfo(v, k, 2), tilbud="sfo"),
        Kolonne("sfo_sib3_bp", lambda v, k: _sfo(v, k, 3), tilbud="sfo"),
    ),
    flagg=("soesken_2", "soesken_3"),
    hjemmel={"barnehage": "barnehage.soeskenmoderasjon.barn_2", "sfo": "kommune.sfo.soeskenmoderasjon"},
    utkolonne="soeskenmoderasjon",
    beregn=beregn,
    forklar=forklar,
    verdier=verdier,
)
