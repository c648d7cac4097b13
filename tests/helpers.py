"""Reading the outputs back as a user's tools would."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.output.navn import OVERSKRIFTER

runner = CliRunner()


def run_demo(demo: Path, out: Path, *extra: str, enrollment: Path | None = None):
    """``fee-engine run`` on the demo's answer files over 2024/25 into ``out``: the demo's enrollment file, or
    ``enrollment``."""
    return runner.invoke(
        app,
        [
            "run",
            str(enrollment or demo / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(demo / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--out",
            str(out),
            *extra,
        ],
    )


TOTAL_LABELS = {"Sum", "Antall", "Antall vedtak"}


def read_out(path: Path, **kwargs) -> pd.DataFrame:
    """A CSV output in the default (Excel) dialect: ``;``-separated, UTF-8 with BOM."""
    return pd.read_csv(path, sep=";", encoding="utf-8-sig", **kwargs)


def sheet_frame(ws, machine_names: bool = True) -> pd.DataFrame:
    """A table sheet as a frame (the total row under it left out), headers mapped back to column names."""
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    body = rows[1:]
    if body and body[-1][0] in TOTAL_LABELS:
        body = body[:-1]
        while body and all(v is None for v in body[-1]):  # the blank row above the total
            body = body[:-1]
    if machine_names:
        back = {v: k for k, v in OVERSKRIFTER.items()}
        header = [back.get(h, h) for h in header]
    return pd.DataFrame(body, columns=header)
