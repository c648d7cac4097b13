"""Decision letters (vedtaksbrev): one per household, as PDF and HTML, in the municipality's målform.

``fee-engine run … --format …,brev`` writes into ``--out/brev/``:

* ``<husholdning_id>.pdf`` and ``<husholdning_id>.html``: one letter per household that applied for
  reduced payment and whose children are all decided (``--brev alle``: every household whose children
  are all decided), covering all its children and decision periods;
* ``samlet.pdf``: every letter in one file for printing (each letter starts on an odd page);
* ``manuelle.csv``: the households that got no letter, and why (manual treatment, no application).

What a letter says: :mod:`.modell` (built from the step records of the calculation) and
:mod:`.tekster` (every fixed sentence in bokmål and nynorsk); how it looks: the Jinja2 templates in
``maler/`` (replaceable with ``--brevmal DIR``); how it is rendered: :mod:`.gjengi` (Typst for PDF).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .modell import UTVALG, Brev, bygg
from .tekster import les_tekster

__all__ = ["skriv_brev", "UTVALG", "Brev"]


def skriv_brev(
    comp: Any,
    periods: pd.DataFrame,
    mappe: Path,
    hvem: str = "ok",
    dato: dt.date | None = None,
    mal: Path | None = None,
    progress: Callable[[str, int], Callable[..., None]] | None = None,
    csv_dialect: str = "excel",
) -> Path:
    """Write the letters of a run into ``mappe`` (``…/brev``); returns ``mappe``.

    Unverified letter settings that were used are added to ``comp.warnings``.
    """
    from ..output.csv import write_csv
    from .gjengi import FILMODUS, gjengi
    from .modell import check_steps

    check_steps()
    dato = dato or dt.date.today()
    mal = Path(mal) if mal else None
    if mal is not None and not mal.is_dir():
        from ..errors import ConfigurationError

        raise ConfigurationError(f"fant ikke brevmal-mappen {mal}")
    brev, manuelle, advarsler = bygg(comp, periods, hvem, dato, les_tekster(mal))
    comp.warnings.extend(a for a in advarsler if a not in comp.warnings)
    mappe.mkdir(parents=True, exist_ok=True)
    os.chmod(mappe, 0o750)
    liste = write_csv(manuelle, mappe / "manuelle.csv", csv_dialect)
    os.chmod(liste, FILMODUS)
    tick = progress("Skriver vedtaksbrev", len(brev)) if progress and brev else None
    gjengi(brev, mappe, mal, tick=(lambda k: tick(advance=k)) if tick else None)
    return mappe
