"""Decision letters: 10 000 households, PDF + HTML each and the print bundle (target: under 2 minutes on 2 cores).

The population is synthetic (``fee-engine synthetic 16000 DIR --seed 3``: 16 000 children in about 10 300
households); the run is computed once, and the benchmark times what ``--format brev`` adds: building the
letter models (``--brev alle``, the first 10 000 households) and rendering them (Typst, in one process per
core) into ``<id>.pdf``, ``<id>.html`` and ``samlet.pdf``.

The peer: the same letters' HTML rendered by WeasyPrint (Pango), 1 000 letters, one process, one document
per letter and, separately, all 1 000 in one document (the fastest WeasyPrint can do). Skipped where
WeasyPrint is not installed (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import shutil
import time

import pytest

from fee_engine import batch, forklaring
from fee_engine.synthetic import generate

N = 10_000
DATO = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    pop = tmp_path_factory.mktemp("brevpop")
    generate(16_000, pop, seed=3)
    opts = batch.RunOptions(
        enrollment=pop / "innskriving.csv",
        out=pop / "out",
        period=(dt.date(2024, 8, 1), dt.date(2025, 7, 1)),
        source="files",
        tax_data=pop / "skatt",
    )
    comp = batch.compute(opts)
    return comp, forklaring.periods(comp.runs)


def test_letters_10000_households(benchmark, computed, tmp_path):
    from fee_engine.brev.gjengi import gjengi
    from fee_engine.brev.modell import bygg
    from fee_engine.brev.tekster import les_tekster

    comp, periods = computed
    out = tmp_path / "brev"

    def cpu() -> float:
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime

    def write():
        shutil.rmtree(out, ignore_errors=True)
        t, c = time.perf_counter(), cpu()
        letters, _, _ = bygg(comp, periods, "alle", DATO, les_tekster())
        letters = letters[:N]
        model = time.perf_counter() - t
        gjengi(letters, out, None)
        # CPU seconds of this process and its worker processes: what the wall time would be on idle cores
        # times the number of cores (this VM is shared; the load average is recorded beside it)
        return {
            "letters": len(letters),
            "model_seconds": model,
            "total_seconds": time.perf_counter() - t,
            "cpu_seconds": cpu() - c,
            "load_average_1min": os.getloadavg()[0],
        }

    info = benchmark.pedantic(write, rounds=3, iterations=1)
    assert info["letters"] == N
    assert len(list(out.glob("*.pdf"))) == N + 1 and len(list(out.glob("*.html"))) == N
    benchmark.extra_info.update(info)


def _html_letters(computed, n):
    from fee_engine.brev.gjengi import Gjengiver
    from fee_engine.brev.modell import bygg
    from fee_engine.brev.tekster import les_tekster

    comp, periods = computed
    letters, _, _ = bygg(comp, periods, "alle", DATO, les_tekster())
    g = Gjengiver(None)
    return [g.html_kilde(b) for b in letters[:n]]


def test_weasyprint_peer_1000_letters_one_by_one(benchmark, computed):
    weasyprint = pytest.importorskip("weasyprint")
    pages = _html_letters(computed, 1_000)

    def render():
        return sum(len(weasyprint.HTML(string=h).write_pdf()) for h in pages)

    benchmark.pedantic(render, rounds=1, iterations=1)


def test_weasyprint_peer_1000_letters_in_one_document(benchmark, computed):
    weasyprint = pytest.importorskip("weasyprint")
    pages = _html_letters(computed, 1_000)
    head = pages[0].split("<body>")[0]
    bodies = [p.split("<body>", 1)[1].split("</body>")[0] for p in pages]
    doc = head + "<body>" + "".join(f'<div style="break-before: page">{b}</div>' for b in bodies) + "</body></html>"

    benchmark.pedantic(lambda: len(weasyprint.HTML(string=doc).write_pdf()), rounds=1, iterations=1)


def test_typst_1000_letters_one_process(benchmark, computed):
    """Typst on the same 1 000 letters in one process, for the comparison with WeasyPrint above."""
    from fee_engine.brev.gjengi import Gjengiver
    from fee_engine.brev.modell import bygg
    from fee_engine.brev.tekster import les_tekster

    comp, periods = computed
    letters, _, _ = bygg(comp, periods, "alle", DATO, les_tekster())
    sources = [Gjengiver(None).typst_kilde(b) for b in letters[:1_000]]

    def render():
        g = Gjengiver(None)  # a fresh compiler: no layout cached from an earlier round
        return sum(len(g.pdf(s)) for s in sources)

    benchmark.pedantic(render, rounds=1, iterations=1)
