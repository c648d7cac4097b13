"""The service behind ``fee-engine run``: one batch from enrollment file to output files.

Order: rules -> enrollment -> tax lookups (only households that need one) ->
household income -> calculation -> explanations -> writers. Everything is computed
before anything is written, and the files are moved into ``--out`` only when all
of them are complete, so a configuration error never leaves half a result behind
(:mod:`fee_engine.outdir`: a manifest, stale files of an earlier run removed). Every
tax lookup gets a line in the audit log (:mod:`fee_engine.audit`), kept across runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import forklaring
from .audit import FILE_NAME as AUDIT_FILE
from .audit import AuditLog, default_path
from .beregning import PLASS, calculate, expand_runs, month_range, month_table
from .enrollment import Enrollment, documented_but_not_applied, read_enrollment
from .errors import ConfigurationError, RuleSetError
from .income import Decided, decide, household_incomes
from .outdir import OutputFolder
from .output import fakturagrunnlag
from .output.csv import (
    Numbered,
    append_part,
    write_csv,
    write_first_part,
    write_monthly_from_runs,
    write_next_part,
    write_outside,
    write_rejections,
)
from .output.csv import dialect as csv_dialect
from .output.excel import write_workbook
from .output.json import write_json
from .output.report import write_report
from .output.summary import by_institution_month
from .parallel import forks, in_two
from .regelsett import RuleSet, format_value, load_rules
from .sortering import lexsort
from .taxdata import FileSource, fallback_plan, fetch_with_fallback
from .taxdata.base import Digest
from .taxdata.files import check_layout
from .taxdata.formaal import Formaal

if TYPE_CHECKING:
    from .diff import DiffResult

# The default: everything but the letters. «faktura» is the invoicing basis (fakturagrunnlag.csv and, with
# «xlsx», fakturagrunnlag.xlsx): the one output with full fødselsnumre.
ALL_FORMATS = ("csv", "xlsx", "json", "html", "faktura")
FORMATS = ALL_FORMATS + ("brev",)


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The barnehageår (1 August – 31 July) that contains today."""
    today = today or dt.date.today()
    year = today.year if today.month >= 8 else today.year - 1
    return dt.date(year, 8, 1), dt.date(year + 1, 7, 1)


_PERIOD_HELP = (
    "bruk ÅÅÅÅ-MM..ÅÅÅÅ-MM (f.eks. 2026-08..2027-07), én måned ÅÅÅÅ-MM eller et barnehageår ÅÅÅÅ/ÅÅ (2024/25)"
)


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
    audit_log: Path | None = None  # default: FEE_ENGINE_AUDIT_LOG, else revisjon.jsonl by the cache / .fee-engine
    overwrite: bool = False  # write into a non-empty --out that no fee-engine run made

    def audit_path(self) -> Path:
        return self.audit_log or default_path(self.cache or self.default_cache())

    def kommune(self) -> str | None:
        """The municipality a vendor acts for (``consumer_org``) on the remote sources; None otherwise."""
        if self.source not in REMOTE_SOURCES:
            return None
        from .taxdata.http import ApiConfig

        return ApiConfig.load(self.api_config).consumer_org

    def default_cache(self) -> Path | None:
        """``.fee-engine/skatt.sqlite`` for ``api`` and ``fiks``; a vendor's runs get one folder per municipality."""
        if self.source not in REMOTE_SOURCES:
            return None
        return default_cache(FORMAAL, self.kommune())

    brev: str = "ok"  # letters for: ok = households that applied, all children decided; alle = all decided
    vedtaksdato: dt.date | None = None  # the letters' decision date (default: the run date)
    brevmal: Path | None = None  # a folder with the municipality's own letter templates and sentences
    csv_dialect: str = "excel"  # excel (; and BOM, for Norwegian Excel) or maskin (, without BOM, for scripts)


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
    lookups_incomplete: int = 0  # persons whose lookup still failed after all retries (manuell, midlertidig_feil)
    audit_log: Path | None = None
    manual: pd.DataFrame | None = None  # the first run of each child waiting for a caseworker (the web's list)

    @property
    def exit_code(self) -> int:
        """0 done; 1 rows rejected; 3 incomplete (a re-run asks the failed lookups again); 2 is raised as an error."""
        return 3 if self.lookups_incomplete else 1 if self.rows_rejected else 0


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
    incomplete: int = 0  # persons whose lookup failed for a reason that may pass (retries ran out)

    @property
    def child_months(self) -> pd.DataFrame:
        """Every column, one row per child and month (for tests and analysis; the writers expand less)."""
        return expand_runs(forklaring.with_flag_text(self.runs))


DEFAULT_CACHE = Path(".fee-engine") / "skatt.sqlite"
FORMAAL = Formaal.FORELDREBETALING  # run and diff: the fee, and nothing else
SOURCES = ("files", "emulator", "fiks-emulator", "api", "fiks")
LOCAL_SOURCES = ("files", "emulator", "fiks-emulator")  # read --tax-data
REMOTE_SOURCES = ("api", "fiks")


def default_cache(formaal: Formaal, kommune: str | None = None) -> Path:
    """The purpose's cache in ``.fee-engine/``; a vendor acting for a municipality: ``.fee-engine/<orgnr>/``."""
    folder = DEFAULT_CACHE.parent / kommune if kommune else DEFAULT_CACHE.parent
    return folder / formaal.lager


def check_source(opts: RunOptions, formaal: Formaal = FORMAAL) -> None:
    """Refuse a misconfigured source before any work (exit 2 with what is missing)."""
    csv_dialect(opts.csv_dialect)  # an unknown dialect is refused before any work
    if opts.source not in SOURCES:
        raise ConfigurationError(f"ukjent --source «{opts.source}» ({', '.join(SOURCES)})")
    if opts.source in LOCAL_SOURCES and opts.tax_data is None:
        raise ConfigurationError(f"--source {opts.source} krever --tax-data MAPPE")
    if opts.source in LOCAL_SOURCES and not Path(opts.tax_data).is_dir():  # type: ignore[arg-type]
        raise ConfigurationError(f"fant ikke mappen med skattedata: {opts.tax_data}")
    if opts.source in ("api", "fiks", "fiks-emulator"):
        from .taxdata.http import ApiConfig

        cfg = ApiConfig.load(opts.api_config).check_formaal(formaal)
        if opts.source in ("fiks", "fiks-emulator"):
            cfg.fiks(opts.source)
        if opts.source != "fiks-emulator":
            cfg.credentials()


def fetch_lookups(
    opts: RunOptions,
    persons: list[str],
    plan: list[tuple[int, str]],
    audit: AuditLog | Path | None,
    tick: Callable[[], None] | None,
    warnings: list[str] | None = None,
    digest: Digest | None = None,
) -> Any:
    """Every person's lookups from the configured source; a line per lookup in ``audit`` (a path: appended to).
    With ``digest``, what it makes of them (:func:`fee_engine.taxdata.fetch_with_fallback`: files read by two
    processes are digested by each, so the answers never travel between them)."""
    own = not isinstance(audit, AuditLog)
    log = (
        AuditLog(
            Path(audit) if audit else opts.audit_path(),
            command="oppslag",
            purpose=FORMAAL.revisjon,
            kommune=opts.kommune(),
        )
        if own
        else audit
    )
    try:
        if opts.source == "files":
            source = FileSource(opts.tax_data)  # type: ignore[arg-type]
            return fetch_with_fallback(source, persons, plan, audit=log, progress=tick, digest=digest)
        return _fetch_from(opts, persons, plan, log, tick, warnings, digest)
    finally:
        if own:
            log.close()


def _fetch_from(
    opts: RunOptions,
    persons: list[str],
    plan: list[tuple[int, str]],
    log: AuditLog,
    tick: Callable[[], None] | None,
    warnings: list[str] | None,
    digest: Digest | None,
) -> Any:
    """:func:`fetch_lookups` from a source other than files: the emulator, Fiks or Skatteetaten, through the cache.
    With ``digest``, what it makes of the lookups; from Skatteetaten or Fiks, a large batch's answers in the cache
    are opened and digested by two processes (:meth:`~fee_engine.taxdata.client.SsgClient.fetch_all`). The
    emulators run in this process's threads, and are not forked: their lookups are digested afterwards."""
    from .taxdata.cache import LookupCache
    from .taxdata.http import ApiConfig, fetch_api, fetch_emulator, fetch_fiks, fetch_fiks_emulator

    cache_path = opts.cache or opts.default_cache()
    cache = LookupCache(cache_path, formaal=FORMAAL, kommune=opts.kommune()) if cache_path else None
    try:
        if opts.source in ("emulator", "fiks-emulator"):
            data = Path(opts.tax_data)  # type: ignore[arg-type]
            if opts.source == "emulator":
                got = fetch_emulator(data, persons, plan, cache, log, tick)
            else:
                got = fetch_fiks_emulator(ApiConfig.load(opts.api_config), data, persons, plan, cache, log, tick)
            return digest(got) if digest is not None else got
        cfg = ApiConfig.load(opts.api_config)
        if opts.source == "fiks":
            return fetch_fiks(cfg, persons, plan, cache, log, tick, digest=digest)
        return fetch_api(cfg, persons, plan, cache, log, tick, digest=digest)
    finally:
        if cache:
            cache.close()
            if warnings is not None:
                warnings.extend(cache.warnings)


def build_households(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per household: adults (applicant first), whether it applied, documented income.

    A household's adults in the order of its rows (by ``rad``), each row's applicant before its partner, each
    person once. Households and persons are integer codes here: sorting and comparing the identifiers as text
    grew faster than the file (0.2 s at 100 000 children, 2.1 s at 500 000)."""
    hh, _ = pd.factorize(rows["husholdning_id"])  # codes in the order households first appear
    first_row = np.unique(hh, return_index=True)[1]
    first = rows.iloc[first_row][["husholdning_id", "soekt_redusert", "dok_inntekt_oere"]]
    applicant = rows["foresatt_fnr"].to_numpy(dtype=object)
    partner = rows["partner_fnr"].to_numpy(dtype=object)
    has_partner = partner != ""
    rad = rows["rad"].to_numpy()
    # every (household, person) as it appears: applicants (o=0) for all rows, partners (o=1) where there is one
    person = np.concatenate([applicant, partner[has_partner]])
    p_code, _ = pd.factorize(person)
    h = np.concatenate([hh, hh[has_partner]])
    r = np.concatenate([rad, rad[has_partner]])
    o = np.concatenate([np.zeros(len(hh), np.int8), np.ones(int(has_partner.sum()), np.int8)])
    order = lexsort([h, r, o])  # stable: equal keys keep their order, as a stable sort by (household, rad, o)
    h, p_code, person = h[order], p_code[order], person[order]
    # each person once per household: (household, person) as one int64 (both below a million children's rows)
    seen = pd.Series(h.astype(np.int64) * (int(p_code.max(initial=0)) + 1) + p_code).duplicated().to_numpy()
    h, person = h[~seen], person[~seen]
    starts = np.flatnonzero(np.r_[len(h) > 0, h[1:] != h[:-1]])  # h is sorted: each household's first adult
    n_hh = len(first_row)
    one = np.empty(n_hh, dtype=object)
    one[h[starts]] = person[starts]
    two = np.full(n_hh, "", dtype=object)  # validation allows at most two
    second = starts + 1
    second = second[(second < len(h)) & (h[np.minimum(second, len(h) - 1)] == h[starts])]
    two[h[second]] = person[second]
    out = first.reset_index(drop=True)
    out["voksne"] = [(x, y) if y else (x,) for x, y in zip(one, two)]
    return out


def check_enrollment(
    path: Path, rules: RuleSet, period: tuple[dt.date, dt.date], enrollment: Enrollment | None = None
) -> Enrollment:
    """The enrollment file read and checked as ``run`` does (also by ``validate`` and the web's check): known
    municipalities, birth dates within the period, placements entirely outside the period set aside."""
    months = month_range(*period)
    period_end = pd.Timestamp(months[-1]) + pd.offsets.MonthEnd(0)
    if enrollment is None:
        enrollment = read_enrollment(path, known_kommuner=set(rules.municipalities), period_end=period_end)
    enrollment.split_period(pd.Timestamp(months[0]), period_end)  # placements outside the period: reported, not billed
    _reject_sfo_without_prices(enrollment, rules, months)
    for note in documented_but_not_applied(enrollment.rows):  # of the rows billed (once: the web checks first)
        if note not in enrollment.notices:
            enrollment.notices.append(note)
    return enrollment


def _reject_sfo_without_prices(enrollment: Enrollment, rules: RuleSet, months: list[dt.date]) -> None:
    """SFO rows without ``pris_maaned`` in a municipality whose SFO price list, in some month of the period, is
    an unconfirmed list of 0 kr (the placeholder ``kommune init`` writes): rejected, not billed 0 kr."""

    def relying(r: pd.DataFrame) -> pd.Series:
        return (r["tilbud"] == "sfo") & (r["pris_oere"] < 0)

    r = enrollment.rows
    for knr in sorted(r.loc[relying(r), "kommunenummer"].unique()):  # unique: not a set of every row's text
        if _placeholder_prices(rules, knr, months):
            r = enrollment.rows
            enrollment.reject(
                relying(r) & (r["kommunenummer"] == knr), "kommunenummer", "sfo_pris_plassholder", kommune=knr
            )


def _placeholder_prices(rules: RuleSet, knr: str, months: list[dt.date]) -> bool:
    municipality = rules.municipalities.get(knr)
    prices = municipality.parametere.get("sfo.prisliste") if municipality else None
    if prices is None:
        return False
    for month in months:
        try:
            v = prices.value_on(month)
        except RuleSetError:
            continue
        if not v.verifisert and all(_price_of(step) == 0 for step in v.verdi or []):
            return True
    return False


def _price_of(step: object) -> float:
    return float(step["pris"] if isinstance(step, dict) else getattr(step, "pris", 0))


def compute(
    opts: RunOptions,
    rules: RuleSet | None = None,
    lookups_cache: dict | None = None,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    audit: AuditLog | Path | None = None,
    enrollment: Enrollment | None = None,
) -> Computation:
    """``enrollment``: the file as already read with this rule set and period (the web's check), not read again."""
    check_source(opts)
    rules = rules or load_rules(opts.rules_dir, opts.kommune_config)
    first, last = opts.period
    months = month_range(first, last)
    for m in (months[0], months[-1]):
        rules.value("barnehage.maksimalpris.generell", m)  # the whole period must be covered
    step = progress("Leser og kontrollerer innskrivingsfilen", 1) if progress else None
    enrollment = check_enrollment(opts.enrollment, rules, opts.period, enrollment)
    if step:
        step()
    rows = enrollment.rows
    households = build_households(rows)

    need = households[households["soekt_redusert"] & (households["dok_inntekt_oere"] < 0)]
    persons = list(dict.fromkeys(p for adults in need["voksne"] for p in adults))
    plan = fallback_plan(first.year)
    rules.income_classification(plan[0][0])  # the main income year must have a list before any lookup
    source_warnings: list[str] = []

    def digest(lookups: dict[str, list]) -> Decided:
        return decide(lookups, rules)

    if lookups_cache is not None and "lookups" in lookups_cache:
        decided = digest(lookups_cache["lookups"])
        source_warnings = lookups_cache.get("warnings", [])
    else:
        if persons and opts.source in LOCAL_SOURCES:
            check_layout(opts.tax_data)  # type: ignore[arg-type]  # a wrong folder is not «unknown person»
        tick = progress("Henter skattegrunnlag", len(persons)) if progress and persons else None
        if not persons:
            decided = digest({})
        elif lookups_cache is None:  # the answers are not kept: each process that reads some decides from them
            decided = fetch_lookups(opts, persons, plan, audit, tick, source_warnings, digest=digest)
        else:  # kept for the next computation (diff's second rule set)
            lookups = fetch_lookups(opts, persons, plan, audit, tick, source_warnings)
            lookups_cache["lookups"], lookups_cache["warnings"] = lookups, source_warnings
            decided = digest(lookups)
            del lookups
    incomplete = decided.incomplete
    if incomplete:
        source_warnings = source_warnings + [
            f"{incomplete} oppslag feilet fortsatt etter alle forsøk (midlertidige feil hos Skatteetaten eller i "
            "nettet); husholdningene er satt til manuell med grunn «midlertidig feil – kjør på nytt». Kjør samme "
            "kommando på nytt: svar som allerede er hentet og lagret, spørres ikke igjen."
        ]
    hh_income = household_incomes(households, decided)
    hh_income["forventet_aar"] = plan[0][
        0
    ]  # the income year asked for first (the explanation says why another was used)
    n_lookups = decided.lookups
    years = sorted(set(decided.inntektsaar) - {0})
    unknown = sorted({n for items in decided.unknown_items for n in items})
    # The persons' incomes are in the households' incomes now: not held through the calculation and the outputs,
    # nor shared with the processes forked to write them. (The answers themselves were let go in decide.)
    del decided, households, need, persons

    kommuner = sorted(rows["kommunenummer"].unique())
    offers = tuple(sorted(rows["tilbud"].unique()))
    table, sider, unverified = month_table(rules, months, kommuner, offers)
    step = progress("Beregner", 1) if progress else None
    runs = calculate(rows, hh_income, table, sider, months, expand=False)
    if step:
        step()

    warnings = [
        f"Ikke verifisert verdi brukt: {path} = {format_value(v.verdi)} fra {v.gjelder_fra} (kilde: {v.kilde}"
        + (f"; {v.merknad}" if v.merknad else "")
        + ")"
        for path, v in unverified
    ]
    warnings += [
        f"Inntektslisten for inntektsår {y} er ikke verifisert ({rules.income_specs[y].kilde})"
        for y in years
        if not rules.income_specs[y].verifisert
    ]
    if unknown:
        warnings.append(f"Ukjente inntektsposter i skattegrunnlaget (ikke talt med): {', '.join(unknown)}")
    warnings += source_warnings
    return Computation(
        rules,
        enrollment,
        months,
        runs,
        hh_income,
        warnings,
        n_lookups,
        incomplete=incomplete,
    )


@contextlib.contextmanager
def gc_paused(one_shot: bool = False):
    """Pause Python's cyclic garbage collector for one batch.

    A batch makes millions of small containers (parsed responses, lookups, text) that live until
    it ends; the collector would rescan them again and again (about a third of a 100 000-child
    run). Reference counting still frees everything that is not in a cycle. Re-enabled, the
    collector would at once scan everything the batch left (0.8 s for 100 000 children): a process
    that ends after the batch (``one_shot``, the command line) freezes those objects instead.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if one_shot:
            gc.freeze()
        if was_enabled:
            gc.enable()


def run(
    opts: RunOptions,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    one_shot: bool = False,
    enrollment: Enrollment | None = None,
) -> RunResult:
    """The batch; ``one_shot`` when the process ends after it (see :func:`gc_paused`; the previous run's files are
    then deleted while it ends: :class:`~fee_engine.outdir.OutputFolder`); ``enrollment`` as already read (the
    web's check)."""
    with gc_paused(one_shot):
        return _run(opts, progress, enrollment, one_shot)


def _audited(opts: RunOptions, command: str, staging: Path) -> AuditLog:
    """This run's audit log: appended to the kept log, with a copy of this run's lines for ``--out``."""
    path = opts.audit_path()
    if path.resolve().parent == Path(opts.out).resolve():
        raise ConfigurationError(
            f"revisjonsloggen {path} kan ikke ligge i --out {opts.out}: den skal beholdes på tvers "
            "av kjøringer, mens --out får en kopi av kjøringens linjer"
        )
    return AuditLog(path, command=command, copy=staging / AUDIT_FILE, purpose=FORMAAL.revisjon, kommune=opts.kommune())


def _run(
    opts: RunOptions,
    progress: Callable[[str, int], Callable[[], None]] | None,
    enrollment: Enrollment | None = None,
    one_shot: bool = False,
) -> RunResult:
    with OutputFolder(opts.out, overwrite=opts.overwrite, command="run", clear_in_background=one_shot) as folder:
        assert folder.staging is not None
        audit = _audited(opts, "run", folder.staging)
        folder.run_id = audit.run_id
        try:
            comp = compute(opts, progress=progress, audit=audit, enrollment=enrollment)
        finally:
            audit.close()
        files = write_outputs(comp, opts, folder.staging, progress)
        final = folder.commit(files)
    runs = comp.runs
    months_per_run = runs["antall_maaneder"].to_numpy()
    plass = runs[PLASS].to_numpy()  # a child and offer each
    manual = np.flatnonzero((runs["status"] == "manuell").to_numpy())
    _, first = np.unique(plass[manual], return_index=True)
    manual_children = runs.take(manual[np.sort(first)])  # each such child's first run, in the runs' order
    return RunResult(
        rows_in=comp.enrollment.n_rows,
        rows_rejected=comp.enrollment.rejected_rows,
        rows_outside=comp.enrollment.outside_rows,
        children=len(pd.unique(plass)),
        children_manual=len(manual_children),
        child_months=int(months_per_run.sum()),
        total_belop=int((runs["belop"].to_numpy() * months_per_run).sum()),
        warnings=comp.warnings,
        files=final,
        lookups=comp.lookups,
        notices=comp.enrollment.notices,
        lookups_incomplete=comp.incomplete,
        audit_log=audit.path,
        manual=manual_children,
    )


def write_outputs(
    comp: Computation,
    opts: RunOptions,
    directory: Path,
    progress: Callable[[str, int], Callable[..., None]] | None = None,
) -> list[Path]:
    """Every output the run asked for, written into ``directory``.

    On two cores the work is split in two (:func:`fee_engine.parallel.in_two`). When an output needs the whole
    vedtak table here (``vedtak.json``, ``vedtak.xlsx``, the letters), the explanations of the vedtak periods
    are written half here, half in a forked child; then a child writes ``vedtak.csv`` and ``vedtak.json`` while
    this process writes the rest. With a workbook, ``vedtak.xlsx`` (the longest) is written here and
    ``maanedlig.csv`` and the invoicing files by the child; without one, they are written here. Otherwise (CSV
    and no workbook, JSON or letters) each process explains its part of the periods and writes that part of
    ``vedtak.csv`` itself, the child's part appended to this one's (:func:`_vedtak_csv_in_two`): the
    explanations never travel between the processes. The files are the same byte for byte as when everything
    runs in one process.
    """
    formats = set(opts.formats)
    extra = comp.enrollment.extra_columns
    monthly = forklaring.monthly(comp.runs, extra, flags=True) if {"xlsx", "html"} & formats else None
    found = forklaring.find_periods(comp.runs)
    in_halves = "csv" in formats and not ({"json", "xlsx", "brev"} & formats) and len(found) // 2 >= SPLIT_PERIODS
    # in halves, each process copies its own part of the periods out of the runs, a block at a time
    periods = None if in_halves else found.take()
    decisions = None
    if not in_halves:
        step = progress("Skriver forklaringer", 1) if progress else None
        decisions = _vedtak_in_two(periods, comp.rules, extra)
        if step:
            step()
    rejected = comp.enrollment.rejections
    basis = None
    if "faktura" in formats:  # the invoicing basis (full fødselsnumre, files 0600)
        basis = fakturagrunnlag.build(comp.runs, comp.enrollment.rows, comp.rules, comp.months)
        comp.warnings.extend(w for w in basis.warnings if w not in comp.warnings)
    files: list[Path] = []
    if "brev" in formats:  # before the rest: the letters add their warnings to the run's
        from .brev import skriv_brev

        files.append(
            skriv_brev(
                comp,
                periods,
                directory / "brev",
                opts.brev,
                opts.vedtaksdato,
                opts.brevmal,
                progress,
                csv_dialect=opts.csv_dialect,
            )
        )
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
    d = opts.csv_dialect

    # Two groups of files, about equal work each. The group here shows progress; the child's does not. With a
    # workbook, vedtak.xlsx (the longest) is written here with its progress bar, and maanedlig.csv and the
    # invoicing files go to the child; CSV only, they are written here.
    faktura_here = monthly_here = "xlsx" not in formats

    def faktura_files() -> list[Path]:
        out: list[Path] = []
        if basis is not None:
            out += fakturagrunnlag.write_csv_files(basis, directory, d)
            if "xlsx" in formats:
                out.append(fakturagrunnlag.write_workbook(basis, directory / "fakturagrunnlag.xlsx", meta))
        return out

    def child_files() -> list[Path]:  # in the forked child on two cores: no progress bar here
        out = []
        if "csv" in formats and not monthly_here:
            out.append(write_monthly_from_runs(comp.runs, extra, directory / "maanedlig.csv", d))
        if "csv" in formats and not in_halves:
            out.append(write_csv(decisions, directory / "vedtak.csv", d))
        if "json" in formats:
            out.append(write_json(directory / "vedtak.json", decisions, periods, comp.rules, meta))
        if not faktura_here:
            out += faktura_files()
        return out

    def here_files() -> list[Path]:
        out = []
        if "csv" in formats and monthly_here:
            step = progress("Skriver CSV", 1) if progress else None
            out.append(write_monthly_from_runs(comp.runs, extra, directory / "maanedlig.csv", d))
            if step:
                step()
        if faktura_here:
            out += faktura_files()
        if "xlsx" in formats:
            assert monthly is not None and decisions is not None
            tick = progress("Skriver vedtak.xlsx", len(monthly) + len(decisions)) if progress else None
            manual = monthly[monthly["status"] == "manuell"].drop_duplicates(["barn_id", "tilbud"])
            out.append(
                write_workbook(
                    directory / "vedtak.xlsx",
                    meta=dict(meta),
                    vedtak=decisions,
                    monthly=monthly,
                    summary=by_institution_month(monthly),
                    rejected=rejected,
                    manual=manual,
                    tick=(lambda k: tick(advance=k)) if tick else None,
                )
            )
        out.append(write_rejections(rejected, directory / "avvist.csv", d))
        out.append(write_outside(comp.enrollment.outside, directory / "utenfor_perioden.csv", d))
        if "html" in formats:
            out.append(
                write_report(
                    directory / "rapport.html",
                    meta=meta,
                    monthly=monthly,
                    rejected=rejected,
                    describe=lambda p: comp.rules.parameter(p).beskrivelse,
                )
            )
        return out

    if in_halves:
        files += _vedtak_csv_in_two(found, comp.rules, extra, directory / "vedtak.csv", d, here_files, progress)
    else:
        here, there = in_two(here_files, child_files)
        files += here + there
    audit = directory / "revisjon.jsonl"
    if not audit.exists():
        audit.touch()
    audit.chmod(0o600)
    files.append(audit)
    kj = directory / "kjoering.json"
    kj.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    files.append(kj)
    return files


SPLIT_PERIODS = 5_000  # vedtak periods per half from which the explanations are written by two processes
# The share of vedtak.csv's periods explained and written by this process when the child writes the rest:
# with maanedlig.csv also written here, 44 % evens out the two. Measured as whole runs in one process, four rounds
# each, alternately: at 100 000 children 4.59–4.84 s at 44 %, 4.68–4.94 s at 40 % (this process then waits some
# 0.2 s for the child), 4.59–4.94 s at 47 %, 4.80–5.17 s at 50 %; at 500 000 children, two rounds, 26.0 and 26.7 s
# at 44 %, 26.3 and 26.5 s at 47 %. The child's part costs a little more per period (the pages it shares with this
# process are copied when it writes to them).
HERE_SHARE = 0.44
# vedtak periods explained and written at a time: a part's explanations (about 700 bytes each) are never all held
# at once. At 100 000 children the child's part grew by 128 MB explained whole and by 13 MB in blocks of 32 768.
# Each block costs some 50 ms whatever its size (each sentence finds its distinct rows again): 65 536 periods took
# 0.50 s to explain in blocks of 32 768 and 0.44 s in one. Whole runs at 100 000 children, alternately, in one
# process: 4.38–4.58 s in blocks of 65 536, 4.54–5.09 s in blocks of 32 768 (four rounds each); as commands, five
# pairs, medians 5.10 s and 5.25 s, the largest process 550 MB against 490 MB.
EXPLAIN_BLOCK = 65_536


def _explained(
    periods: forklaring.Perioder, start: int, stop: int, rules: RuleSet, extra: list[str]
) -> Iterator[tuple[pd.DataFrame, Numbered]]:
    """``vedtak.csv``'s table for periods ``start:stop``, a block of :data:`EXPLAIN_BLOCK` periods at a time, each
    block copied out of the runs when its turn comes (at least one table, for the header, when there are none),
    with its explanations numbered (:func:`fee_engine.forklaring.vedtak_table_numbered`)."""
    for at in range(start, max(stop, start + 1), EXPLAIN_BLOCK):
        yield forklaring.vedtak_table_numbered(periods.take(at, min(at + EXPLAIN_BLOCK, stop)), rules, extra)


def _vedtak_csv_in_two(
    periods: forklaring.Perioder,
    rules: RuleSet,
    extra: list[str],
    path: Path,
    d: str,
    here_files: Callable[[], list[Path]],
    progress: Callable[[str, int], Callable[..., None]] | None,
) -> list[Path]:
    """``vedtak.csv`` explained and written in two parts: the first part and then ``here_files()`` here, the
    rest in a forked child into a part file of its own. This process takes the smaller part (:data:`HERE_SHARE`):
    ``maanedlig.csv`` and the rest are written here as well. Each part is explained and written a block at a time
    (:func:`_explained`).

    The child appends its part to the first itself, once this process has told it (through a pipe) that the first
    part is written: the copy (the larger part, some 80 MB at 100 000 children) is then made while this process
    still writes ``maanedlig.csv``, not after. Without a child, the part is appended here.

    Where a block is a table only pandas' writer knows (:func:`fee_engine.output.csv.write_first_part`), the
    whole table is made and written at once instead, so the file is the same as written in one piece."""
    cut = int(len(periods) * HERE_SHARE)
    part = path.with_name(f".{path.name}.del2")
    child = forks()
    told, tell = os.pipe() if child else (-1, -1)  # this process tells the child whether the first part is written
    open_end = [tell] if child else []  # the telling end, until it is closed (in each process, once)

    def say(ok: bool | None) -> None:
        """Tell the child (``None``: only close this process's end). Closed at most once: the child never waits
        for an end that can no longer be written, whatever fails first."""
        if open_end:
            end = open_end.pop()
            try:
                if ok is not None:
                    os.write(end, b"1" if ok else b"0")
            finally:
                os.close(end)

    def second() -> tuple[bool, bool]:  # the child: whether it could write its part, and whether it appended it
        say(None)  # its copy of the telling end: else a first part that never comes would leave it waiting for itself
        written = write_next_part(_explained(periods, cut, len(periods), rules, extra), part, d)
        if child and written and os.read(told, 1) == b"1":  # waits for the first part; b"" if it failed
            append_part(path, part)
            return True, True
        return written, False

    def first() -> tuple[bool, list[Path]]:
        written = False
        try:
            step = progress("Skriver forklaringer", 1) if progress else None
            written = write_first_part(_explained(periods, 0, cut, rules, extra), path, d)
        finally:
            say(written)
        if step:
            step()
        return written, here_files()

    try:
        (written, files), (rest_written, appended) = in_two(first, second)
        if written and rest_written and (appended or part.exists()):
            if not appended:
                append_part(path, part)
        else:
            write_csv(forklaring.vedtak_table(periods.take(), rules, extra), path, d)
    finally:
        say(False)  # when the fork or first() never came so far
        if child:
            os.close(told)
        part.unlink(missing_ok=True)
    return files + [path]


def _vedtak_in_two(periods: pd.DataFrame, rules: RuleSet, extra: list[str]) -> pd.DataFrame:
    """``vedtak.csv``'s table, the explanations of the second half of the periods written in a forked child."""
    half = len(periods) // 2
    if half < SPLIT_PERIODS:  # a small batch: not worth a process
        return forklaring.vedtak_table(periods, rules, extra)
    first, second = in_two(
        lambda: forklaring.vedtak_table(periods.iloc[:half], rules, extra),
        lambda: forklaring.vedtak_table(periods.iloc[half:], rules, extra),
    )
    return pd.concat([first, second], ignore_index=True)


@dataclass
class DiffOptions:
    run: RunOptions
    rules_a: Path | None = None
    rules_b: Path | None = None
    reforms: list[Path] = field(default_factory=list)


def diff(opts: DiffOptions, progress: Callable[[str, int], Callable[..., None]] | None = None) -> DiffResult:
    """The same batch under rule sets A and B (B = rules_b or A, plus the reforms); tax data fetched once."""
    from .diff import compare, write_diff
    from .regelsett.reform import apply_overlay, read_overlay

    run_opts = opts.run
    rules_a = load_rules(opts.rules_a or run_opts.rules_dir, run_opts.kommune_config)
    rules_b = load_rules(opts.rules_b, run_opts.kommune_config) if opts.rules_b else rules_a
    for reform in opts.reforms:
        rules_b = apply_overlay(rules_b, read_overlay(reform), Path(reform).stem)
    with OutputFolder(run_opts.out, overwrite=run_opts.overwrite, command="diff") as folder:
        staging = folder.staging
        assert staging is not None
        shared: dict = {}
        audit = _audited(run_opts, "diff", staging)
        folder.run_id = audit.run_id
        try:
            comp_a = compute(run_opts, rules=rules_a, lookups_cache=shared, progress=progress, audit=audit)
        finally:
            audit.close()
        comp_b = compute(run_opts, rules=rules_b, lookups_cache=shared)
        monthly_a = forklaring.monthly(comp_a.runs, [])
        monthly_b = forklaring.monthly(comp_b.runs, [])
        result = compare(monthly_a, monthly_b, rules_a.version, rules_b.version)
        files = write_diff(result, staging, run_opts.formats, run_opts.csv_dialect, comp_a.enrollment.rejected_rows)
        files.append(write_rejections(comp_a.enrollment.rejections, staging / "avvist.csv", run_opts.csv_dialect))
        files.append(staging / AUDIT_FILE)
        folder.commit(files)
    result.rows_rejected = comp_a.enrollment.rejected_rows  # type: ignore[attr-defined]
    result.incomplete = comp_a.incomplete  # type: ignore[attr-defined]
    result.warnings = comp_a.warnings  # type: ignore[attr-defined]
    return result
