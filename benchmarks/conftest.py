"""Shared settings of the benchmark suite: sizes, populations, and what is recorded about the machine.

Sizes (children; each child 12 months, 2024-08..2025-07):

* default: 10 000 and 100 000; 500 000 too when ``FEE_ENGINE_BENCH_BIG=1`` (it takes a while);
* ``FEE_ENGINE_BENCH_QUICK=1`` (``scripts/benchmarks --quick``): 1 000, 5 000 and 20 000, to check that
  the suite and the report work. Its figures say nothing about the targets.

Populations are ``generate(n, seed=1, endringer=True)``: placements that start and end inside the
period, mid-month moves, barnehage to SFO in August, children moving household, SFO in every grade,
manual cases in the tax answers. ``FEE_ENGINE_BENCH_DATA=DIR`` keeps them between runs (generating
500 000 children writes about 600 000 tax files).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from fee_engine.synthetic import generate

QUICK = os.environ.get("FEE_ENGINE_BENCH_QUICK") == "1"
BIG = os.environ.get("FEE_ENGINE_BENCH_BIG") == "1"
SMALL, MAIN, LARGE = (1_000, 5_000, 20_000) if QUICK else (10_000, 100_000, 500_000)
SEED = 1
PERIOD = "2024-08..2025-07"
ROOT = Path(__file__).resolve().parent.parent


def sizes(*which: str) -> list:
    """pytest parameters for the sizes named ``small``, ``main``, ``large`` (large skipped unless enabled)."""
    by_name = {"small": SMALL, "main": MAIN, "large": LARGE}
    out = []
    for w in which:
        marks = [] if (w != "large" or QUICK or BIG) else [pytest.mark.skip(reason="set FEE_ENGINE_BENCH_BIG=1")]
        out.append(pytest.param(by_name[w], id=str(by_name[w]), marks=marks))
    return out


def _population_dir(base: Path, n: int) -> Path:
    d = base / f"befolkning-{n}-frø{SEED}-endringer"
    if not (d / ".ferdig").exists():
        shutil.rmtree(d, ignore_errors=True)
        generate(n, d, seed=SEED, endringer=True)
        (d / ".ferdig").write_text(dt.datetime.now().isoformat())
    return d


@pytest.fixture(scope="session")
def population(tmp_path_factory):
    """``population(n)``: the folder with ``innskriving.csv`` and ``skatt/`` for ``n`` children (made once)."""
    keep = os.environ.get("FEE_ENGINE_BENCH_DATA")
    base = Path(keep) if keep else tmp_path_factory.mktemp("befolkninger")
    base.mkdir(parents=True, exist_ok=True)
    made: dict[int, Path] = {}

    def get(n: int) -> Path:
        if n not in made:
            made[n] = _population_dir(base, n)
        return made[n]

    return get


@pytest.fixture(scope="session")
def population_main(population):
    """The main size's population (100 000 children; 5 000 in a quick run)."""
    return population(MAIN)


@pytest.fixture(autouse=True, scope="session")
def _audit_log_in_tmp(tmp_path_factory):
    """Runs append to an audit log (the cost is part of what is measured), not to .fee-engine/ in the work tree."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEE_ENGINE_AUDIT_LOG", str(tmp_path_factory.mktemp("revisjon") / "revisjon.jsonl"))
        yield


# -- what the JSON records about the machine and the run ------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


_STARTED = (dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), None)


_COMPILED: list[str] = []


def pytest_sessionstart(session):
    """The package's bytecode is compiled before anything is timed, as an installed package has it. An environment
    with ``PYTHONDONTWRITEBYTECODE=1`` (the benchmark machine's sets it) never keeps it otherwise, and every timed
    fresh process compiled the package again (a 10 000-child run: 1.47–1.64 s with bytecode, 1.63–1.84 s without)."""
    global _STARTED
    import compileall

    for folder in ("fee_engine", "benchmarks"):
        if compileall.compile_dir(ROOT / folder, quiet=1):
            _COMPILED.append(folder)
    _STARTED = (dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), loadavg())


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["fee_engine"] = {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            p: _version(p)
            for p in (
                "fee-engine",
                "numpy",
                "pandas",
                "openfisca-core",
                "pytest",
                "pytest-benchmark",
                "openpyxl",
                "httpx",
            )
        },
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        # changes to the code measured (not to the files the suite's report writes)
        "git_dirty": bool(
            _git(
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/results",
                ":!README.md",
                ":!docs/skala.md",
            )
        ),
        "mode": "quick" if QUICK else ("full+big" if BIG else "full"),
        "sizes": {"small": SMALL, "main": MAIN, "large": LARGE if (QUICK or BIG) else None},
        "period": PERIOD,
        "population": f"fee-engine synthetic N --seed {SEED} --endringer",
        "bytecode_compiled": list(_COMPILED),
        "started": _STARTED[0],
        "loadavg_start": _STARTED[1],
    }


def pytest_benchmark_update_commit_info(config, commit_info):
    commit_info["project"] = "fee-engine"  # not the name of the folder the suite ran in


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["machine_info"].setdefault("fee_engine", {})["loadavg_end"] = loadavg()
    output_json["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def stats_of(times: list[float]) -> dict:
    """median, min, max (seconds) and every round, for a peer timed by hand in the same rounds."""
    s = sorted(times)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    return {
        "median": round(median, 4),
        "min": round(s[0], 4),
        "max": round(s[-1], 4),
        "rounds": len(s),
        "data": [round(t, 4) for t in times],
    }


def engine_stats(benchmark) -> dict:
    st = benchmark.stats.stats
    return {
        "median": round(st.median, 4),
        "min": round(st.min, 4),
        "max": round(st.max, 4),
        "rounds": st.rounds,
        "data": [round(t, 4) for t in st.data],
    }
