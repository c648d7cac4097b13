"""Fresh processes for the whole-run benchmarks: the engine's command line and the OpenFisca pipeline.

Each run is a new Python process (start-up and imports included), timed from spawn to exit by the
caller; its peak memory is the process's own VmHWM, written by ``benchmarks/peak.py`` at exit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PERIOD = "2024-08..2025-07"


def fee_engine_script() -> str:
    """The installed ``fee-engine`` console script (next to this Python, or on the PATH)."""
    beside = Path(sys.executable).parent / "fee-engine"
    found = str(beside) if beside.exists() else shutil.which("fee-engine")
    if not found:
        raise RuntimeError("fee-engine is not installed: pip install -e '.[bench]'")
    return found


def run_program(program: str, args: list[str], ok_codes: tuple[int, ...] = (0,)) -> dict:
    """Run ``program args`` in a fresh process; returns seconds (spawn to exit), peak_mb, exit_code."""
    with tempfile.TemporaryDirectory(prefix="fee-engine-bench-") as tmp:
        peak_file = Path(tmp) / "peak.json"
        log = Path(tmp) / "log.txt"
        with open(log, "wb") as fh:
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, str(HERE / "peak.py"), str(peak_file), program, *args],
                                  stdout=fh, stderr=subprocess.STDOUT)
            seconds = time.perf_counter() - t
        info = json.loads(peak_file.read_text()) if peak_file.exists() else {"peak_mb": None, "exit_code": proc.returncode}
        if proc.returncode not in ok_codes:
            raise RuntimeError(f"{program} {' '.join(args)} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
    return {"seconds": seconds, "peak_mb": info["peak_mb"], "exit_code": proc.returncode}


def engine_args(population: Path, out: Path, formats: str = "csv", source: str = "files",
                cache: Path | None = None) -> list[str]:
    args = ["run", str(population / "innskriving.csv"), "--source", source, "--tax-data", str(population / "skatt"),
            "--period", PERIOD, "--format", formats, "--out", str(out)]
    return args + (["--cache", str(cache)] if cache else [])


def run_engine(population: Path, out: Path, **kw) -> dict:
    """``fee-engine run`` on a population (exit 0: no row is rejected in a synthetic population)."""
    return run_program(fee_engine_script(), engine_args(population, out, **kw))


def run_pipeline(population: Path, out_csv: Path) -> dict:
    """The OpenFisca pipeline on the same files."""
    return run_program(str(HERE / "openfisca_pipeline.py"),
                       [str(population / "innskriving.csv"), "--tax-data", str(population / "skatt"), "--period", PERIOD,
                        "--out", str(out_csv)])


def amounts(csv: Path, sep: str) -> dict[tuple[str, str, str], int]:
    """{(barn_id, tilbud, maaned): belop} from the engine's maanedlig.csv or the pipeline's CSV."""
    import pandas as pd

    df = pd.read_csv(csv, sep=sep, dtype=str, keep_default_na=False, usecols=["barn_id", "tilbud", "maaned", "belop"])
    return dict(zip(zip(df["barn_id"], df["tilbud"], df["maaned"]), df["belop"].astype(int)))
