"""CSV outputs (CONTRACT §4): comma-separated, UTF-8, one header row, whole kroner."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

AVVIST_COLUMNS = ["rad", "kolonne", "verdi", "aarsak", "kode"]


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def write_rejections(rejections: pd.DataFrame, path: Path) -> Path:
    cols = [c for c in AVVIST_COLUMNS if c in rejections.columns]
    out = rejections[cols] if len(rejections) else pd.DataFrame(columns=AVVIST_COLUMNS)
    return write_csv(out, path)
