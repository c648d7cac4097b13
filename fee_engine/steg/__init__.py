"""The legal steps, in the order they are taken, and what follows from them.

Each step lives in its own module and declares everything about itself (see :mod:`.grunnlag`):
the parameters it reads and their types, the month-table columns, the computation, the flags, the
legal reference and the sentences. This module only puts them in order. Adding a scheme is a new
module here, its parameters in ``rules/`` and its cases in ``tests/cases/``.
"""

from __future__ import annotations

from typing import Any

from . import (
    brev,
    faktura,
    fakturering,
    gratis_kjernetid,
    gratis_timer_sfo,
    inntektsgrense,
    inntektsgrunnlag,
    kommune,
    ordinaer_pris,
    saerskilte_behov,
    soeskenmoderasjon,
)
from .grunnlag import Kolonne, Kontekst, Steg, Utfall

# The amount passes through these in order; each takes the amount after the one before.
REKKEFOLGE: tuple[Steg, ...] = (
    ordinaer_pris.STEG,
    saerskilte_behov.STEG,
    inntektsgrense.STEG,
    gratis_timer_sfo.STEG,
    soeskenmoderasjon.STEG,
    gratis_kjernetid.STEG,
    fakturering.STEG,
)
# Declares parameters and columns but does not change the amount.
ANDRE: tuple[Steg, ...] = (inntektsgrunnlag.STEG, kommune.STEG, brev.STEG, faktura.STEG)
ALLE: tuple[Steg, ...] = REKKEFOLGE + ANDRE

# The output columns (whole kroner) that carry the steps' records, in the order maanedlig.csv, the workbook, the
# calculator and the API show them: the ordinary price, then each step's reduction or the amount after it.
# A step's ``utkolonne``/``etterkolonne`` must be one of these (tests/test_steg.py checks it).
STEGKOLONNER: tuple[str, ...] = (
    "ordinaer_pris",
    "saerskilte_behov_fritak",
    "etter_inntektsgrense",
    "inntektsreduksjon",
    "soeskenmoderasjon",
    "gratis_timer",
)

# Flags: a bit each, in the order they are written in forklaring_kode.
FLAGG: tuple[str, ...] = (
    ("ikke_fakturert", "manuell")
    + tuple(f for s in REKKEFOLGE for f in s.flagg if f != "ikke_fakturert")
    + ("plassbytte",)
)
BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(FLAGG)}


def parameter_types() -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
    """The rule files' schema: national paths, municipal paths (after ``kommune.NNNN.``), optional ones."""
    national: dict[str, Any] = {}
    municipal: dict[str, Any] = {}
    optional: set[str] = set()
    for s in ALLE:
        for target, declared in ((national, s.nasjonale), (municipal, s.kommunale)):
            for path, typ in declared.items():
                if path in target and target[path] != typ:
                    raise TypeError(f"{path} is declared twice with different types")
                target[path] = typ
        optional |= s.valgfrie
    return national, municipal, frozenset(optional)


def month_table_columns() -> list[Kolonne]:
    return [c for s in ALLE for c in s.kolonner]


__all__ = [
    "REKKEFOLGE",
    "STEGKOLONNER",
    "ALLE",
    "FLAGG",
    "BIT",
    "Steg",
    "Kolonne",
    "Kontekst",
    "Utfall",
    "parameter_types",
    "month_table_columns",
]
