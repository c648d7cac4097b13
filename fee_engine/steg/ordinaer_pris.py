"""Ordinary price (P0) and the maksimalpris cap.

Barnehage: ``pris_maaned``, or maksimalpris(month, zone) × plass_prosent / 100 (forskrift om
foreldrebetaling i barnehager §§ 1–2). A given price above the maximum for the place (pro rata,
or the full maksimalpris: a municipal setting) is capped and flagged ``pris_over_maks``.
SFO: ``pris_maaned``, or the municipality's price list for the agreed hours per week (there is no
national maksimalpris for SFO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..money import hundredths, oere, percent_of, to_kroner
from ..regelsett.skjema import Kroner, PriceStep, Zone

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger

from .grunnlag import Kolonne, Kontekst, Steg, Utfall, Verdi


def _prisliste(v: Verdi, k: str) -> tuple[np.ndarray, np.ndarray]:
    steps = sorted(v(k + "sfo.prisliste"), key=lambda s: s.fra_timer)
    return (
        np.array([s.fra_timer for s in steps], dtype=float),
        np.array([oere(s.pris) for s in steps], dtype=np.int64),
    )


def barnehage_pris(
    maks: np.ndarray, plass_bp: np.ndarray, oppgitt: np.ndarray, forholdsmessig_tak: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P0 = ``oppgitt`` (-1 = none) capped at the maximum for the place, or maksimalpris × plass.

    Returns (P0, the maximum for the place, capped)."""
    pro_rata = percent_of(maks, plass_bp)
    tak = np.where(forholdsmessig_tak, pro_rata, maks)
    har_pris = oppgitt >= 0
    over = har_pris & (oppgitt > tak)
    return np.where(har_pris, np.minimum(oppgitt, tak), pro_rata), tak, over


def sfo_pris(
    oppgitt: np.ndarray,
    er_sfo: np.ndarray,
    kommune: np.ndarray,
    maaned: np.ndarray,
    timer_c: np.ndarray,
    prislister: dict,
    months: list,
) -> np.ndarray:
    """P0 = ``oppgitt`` (-1 = none), or the municipal price list for the agreed hours per week."""
    p0 = oppgitt.copy()
    need = np.flatnonzero((p0 < 0) & er_sfo)
    if need.size:
        keys = pd.DataFrame({"k": kommune[need], "m": maaned[need]})
        for (k, m), grp in keys.groupby(["k", "m"]).indices.items():
            fra_timer, priser = prislister[(k, pd.Timestamp(months[m]))]
            rows = need[grp]
            pos = np.searchsorted(fra_timer, timer_c[rows] / 100.0, side="right") - 1
            p0[rows] = priser[np.maximum(pos, 0)]
    return p0


def beregn(k: Kontekst, _foer: np.ndarray) -> Utfall:
    bh_p0, tak, over = barnehage_pris(
        k.T("bh_maks_oere"), k.plass_bp, k.pris_oere, k.T("bh_deltid_forholdsmessig", bool)
    )
    sfo_p0 = sfo_pris(
        k.pris_oere, k.sfo, k.kommuner[k.kommune_kode], k.maaned, k.timer_c, k.sider["sfo_prisliste"], k.months
    )
    return Utfall(
        etter=np.where(k.barnehage, bh_p0, sfo_p0),
        flagg={"pris_over_maks": over & k.barnehage},
        ekstra={"pris_tak_oere": tak},
    )


TEKST = {
    "bokmål": {
        "maks_hel": "Ordinær pris er maksimalprisen for en hel plass, {pris} kr i måneden ({hjemmel}). ",
        "maks": "Ordinær pris er maksimalprisen for en hel plass, {maks} kr i måneden, × {plass} % = {pris} kr "
        "({hjemmel}). ",
        "oppgitt": "Ordinær pris for plassen er {pris} kr i måneden. ",
        "over": "Prisen som er oppgitt for plassen, {oppgitt} kr, er høyere enn det som er tillatt for plassen, og er "
        "satt ned til {pris} kr ({hjemmel}). ",
        "prisliste": "Ordinær pris er {pris} kr i måneden etter kommunens prisliste for {timer} timer i uka. ",
    },
    "nynorsk": {
        "maks_hel": "Ordinær pris er maksimalprisen for ein heil plass, {pris} kr i månaden ({hjemmel}). ",
        "maks": "Ordinær pris er maksimalprisen for ein heil plass, {maks} kr i månaden, × {plass} % = {pris} kr "
        "({hjemmel}). ",
        "oppgitt": "Ordinær pris for plassen er {pris} kr i månaden. ",
        "over": "Prisen som er oppgitt for plassen, {oppgitt} kr, er høgare enn det som er tillate for plassen, og er "
        "sett ned til {pris} kr ({hjemmel}). ",
        "prisliste": "Ordinær pris er {pris} kr i månaden etter prislista til kommunen for {timer} timar i veka. ",
    },
}


def forklar(s: Setninger) -> list[np.ndarray]:
    t = s.tekst(TEKST)
    bh, sfo, billed, given, over = s.bh, s.sfo, s.fakturert, s.oppgitt_pris, s.har("pris_over_maks")
    hel = s.col("plass_bp") == 10_000
    pris = lambda r: s.kr(r[STEG.etter])  # noqa: E731
    return [
        s.when(
            billed & bh & ~given & hel,
            lambda r: s.fill(t["maks_hel"], pris=pris(r), hjemmel=s.hjemmel(STEG, "barnehage", r)),
        ),
        s.when(
            billed & bh & ~given & ~hel,
            lambda r: s.fill(
                t["maks"],
                maks=s.kr(r["bh_maks_oere"]),
                plass=s.num(r["plass_bp"]),
                pris=pris(r),
                hjemmel=s.hjemmel(STEG, "barnehage", r),
            ),
        ),
        s.when(billed & given & ~over, lambda r: s.fill(t["oppgitt"], pris=pris(r))),
        s.when(
            billed & over,
            lambda r: s.fill(
                t["over"], oppgitt=s.kr(r["pris_oere"]), pris=pris(r), hjemmel=s.hjemmel(STEG, "barnehage", r)
            ),
        ),
        s.when(billed & sfo & ~given, lambda r: s.fill(t["prisliste"], pris=pris(r), timer=s.num(r["timer_c"]))),
    ]


def verdier(p: pd.DataFrame) -> dict[str, np.ndarray]:
    bh = (p["tilbud"] == "barnehage").to_numpy()
    given = (p["pris_oere"] >= 0).to_numpy()
    return {
        "sone": np.where(bh, p["sone"].astype(object), None),
        "maksimalpris": np.where(bh, to_kroner(p["bh_maks_oere"].to_numpy()), None),
        "plass_prosent": np.where(bh, hundredths(p["plass_bp"]), None),
        "timer_per_uke": np.where(bh, None, hundredths(p["timer_c"])),
        "oppgitt_pris": np.where(given, to_kroner(p["pris_oere"].to_numpy()), None),
    }


STEG = Steg(
    kode="ordinaer_pris",
    beskrivelse="Ordinær pris for plassen, med tak ved maksimalprisen i barnehage",
    nasjonale={
        "barnehage.maksimalpris.generell": Kroner,
        "barnehage.maksimalpris.sentralitet_5_6": Kroner,
        "barnehage.maksimalpris.tiltakssone": Kroner,
    },
    kommunale={
        "sone": Zone,
        "barnehage.deltid_pristak": Literal["forholdsmessig", "maksimalpris"],
        "sfo.prisliste": list[PriceStep],
    },
    kolonner=(
        Kolonne("sone", lambda v, k: v(k + "sone"), tilbud="barnehage", noeytral=""),
        Kolonne("bh_maks_oere", lambda v, k: oere(v(f"barnehage.maksimalpris.{v(k + 'sone')}")), tilbud="barnehage"),
        Kolonne(
            "bh_deltid_forholdsmessig",
            lambda v, k: v(k + "barnehage.deltid_pristak") == "forholdsmessig",
            tilbud="barnehage",
            noeytral=True,
        ),
        Kolonne("sfo_prisliste", _prisliste, tilbud="sfo", side=True),
    ),
    behold=("sone", "bh_maks_oere"),
    flagg=("pris_over_maks",),
    hjemmel={"barnehage": "barnehage.maksimalpris.generell", "sfo": "kommune.sfo.prisliste"},
    beregn=beregn,
    forklar=forklar,
    verdier=verdier,
)
