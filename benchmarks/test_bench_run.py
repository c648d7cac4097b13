"""Whole runs from files, each a fresh process (Python start-up and imports included), timed from spawn to exit.

* ``test_run_scale``: ``fee-engine run POP/innskriving.csv --source files --tax-data POP/skatt
  --period 2024-08..2025-07 --format csv --out DIR`` at each size: time and peak memory (VmHWM).
* ``test_run_vs_openfisca_pipeline``: the same command and ``benchmarks/openfisca_pipeline.py`` on the same
  files, alternating: each round runs the pipeline (timed by hand, in ``extra_info["peer"]``), then the
  engine (pytest-benchmark's figures); both medians, their ratio, both peaks. The pipeline's amounts are
  checked against the engine's ``maanedlig.csv``, child-month by child-month.
* ``test_run_warm_cache``: ``--source api --cache FILE`` against the emulator in its own process (standing for
  Skatteetaten and Maskinporten), run once untimed to fill the cache (every answer fetched over HTTP), then the
  emulator is stopped and the run timed: every answer comes from the SQLite cache (checked in
  ``revisjon.jsonl``; with the emulator gone, a single request would fail the run).
* ``test_run_xlsx``: the run with ``--format csv,xlsx`` (``vedtak.xlsx`` besides the CSV outputs).

Timed rounds are not sampled from outside: the sampler of the process tree's memory takes 2–3 ms of CPU time ten
times a second, and a run that keeps both cores busy pays for it (0.16 s at 100 000 children, medians of three
rounds with and without it), while a one-process peer has a core to spare for it. Peak memory is the largest of
the timed rounds' VmHWM at exit (``benchmarks/peak.py``) and of one more round, not timed, whose whole tree's
summed Pss is sampled every 0.1 s (``benchmarks/measure.py``) when the run forks children. Each timed round's
CPU time (user and system, the forked children included) and minor page faults are kept in
``extra_info["engine_cpu"]``.
"""

from __future__ import annotations

import json
import time

import pytest

from .conftest import QUICK, engine_stats, sizes, stats_of
from .measure import amounts, cpu_by_round, emulator_process, run_engine, run_pipeline


def _record(benchmark, info: dict, runs: list[dict], memory: dict) -> None:
    """The timed ``runs`` and the untimed ``memory`` round (its process tree sampled) in ``extra_info``."""
    benchmark.extra_info.update(info)
    benchmark.extra_info["engine"] = engine_stats(benchmark)
    every = [*runs, memory]
    benchmark.extra_info["engine_peak_mb"] = round(max(r["peak_mb"] for r in every), 1)
    benchmark.extra_info["engine_peaks_mb"] = [round(r["peak_mb"], 1) for r in every]  # the memory round last
    benchmark.extra_info["engine_memory_round"] = {"seconds": round(memory["seconds"], 2), "sampled_every_s": 0.1}
    trees = [r["tree_pss_peak_mb"] for r in every if r.get("tree_pss_peak_mb")]
    benchmark.extra_info["engine_forked_children"] = bool(trees)
    benchmark.extra_info["engine_cpu"] = cpu_by_round(runs)
    if trees:
        benchmark.extra_info["engine_process_peak_mb"] = round(max(r["process_peak_mb"] or 0 for r in every), 1)
        benchmark.extra_info["engine_tree_pss_peak_mb"] = round(max(trees), 1)


def _counts(out) -> dict:
    run = json.loads((out / "kjoering.json").read_text(encoding="utf-8"))
    return {"kjoering": {k: run[k] for k in run if isinstance(run[k], (int, float)) and not isinstance(run[k], bool)}}


@pytest.mark.parametrize("n", sizes("small", "main", "large"))
def test_run_scale(benchmark, population, tmp_path, n):
    pop = population(n)
    runs: list[dict] = []

    def run():
        runs.append(run_engine(pop, tmp_path / "ut", sample_tree=False))

    # three rounds at every size: at 500 000 children two rounds differed by up to 11 s on this machine, and the
    # median of two is their mean
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    memory = run_engine(pop, tmp_path / "ut")
    _record(benchmark, {"children": n, "what": "fee-engine run --source files --format csv"}, runs, memory)
    benchmark.extra_info.update(_counts(tmp_path / "ut"))


@pytest.mark.parametrize("n", sizes("small", "main"))
def test_run_vs_openfisca_pipeline(benchmark, population, tmp_path, n):
    pytest.importorskip("openfisca_core", reason="benchmark-only dependency: pip install -e '.[bench]'")
    pop = population(n)
    peer: list[dict] = []
    runs: list[dict] = []

    def pipeline_first():  # one process: its VmHWM is its peak, nothing to sample
        peer.append(run_pipeline(pop, tmp_path / "openfisca.csv", sample_tree=False))

    def engine():
        runs.append(run_engine(pop, tmp_path / "ut", sample_tree=False))

    benchmark.pedantic(engine, setup=pipeline_first, rounds=5, iterations=1, warmup_rounds=0)
    memory = run_engine(pop, tmp_path / "ut")
    _record(
        benchmark,
        {
            "children": n,
            "what": "fee-engine run --source files --format csv",
            "peer_name": "OpenFisca pipeline (benchmarks/openfisca_pipeline.py, segment shortcut)",
        },
        runs,
        memory,
    )
    p = stats_of([r["seconds"] for r in peer])
    e = benchmark.extra_info["engine"]
    mine, theirs = amounts(tmp_path / "ut" / "maanedlig.csv", ";"), amounts(tmp_path / "openfisca.csv", ";")
    differ = [k for k in mine if theirs.get(k) != mine[k]]
    assert not differ and len(mine) == len(theirs), f"pipeline differs in {len(differ)} child-months, e.g. {differ[:5]}"
    benchmark.extra_info.update(
        peer=p,
        peer_peak_mb=round(max(r["peak_mb"] for r in peer), 1),
        peer_cpu=cpu_by_round(peer),
        ratio_median=round(p["median"] / e["median"], 2),
        child_months_compared=len(mine),
        identical=True,
        excluded_child_months=0,
    )


@pytest.mark.parametrize("n", sizes("main"))
def test_run_warm_cache(benchmark, population, tmp_path, n, monkeypatch):
    pop = population(n)
    cache = tmp_path / "skatt.sqlite"
    with emulator_process(pop / "skatt", tmp_path / "klient") as env:
        for k, v in env.items():
            monkeypatch.setenv(k, v)  # the run's process takes its API settings from the environment
        t = time.perf_counter()
        fill = run_engine(pop, tmp_path / "fyll", source="api", cache=cache)
        fill_seconds = time.perf_counter() - t
    runs: list[dict] = []  # the emulator is gone: a run that asked anything would fail

    def run():
        runs.append(run_engine(pop, tmp_path / "ut", sample_tree=False, source="api", cache=cache))

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    memory = run_engine(pop, tmp_path / "ut", source="api", cache=cache)
    lines = (tmp_path / "ut" / "revisjon.jsonl").read_text(encoding="utf-8").splitlines()
    sources: dict[str, int] = {}
    for line in lines:
        k = json.loads(line).get("kilde", "?")
        sources[k] = sources.get(k, 0) + 1
    assert lines and set(sources) <= {"lager", "?"}, f"not every answer came from the cache: {sources}"
    _record(
        benchmark,
        {
            "children": n,
            "what": "fee-engine run --source api --cache FILE --format csv, cache full, Skatteetaten's side stopped",
            "fill_seconds": round(fill_seconds, 2),
            "fill_peak_mb": fill["peak_mb"],
            "lookups": len(lines),
            "lookup_sources": sources,
        },
        runs,
        memory,
    )


@pytest.mark.parametrize("n", sizes("main"))
def test_run_xlsx(benchmark, population, tmp_path, n):
    pop = population(n)
    runs: list[dict] = []

    def run():
        runs.append(run_engine(pop, tmp_path / "ut", sample_tree=False, formats="csv,xlsx"))

    benchmark.pedantic(run, rounds=3 if QUICK else 2, iterations=1, warmup_rounds=0)
    memory = run_engine(pop, tmp_path / "ut", formats="csv,xlsx")
    size = (tmp_path / "ut" / "vedtak.xlsx").stat().st_size
    _record(
        benchmark,
        {"children": n, "what": "fee-engine run --source files --format csv,xlsx", "xlsx_mb": round(size / 2**20, 1)},
        runs,
        memory,
    )
