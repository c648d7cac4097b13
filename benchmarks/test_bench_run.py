"""A whole run from files in a fresh process: read enrollment and tax responses, income, calculate, write the CSV outputs.

The process reports its own peak memory: VmHWM from /proc/self/status, which exec resets
(ru_maxrss would carry over the pytest parent's peak on Linux).
"""

import json
import subprocess
import sys

SCRIPT = """
import datetime as dt, json, sys, time
from pathlib import Path
from fee_engine import batch
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
pop, out = Path(sys.argv[1]), Path(sys.argv[2])
t = time.perf_counter()
r = batch.run(batch.RunOptions(enrollment=pop / "innskriving.csv", out=out, period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
                               source="files", tax_data=pop / "skatt", formats=("csv",)))
print(json.dumps({"seconds": time.perf_counter() - t, "children": r.children, "child_months": r.child_months,
                  "lookups": r.lookups, "peak_rss_mb": peak_mb()}))
"""


def test_run_100k_children_12_months(benchmark, population_100k, tmp_path):
    def run():
        res = subprocess.run([sys.executable, "-c", SCRIPT, str(population_100k), str(tmp_path / "out")],
                             capture_output=True, text=True, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])

    info = benchmark.pedantic(run, rounds=3, iterations=1)
    assert info["children"] == 100_000 and info["child_months"] == 1_200_000
    benchmark.extra_info.update(info)
