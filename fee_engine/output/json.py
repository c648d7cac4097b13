"""``vedtak.json``: decisions with the calculation as structured step records, for other systems.

Each period: the child, period, amount, status, income basis, and ``steg``: the legal steps applied
in order, each with its legal reference (from the rule files), the amount before and after (whole
kroner) and the parameter values it used (see :mod:`fee_engine.forklaring.poster`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..forklaring.poster import step_records
from ..regelsett import RuleSet


def _values(s: pd.Series) -> list[Any]:
    """A column as JSON values: numbers as int or float, missing as null, everything else as it is."""
    values = s.to_numpy(dtype=object, na_value=None).tolist()
    if s.dtype == object:  # numpy scalars inside an object column
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
    return values


def decisions(vedtak: pd.DataFrame, periods: pd.DataFrame, rules: RuleSet) -> list[dict[str, Any]]:
    """One object per row of ``vedtak.csv``, with every one of its columns in its order, then ``steg``."""
    columns = {c: _values(vedtak[c]) for c in vedtak.columns}
    columns["belop"] = [int(v) for v in columns["belop"]]
    for c in ("inntektsaar", "stadie"):  # an empty text is null here
        columns[c] = [v or None for v in columns[c]]
    columns["husholdningsinntekt"] = [None if v is None else int(v) for v in columns["husholdningsinntekt"]]
    columns["steg"] = step_records(periods, rules)
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values(), strict=True)]


BLOCK = 20_000  # decisions encoded and written at a time


def write_json(path: Path, vedtak: pd.DataFrame, periods: pd.DataFrame, rules: RuleSet, meta: dict[str, Any]) -> Path:
    """``{"kjoering": …, "vedtak": [...]}`` with one decision on each line (the standard library's fast encoder
    writes one line at a time; indented, the whole file took five times as long)."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    rows = decisions(vedtak, periods, rules)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"kjoering": ' + json.dumps(meta, ensure_ascii=False, indent=1) + ',\n"vedtak": [\n')
        for b in range(0, len(rows), BLOCK):
            fh.write((",\n" if b else "") + ",\n".join(map(encode, rows[b : b + BLOCK])))
        fh.write("\n]}\n")
    return path
