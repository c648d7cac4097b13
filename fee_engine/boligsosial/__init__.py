"""``fee-engine inntekt``: a household's economy for boligsosial bistand, from Skatteetaten, for that purpose only.

A caseworker deciding housing assistance must document the applicant household's economy.
From a persons file (:mod:`.personer`: ``sak_id``, ``personidentifikator``, ``rolle``) this
looks up, for every person of every case:

* the latest skatteoppgjør in Summert skattegrunnlag with the rights package
  ``kommuneboligsosialeformaal`` (stage ``oppgjoer`` only): year Y−1 for a date in year Y,
  else Y−2 when Y−1 is not out (SSG-008 or SSG-011 move on, as for the fee);
* the last N complete months (``--maaneder``, default 3) of income reported in a-ordningen
  (the Inntekt API, package ``kommuneBoligsosialeFormaal``; :mod:`.aordning`),

and writes per case the figures per person and summed (:mod:`.sammendrag`): ``saker.xlsx``,
``sak/<sak_id>.html`` and ``inntekt.json`` (:mod:`.utdata`), with ``avvist.csv``,
``revisjon.jsonl`` (this run's audit lines) and ``kjoering.json``, into an output folder the
run owns (:mod:`fee_engine.outdir`).

Purpose limitation is enforced (:mod:`fee_engine.taxdata.formaal`): the command runs for
boligsosial bistand only, with that purpose's rights packages, Maskinporten scopes, its own
cache (``.fee-engine/boligsosial.sqlite``, its own key) and audit ``formaal``
(``kommuneboligsosialeformaal``); a cache or a setting of the fee's purpose is refused.

Sources: ``files`` and ``emulator`` read a folder ``DIR/summertskattegrunnlag/<år>/oppgjoer/<fnr>.json``
and ``DIR/inntekt/<fnr>.json``; ``api`` asks Skatteetaten with a Maskinporten token for both
scopes (a vendor: both Altinn delegations). KS Fiks has no proxy of the Inntekt API, so there
is no ``fiks`` source here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audit import FILE_NAME as AUDIT_FILE
from ..audit import AuditLog, default_path
from ..errors import ConfigurationError
from ..outdir import OutputFolder
from ..output.csv import write_rejections
from ..regelsett import load_rules
from ..taxdata.base import fetch_with_fallback, run_coroutine
from ..taxdata.files import FileSource, check_layout
from ..taxdata.formaal import Formaal, PurposeError
from .aordning import AordningCache, AordningFiles, AordningLookup, InntektClient, complete_months
from .personer import Persons, read_persons
from .sammendrag import Sak, summarise
from .utdata import now_text, write_case_pages, write_json, write_workbook

FORMAAL = Formaal.BOLIGSOSIAL
SOURCES = ("files", "emulator", "api")


@dataclass
class InntektOptions:
    persons: Path
    out: Path
    formaal: str = FORMAAL.value
    maaneder: int = 3
    dato: dt.date | None = None  # the day the data are for (default today): which year and which months
    source: str = "files"
    tax_data: Path | None = None
    rules_dir: Path | None = None
    api_config: Path | None = None
    cache: Path | None = None
    audit_log: Path | None = None
    overwrite: bool = False

    def kommune(self) -> str | None:
        if self.source != "api":
            return None
        from ..taxdata.http import ApiConfig

        return ApiConfig.load(self.api_config).consumer_org

    def cache_path(self) -> Path | None:
        from ..batch import default_cache

        if self.cache:
            return self.cache
        return default_cache(FORMAAL, self.kommune()) if self.source == "api" else None

    def audit_path(self) -> Path:
        return self.audit_log or default_path(self.cache_path())


@dataclass
class InntektResult:
    rows_in: int
    rows_rejected: int
    cases: int
    persons: int
    lookups: int
    incomplete_cases: int
    transient: int  # lookups that still failed after all retries (exit 3)
    files: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    audit_log: Path | None = None

    @property
    def exit_code(self) -> int:
        return 3 if self.transient else 1 if self.rows_rejected else 0


def check(opts: InntektOptions) -> Formaal:
    """Refuse another purpose, an unknown source or a misconfigured one before any work (exit 2)."""
    try:
        formaal = Formaal.parse(opts.formaal)
    except PurposeError:
        raise PurposeError(f"ukjent --formaal «{opts.formaal}»: fee-engine inntekt er for boligsosial") from None
    if formaal is not FORMAAL:
        raise PurposeError(
            f"fee-engine inntekt henter bare for {FORMAAL.tekst} (--formaal boligsosial); "
            f"{formaal.tekst} beregnes med fee-engine run, med sin egen rettighetspakke"
        )
    if opts.source not in SOURCES:
        hint = " (KS Fiks har ingen proxy for Inntekt API)" if opts.source.startswith("fiks") else ""
        raise ConfigurationError(f"ukjent --source «{opts.source}» for inntekt ({', '.join(SOURCES)}){hint}")
    if opts.source in ("files", "emulator"):
        if opts.tax_data is None:
            raise ConfigurationError(f"--source {opts.source} krever --tax-data MAPPE")
        d = Path(opts.tax_data)
        if not (d / "summertskattegrunnlag").is_dir() or not (d / "inntekt").is_dir():
            raise ConfigurationError(
                f"fant ikke {d / 'summertskattegrunnlag'} og {d / 'inntekt'}: --tax-data for "
                "inntekt er en mappe med summertskattegrunnlag/<år>/oppgjoer/<fnr>.json og "
                "inntekt/<fnr>.json"
            )
    if opts.source == "api":
        from ..taxdata.http import ApiConfig

        ApiConfig.load(opts.api_config).check_formaal(FORMAAL).credentials()
    complete_months(opts.dato or dt.date.today(), opts.maaneder)  # --maaneder in range
    return formaal


def fetch(
    opts: InntektOptions,
    persons: list[str],
    plan: list[tuple[int, str]],
    first: str,
    last: str,
    audit: AuditLog,
    tick: Callable[[], None] | None,
    warnings: list[str],
) -> tuple[dict[str, list], dict[str, AordningLookup]]:
    """Summert skattegrunnlag along ``plan`` and a-ordningen for ``first``–``last``, for every person."""
    if opts.source == "files":
        d = Path(opts.tax_data)  # type: ignore[arg-type]
        if persons:
            check_layout(d / "summertskattegrunnlag")
        ssg = fetch_with_fallback(FileSource(d / "summertskattegrunnlag"), persons, plan, audit=audit)
        source = AordningFiles(d / "inntekt")
        aord = {}
        for p in persons:
            aord[p] = res = source.lookup(p, first, last)
            audit.write_aordning(p, res.periode, res.kode, res.korrelasjonsid, source.kilde)
            if tick:
                tick()
        return ssg, aord
    cache_path = opts.cache_path()
    cache = AordningCache(cache_path, kommune=opts.kommune()) if cache_path else None
    try:
        return _fetch_http(opts, persons, plan, first, last, cache, audit, tick)
    finally:
        if cache is not None:
            cache.close()
            warnings.extend(cache.warnings)


def _fetch_http(
    opts: InntektOptions,
    persons: list[str],
    plan: list[tuple[int, str]],
    first: str,
    last: str,
    cache: AordningCache | None,
    audit: AuditLog,
    tick: Callable[[], None] | None,
) -> tuple[dict[str, list], dict[str, AordningLookup]]:
    from ..taxdata.client import SsgClient
    from ..taxdata.http import INNTEKT_STI, ApiConfig, LocalEmulator, ssg_client

    scopes = " ".join(FORMAAL.scopes)  # one token for both APIs; a vendor needs both delegations

    async def both(ssg: SsgClient, inntekt: InntektClient) -> tuple[dict[str, list], dict[str, AordningLookup]]:
        slots = cache.slots() if cache is not None else None
        ssg.slots = inntekt.slots = slots  # both share Skatteetaten's 5 with every run on this cache
        try:
            a = await ssg.fetch_all(persons, plan, cache=cache, audit=audit)
            b = await inntekt.fetch_all(persons, first, last, cache=cache, audit=audit, progress=tick)
            return a, b
        finally:
            if slots is not None:
                slots.close()

    if opts.source == "emulator":
        d = Path(opts.tax_data)  # type: ignore[arg-type]
        with LocalEmulator(d / "summertskattegrunnlag", inntekt_data=d / "inntekt") as em:
            tokens = em.tokens(scopes)
            return run_coroutine(
                both(
                    SsgClient(em.base_url, tokens, formaal=FORMAAL, kilde="emulator"),
                    InntektClient(em.base_url, INNTEKT_STI, tokens, kilde="emulator"),
                )
            )
    cfg = ApiConfig.load(opts.api_config).check_formaal(FORMAAL)
    tokens = cfg.tokens(scopes)
    inntekt = InntektClient(
        cfg.inntekt_url or "",
        cfg.inntekt_sti or INNTEKT_STI,
        tokens,
        max_in_flight=cfg.max_in_flight,
        max_attempts=cfg.max_attempts,
        backoff=cfg.backoff_s,
    )
    return run_coroutine(both(ssg_client(cfg, FORMAAL, tokens), inntekt))


def run(opts: InntektOptions, progress: Callable[[str, int], Callable[..., None]] | None = None) -> InntektResult:
    check(opts)
    day = opts.dato or dt.date.today()
    first, last = complete_months(day, opts.maaneder)
    plan = [(day.year - 1, "oppgjoer"), (day.year - 2, "oppgjoer")]
    rules = load_rules(opts.rules_dir)
    persons_file = read_persons(opts.persons)
    cases = persons_file.cases()
    people = list(dict.fromkeys(p for members in cases.values() for p, _ in members))
    warnings: list[str] = []
    with OutputFolder(opts.out, overwrite=opts.overwrite, command="inntekt") as folder:
        assert folder.staging is not None
        path = opts.audit_path()
        if path.resolve().parent == Path(opts.out).resolve():
            raise ConfigurationError(f"revisjonsloggen {path} kan ikke ligge i --out {opts.out}")
        audit = AuditLog(
            path, command="inntekt", purpose=FORMAAL.revisjon, copy=folder.staging / AUDIT_FILE, kommune=opts.kommune()
        )
        folder.run_id = audit.run_id
        try:
            tick = progress("Henter skattegrunnlag og a-ordningen", len(people)) if progress and people else None
            ssg, aord = fetch(opts, people, plan, first, last, audit, tick, warnings) if people else ({}, {})
        finally:
            audit.close()
        saker = summarise(cases, ssg, aord, rules)
        transient = sum(1 for p in people if ssg[p][-1].midlertidig or aord[p].midlertidig)
        if transient:
            warnings.append(
                f"{transient} personer har oppslag som feilet midlertidig etter alle forsøk; kjør samme "
                "kommando på nytt (svar som er lagret, hentes ikke igjen)"
            )
        meta = _meta(opts, persons_file, first, last, plan, len(saker), warnings)
        files = write_outputs(folder.staging, saker, persons_file, meta)
        final = folder.commit(files)
    return InntektResult(
        rows_in=persons_file.n_rows,
        rows_rejected=persons_file.rejected_rows,
        cases=len(saker),
        persons=len(people),
        lookups=sum(len(v) for v in ssg.values()) + len(aord),
        incomplete_cases=sum(1 for s in saker if not s.komplett),
        transient=transient,
        files=final,
        notices=persons_file.notices,
        warnings=warnings,
        audit_log=audit.path,
    )


def _meta(
    opts: InntektOptions,
    persons: Persons,
    first: str,
    last: str,
    plan: list[tuple[int, str]],
    cases: int,
    warnings: list[str],
) -> dict[str, Any]:
    return {
        "formaal": FORMAAL.value,
        "rettighetspakke": f"{FORMAAL.ssg_pakke} (Summert skattegrunnlag), {FORMAAL.inntekt_pakke} (Inntekt API)",
        "personfil": str(opts.persons),
        "skattekilde": opts.source + (f" ({opts.tax_data})" if opts.tax_data else ""),
        "dato": (opts.dato or dt.date.today()).isoformat(),
        "skatteoppgjoer": " ellers ".join(f"oppgjør {y}" for y, _ in plan),
        "maaneder": opts.maaneder,
        "periode": f"{first}..{last}",
        "laget": now_text(),
        "rader_inn": persons.n_rows,
        "rader_avvist": persons.rejected_rows,
        "saker": cases,
        "advarsler": warnings,
    }


def write_outputs(directory: Path, saker: list[Sak], persons: Persons, meta: dict[str, Any]) -> list[Path]:
    rejected = persons.rejections.to_dict("records")
    files = [
        write_workbook(directory / "saker.xlsx", saker, meta, rejected),
        write_case_pages(directory / "sak", saker, meta),
        write_json(directory / "inntekt.json", saker, meta),
        write_rejections(persons.rejections, directory / "avvist.csv"),
    ]
    audit = directory / AUDIT_FILE
    if not audit.exists():
        audit.touch()
    audit.chmod(0o600)
    files.append(audit)
    kj = directory / "kjoering.json"
    kj.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    files.append(kj)
    return files
