"""Totals per institution and month, shared by the workbook and the report."""

from __future__ import annotations

import pandas as pd

from ..beregning import has_flag

AMOUNTS = [
    "ordinaer_pris",
    "inntektsreduksjon",
    "saerskilte_behov_fritak",
    "soeskenmoderasjon",
    "gratis_timer",
    "belop",
]


def by_institution_month(monthly: pd.DataFrame) -> pd.DataFrame:
    """children, ordinary total, reductions by scheme, manual children, amount to invoice.

    ``ordinaer_pris − inntektsreduksjon − saerskilte_behov_fritak − soeskenmoderasjon − gratis_timer = belop``
    holds per row and so per group.
    """
    m = monthly.assign(manuell=(monthly["status"] == "manuell").astype(int), barn=1)
    keys = ["kommunenummer", "institusjon", "tilbud", "maaned"]
    g = m.groupby(keys, sort=True, dropna=False)[["barn", "manuell", *AMOUNTS]].sum().reset_index()
    return g


def totals(monthly: pd.DataFrame) -> dict[str, int]:
    out = {c: int(monthly[c].sum()) for c in AMOUNTS}
    out["barn"] = int(monthly.drop_duplicates(["barn_id", "tilbud"]).shape[0])
    out["barn_manuell"] = int(
        monthly.loc[monthly["status"] == "manuell"].drop_duplicates(["barn_id", "tilbud"]).shape[0]
    )
    return out


SCHEMES = (
    (("inntekt_6_prosent",), "Redusert foreldrebetaling (6 %)"),
    (("gratis_kjernetid",), "Gratis kjernetid"),
    (("gratis_timer_sfo",), "12 gratis timer SFO"),
    (("soesken_2", "soesken_3"), "Søskenmoderasjon"),
    (("saerskilte_behov",), "Gratis SFO, særskilte behov"),
    (("manuell",), "Manuell behandling"),
)


def households_with(monthly: pd.DataFrame) -> dict[str, int]:
    """Number of households that get each reduction in at least one month (``monthly`` with ``flagg``)."""
    r = reductions(monthly)
    return dict(zip(r["ordning"], r["husholdninger"]))


def reductions(monthly: pd.DataFrame) -> pd.DataFrame:
    """Per scheme: households and children that get it in at least one month (``monthly`` with ``flagg``)."""
    rows = []
    for names, label in SCHEMES:
        hit = monthly.loc[has_flag(monthly["flagg"], *names)]
        children = int(hit.drop_duplicates(["barn_id", "tilbud"]).shape[0])
        rows.append((label, int(hit["husholdning_id"].nunique()), children))
    return pd.DataFrame(rows, columns=["ordning", "husholdninger", "barn"])
