"""The service behind ``fee-engine run``: one batch from enrollment file to output files.

Order: rules -> enrollment -> tax lookups (only households that need one) ->
household income -> calculation -> explanations -> writers. Everything is computed
before anything is written, and the files are moved into ``--out`` only when all
of them are complete, so a configuration error never leaves half a result behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd

from . import forklaring
from .beregning import calculate, expand_runs, month_range, month_table
from .enrollment import Enrollment, read_enrollment
from .errors import ConfigurationError
from .income import household_incomes, person_incomes
from .output.csv import write_csv, write_monthly_from_runs, write_outside, write_rejections
from .output.excel import write_workbook
from .output.json import write_json
from .output.report import write_report
from .output.summary import by_institution_month
from .regelsett import RuleSet, format_value, load_rules
from .taxdata import FileSource, fallback_plan, fetch_with_fallback
from .taxdata.files import check_layout

if TYPE_CHECKING:
    from .diff import DiffResult

ALL_FORMATS = ("csv", "xlsx", "json", "html")


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The barnehageår (1 August – 31 July) that contains today."""
    today = today or dt.date.today()
    year = today.year if today.month >= 8 else today.year - 1
    return dt.date(year, 8, 1), dt.date(year + 1, 7, 1)


_PERIOD_HELP = "bruk ÅÅÅÅ-MM..ÅÅÅÅ-MM (f.eks. 2026-08..2027-07), én måned ÅÅÅÅ-MM eller et barnehageår ÅÅÅÅ/ÅÅ (2024/25)"


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    """``2026-08..2027-07``, a single month ``2024-10``, or a barnehageår ``2024/25`` (August–July)."""
    t = text.strip()
    try:
        if ".." in t:
            a, b = t.split("..")
            first = dt.datetime.strptime(a.strip(), "%Y-%m").date()
            last = dt.datetime.strptime(b.strip(), "%Y-%m").date()
        elif "/" in t:
            a, b = t.split("/")
            year = int(a)
            if len(a) != 4 or not b.isdigit() or int(b) % 100 != (year + 1) % 100 or len(b) not in (2, 4):
                raise ValueError
            first, last = dt.date(year, 8, 1), dt.date(year + 1, 7, 1)
        else:
            first = last = dt.datetime.strptime(t, "%Y-%m").date()
    except ValueError:
        raise ConfigurationError(f"ugyldig --period «{text}»: {_PERIOD_HELP}") from None
    if last < first:
        raise ConfigurationError(f"ugyldig --period «{text}»: siste måned er før første")
    return first, last


@dataclass
class RunOptions:
    enrollment: Path
    out: Path
    period: tuple[dt.date, dt.date]
    source: str = "files"
    tax_data: Path | None = None
    rules_dir: Path | None = None
    kommune_config: list[Path] = field(default_factory=list)
    formats: tuple[str, ...] = ALL_FORMATS
    api_config: Path | None = None  # --source api: YAML with the settings of fee_engine.taxdata.http
    cache: Path | None = None  # SQLite cache of answers (api: default .fee-engine/skatt.sqlite)


@dataclass
class RunResult:
    rows_in: int
    rows_rejected: int
    rows_outside: int
    children: int
    children_manual: int
    child_months: int
    total_belop: int
    warnings: list[str]
    files: list[Path]
    lookups: int
    notices: list[str] = field(default_factory=list)
    manual: pd.DataFrame | None = None  # the first run of each child waiting for a caseworker (the web's list)

    @property
    def exit_code(self) -> int:
        return 1 if self.rows_rejected else 0


@dataclass
class Computation:
    """Everything a run computes, before anything is written (also used by diff and tests)."""

    rules: RuleSet
    enrollment: Enrollment
    months: list[dt.date]
    runs: pd.DataFrame  # one row per child and run of months with an unchanged result (``antall_maaneder``)
    households: pd.DataFrame
    warnings: list[str]
    lookups: int

    @property
    def child_months(self) -> pd.DataFrame:
        """Every column, one row per child and month (for tests and analysis; the writers expand less)."""
        return expand_runs(forklaring.with_flag_text(self.runs))


DEFAULT_CACHE = Path(".fee-engine") / "skatt.sqlite"


def check_source(opts: RunOptions) -> None:
    """Refuse a misconfigured source before any work (exit 2 with what is missing)."""
    if opts.source not in ("api", "emulator", "files"):
        raise ConfigurationError(f"ukjent --source «{opts.source}» (api, emulator eller files)")
    if opts.source in ("files", "emulator") and opts.tax_data is None:
        raise ConfigurationError(f"--source {opts.source} krever --tax-data MAPPE")
    if opts.source in ("files", "emulator") and not Path(opts.tax_data).is_dir():  # type: ignore[arg-type]
        raise ConfigurationError(f"fant ikke mappen med skattedata: {opts.tax_data}")
    if opts.source == "api":
        from .taxdata.http import ApiConfig

        ApiConfig.load(opts.api_config).credentials()


def fetch_lookups(opts: RunOptions, persons: list[str], plan: list[tuple[int, str]], audit: Path | None,
                  tick: Callable[[], None] | None) -> dict[str, list]:
    if opts.source == "files":
        return fetch_with_fallback(FileSource(opts.tax_data), persons, plan, audit=audit, progress=tick)  # type: ignore[arg-type]
    from .taxdata.cache import LookupCache
    from .taxdata.http import ApiConfig, fetch_api, fetch_emulator

    cache_path = opts.cache or (DEFAULT_CACHE if opts.source == "api" else None)
    cache = LookupCache(cache_path) if cache_path else None
    try:
        if opts.source == "emulator":
            return fetch_emulator(opts.tax_data, persons, plan, cache, audit, tick)  # type: ignore[arg-type]
        return fetch_api(ApiConfig.load(opts.api_config), persons, plan, cache, audit, tick)
    finally:
        if cache:
            cache.close()


def build_households(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per household: adults (applicant first), whether it applied, documented income."""
    first = rows.drop_duplicates("husholdning_id")[["husholdning_id", "soekt_redusert", "dok_inntekt_oere"]]
    adults = pd.concat([
        rows[["husholdning_id", "rad", "foresatt_fnr"]].rename(columns={"foresatt_fnr": "p"}).assign(o=0),
        rows.loc[rows["partner_fnr"] != "", ["husholdning_id", "rad", "partner_fnr"]].rename(columns={"partner_fnr": "p"}).assign(o=1),
    ]).sort_values(["husholdning_id", "rad", "o"], kind="stable").drop_duplicates(["husholdning_id", "p"])
    adults["n"] = adults.groupby("husholdning_id", sort=False).cumcount()
    one = adults[adults["n"] == 0].set_index("husholdning_id")["p"]
    two = adults[adults["n"] == 1].set_index("husholdning_id")["p"]  # validation allows at most two
    out = first.reset_index(drop=True)
    a = out["husholdning_id"].map(one).to_numpy()
    b = out["husholdning_id"].map(two).astype(object)
    b = b.where(b.notna(), "").to_numpy()
    out["voksne"] = [(x, y) if y else (x,) for x, y in zip(a, b)]
    return out


def compute(opts: RunOptions, rules: RuleSet | None = None, lookups_cache: dict | None = None,
            progress: Callable[[str, int], Callable[[], None]] | None = None, audit: Path | None = None,
            enrollment: Enrollment | None = None) -> Computation:
    """``enrollment``: the file as already read with this rule set and period (the web's check), not read again."""
    check_source(opts)
    rules = rules or load_rules(opts.rules_dir, opts.kommune_config)
    first, last = opts.period
    months = month_range(first, last)
    for m in (months[0], months[-1]):
        rules.value("barnehage.maksimalpris.generell", m)  # the whole period must be covered
    period_end = pd.Timestamp(months[-1]) + pd.offsets.MonthEnd(0)
    step = progress("Leser og kontrollerer innskrivingsfilen", 1) if progress else None
    if enrollment is None:
        enrollment = read_enrollment(opts.enrollment, known_kommuner=set(rules.municipalities), period_end=period_end)
    enrollment.split_period(pd.Timestamp(months[0]), period_end)  # placements outside the period: reported, not billed
    if step:
        step()
    rows = enrollment.rows
    households = build_households(rows)

    need = households[households["soekt_redusert"] & (households["dok_inntekt_oere"] < 0)]
    persons = list(dict.fromkeys(p for adults in need["voksne"] for p in adults))
    plan = fallback_plan(first.year)
    rules.income_classification(plan[0][0])  # the main income year must have a list before any lookup
    if lookups_cache is not None and "lookups" in lookups_cache:
        lookups = lookups_cache["lookups"]
    else:
        if persons and opts.source in ("files", "emulator"):
            check_layout(opts.tax_data)  # type: ignore[arg-type]  # a wrong folder is not «unknown person»
        tick = progress("Henter skattegrunnlag", len(persons)) if progress and persons else None
        lookups = fetch_lookups(opts, persons, plan, audit, tick) if persons else {}
        if lookups_cache is not None:
            lookups_cache["lookups"] = lookups
    incomes = person_incomes(lookups, rules)
    hh_income = household_incomes(households, incomes)
    hh_income["forventet_aar"] = plan[0][0]  # the income year asked for first (the explanation says why another was used)

    kommuner = sorted(rows["kommunenummer"].unique())
    offers = tuple(sorted(rows["tilbud"].unique()))
    table, sider, unverified = month_table(rules, months, kommuner, offers)
    step = progress("Beregner", 1) if progress else None
    runs = calculate(rows, hh_income, table, sider, months, expand=False)
    if step:
        step()

    warnings = [
        f"Ikke verifisert verdi brukt: {path} = {format_value(v.verdi)} fra {v.gjelder_fra} (kilde: {v.kilde}"
        + (f"; {v.merknad}" if v.merknad else "") + ")"
        for path, v in unverified
    ]
    years = sorted({pi.inntektsaar for pi in incomes.values() if pi.inntektsaar})
    warnings += [
        f"Inntektslisten for inntektsår {y} er ikke verifisert ({rules.income_specs[y].kilde})"
        for y in years if not rules.income_specs[y].verifisert
    ]
    unknown = sorted({n for pi in incomes.values() for n in pi.unknown_items})
    if unknown:
        warnings.append(f"Ukjente inntektsposter i skattegrunnlaget (ikke talt med): {', '.join(unknown)}")
    return Computation(rules, enrollment, months, runs, hh_income, warnings, sum(len(v) for v in lookups.values()))


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for one batch.

    A batch makes millions of small containers (parsed responses, lookups, text) that live until
    it ends; the collector would rescan them again and again (about a third of a 100 000-child
    run). Reference counting still frees everything that is not in a cycle; the few cycles left are
    collected by the collector's own schedule afterwards (collecting at once would scan the batch's
    objects one more time while they are still referenced: 0.9 s for 100 000 children).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run(opts: RunOptions, progress: Callable[[str, int], Callable[[], None]] | None = None,
        enrollment: Enrollment | None = None) -> RunResult:
    with gc_paused():
        return _run(opts, progress, enrollment)


def _run(opts: RunOptions, progress: Callable[[str, int], Callable[[], None]] | None,
         enrollment: Enrollment | None = None) -> RunResult:
    opts.out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fee-engine-", dir=opts.out))
    try:
        comp = compute(opts, progress=progress, audit=staging / "revisjon.jsonl", enrollment=enrollment)
        files = write_outputs(comp, opts, staging, progress)
        final = []
        for f in files:
            target = opts.out / f.name
            shutil.move(str(f), target)
            final.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    runs = comp.runs
    months_per_run = runs["antall_maaneder"].to_numpy()
    children = runs.drop_duplicates(["barn_id", "tilbud"])
    manual_children = runs.loc[runs["status"] == "manuell"].drop_duplicates(["barn_id", "tilbud"])
    return RunResult(
        rows_in=comp.enrollment.n_rows, rows_rejected=comp.enrollment.rejected_rows,
        rows_outside=comp.enrollment.outside_rows, children=len(children),
        children_manual=len(manual_children), child_months=int(months_per_run.sum()),
        total_belop=int((runs["belop"].to_numpy() * months_per_run).sum()),
        warnings=comp.warnings, files=final, lookups=comp.lookups, notices=comp.enrollment.notices,
        manual=manual_children,
    )


def write_outputs(comp: Computation, opts: RunOptions, directory: Path,
                  progress: Callable[[str, int], Callable[..., None]] | None = None) -> list[Path]:
    extra = comp.enrollment.extra_columns
    monthly = forklaring.monthly(comp.runs, extra, flags=True) if {"xlsx", "html"} & set(opts.formats) else None
    periods = forklaring.periods(comp.runs)
    decisions = forklaring.vedtak_table(periods, comp.rules, extra)
    rejected = comp.enrollment.rejections
    meta = {
        "regelsett": comp.rules.version,
        "regelsett_mappe": str(comp.rules.source),
        "periode": f"{comp.months[0]:%Y-%m}..{comp.months[-1]:%Y-%m}",
        "innskriving": str(opts.enrollment),
        "skattekilde": opts.source + (f" ({opts.tax_data})" if opts.tax_data else ""),
        "laget": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "rader_inn": comp.enrollment.n_rows,
        "rader_beregnet": comp.enrollment.n_rows - comp.enrollment.rejected_rows - comp.enrollment.outside_rows,
        "rader_avvist": comp.enrollment.rejected_rows,
        "rader_utenfor_perioden": comp.enrollment.outside_rows,
        "merknader": comp.enrollment.notices,
        "oppslag": comp.lookups,
        "advarsler": comp.warnings,
    }
    files = []
    if "csv" in opts.formats:
        step = progress("Skriver CSV", 1) if progress else None
        files.append(write_monthly_from_runs(comp.runs, extra, directory / "maanedlig.csv"))
        if step:
            step()
        files.append(write_csv(decisions, directory / "vedtak.csv"))
    files.append(write_rejections(rejected, directory / "avvist.csv"))
    files.append(write_outside(comp.enrollment.outside, directory / "utenfor_perioden.csv"))
    if "xlsx" in opts.formats:
        tick = progress("Skriver vedtak.xlsx", len(monthly) + len(decisions)) if progress else None
        manual = monthly[monthly["status"] == "manuell"].drop_duplicates(["barn_id", "tilbud"])
        files.append(write_workbook(
            directory / "vedtak.xlsx", meta={k: v for k, v in meta.items()}, vedtak=decisions, monthly=monthly,
            summary=by_institution_month(monthly), rejected=rejected, manual=manual,
            tick=(lambda k: tick(advance=k)) if tick else None,
        ))
    if "json" in opts.formats:
        files.append(write_json(directory / "vedtak.json", decisions, periods, comp.rules, meta))
    if "html" in opts.formats:
        files.append(write_report(directory / "rapport.html", meta=meta, monthly=monthly, rejected=rejected))
    audit = directory / "revisjon.jsonl"
    if not audit.exists():
        audit.touch()
    audit.chmod(0o600)
    files.append(audit)
    kj = directory / "kjoering.json"
    kj.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    files.append(kj)
    return files


@dataclass
class DiffOptions:
    run: RunOptions
    rules_a: Path | None = None
    rules_b: Path | None = None
    reforms: list[Path] = field(default_factory=list)


def diff(opts: DiffOptions, progress: Callable[[str, int], Callable[..., None]] | None = None) -> "DiffResult":
    """The same batch under rule sets A and B (B = rules_b or A, plus the reforms); tax data fetched once."""
    from .diff import compare, write_diff
    from .regelsett.reform import apply_overlay, read_overlay

    run_opts = opts.run
    rules_a = load_rules(opts.rules_a or run_opts.rules_dir, run_opts.kommune_config)
    rules_b = load_rules(opts.rules_b, run_opts.kommune_config) if opts.rules_b else rules_a
    for reform in opts.reforms:
        rules_b = apply_overlay(rules_b, read_overlay(reform), Path(reform).stem)
    run_opts.out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fee-engine-", dir=run_opts.out))
    try:
        shared: dict = {}
        comp_a = compute(run_opts, rules=rules_a, lookups_cache=shared, progress=progress, audit=staging / "revisjon.jsonl")
        comp_b = compute(run_opts, rules=rules_b, lookups_cache=shared)
        monthly_a = forklaring.monthly(comp_a.runs, [])
        monthly_b = forklaring.monthly(comp_b.runs, [])
        result = compare(monthly_a, monthly_b, rules_a.version, rules_b.version)
        files = write_diff(result, staging, run_opts.formats)
        files.append(write_rejections(comp_a.enrollment.rejections, staging / "avvist.csv"))
        for f in files:
            shutil.move(str(f), run_opts.out / f.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.rows_rejected = comp_a.enrollment.rejected_rows  # type: ignore[attr-defined]
    return result
