"""The calculation at 10 000 / 100 000 / 500 000 children × 12 months, explanation columns included,
and its peers on the same population, each checked to give identical amounts child-month by child-month:
a plain-Python row-by-row loop, and the same rules as a small OpenFisca-core model.

Run: ``.venv/bin/python -m pytest benchmarks -p no:cacheprovider --benchmark-only``.
"""

import tracemalloc

import pytest

from fee_engine.beregning import calculate, expand_runs

from .inputs import calc_inputs
from .rowwise import calculate_rowwise

SIZES = [10_000, 100_000, 500_000]


def peak_mb(fn, *args, **kw) -> float:
    tracemalloc.start()
    try:
        fn(*args, **kw)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("n", SIZES)
def test_engine(benchmark, n):
    args = calc_inputs(n)
    runs = benchmark.pedantic(calculate, args=args, kwargs={"expand": False}, rounds=3 if n < 500_000 else 2,
                              iterations=1, warmup_rounds=0)
    child_months = int(runs["antall_maaneder"].sum())
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update(children=n, child_months=child_months, child_months_per_s=round(child_months / seconds),
                                children_per_s=round(n / seconds), peak_mb=round(peak_mb(calculate, *args, expand=False)))
    assert child_months == 12 * n


@pytest.mark.parametrize("n", SIZES)
def test_rowwise_peer(benchmark, n):
    args = calc_inputs(n)
    out = benchmark.pedantic(calculate_rowwise, args=args, rounds=1, iterations=1)
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update(children=n, child_months_per_s=round(len(out) / seconds))
    if n <= 100_000:
        assert out == engine_amounts(args)  # identical amounts, child-month by child-month


def engine_amounts(args) -> dict:
    engine = expand_runs(calculate(*args, expand=False), ["barn_id", "tilbud", "maaned", "belop"])
    return dict(zip(zip(engine["barn_id"], engine["tilbud"], engine["maaned"].dt.strftime("%Y-%m")), engine["belop"]))


@pytest.mark.parametrize("n", SIZES)
def test_openfisca_peer(benchmark, n):
    openfisca = pytest.importorskip("openfisca_core", reason="benchmark-only dependency: pip install -e '.[bench]'")
    from fee_engine.regelsett import load_rules

    from .openfisca_model import as_dict, build_system, simulate

    args = calc_inputs(n)
    tbs = build_system(load_rules())
    result = benchmark.pedantic(simulate, args=(tbs, *args), rounds=1 if n == 500_000 else 2, iterations=1)
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update(children=n, child_months_per_s=round(12 * n / seconds), openfisca=openfisca.__name__)
    if n <= 100_000:
        assert as_dict(args[0], result) == engine_amounts(args)  # identical amounts
