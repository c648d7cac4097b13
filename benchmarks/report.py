"""Render the README's Benchmarks section (and the measured part of docs/skala.md) from one
``--benchmark-json`` file of the suite.

``python -m benchmarks.report RESULTS.json [--readme README.md] [--skala docs/skala.md]`` replaces the
text between ``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->`` with what this module
writes from the JSON: the machine, versions and date, and per row what exactly is timed, median /
min–max, peak memory, the ratios to the peers and whether each target is met; and the text between
``<!-- skala:start -->`` and ``<!-- skala:end -->`` in docs/skala.md with the whole-run figures at
the large sizes. Nothing in those sections is typed by hand; ``scripts/benchmarks`` runs the suite
and then this.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
SKALA_START, SKALA_END = "<!-- skala:start -->", "<!-- skala:end -->"
COUNTRY = 550_000  # barnehage and SFO children in Norway (docs/skala.md)

# The targets (for the full sizes: 100 000 and 500 000 children).
TARGET_RUN_S, TARGET_RUN_MB = 5.0, 1024
TARGET_RATIO_RUN, AIM_RATIO_RUN = 1.4, 2.0
TARGET_WARM_S = 6.0
TARGET_XLSX_S = 30.0
TARGET_BIG_S, TARGET_BIG_MB = 30.0, 2.5 * 1024
TARGET_RATIO_CALC = 3.0
LINEAR_TOLERANCE = 0.25  # per-child time and memory at the large size at most 25 % above the main size's


def n_(x: float | int | None, decimals: int = 0) -> str:
    """Numbers as Norwegian text writes them in this README: 100 000, 1.25."""
    if x is None:
        return "–"
    return f"{x:,.{decimals}f}".replace(",", " ")


def s_(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f} s" if x < 1 else f"{x:.2f} s"


def mb_(x: float | None) -> str:
    return "–" if x is None else f"{n_(x)} MB"


def peak_(x: dict) -> str:
    """A whole run's peak; with forked children, what it is made of."""
    text = mb_(x.get("engine_peak_mb"))
    if x.get("engine_forked_children"):
        text += (
            f" (forked children: process {mb_(x.get('engine_process_peak_mb'))}, whole tree "
            f"{mb_(x.get('engine_tree_pss_peak_mb'))} Pss)"
        )
    return text


def spread(st: dict) -> str:
    if st["rounds"] == 1:
        return f"{s_(st['median'])} (1 round)"
    return f"{s_(st['median'])} ({s_(st['min'])}–{s_(st['max'])}, {st['rounds']} rounds)"


class Results:
    def __init__(self, data: dict) -> None:
        self.data = data
        self.info = data["machine_info"].get("fee_engine", {})
        self.sizes = self.info.get("sizes", {})
        self.quick = self.info.get("mode") == "quick"
        self.by_name = {b["name"]: b for b in data["benchmarks"]}

    def get(self, test: str, n: int | None) -> dict | None:
        return self.by_name.get(f"{test}[{n}]") if n is not None else None

    def engine(self, b: dict) -> dict:
        if "engine" in b["extra_info"]:
            return b["extra_info"]["engine"]
        st = b["stats"]
        return {"median": st["median"], "min": st["min"], "max": st["max"], "rounds": st["rounds"]}


def verdict(ok: bool | None, quick: bool, missing: str = "not run") -> str:
    if quick:
        return "not judged (quick run)"
    if ok is None:
        return missing
    return "**met**" if ok else "**not met**"


def ratio_verdict(peer: dict, engine: dict, target: float, quick: bool) -> str:
    """A peer ratio's verdict: met in every round (the peer's fastest round against the engine's slowest), or at the
    median only, which on a shared machine can be the peer's bad rounds rather than the engine's speed."""
    if quick:
        return verdict(None, quick)
    if peer["median"] / engine["median"] < target:
        return verdict(False, quick)
    worst = peer["min"] / engine["max"]
    if worst >= target:
        return verdict(True, quick)
    return (
        f"**met at the median only**: the worst pairing of rounds gives {worst:.2f}× (the peer "
        f"{s_(peer['min'])}–{s_(peer['max'])}, the engine {s_(engine['min'])}–{s_(engine['max'])})"
    )


def render(data: dict, source: str) -> str:
    r = Results(data)
    info = r.info
    small, main, large = r.sizes.get("small"), r.sizes.get("main"), r.sizes.get("large")
    v = info.get("versions", {})
    out: list[str] = [START, f"<!-- Written by scripts/benchmarks from {source}; do not edit by hand. -->", ""]
    if r.quick:
        out += [
            f"**Quick run** ({n_(small)} / {n_(main)} / {n_(large)} children instead of 10 000 / 100 000 / 500 000): "
            "a check that the suite and this report work. Its figures say nothing about the targets; the full suite "
            "(`bash scripts/benchmarks`, and `FEE_ENGINE_BENCH_BIG=1 bash scripts/benchmarks` for 500 000 children) "
            "replaces this section.",
            "",
        ]
    started = info.get("started") or data.get("datetime")
    finished = data.get("finished")
    when = started[:16].replace("T", " ") + (f"–{finished[11:16]}" if finished else "") + " UTC" if started else "?"
    load = info.get("loadavg_start"), info.get("loadavg_end")
    load_text = (
        (
            f"; load average {load[0][0]:.1f} at the start, {load[1][0]:.1f} at the end "
            f"(a load near or above the {info.get('cores')} cores means other work shared the machine)"
        )
        if load[0] and load[1]
        else ""
    )
    commit = info.get("git_commit") or "?"
    out += [
        f"Measured {when} on {info.get('cpu_model', '?')}, {info.get('cores', '?')} cores, {info.get('ram_gib', '?')} GiB RAM, "
        f"{info.get('os', '?')}{load_text}. Python {info.get('python', '?')}, numpy {v.get('numpy')}, pandas {v.get('pandas')}, "
        f"openfisca-core {v.get('openfisca-core')}, openpyxl {v.get('openpyxl')}, pytest-benchmark {v.get('pytest-benchmark')}; "
        f"fee-engine at commit `{commit}`" + (" with uncommitted changes" if info.get("git_dirty") else "") + ".",
        "",
        f"Populations: `{info.get('population', 'fee-engine synthetic N --seed 1 --endringer')}`, period "
        f"{info.get('period', '2024-08..2025-07')}: besides whole-year places, placements that start or end inside the "
        "period, mid-month moves (one bill per month), barnehage to SFO in August, children moving household, twins, "
        "SFO in grades 1–7, given prices, documented incomes, and in the tax answers utkast-only, older-year and "
        "manual cases (no data, screened, an unknown partner, an unknown income item). Times are the median of the "
        "rounds, with min–max; a whole run is a fresh process timed from spawn to exit (Python start-up and imports "
        "included"
        + (
            "; the package's bytecode compiled before the suite, as an installed package has it"
            if "fee_engine" in info.get("bytecode_compiled", [])
            else ""
        )
        + "), its peak memory the process's VmHWM (if it forks children, the larger of that and the peak of "
        "the whole process tree's summed Pss, sampled every 0.1 s"
        + (
            " in one more round of the same command, not timed: sampling takes CPU time from a run that keeps both "
            "cores busy, and none from a one-process peer, which has a core to spare for it"
            if any("engine_memory_round" in b["extra_info"] for b in r.data["benchmarks"])
            else ""
        )
        + "). Where a peer ran in the same benchmark, the rounds "
        "alternate (peer, engine, peer, engine, …) and the ratio is the peer's median over the engine's.",
        "",
    ]
    out += fresh_memory(r)
    out += targets(r, small, main, large)
    out += whole_runs(r, small, main, large)
    out += calculation(r, small, main, large)
    out += parts(r, main)
    out += letters_and_web(r, main)
    out += [f"Raw figures: `{source}` (compare two runs with `pytest-benchmark compare`).", "", END]
    return "\n".join(out)


def fresh_memory(r: Results) -> list[str]:
    """What the machine charges for memory written for the first time (``test_bench_machine.py``)."""
    b = r.by_name.get("test_fresh_memory")
    if not b:
        return []
    x = b["extra_info"]
    return [
        f"Memory written for the first time on this machine (`test_fresh_memory`): {x['fresh_s_per_gb']:.2f} s per GB "
        f"after a pause of {x['settle_s']:.0f} s, {x['again_s_per_gb']:.2f} s per GB when written again at once after "
        "being freed (numpy arrays of "
        f"{n_(x['bytes'] / 2**20)} MB, medians of {b['stats']['rounds']} rounds). A run writes more memory than its "
        "peak: arrays made and dropped, and pages copied after a fork. The system CPU time and the page faults of the "
        "whole runs below are mostly the kernel serving those first writes.",
        "",
    ]


def cpu_(x: dict) -> str:
    """A whole run's CPU time, its forked children included: user + system, and minor page faults (medians)."""
    cpu = x.get("engine_cpu")
    if not cpu:
        return "–"
    med = statistics.median
    return f"{s_(med(cpu['user_s']))} + {s_(med(cpu['system_s']))}, {n_(med(cpu['minor_faults']))} page faults"


def targets(r: Results, small, main, large) -> list[str]:
    rows = ["### Targets", "", "| target | measured | |", "|---|---|---|"]
    run = r.get("test_run_scale", main)
    if run:
        e, peak = r.engine(run), run["extra_info"].get("engine_peak_mb")
        rows.append(
            f"| {n_(main)} children × 12 months from files, CSV outputs, fresh process: ≤ {n_(TARGET_RUN_S)} s, "
            f"peak < 1 GB | {s_(e['median'])}, {mb_(peak)} | "
            f"{verdict(e['median'] <= TARGET_RUN_S and peak is not None and peak < TARGET_RUN_MB, r.quick)} |"
        )
    vs = r.get("test_run_vs_openfisca_pipeline", main)
    if vs:
        ratio = vs["extra_info"]["ratio_median"]
        rows.append(
            f"| the same, ≥ {TARGET_RATIO_RUN}× faster than the OpenFisca pipeline in the same run (aim "
            f"{AIM_RATIO_RUN}×) | {ratio:.2f}× (pipeline {s_(vs['extra_info']['peer']['median'])}, engine "
            f"{s_(r.engine(vs)['median'])}) | "
            f"{ratio_verdict(vs['extra_info']['peer'], r.engine(vs), TARGET_RATIO_RUN, r.quick)}"
            + (
                ""
                if r.quick or ratio < TARGET_RATIO_RUN
                else (", aim met" if ratio >= AIM_RATIO_RUN else ", aim not met")
            )
            + " |"
        )
    warm = r.get("test_run_warm_cache", main)
    if warm:
        e = r.engine(warm)
        rows.append(
            f"| the same batch again from a warm cache (every answer in the SQLite cache): ≤ {n_(TARGET_WARM_S)} s "
            f"| {s_(e['median'])} | {verdict(e['median'] <= TARGET_WARM_S, r.quick)} |"
        )
    xlsx = r.get("test_run_xlsx", main)
    if xlsx:
        e = r.engine(xlsx)
        rows.append(
            f"| the same with `vedtak.xlsx`: ≤ {n_(TARGET_XLSX_S)} s | {s_(e['median'])} | "
            f"{verdict(e['median'] <= TARGET_XLSX_S, r.quick)} |"
        )
    big = r.get("test_run_scale", large)
    if big:
        e, peak = r.engine(big), big["extra_info"].get("engine_peak_mb")
        rows.append(
            f"| {n_(large)} children, CSV outputs: ≤ {n_(TARGET_BIG_S)} s, peak < 2.5 GB | {s_(e['median'])}, "
            f"{mb_(peak)} | {verdict(e['median'] <= TARGET_BIG_S and peak is not None and peak < TARGET_BIG_MB, r.quick)} |"
        )
    else:
        rows.append(
            f"| 500 000 children, CSV outputs: ≤ {n_(TARGET_BIG_S)} s, peak < 2.5 GB | not run in this suite run "
            "(`FEE_ENGINE_BENCH_BIG=1`) | – |"
        )
    lin = growth(r, main, large)
    if lin:
        t_ratio, m_ratio = lin
        ok = t_ratio <= 1 + LINEAR_TOLERANCE and m_ratio <= 1 + LINEAR_TOLERANCE
        rows.append(
            f"| time and memory grow linearly, not faster ({n_(main)} → {n_(large)} children: per child at most "
            f"{LINEAR_TOLERANCE:.0%} more) | per child: time ×{t_ratio:.2f}, peak memory ×{m_ratio:.2f} | "
            f"{verdict(ok, r.quick)} |"
        )
    calc = r.get("test_like_for_like", main)
    if calc:
        ratio = calc["extra_info"]["ratio_median"]
        rows.append(
            f"| the calculation of every child-month with its explanation columns ≥ {TARGET_RATIO_CALC:.0f}× the "
            f"OpenFisca model computing every child-month, same run | {ratio:.2f}× (OpenFisca "
            f"{s_(calc['extra_info']['peer']['median'])}, engine {s_(r.engine(calc)['median'])}) | "
            f"{ratio_verdict(calc['extra_info']['peer'], r.engine(calc), TARGET_RATIO_CALC, r.quick)} |"
        )
    return rows + [""]


def growth(r: Results, main, large) -> tuple[float, float] | None:
    a, b = r.get("test_run_scale", main), r.get("test_run_scale", large)
    if not (a and b):
        return None
    per = lambda x, n: r.engine(x)["median"] / n  # noqa: E731
    mem = lambda x, n: x["extra_info"]["engine_peak_mb"] / n  # noqa: E731
    return per(b, large) / per(a, main), mem(b, large) / mem(a, main)


def whole_runs(r: Results, small, main, large) -> list[str]:
    rows: list[str] = []
    scale = [(n, r.get("test_run_scale", n)) for n in (small, main, large)]
    scale = [(n, b) for n, b in scale if b]
    if scale:
        rows += [
            "### Whole runs from files (fresh process)",
            "",
            "`test_run_scale` times `fee-engine run POP/innskriving.csv --source files --tax-data POP/skatt --period "
            "2024-08..2025-07 --format csv --out DIR` (writes `maanedlig.csv`, `vedtak.csv` with the explanations, "
            "`avvist.csv`, `utenfor_perioden.csv`, `revisjon.jsonl`, `kjoering.json`).",
            "",
            "CPU: user + system time of the run and the children it forked, and its minor page faults (medians of "
            "the rounds).",
            "",
            "| children | time: median (min–max, rounds) | per 100 000 children | peak memory | per 100 000 children "
            "| CPU |",
            "|---|---|---|---|---|---|",
        ]
        for n, b in scale:
            t, m = r.engine(b)["median"], b["extra_info"].get("engine_peak_mb")
            rows.append(
                f"| {n_(n)} | {spread(r.engine(b))} | {s_(t / n * 100_000)} | {peak_(b['extra_info'])} | "
                f"{mb_(m / n * 100_000) if m else '–'} | {cpu_(b['extra_info'])} |"
            )
        rows.append("")
        if len(scale) >= 2:
            (n0, b0), (n1, b1) = scale[0], scale[-1]
            rows += [
                f"From {n_(n0)} to {n_(n1)} children ({n1 / n0:.0f}× as many): time "
                f"×{r.engine(b1)['median'] / r.engine(b0)['median']:.1f}, peak memory "
                f"×{b1['extra_info']['engine_peak_mb'] / b0['extra_info']['engine_peak_mb']:.1f} (the fixed part: "
                "Python start-up, imports, the rule set, weighs most at the smallest size).",
                "",
            ]
    vs = [(n, r.get("test_run_vs_openfisca_pipeline", n)) for n in (small, main)]
    vs = [(n, b) for n, b in vs if b]
    if vs:
        rows += [
            "### The whole job against an OpenFisca pipeline (fresh processes, alternating)",
            "",
            "`test_run_vs_openfisca_pipeline` runs, in each round, `benchmarks/openfisca_pipeline.py` on the same "
            "files (pandas reads the enrollment file; the tax answers are read with the same fallback and summed "
            "with the rule set's income list; the OpenFisca model computes the months, with the same segment "
            "shortcut; one CSV of amounts, no explanations, no checks of the file) and then the same `fee-engine run` "
            "command as above. The pipeline's amounts are compared with `maanedlig.csv` after the rounds.",
            "",
            "| children | `fee-engine run`: median (min–max, rounds) | peak | OpenFisca pipeline: median (min–max) | peak "
            "| pipeline ÷ engine | amounts |",
            "|---|---|---|---|---|---|---|",
        ]
        for n, b in vs:
            x = b["extra_info"]
            same = f"identical in {n_(x.get('child_months_compared'))} child-months" if x.get("identical") else "–"
            rows.append(
                f"| {n_(n)} | {spread(r.engine(b))} | {peak_(x)} | {s_(x['peer']['median'])} "
                f"({s_(x['peer']['min'])}–{s_(x['peer']['max'])}) | {mb_(x.get('peer_peak_mb'))} | "
                f"**{x['ratio_median']:.2f}×** | {same} |"
            )
        rows.append("")
    other = []
    b = r.get("test_run_warm_cache", main)
    if b:
        x = b["extra_info"]
        sources = ", ".join(f"{k} {n_(v)}" for k, v in (x.get("lookup_sources") or {}).items())
        if "--source api" in x.get("what", ""):
            how = (
                "`fee-engine run … --source api --cache FILE --format csv` after one untimed run filled the cache "
                f"over HTTP from the emulator in its own process ({s_(x.get('fill_seconds'))}), which was then "
                f"stopped; every one of the {n_(x.get('lookups'))} answers comes from the SQLite cache "
                f"(`revisjon.jsonl`: {sources})"
            )
        else:  # the earlier form of the benchmark
            how = (
                "`fee-engine run … --source emulator --tax-data POP/skatt --cache FILE --format csv` after one "
                f"untimed run filled the cache over HTTP ({s_(x.get('fill_seconds'))}); every one of the "
                f"{n_(x.get('lookups'))} answers comes from the SQLite cache (`revisjon.jsonl`: {sources}); the "
                "run still starts the in-process emulator and its throwaway key"
            )
        other.append(f"| warm cache (`test_run_warm_cache`): {how} | {n_(main)} | {spread(r.engine(b))} | {peak_(x)} |")
    b = r.get("test_run_xlsx", main)
    if b:
        x = b["extra_info"]
        other.append(
            f"| with the workbook (`test_run_xlsx`): `--format csv,xlsx` (`vedtak.xlsx` {n_(x.get('xlsx_mb'), 1)} MB "
            f"besides the CSV outputs) | {n_(main)} | {spread(r.engine(b))} | {peak_(x)} |"
        )
    if other:
        rows += [
            "| what is timed (fresh process) | children | time: median (min–max, rounds) | peak memory |",
            "|---|---|---|---|",
            *other,
            "",
        ]
    return rows


def calculation(r: Results, small, main, large) -> list[str]:
    rows = [
        "### The calculation alone (in process, alternating with the OpenFisca model)",
        "",
        "`calc_inputs(n)` (`benchmarks/inputs.py`): the enrollment rows of the same population with household income "
        "drawn directly (no files) and the month table; the peers get the same inputs. Their amounts are compared with "
        "the engine's child-month by child-month at the two smaller sizes; both peers model every feature of the "
        "population (moves, placements inside the period, manual cases), so no child is excluded. Engine peak "
        "memory: tracemalloc's peak during one call.",
        "",
    ]
    for test, title, what in (
        (
            "test_like_for_like",
            "Like for like (`test_like_for_like`)",
            "`calculate(..., expand=True)`: every child-month with its explanation columns (the step records), against "
            "the OpenFisca model computing every month (`simulate`), and the plain-Python row-by-row loop "
            "(`benchmarks/rowwise.py`, one round).",
        ),
        (
            "test_segment_shortcut",
            "The segment shortcut (`test_segment_shortcut`), a design advantage reported as what it is",
            "`calculate(..., expand=False)`: one row per child and run of months with unchanged inputs (households with "
            "a placement starting or ending inside the period: one row per month), against the OpenFisca model given "
            "the same shortcut: it computes only the months where a parameter changes and repeats them (those "
            "households: every month, in a simulation of their own).",
        ),
    ):
        sized = [(n, r.get(test, n)) for n in (small, main, large)]
        sized = [(n, b) for n, b in sized if b]
        if not sized:
            continue
        loop = test == "test_like_for_like"
        head = (
            "| children (placements) | child-months | rows out | engine: median (min–max, rounds) | engine peak | "
            "OpenFisca: median (min–max) | OpenFisca ÷ engine |"
            + (" loop | loop ÷ engine |" if loop else "")
            + " amounts |"
        )
        rows += [f"**{title}**: {what}", "", head, "|" + "---|" * (head.count("|") - 1)]
        for n, b in sized:
            x = b["extra_info"]
            same = (
                f"identical in {n_(x['child_months_compared'])} child-months"
                if x.get("identical")
                else "not compared (compared at the two smaller sizes)"
            )
            line = (
                f"| {n_(n)} ({n_(x.get('placements'))}) | {n_(x.get('child_months'))} | {n_(x.get('rows_out'))} | "
                f"{spread(r.engine(b))} | {mb_(x.get('engine_peak_mb'))} | {s_(x['peer']['median'])} "
                f"({s_(x['peer']['min'])}–{s_(x['peer']['max'])}) | **{x['ratio_median']:.2f}×** |"
            )
            if loop:
                rw = r.get("test_rowwise_peer", n)
                if rw:
                    line += f" {s_(rw['stats']['median'])} | {rw['stats']['median'] / r.engine(b)['median']:.1f}× |"
                else:
                    line += " – | – |"
            rows.append(line + f" {same} |")
        rows.append("")
    return rows


def parts(r: Results, main) -> list[str]:
    named = [
        ("test_read_enrollment", "reading and checking the enrollment file ({rows} rows)"),
        (
            "test_read_tax_files",
            "reading the tax answers from files with the fallback ({lookups} lookups for {persons} persons)",
        ),
        ("test_income_aggregation", "person and household income from the answers ({persons} persons)"),
        (
            "test_write_csv",
            "writing `maanedlig.csv` ({child_months} child-months, from the runs) and `vedtak.csv` with its texts",
        ),
        ("test_write_workbook", "writing `vedtak.xlsx` ({rows} rows, {size_mb} MB)"),
        (
            "test_invoicing_basis_csv",
            "building the invoicing basis and writing `fakturagrunnlag.csv` and the per-payer file ({lines} lines)",
        ),
        ("test_invoicing_basis_workbook", "writing `fakturagrunnlag.xlsx` ({lines} lines)"),
    ]
    rows = []
    for test, text in named:
        b = r.by_name.get(test)
        if not b:
            continue
        x = {k: (n_(v) if isinstance(v, (int, float)) else v) for k, v in b["extra_info"].items()}
        rows.append(f"| {text.format_map(_Blank(x))} | {spread(r.engine(b))} |")
    client = r.by_name.get("test_client_lookups_at_50ms")
    if client:
        x = client["extra_info"]
        rows.append(
            f"| HTTP client: {n_(x.get('lookups'))} lookups against the emulator (its own process) at "
            f"{x.get('latency_ms')} ms each, at most 5 in flight: **{x.get('lookups_per_s')} lookups/s** = "
            f"{x.get('share_of_ceiling', 0):.0%} of the {n_(x.get('ceiling_per_s'))}/s ceiling; mean in flight "
            f"{x.get('mean_in_flight')} | {spread(r.engine(client))} |"
        )
    return _timed_table(f"Parts of a run ({n_(main)} children, in process)", rows)


def _timed_table(title: str, rows: list[str]) -> list[str]:
    """A section of rows «| what is timed | time |», or nothing when no row was measured."""
    if not rows:
        return []
    return [f"### {title}", "", "| what is timed | time: median (min–max, rounds) |", "|---|---|", *rows, ""]


def letters_and_web(r: Results, main) -> list[str]:
    rows = []
    letters = r.by_name.get("test_letters_10000_households")
    if letters:
        x = letters["extra_info"]
        rows.append(
            f"| decision letters for {n_(x.get('letters'))} households (`--brev alle`: letter models, a PDF and an HTML "
            f"letter each and `samlet.pdf`, 2 worker processes; `test_letters_10000_households`); the last round: models "
            f"{s_(x.get('model_seconds'))}, {n_(x.get('cpu_seconds'))} CPU seconds in this process and its workers, "
            f"load average {x.get('load_average_1min', 0):.1f} | {spread(r.engine(letters))} |"
        )
    for test, text in (
        ("test_typst_1000_letters_one_process", "1 000 letters as PDF with Typst (the engine used), one process"),
        ("test_weasyprint_peer_1000_letters_one_by_one", "the same 1 000 letters with WeasyPrint, one document each"),
        (
            "test_weasyprint_peer_1000_letters_in_one_document",
            "the same 1 000 letters with WeasyPrint, in one document",
        ),
    ):
        b = r.by_name.get(test)
        if b:
            rows.append(f"| {text} (`{test}`) | {spread(r.engine(b))} |")
    pages = sorted(
        (b for b in r.data["benchmarks"] if b["name"].startswith("test_page_response[")), key=lambda b: b["name"]
    )
    if pages:
        slowest = max(pages, key=lambda b: b["stats"]["median"])
        others = [b["stats"]["median"] * 1000 for b in pages if b is not slowest] or [slowest["stats"]["median"] * 1000]
        rows.append(
            f"| the web page (`fee-engine serve` in its own process; `test_page_response`): {len(pages)} pages (the "
            f"calculator by form and by API among them), each asked 30 times; the slowest, `{slowest['name'][len('test_page_response[') : -1]}`, "
            f"answers in a median of {slowest['stats']['median'] * 1000:.0f} ms, the others in "
            f"{min(others):.1f}–{max(others):.1f} ms | – |"
        )
    web = r.by_name.get("test_batch_through_the_page")
    if web:
        x = web["extra_info"]
        rows.append(
            f"| the {n_(x.get('children', main))}-child batch through the web page (`test_batch_through_the_page`): "
            f"upload {s_(x.get('web_upload_s'))} ({n_(x.get('upload_mb'), 1)} MB), check {s_(x.get('web_check_s'))}, "
            f"the run from start to done (timed); `fee-engine run` with the same files took {s_(x.get('cli_before_s'))} "
            f"before and {s_(x.get('cli_after_s'))} after it | {spread(r.engine(web))} |"
        )
    return _timed_table("Letters and the web page", rows)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _merged(paths: list[Path]) -> dict:
    """Result files read in turn, a later file's tests replacing the same tests of an earlier one (as ``--add``)."""
    data = json.loads(paths[0].read_text(encoding="utf-8"))
    for extra in paths[1:]:
        more = {b["name"]: b for b in json.loads(extra.read_text(encoding="utf-8"))["benchmarks"]}
        data["benchmarks"] = [b for b in data["benchmarks"] if b["name"] not in more] + list(more.values())
    return data


def against_earlier(data: dict, earlier: dict, names: str) -> list[str]:
    """``### Against an earlier run``: each test's median in both runs, the engine's and, where a peer ran beside it,
    the peer's. The peers' own code is the same in both runs, so how their times moved is how the machine moved:
    on a shared virtual machine the same code's time drifts by up to a factor of two between runs hours apart."""
    now, then = Results(data), Results(earlier)
    commit = then.info.get("git_commit") or "?"
    when = str(earlier.get("datetime", ""))[:16].replace("T", " ")
    rows, peers = [], []

    def order(name: str) -> tuple[str, int]:
        test, _, size = name.partition("[")
        return test, int(size.rstrip("]")) if size.rstrip("]").isdigit() else 0

    for name in sorted(now.by_name, key=order):
        b, e = now.by_name[name], then.by_name.get(name)
        if e is None:
            continue
        a, z = now.engine(b)["median"], then.engine(e)["median"]
        if "peer_name" in b["extra_info"] and "peer" not in b["extra_info"]:  # the test times a peer alone
            peers.append(f"| `{name}`: {b['extra_info']['peer_name']} | {s_(z)} | {s_(a)} | {a / z:.2f} |")
            continue
        rows.append(f"| `{name}` | {s_(z)} | {s_(a)} | {a / z:.2f} |")
        pa, pz = b["extra_info"].get("peer"), e["extra_info"].get("peer")
        if isinstance(pa, dict) and isinstance(pz, dict):
            peer = b["extra_info"].get("peer_name", "peer")
            peers.append(
                f"| `{name}`: {peer} | {s_(pz['median'])} | {s_(pa['median'])} | {pa['median'] / pz['median']:.2f} |"
            )
    if not rows:
        return []
    return [
        "### Against an earlier run",
        "",
        f"The same tests in {names} ({'the first of them ' if ' and ' in names else ''}{when} UTC, fee-engine at "
        f"commit `{commit}`), medians. The peers' own code is the same in both runs, so their column shows how the "
        "machine's speed moved between the two; the engine's change is its own only beyond that.",
        "",
        "| test (engine) | earlier | this run | this ÷ earlier |",
        "|---|---|---|---|",
        *rows,
        "",
        "| test: peer (same code in both runs) | earlier | this run | this ÷ earlier |",
        "|---|---|---|---|",
        *peers,
        "",
    ]


def render_skala(data: dict, source: str) -> str:
    r = Results(data)
    info = r.info
    main, large = r.sizes.get("main"), r.sizes.get("large")
    out = [SKALA_START, f"<!-- Written by scripts/benchmarks from {source}; do not edit by hand. -->", ""]
    big = None if r.quick else r.get("test_run_scale", large)
    if not big:
        why = "is a quick run (small sizes only)" if r.quick else "has no 500 000-child run"
        out += [
            f"*Not measured yet at 500 000 children: the last result file (`{source}`) {why}. "
            "`FEE_ENGINE_BENCH_BIG=1 bash scripts/benchmarks` measures it and writes the figures here.*",
            "",
        ]
    else:
        day = (info.get("started") or data.get("datetime") or "?")[:10]
        rows = ["| children | whole run from files, CSV outputs (median) | peak memory (VmHWM) |", "|---|---|---|"]
        for n in (r.sizes.get("small"), main, large):
            b = r.get("test_run_scale", n)
            if b:
                rows.append(f"| {n_(n)} | {s_(r.engine(b)['median'])} | {mb_(b['extra_info'].get('engine_peak_mb'))} |")
        t, m = r.engine(big)["median"], big["extra_info"]["engine_peak_mb"]
        f = COUNTRY / large
        out += [
            f"Measured {day} on {info.get('cpu_model', '?')} ({info.get('cores', '?')} cores, {info.get('ram_gib', '?')} GiB) "
            f"by `scripts/benchmarks` (`{source}`):",
            "",
            *rows,
            "",
            f"The whole country, {n_(COUNTRY)} children, is {f:.2f} × the {n_(large)}-child run: by linear extrapolation "
            f"about {s_(t * f)} and {mb_(m * f)}.",
            "",
        ]
    client = r.by_name.get("test_client_lookups_at_50ms")
    if client:
        x = client["extra_info"]
        out += [
            f"HTTP client against the emulator in the same suite run ({'quick run, ' if r.quick else ''}"
            f"{n_(x.get('lookups'))} lookups at {x.get('latency_ms')} ms, 5 in flight): {x.get('lookups_per_s')} "
            f"lookups per second, {x.get('share_of_ceiling', 0):.0%} of the ceiling of {n_(x.get('ceiling_per_s'))}.",
            "",
        ]
    return "\n".join(out + [SKALA_END])


def update_section(path: Path, start: str, end: str, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{path}: the markers {start} and {end} are missing")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    path.write_text(before + section + after, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    ap.add_argument("--skala", type=Path, default=None, help="docs/skala.md next to the README by default")
    ap.add_argument("--print", action="store_true", help="print the sections instead of writing the files")
    ap.add_argument(
        "--add",
        type=Path,
        action="append",
        default=[],
        help="results of benchmarks run separately (e.g. ones that failed in the main run and were fixed); "
        "their tests are added (replacing the same tests of the main run) and the section names the file",
    )
    ap.add_argument(
        "--before",
        type=Path,
        action="append",
        default=[],
        help="an earlier run's result files (the first, then any added to it as with --add): a section compares "
        "each test's median with it, the peers' beside the engine's",
    )
    a = ap.parse_args(argv)
    data = json.loads(a.results.read_text(encoding="utf-8"))

    def shown(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(a.readme.resolve().parent))
        except ValueError:
            return path.name

    source = shown(a.results)
    came_from: dict[str, Path] = {}
    for extra in a.add:
        more = {b["name"]: b for b in json.loads(extra.read_text(encoding="utf-8"))["benchmarks"]}
        # a test run again replaces its entry from the main run or an earlier file (e.g. one that failed and was fixed)
        data["benchmarks"] = [b for b in data["benchmarks"] if b["name"] not in more] + list(more.values())
        came_from.update(dict.fromkeys(more, extra))
    notes = []
    for extra in a.add:
        names = ", ".join(sorted({name.split("[")[0] for name, f in came_from.items() if f == extra}))
        if names:
            other = json.loads(extra.read_text(encoding="utf-8"))
            commit = (other.get("machine_info", {}).get("fee_engine", {}) or {}).get("git_commit") or "?"
            when = str(other.get("datetime", ""))[:16].replace("T", " ")
            notes.append(
                f"`{names}` from `{shown(extra)}` (run separately afterwards, on the same machine, "
                f"{when} UTC, fee-engine at commit `{commit}`)"
            )
    section, skala = render(data, source), render_skala(data, source)
    if a.before:
        names = " and ".join(f"`{shown(p)}`" for p in a.before)
        table = against_earlier(data, _merged(a.before), names)
        raw = f"Raw figures: `{source}`"
        section = section.replace(raw, "\n".join(table) + "\n" + raw, 1)
    if notes:
        raw = f"Raw figures: `{source}`"
        section = section.replace(raw, f"{raw}; " + "; ".join(notes), 1)
        skala = skala.replace(f"(`{source}`):", f"(`{source}`; " + "; ".join(notes) + "):", 1)
    skala_path = a.skala or a.readme.parent / "docs" / "skala.md"
    if a.print:
        print(section + "\n\n" + skala)
        return 0
    update_section(a.readme, START, END, section)
    print(f"{a.readme}: Benchmarks section written from {source}")
    if skala_path.exists():
        update_section(skala_path, SKALA_START, SKALA_END, skala)
        print(f"{skala_path}: measured figures written from {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
