"""Whole runs from files (read enrollment and tax responses, income, calculate, write CSV).

Run: ``.venv/bin/python -m pytest benchmarks -p no:cacheprovider --benchmark-only``.
"""

import datetime as dt
import resource

from fee_engine import batch


def test_run_100k_children_12_months(benchmark, population_100k, tmp_path):
    opts = batch.RunOptions(enrollment=population_100k / "innskriving.csv", out=tmp_path / "out",
                            period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)), source="files",
                            tax_data=population_100k / "skatt", formats=("csv",))
    result = benchmark.pedantic(batch.run, args=(opts,), rounds=1, iterations=1)
    assert result.rows_rejected == 0 and result.children == 100_000
    benchmark.extra_info["child_months"] = result.child_months
    benchmark.extra_info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
