"""Step records per vedtak period: each legal step applied, its legal reference (``hjemmel``, in full, and
``hjemmel_kort``, as a parent reads it), the amount before and after (whole kroner), and the parameter values
it used. ``vedtak.json``, the diff and the letters read these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..beregning import has_flag
from ..money import to_kroner
from ..regelsett import RuleSet
from ..steg import REKKEFOLGE, Steg


def _short_refs(p: pd.DataFrame, rules: RuleSet, step: Steg) -> np.ndarray:
    """The reference as a parent reads it (``hjemmel_kort``), in force in each period's first month."""
    out = np.full(len(p), None, dtype=object)
    for tilbud, path in step.hjemmel.items():
        rows = (p["tilbud"] == tilbud).to_numpy()
        if not rows.any():
            continue
        keys = p.loc[rows, "kommunenummer"].astype(str) + "|" + p.loc[rows, "maaned"].dt.strftime("%Y-%m-%d")
        refs = {}
        for key in pd.unique(keys):
            kommune, day = key.split("|")
            refs[key] = rules.hjemmel_kort(path, pd.Timestamp(day).date(), kommune)
        out[rows] = keys.map(refs).to_numpy()
    return out


def _refs(p: pd.DataFrame, rules: RuleSet, step: Steg) -> np.ndarray:
    """The legal reference of ``step`` for every row (by offer, and by municipality for municipal ones)."""
    out = np.full(len(p), None, dtype=object)
    for tilbud, path in step.hjemmel.items():
        rows = (p["tilbud"] == tilbud).to_numpy()
        if not rows.any():
            continue
        if path.startswith("kommune."):
            kommuner = p.loc[rows, "kommunenummer"].astype(str)
            out[rows] = kommuner.map({k: rules.hjemmel(path, k) for k in pd.unique(kommuner)}).to_numpy()
        else:
            out[rows] = rules.hjemmel(path)
    return out


def step_records(p: pd.DataFrame, rules: RuleSet) -> list[list[dict[str, Any]]]:
    """For each period row of ``p`` (from :func:`fee_engine.forklaring.periods`), its list of step records."""
    p = p.reset_index(drop=True)
    n = len(p)
    flagg = p["flagg"].to_numpy(np.int64)
    billed = p["fakturert"].to_numpy(bool)
    manual = has_flag(flagg, "manuell")
    columns: list[tuple[Steg, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    before = np.zeros(n, dtype=np.int64)
    for i, step in enumerate(REKKEFOLGE):
        after = to_kroner(p[step.etter].to_numpy(np.int64))
        if i == 0:
            applied = billed.copy()  # the ordinary price is where every billed month starts
        else:
            applied = (
                billed & has_flag(flagg, *step.flagg)
                if step.flagg and step.kode != "fakturering"
                else np.zeros(n, dtype=bool)
            )
        values = {k: np.asarray(v) for k, v in (step.verdier(p) if step.verdier else {}).items()}
        refs = (_refs(p, rules, step), _short_refs(p, rules, step))
        columns.append((step, applied, before.copy(), after, refs, values))
        before = after
    out: list[list[dict[str, Any]]] = []
    for r in range(n):
        if not billed[r]:
            out.append([{"regel": "ikke_fakturert", "hjemmel": None, "for": 0, "etter": 0}])
            continue
        rec = []
        for step, applied, b, a, (ref, short), values in columns:
            if applied[r]:
                rec.append(
                    {
                        "regel": step.kode,
                        "hjemmel": ref[r],
                        "hjemmel_kort": short[r],
                        "for": None if step is REKKEFOLGE[0] else int(b[r]),
                        "etter": int(a[r]),
                        "verdier": {k: _plain(v[r]) for k, v in values.items()},
                    }
                )
        if manual[r]:  # the income-tested steps wait for a caseworker
            rec.append(
                {"regel": "manuell_behandling", "hjemmel": None, "for": rec[-1]["etter"], "etter": rec[-1]["etter"]}
            )
        out.append(rec)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.floating):
        return float(v)
    return v
