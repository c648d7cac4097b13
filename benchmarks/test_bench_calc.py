"""The calculation alone, and its peers on the same population in the same run.

Population: ``calc_inputs(n)`` (``inputs.py``): the enrollment rows of ``generate(n, endringer=True)``
with household income drawn directly, so only the calculation is timed.

* ``test_like_for_like``: ``calculate(..., expand=True)``, every child-month with its explanation
  columns (the step records), against the OpenFisca model computing every month (``simulate``),
  alternating in the same rounds: each round runs the OpenFisca model (timed by hand, in
  ``extra_info["peer"]``) and then the engine (pytest-benchmark's figures).
* ``test_segment_shortcut``: the same, with both taking the segment shortcut: ``calculate(expand=False)``
  (one row per child and run of unchanged months) against the OpenFisca model computing only the
  months where a parameter changes and repeating them (households with a placement starting or ending
  inside the period: every month, as in the engine).
* ``test_rowwise_peer``: the plain-Python loop, once.

Every peer's amounts are checked against the engine's, child-month by child-month, at the small and
main sizes; both peers model every feature of the population, so no child is excluded (the count of
excluded child-months is recorded as 0). The engine's peak memory is tracemalloc's peak during one call,
measured after the timed rounds.

Run: ``.venv/bin/python -m pytest benchmarks -p no:cacheprovider --benchmark-only`` (or ``scripts/benchmarks``).
"""

from __future__ import annotations

import time
import tracemalloc

import pandas as pd
import pytest

from fee_engine.beregning import calculate

from .conftest import LARGE, QUICK, engine_stats, sizes, stats_of
from .inputs import calc_inputs
from .rowwise import calculate_rowwise

CHECKED = (10_000, 100_000) if not QUICK else (1_000, 5_000)  # sizes where amounts are compared


def rounds_for(n: int) -> int:
    return 3 if n >= LARGE and not QUICK else 5


def peak_mb(fn, *args, **kw) -> float:
    tracemalloc.start()
    try:
        fn(*args, **kw)
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


def engine_amounts(args) -> dict:
    frame = calculate(*args, expand=True)
    return dict(
        zip(
            zip(frame["barn_id"], frame["tilbud"], frame["maaned"].dt.strftime("%Y-%m")),
            frame["belop"].astype(int).tolist(),
        )
    )


def compare(peer: dict, engine: dict) -> dict:
    """Child-months compared; fails with examples if any amount or child-month differs."""
    missing = engine.keys() - peer.keys()
    extra = peer.keys() - engine.keys()
    differ = [k for k in engine.keys() & peer.keys() if engine[k] != peer[k]]
    assert not (missing or extra or differ), (
        f"peer differs from the engine: {len(differ)} amounts, {len(missing)} child-months missing, {len(extra)} extra; "
        f"e.g. {[(k, peer[k], engine[k]) for k in differ[:5]]} {sorted(missing)[:3]} {sorted(extra)[:3]}"
    )
    return {"child_months_compared": len(engine), "identical": True, "excluded_child_months": 0}


def describe(args) -> dict:
    children, months = args[0], args[4]
    first, last = pd.Timestamp(months[0]), pd.Timestamp(months[-1]) + pd.offsets.MonthEnd(0)
    inside = (children["fra_dato"] > first) | (children["til_dato"] < last)
    return {
        "placements": len(children),
        "children": int(children.drop_duplicates(["barn_id"]).shape[0]),
        "placements_starting_or_ending_inside": int(inside.sum()),
        "children_with_two_placements_in_one_offer": int(children.duplicated(["barn_id", "tilbud"]).sum()),
    }


def _tbs():
    pytest.importorskip("openfisca_core", reason="benchmark-only dependency: pip install -e '.[bench]'")
    from fee_engine.regelsett import load_rules

    from .openfisca_model import build_system

    return build_system(load_rules())


def _alternate(benchmark, n: int, expand: bool, shortcut: bool) -> None:
    from .openfisca_model import as_dict, simulate

    tbs = _tbs()
    args = calc_inputs(n)
    peer_times: list[float] = []
    last: dict = {}

    def peer_then_engine():
        t = time.perf_counter()
        last["result"] = simulate(tbs, *args, shortcut=shortcut)
        peer_times.append(time.perf_counter() - t)
        return args, {"expand": expand}

    calculate(*args, expand=expand)  # warm-up, untimed: first-call costs of both
    simulate(tbs, *args, shortcut=shortcut)
    frame = benchmark.pedantic(calculate, setup=peer_then_engine, rounds=rounds_for(n), iterations=1, warmup_rounds=0)
    engine = engine_stats(benchmark)
    peer = stats_of(peer_times)
    child_months = int(frame["antall_maaneder"].sum()) if not expand else len(frame)
    info = {
        **describe(args),
        "rows_out": len(frame),
        "child_months": child_months,
        "engine": engine,
        "peer": peer,
        "peer_name": "OpenFisca-core model" + (", segment shortcut" if shortcut else ", every month"),
        "ratio_median": round(peer["median"] / engine["median"], 2),
        "engine_child_months_per_s": round(child_months / engine["median"]),
        "engine_peak_mb": peak_mb(calculate, *args, expand=expand),
    }
    if n in CHECKED:
        info.update(compare(as_dict(args[0], last["result"]), engine_amounts(args)))
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("n", sizes("small", "main", "large"))
def test_like_for_like(benchmark, n):
    """calculate(expand=True) vs the OpenFisca model month by month."""
    _alternate(benchmark, n, expand=True, shortcut=False)


@pytest.mark.parametrize("n", sizes("small", "main", "large"))
def test_segment_shortcut(benchmark, n):
    """calculate(expand=False) vs the OpenFisca model with the same shortcut."""
    _alternate(benchmark, n, expand=False, shortcut=True)


@pytest.mark.parametrize("n", sizes("small", "main", "large"))
def test_rowwise_peer(benchmark, n):
    args = calc_inputs(n)
    out = benchmark.pedantic(calculate_rowwise, args=args, rounds=1, iterations=1)
    info = {**describe(args), "child_months": len(out), "peer_name": "plain-Python row-by-row loop"}
    if n in CHECKED:
        info.update(compare(out, engine_amounts(args)))
    benchmark.extra_info.update(info)
