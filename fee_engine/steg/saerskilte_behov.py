"""SFO is free for pupils with special needs in grades 5–7 (from 1 August 2020).

Forskrift til opplæringslova § 1B-3 until 31 July 2024; opplæringsforskrifta after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..money import grade_mask, in_grades
from ..regelsett.skjema import Grade

if TYPE_CHECKING:
    from ..forklaring.setninger import Setninger

from .grunnlag import Kolonne, Kontekst, Steg, Utfall


def beregn(k: Kontekst, foer: np.ndarray) -> Utfall:
    gratis = k.sfo & k.barn("saerskilte_behov", bool) & in_grades(k.trinn, k.T("sfo_saer_trinn"))
    return Utfall(etter=np.where(gratis, 0, foer), flagg={"saerskilte_behov": gratis})


TEKST = {
    "bokmål": {"gratis": "SFO er gratis for elever med særskilte behov på 5.–7. trinn ({hjemmel}). "},
    "nynorsk": {"gratis": "SFO er gratis for elevar med særskilde behov på 5.–7. trinn ({hjemmel}). "},
}


def forklar(s: Setninger) -> list[np.ndarray]:
    t = s.tekst(TEKST)
    return [
        s.when(
            s.fakturert & s.har("saerskilte_behov"), lambda r: s.fill(t["gratis"], hjemmel=s.hjemmel(STEG, "sfo", r))
        )
    ]


def verdier(p: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"trinn": p["trinn"].to_numpy()}


STEG = Steg(
    kode="saerskilte_behov",
    beskrivelse="Gratis SFO for elever med særskilte behov på 5.–7. trinn",
    nasjonale={"sfo.saerskilte_behov_gratis.trinn": list[Grade]},
    kolonner=(
        Kolonne("sfo_saer_trinn", lambda v, k: grade_mask(v("sfo.saerskilte_behov_gratis.trinn")), tilbud="sfo"),
    ),
    flagg=("saerskilte_behov",),
    hjemmel={"sfo": "sfo.saerskilte_behov_gratis.trinn"},
    utkolonne="saerskilte_behov_fritak",
    beregn=beregn,
    forklar=forklar,
    verdier=verdier,
)
