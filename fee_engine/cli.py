"""Command line (README, «Commands»). Commands only parse options, call the service and print."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from . import batch, stopp
from .errors import ConfigurationError, FeeEngineError
from .identity import mask_digits_in_text
from .outdir import wait_for_clearing
from .regelsett import format_value, load_rules
from .text import kroner, thousands

# No local variables in a crash report: they may hold fødselsnumre or tax data.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Inntektsgradert foreldrebetaling i barnehage og SFO.",
)
rules_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False, help="Regelsettet.")
app.add_typer(rules_app, name="rules")
console = Console(stderr=True)
out_console = Console()


def say(prefix: str, style: str, message: str, to: Console | None = None) -> None:
    """One message on one line: never wrapped by rich (a number like «2 475» stays whole when the output is
    piped or logged; a terminal folds long lines itself), never read as markup."""
    (to or console).print(Text(prefix, style=style) + Text(message), soft_wrap=True, highlight=False)


def _fail(exc: FeeEngineError) -> None:
    say("Feil: ", "bold red", mask_digits_in_text(str(exc)))
    raise typer.Exit(exc.exit_code)


class RateColumn(ProgressColumn):
    """Items per second, once there is a rate to show."""

    def render(self, task) -> Text:  # type: ignore[no-untyped-def]
        return Text(thousands(round(task.speed)) + "/s" if task.speed else "", style="progress.data.speed")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _progress_factory(progress: Progress):
    """A tick function per phase. Ticks are added up and passed to the bar at most every 50 ms: a batch
    ticks once per person, and the bar's own bookkeeping costs more than the work between two ticks."""

    def start(label: str, total: int):
        task = progress.add_task(label, total=total)
        pending = [0, time.monotonic(), total]

        def tick(advance: int = 1) -> None:
            pending[0] += advance
            pending[2] -= advance
            now = time.monotonic()
            if now - pending[1] >= 0.05 or pending[2] <= 0:
                progress.advance(task, pending[0])
                pending[0], pending[1] = 0, now

        return tick

    return start


AUDIT_HELP = (
    "Revisjonslogg som kjøringer legger til (standard: FEE_ENGINE_AUDIT_LOG, ellers revisjon.jsonl ved "
    "lageret eller i .fee-engine/)"
)
OVERWRITE_HELP = "Skriv i en mappe som ikke er tom og ikke er laget av fee-engine (andre filer blir liggende)"
SOURCE_HELP = "files, emulator, fiks-emulator, api (Skatteetaten direkte) eller fiks (gjennom KS Fiks)"
TAX_DATA_HELP = "Mappe med skattegrunnlag (files, emulator, fiks-emulator)"
API_CONFIG_HELP = "YAML med Maskinporten-, Fiks- og API-innstillinger (--source api, fiks, fiks-emulator)"
KOMMUNE_CONFIG_HELP = "Kommunefil som erstatter den i regelsettet"
CSV_DIALECT_HELP = "CSV for excel (; og BOM, åpnes rett i norsk Excel) eller maskin (, uten BOM, for skript)"


# The options the commands share, defined once: run, diff and validate read the same file, period and
# sources the same way.
Out = Annotated[Path, typer.Option("--out", help="Mappe for resultatene")]
Period = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Første og siste måned (2026-08..2027-07), én måned (2024-10) eller et barnehageår (2024/25); "
        "standard: barnehageåret som er nå",
    ),
]
Source = Annotated[str, typer.Option("--source", help=SOURCE_HELP)]
TaxData = Annotated[Path | None, typer.Option("--tax-data", help=TAX_DATA_HELP)]
Rules = Annotated[Path | None, typer.Option("--rules", help="Regelsett-mappe (standard: den medfølgende rules/)")]
KommuneConfig = Annotated[list[Path] | None, typer.Option("--kommune-config", help=KOMMUNE_CONFIG_HELP)]
ApiConfigFile = Annotated[Path | None, typer.Option("--api-config", help=API_CONFIG_HELP)]
Cache = Annotated[
    Path | None, typer.Option("--cache", help="SQLite-lager for svar (api/fiks: .fee-engine/skatt.sqlite)")
]
AuditLogFile = Annotated[Path | None, typer.Option("--audit-log", help=AUDIT_HELP)]
Overwrite = Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)]
CsvDialect = Annotated[str, typer.Option("--csv-dialect", help=CSV_DIALECT_HELP)]


def _period(text: str | None) -> tuple[dt.date, dt.date]:
    return batch.parse_period(text) if text else batch.default_period()


@app.command()
def run(
    enrollment: Annotated[Path, typer.Argument(help="Innskrivingsfil (CSV med ; eller , eller XLSX)")],
    out: Out,
    period: Period = None,
    source: Source = "files",
    tax_data: TaxData = None,
    rules: Rules = None,
    kommune_config: KommuneConfig = None,
    formats: str = typer.Option(
        ",".join(batch.ALL_FORMATS),
        "--format",
        help="Utdata: csv,xlsx,json,html,faktura,brev (standard: alle unntatt brev)",
    ),
    api_config: ApiConfigFile = None,
    cache: Cache = None,
    audit_log: AuditLogFile = None,
    overwrite: Overwrite = False,
    brev: str = typer.Option("ok", "--brev", help="Vedtaksbrev til: ok (søkt, alle barn avgjort) eller alle"),
    vedtaksdato: str | None = typer.Option(
        None, "--vedtaksdato", help="Vedtaksdato i brevene, ÅÅÅÅ-MM-DD (standard: i dag)"
    ),
    brevmal: Path | None = typer.Option(None, "--brevmal", help="Mappe med kommunens egne brevmaler og tekster"),
    csv_dialect: CsvDialect = "excel",
) -> None:
    """Beregn foreldrebetaling for hvert barn og hver måned i perioden."""
    try:
        wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
        unknown = [f for f in wanted if f not in batch.FORMATS]
        if unknown:
            raise batch.ConfigurationError(
                f"ukjent format: {', '.join(unknown)} (velg blant {', '.join(batch.FORMATS)})"
            )
        if brev not in ("ok", "alle"):
            raise batch.ConfigurationError(f"ukjent --brev «{brev}» (ok eller alle)")
        try:
            decision_date = dt.date.fromisoformat(vedtaksdato) if vedtaksdato else None
        except ValueError:
            raise batch.ConfigurationError(f"ugyldig --vedtaksdato «{vedtaksdato}» (bruk ÅÅÅÅ-MM-DD)") from None
        opts = batch.RunOptions(
            enrollment=enrollment,
            out=out,
            period=batch.parse_period(period) if period else batch.default_period(),
            source=source,
            tax_data=tax_data,
            rules_dir=rules,
            kommune_config=list(kommune_config or []),
            formats=wanted,
            api_config=api_config,
            cache=cache,
            audit_log=audit_log,
            overwrite=overwrite,
            brev=brev,
            vedtaksdato=decision_date,
            brevmal=brevmal,
            csv_dialect=csv_dialect,
        )
        with _progress() as progress:
            result = batch.run(opts, progress=_progress_factory(progress), one_shot=True)
    except FeeEngineError as exc:
        _fail(exc)
        return
    except OSError as exc:  # e.g. --out cannot be written
        _fail(ConfigurationError(f"{exc.filename or ''}: {exc.strerror}"))
        return
    _summary(result, opts)  # while the previous run's files are deleted
    wait_for_clearing()
    raise typer.Exit(result.exit_code)


def _summary(result: batch.RunResult, opts: batch.RunOptions) -> None:
    t = Table(title=f"fee-engine: {opts.period[0]:%Y-%m}..{opts.period[1]:%Y-%m}", show_header=False)
    t.add_row("Rader inn", str(result.rows_in))
    t.add_row("Rader avvist", str(result.rows_rejected))
    t.add_row("Rader utenfor perioden", str(result.rows_outside))
    t.add_row("Barn med vedtak", str(result.children))
    t.add_row("  av dem til manuell behandling", str(result.children_manual))
    t.add_row("Barn-måneder", str(result.child_months))
    t.add_row("Sum å fakturere", kroner(result.total_belop))
    t.add_row("Skatteoppslag", str(result.lookups))
    if result.lookups_incomplete:
        t.add_row("  av dem midlertidig feilet", str(result.lookups_incomplete))
    t.add_row("Resultater", str(opts.out))
    if result.audit_log:
        t.add_row("Revisjonslogg", str(result.audit_log))
    out_console.print(t)
    for note in result.notices:
        say("Merk: ", "", note)
    for w in result.warnings:
        say("Advarsel: ", "yellow", w)
    _rejected_line(result.rows_rejected, opts.out)
    if result.rows_outside:
        say(
            "",
            "yellow",
            f"{result.rows_outside} rader har plass bare utenfor perioden og er ikke beregnet; "
            f"se {opts.out / 'utenfor_perioden.csv'}",
        )
    if result.lookups_incomplete:
        say(
            "",
            "red",
            f"Ufullstendig (kode 3): {result.lookups_incomplete} oppslag feilet midlertidig; kjør samme "
            "kommando på nytt, da spørres bare disse igjen.",
        )


def _rejected_line(rows_rejected: int, out: Path) -> None:
    if rows_rejected:
        say("", "red", f"{rows_rejected} rader ble avvist; se {out / 'avvist.csv'}")


@app.command()
def diff(
    enrollment: Annotated[Path, typer.Argument(help="Innskrivingsfil")],
    out: Out,
    rules_a: Path | None = typer.Option(None, "--rules-a", help="Regelsett A (standard: det medfølgende)"),
    rules_b: Path | None = typer.Option(None, "--rules-b", help="Regelsett B (standard: A)"),
    reform: list[Path] | None = typer.Option(None, "--reform", help="Reformfil lagt oppå B (kan gjentas)"),
    period: Period = None,
    source: Source = "files",
    tax_data: TaxData = None,
    kommune_config: KommuneConfig = None,
    formats: str = typer.Option("csv,xlsx,html", "--format", help="Utdata: csv,xlsx,html"),
    api_config: ApiConfigFile = None,
    cache: Cache = None,
    audit_log: AuditLogFile = None,
    overwrite: Overwrite = False,
    csv_dialect: CsvDialect = "excel",
) -> None:
    """Samme kjøring under to regelsett: endringer per barn og måned, per enhet og totalt."""
    try:
        run_opts = batch.RunOptions(
            enrollment=enrollment,
            out=out,
            period=_period(period),
            source=source,
            tax_data=tax_data,
            kommune_config=list(kommune_config or []),
            api_config=api_config,
            cache=cache,
            formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
            audit_log=audit_log,
            overwrite=overwrite,
            csv_dialect=csv_dialect,
        )
        with _progress() as progress:
            result = batch.diff(
                batch.DiffOptions(run_opts, rules_a, rules_b, list(reform or [])), progress=_progress_factory(progress)
            )
    except FeeEngineError as exc:
        _fail(exc)
        return
    t = Table(title=f"Endringer: {result.rules_a} → {result.rules_b}", show_header=False)
    t.add_row("Inntekt A", kroner(result.revenue_a))
    t.add_row("Inntekt B", kroner(result.revenue_b))
    t.add_row("Differanse (B − A)", kroner(result.difference))
    t.add_row("Barn-måneder endret", str(len(result.changes)))
    t.add_row("Barn berørt", str(result.changes.drop_duplicates(["barn_id", "tilbud"]).shape[0]))
    t.add_row("Rader avvist", str(result.rows_rejected))
    t.add_row("Resultater", str(out))
    out_console.print(t)
    _rejected_line(result.rows_rejected, out)
    incomplete = getattr(result, "incomplete", 0)
    if incomplete:
        say("", "red", f"Ufullstendig (kode 3): {incomplete} oppslag feilet midlertidig; kjør på nytt.")
    raise typer.Exit(3 if incomplete else 1 if result.rows_rejected else 0)


@app.command()
def inntekt(
    persons: Path = typer.Argument(..., help="Personfil (CSV eller XLSX): sak_id, personidentifikator, rolle"),
    formaal: str = typer.Option(..., "--formaal", help="Formålet oppslagene gjelder: boligsosial"),
    out: Path = typer.Option(..., "--out", help="Mappe for resultatene"),
    maaneder: int = typer.Option(3, "--maaneder", help="Antall hele måneder fra a-ordningen (1–24)"),
    dato: str | None = typer.Option(None, "--dato", help="Datoen opplysningene gjelder (ÅÅÅÅ-MM-DD; standard i dag)"),
    source: str = typer.Option("files", "--source", help="files, emulator eller api"),
    tax_data: Path | None = typer.Option(
        None, "--tax-data", help="Mappe med summertskattegrunnlag/ og inntekt/ (files, emulator)"
    ),
    api_config: Path | None = typer.Option(None, "--api-config", help="YAML med Maskinporten- og API-innstillinger"),
    cache: Path | None = typer.Option(
        None, "--cache", help="SQLite-lager for svar (api: .fee-engine/boligsosial.sqlite)"
    ),
    audit_log: Path | None = typer.Option(None, "--audit-log", help=AUDIT_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Husstandens økonomi for boligsosial bistand: siste skatteoppgjør og de siste månedene i a-ordningen."""
    from . import boligsosial

    try:
        try:
            day = dt.date.fromisoformat(dato) if dato else None
        except ValueError:
            raise ConfigurationError(f"ugyldig --dato «{dato}» (bruk ÅÅÅÅ-MM-DD)") from None
        opts = boligsosial.InntektOptions(
            persons=persons,
            out=out,
            formaal=formaal,
            maaneder=maaneder,
            dato=day,
            source=source,
            tax_data=tax_data,
            api_config=api_config,
            cache=cache,
            audit_log=audit_log,
            overwrite=overwrite,
        )
        with _progress() as progress:
            result = boligsosial.run(opts, progress=_progress_factory(progress))
    except FeeEngineError as exc:
        _fail(exc)
        return
    except OSError as exc:
        _fail(ConfigurationError(f"{exc.filename or ''}: {exc.strerror}"))
        return
    t = Table(title="fee-engine inntekt: boligsosial bistand", show_header=False)
    t.add_row("Rader inn", str(result.rows_in))
    t.add_row("Rader avvist", str(result.rows_rejected))
    t.add_row("Saker", str(result.cases))
    t.add_row("  av dem ufullstendige", str(result.incomplete_cases))
    t.add_row("Personer", str(result.persons))
    t.add_row("Oppslag", str(result.lookups))
    t.add_row("Resultater", str(out))
    if result.audit_log:
        t.add_row("Revisjonslogg", str(result.audit_log))
    out_console.print(t)
    for note in result.notices:
        console.print(f"Merk: {note}", markup=False, highlight=False)
    for w in result.warnings:
        say("Advarsel: ", "yellow", w)
    _rejected_line(result.rows_rejected, out)
    raise typer.Exit(result.exit_code)


@app.command()
def validate(
    enrollment: Path = typer.Argument(..., help="Innskrivingsfil"),
    lang: str = typer.Option("nb", "--lang", help="nb eller en"),
    rules: Rules = None,
    kommune_config: KommuneConfig = None,
    period: Period = None,
) -> None:
    """Kontroller innskrivingsfilen uten å beregne, med de samme kontrollene som run; skriv ut hvert problem."""
    try:
        rs = load_rules(rules, list(kommune_config or []))
        first, last = _period(period)
        enr = batch.check_enrollment(enrollment, rs, (first, last))
    except FeeEngineError as exc:
        _fail(exc)
        return
    for note in enr.notices:  # how the file was read (e.g. Windows-1252), as run says it
        say("Merk: " if lang != "en" else "Note: ", "", note, to=out_console)
    msgs = enr.messages(lang)
    for r in msgs.itertuples(index=False):
        label = (
            "row {rad}, column {kolonne}, value «{verdi}»: {aarsak}"
            if lang == "en"
            else "rad {rad}, kolonne {kolonne}, verdi «{verdi}»: {aarsak}"
        )
        out_console.print(
            label.format(rad=r.rad, kolonne=r.kolonne, verdi=r.verdi, aarsak=r.aarsak),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    ok = enr.n_rows - enr.rejected_rows - enr.outside_rows
    span = f"{first:%Y-%m}..{last:%Y-%m}"
    summary = (
        f"{enr.n_rows} rows, {ok} accepted, {enr.rejected_rows} rejected, {enr.outside_rows} outside the period {span}"
        if lang == "en"
        else f"{enr.n_rows} rader, {ok} godtatt, {enr.rejected_rows} avvist, {enr.outside_rows} utenfor perioden {span}"
    )
    out_console.print(summary)
    raise typer.Exit(1 if enr.rejected_rows else 0)


@app.command()
def emulator(
    data: Path = typer.Option(
        ...,
        "--data",
        help="Mappe med skattegrunnlag (ÅR/STADIE/PERSON.json), eller en "
        "boligsosial-mappe med summertskattegrunnlag/ og inntekt/",
    ),
    port: int = typer.Option(8080, "--port", help="Port på 127.0.0.1"),
    latency_ms: float = typer.Option(0, "--latency-ms", help="Fast forsinkelse per oppslag"),
    jitter_ms: float = typer.Option(0, "--jitter-ms", help="Tilfeldig ekstra forsinkelse, 0 til N ms"),
    rate_500: float = typer.Option(0, "--rate-500", help="Andel svar med 500 (0–1)"),
    rate_503: float = typer.Option(0, "--rate-503", help="Andel svar med 503 (0–1)"),
    rate_429: float = typer.Option(0, "--rate-429", help="Andel svar med 429 (0–1)"),
    retry_after: float = typer.Option(1, "--retry-after", help="Retry-After i sekunder ved 429"),
    drop_rate: float = typer.Option(0, "--drop-rate", help="Andel forbindelser som brytes midt i svaret (0–1)"),
    token_lifetime: float = typer.Option(120, "--token-lifetime", help="Levetid for tokens i sekunder"),
    client_cert: Path | None = typer.Option(None, "--client-cert", help="Godta bare dette klientsertifikatet (PEM)"),
    write_client: Path | None = typer.Option(
        None, "--write-client", help="Lag testnøkkel og -sertifikat i denne mappen og godta bare dem"
    ),
    fiks: bool = typer.Option(
        False,
        "--fiks",
        help="Server også KS Fiks sin proxy (scope ks:fiks, IntegrasjonId, "
        "IntegrasjonPassord og rolle; fra FEE_ENGINE_FIKS_* om de er satt, ellers laget nå)",
    ),
    fiks_feilformat: str = typer.Option(
        "skatteetaten",
        "--fiks-feilformat",
        help="Feilsvar bak Fiks: skatteetaten (videresendt), innpakket (i Fiks sin "
        "errorJson) eller fiks (bare Fiks sine ord)",
    ),
    delegeringer: Path | None = typer.Option(
        None,
        "--delegeringer",
        help="YAML: organisasjonsnummer → Altinn-delegeringer; token for en consumer_org uten dem avvises",
    ),
    inntekt_data: Path | None = typer.Option(
        None, "--inntekt-data", help="Mappe med svar fra Inntekt API (a-ordningen), PERSON.json"
    ),
) -> None:
    """Lokal Summert skattegrunnlag API v2, KS Fiks-proxy, Inntekt API og Maskinporten-tokenendepunkt for test."""
    import shlex
    import time as _time

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from .taxdata.http import emulator_module

    try:
        emu = emulator_module()
    except FeeEngineError as exc:
        _fail(exc)
        return
    EmulatorServer, Faults, read_delegations = emu.EmulatorServer, emu.Faults, emu.read_delegations  # noqa: N806
    from .taxdata.http import write_identity  # noqa: E402

    try:
        ssg_data, found_inntekt = _emulator_folders(data)
        inntekt_data = inntekt_data or found_inntekt
        delegations = read_delegations(delegeringer) if delegeringer else None
        fiks_conf = _emulator_fiks(fiks_feilformat) if fiks else None
    except FeeEngineError as exc:
        _fail(exc)
        return
    trusted = None
    key_file = cert_file = None
    if write_client:
        key_file, cert_file = write_identity(write_client)
        client_cert = cert_file
    if client_cert:
        trusted = [
            c.public_bytes(serialization.Encoding.DER)
            for c in x509.load_pem_x509_certificates(client_cert.read_bytes())
        ]
    else:
        console.print("[yellow]Advarsel:[/] godtar alle klientsertifikater (bruk --client-cert eller --write-client)")
    faults = Faults(latency_ms, jitter_ms, rate_500, rate_503, rate_429, retry_after, drop_rate, token_lifetime)
    with EmulatorServer(
        ssg_data,
        port=port,
        faults=faults,
        trusted_certs=trusted,
        fiks=fiks_conf[0] if fiks_conf else None,
        inntekt_data=inntekt_data,
        delegeringer=delegations,
    ) as server:
        url = server.base_url
        settings = [
            ("FEE_ENGINE_SSG_URL", url),
            ("FEE_ENGINE_TOKEN_URL", url + "/token"),
            ("FEE_ENGINE_AUDIENCE", server.state.issuer),
            ("FEE_ENGINE_CLIENT_ID", "fee-engine-emulator"),
        ]
        if key_file and cert_file:
            settings += [("FEE_ENGINE_KEY_FILE", str(key_file)), ("FEE_ENGINE_CERT_FILE", str(cert_file))]
        if fiks_conf:
            settings.append(("FEE_ENGINE_FIKS_URL", url))
            settings += fiks_conf[1]
        if inntekt_data:
            settings.append(("FEE_ENGINE_INNTEKT_URL", url))
        console.print(
            f"Emulator på {url}. Innstillinger for en kjøring mot den (kopier linjene under):", highlight=False
        )
        if not key_file:
            console.print(
                "Sett også FEE_ENGINE_KEY_FILE og FEE_ENGINE_CERT_FILE (eller bruk --write-client).", highlight=False
            )
        for name, value in settings:  # plain lines on stdout, never wrapped
            print(f"export {name}={shlex.quote(value)}", flush=True)
        console.print("Stopp med Ctrl-C.")
        try:
            while True:
                _time.sleep(1)
        except KeyboardInterrupt:
            pass


def _emulator_folders(data: Path) -> tuple[Path, Path | None]:
    """``--data``: a folder of Summert skattegrunnlag, or one with ``summertskattegrunnlag/`` and ``inntekt/``."""
    if not data.is_dir():
        raise ConfigurationError(f"fant ikke mappen {data}")
    if (data / "summertskattegrunnlag").is_dir():
        inntekt = data / "inntekt"
        return data / "summertskattegrunnlag", inntekt if inntekt.is_dir() else None
    return data, None


def _emulator_fiks(feilformat: str):
    """The emulated Fiks integration: from ``FEE_ENGINE_FIKS_*`` if set (nothing secret printed), else made now."""
    import secrets
    import uuid

    from .taxdata.http import ApiConfig, emulator_module

    FiksEmulator = emulator_module().FiksEmulator  # noqa: N806

    if feilformat not in ("skatteetaten", "innpakket", "fiks"):
        raise ConfigurationError(f"ukjent --fiks-feilformat «{feilformat}» (skatteetaten, innpakket eller fiks)")
    cfg = ApiConfig.load(None)
    if cfg.fiks_integrasjon_id and cfg.fiks_integrasjon_passord and cfg.fiks_rolle_id:
        _, rolle, integrasjon, passord = cfg.fiks()
        return FiksEmulator(integrasjon, passord, rolle, feilformat), []
    integrasjon, passord, rolle = str(uuid.uuid4()), secrets.token_urlsafe(18), str(uuid.uuid4())
    shown = [
        ("FEE_ENGINE_FIKS_INTEGRASJON_ID", integrasjon),
        ("FEE_ENGINE_FIKS_INTEGRASJON_PASSORD", passord),
        ("FEE_ENGINE_FIKS_ROLLE_ID", rolle),
    ]  # the emulator's own throwaway values
    return FiksEmulator(integrasjon, passord, rolle, feilformat), shown


@app.command()
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Adresse å lytte på (annet enn 127.0.0.1 krever tilgangsnøkkel)"
    ),
    port: int = typer.Option(8000, "--port", help="Port"),
    data: Path = typer.Option(Path(".fee-engine") / "web", "--data", help="Mappe for kjøringene (0700)"),
    secret: str | None = typer.Option(
        None,
        "--tilgangsnokkel",
        envvar="FEE_ENGINE_WEB_SECRET",
        show_envvar=True,
        help="Tilgangsnøkkel for kontorets sider (minst 16 tegn)",
    ),
    source: str = typer.Option("files", "--source", help="api, emulator eller files"),
    tax_data: Path | None = typer.Option(None, "--tax-data", help="Mappe med skattegrunnlag (files/emulator)"),
    api_config: Path | None = typer.Option(None, "--api-config", help="YAML med Maskinporten- og API-innstillinger"),
    cache: Path | None = typer.Option(None, "--cache", help="SQLite-lager for svar (api: .fee-engine/skatt.sqlite)"),
    rules: Path | None = typer.Option(None, "--rules", help="Regelsett-mappe"),
    kommune_config: list[Path] | None = typer.Option(
        None, "--kommune-config", help="Kommunefil som erstatter den i regelsettet"
    ),
    kommune: str | None = typer.Option(
        None, "--kommune", help="Kommunenummeret kalkulatoren starter med (og målformen)"
    ),
    reformer: Path | None = typer.Option(None, "--reformer", help="Mappe med reformfiler for Regelendring"),
    retention: float = typer.Option(24, "--oppbevaring-timer", help="Slett kjøringer eldre enn så mange timer"),
    max_upload: float = typer.Option(50, "--maks-opplasting-mb", help="Største innskrivingsfil i MB"),
    public: bool = typer.Option(False, "--offentlig-kalkulator", help="Åpne kalkulatoren og /api/beregn uten nøkkel"),
    cors: list[str] | None = typer.Option(
        None, "--cors-opprinnelse", help="Nettsted som kan kalle API-et (kan gjentas)"
    ),
    rate: int = typer.Option(
        60, "--grense-per-minutt", help="Kall per minutt per klient på den offentlige kalkulatoren"
    ),
    allowed_hosts: list[str] | None = typer.Option(
        None, "--vertsnavn", help="Godta bare dette Host-navnet (kan gjentas)"
    ),
) -> None:
    """Nettsiden: kjøringer, kalkulator og regelendring i nettleseren, og kalkulator-API-et."""
    import logging

    try:
        import uvicorn

        from .web import WebConfig, create_app
    except ImportError as exc:
        _fail(ConfigurationError(f"nettsiden trenger pakken {exc.name}: pip install -e '.[web]'"))
        return
    default_reforms = Path(__file__).resolve().parent.parent / "fixtures" / "reformer"
    config = WebConfig(
        host=host,
        port=port,
        data_dir=data.resolve(),
        secret=secret or None,
        source=source,
        tax_data=tax_data.resolve() if tax_data else None,
        api_config=api_config.resolve() if api_config else None,
        cache=cache.resolve() if cache else None,
        rules_dir=rules.resolve() if rules else None,
        kommune_config=[p.resolve() for p in kommune_config or []],
        kommune=kommune,
        reform_dir=reformer.resolve() if reformer else (default_reforms if default_reforms.is_dir() else None),
        retention_hours=retention,
        max_upload_mb=max_upload,
        public_calculator=public,
        cors_origins=list(cors or []),
        rate_limit_per_minute=rate,
        allowed_hosts=list(allowed_hosts or []),
    )
    try:
        web_app = create_app(config)
    except FeeEngineError as exc:
        _fail(exc)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"fee-engine på http://{shown}:{port}/ (kjøringer i {config.data_dir}). Stopp med Ctrl-C.")
    if not config.loopback:
        console.print("[yellow]Merk:[/] sett serveren bak kommunens TLS-proxy (https); se docs/web.md.")
    uvicorn.run(web_app, host=host, port=port, access_log=False, log_level="warning", proxy_headers=True)


@app.command()
def synthetic(
    children: int = typer.Argument(..., min=1, help="Antall barn"),
    out: Path = typer.Argument(..., help="Mappe for innskriving.csv og skatt/"),
    seed: int = typer.Option(1, "--seed", help="Frø: samme frø gir de samme filene"),
    kommune: str | None = typer.Option(None, "--kommune", help="Alle i denne kommunen (standard: fordelt på fire)"),
    income_year: int = typer.Option(2023, "--inntektsaar", help="Inntektsåret svarene gjelder"),
    endringer: bool = typer.Option(
        False,
        "--endringer",
        help="Med endringer i løpet av året: plasser som starter, "
        "slutter eller byttes midt i perioden, overgang til SFO i august, flytting, "
        "manuelle saker (se fee_engine/synthetic.py)",
    ),
) -> None:
    """Lag en syntetisk befolkning (innskrivingsfil og skattegrunnlag) for test og ytelsesmåling."""
    from .synthetic import generate

    if kommune is not None:
        known = load_rules().municipalities
        if kommune not in known:
            raise typer.BadParameter(
                f"ingen kommunefil for {kommune} i regelsettet (kjente: {', '.join(sorted(known))}); "
                "lag en med «fee-engine kommune init»",
                param_hint="--kommune",
            )
    generate(children, out, seed=seed, kommune=kommune, income_year=income_year, endringer=endringer)
    out_console.print(f"Skrev {out / 'innskriving.csv'} og {out / 'skatt'} ({children} barn, frø {seed}).")


cache_app = typer.Typer(
    no_args_is_help=True, pretty_exceptions_show_locals=False, help="Lageret av svar fra Skatteetaten."
)
app.add_typer(cache_app, name="cache")


@cache_app.command("purge")
def cache_purge(
    days: int = typer.Option(..., "--days", help="Slett svar hentet for mer enn så mange dager siden (0: alle)"),
    cache: Path = typer.Option(
        Path(".fee-engine") / "skatt.sqlite",
        "--cache",
        help="SQLite-lageret (boligsosial: .fee-engine/boligsosial.sqlite)",
    ),
) -> None:
    """Slett gamle svar fra lageret (oppbevaringstid)."""
    from .taxdata.cache import LookupCache

    if days < 0:
        _fail(ConfigurationError(f"--days må være 0 eller større (0 sletter alle svar), ikke {days}"))
    if not cache.exists():
        console.print(f"Fant ikke {cache}; ingenting å slette.")
        raise typer.Exit(0)
    try:
        formaal, kommune = LookupCache.owner_of(cache)  # whichever purpose and municipality the file is for
        store = LookupCache(cache, formaal=formaal, kommune=kommune)
        removed = store.purge(days)
        left = store.count()
        store.close()
    except FeeEngineError as exc:
        _fail(exc)
        return
    for w in store.warnings:
        console.print(Text("Advarsel: ", style="yellow") + Text(w), highlight=False)
    out_console.print(f"Slettet {removed} svar eldre enn {days} dager; {left} igjen i {cache}.")


@rules_app.command("show")
def rules_show(
    date: str = typer.Option(..., "--date", help="ÅÅÅÅ-MM-DD"),
    kommune: str | None = typer.Option(None, "--kommune", help="Kommunenummer, f.eks. 0301"),
    rules: Path | None = typer.Option(None, "--rules", help="Regelsett-mappe"),
    kommune_config: list[Path] | None = typer.Option(None, "--kommune-config", help=KOMMUNE_CONFIG_HELP),
) -> None:
    """Vis parameterne som gjelder på en dato, med kilde."""
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        say("Feil: ", "bold red", f"ugyldig dato «{date}» (bruk ÅÅÅÅ-MM-DD)")
        raise typer.Exit(2) from None
    try:
        rs = load_rules(rules, list(kommune_config or []))
        rows = rs.in_force(day, kommune)
    except FeeEngineError as exc:
        _fail(exc)
        return
    title = f"Regelsett {rs.version}, gjeldende {day.isoformat()}" + (f", kommune {kommune}" if kommune else "")
    out_console.print(title, style="bold", highlight=False)
    for param, v in rows:
        verdi = format_value(v.verdi)
        flag = "verifisert" if v.verifisert else "[yellow]IKKE VERIFISERT[/]"
        unit = f"{param.enhet}; " if param.enhet else ""
        out_console.print(
            f"{param.path} = {verdi}  ({unit}fra {v.gjelder_fra.isoformat()}; {flag})", highlight=False, soft_wrap=True
        )
        out_console.print(f"    hjemmel: {param.hjemmel}", highlight=False, markup=False, soft_wrap=True)
        out_console.print(
            f"    kilde: {v.kilde}" + (f" ({v.merknad})" if v.merknad else ""),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


kommune_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False, help="Kommunefiler.")
app.add_typer(kommune_app, name="kommune")


@kommune_app.command("init")
def kommune_init(
    nummer: str = typer.Argument(..., help="Kommunenummer, 4 sifre"),
    navn: str = typer.Option(..., "--navn", help="Kommunens navn"),
    sone: str = typer.Option(..., "--sone", help="Sone for maksimalpris: generell, sentralitet_5_6 eller tiltakssone"),
    maalform: str | None = typer.Option(
        None, "--maalform", help="bokmål eller nynorsk (standard: bokmål, ikke bekreftet)"
    ),
    out: Path | None = typer.Option(None, "--out", help="Filen som skrives (standard: NNNN.yaml her)"),
    rules: Path | None = typer.Option(None, "--rules", help="Skriv til REGELSETT/kommuner/NNNN.yaml i stedet"),
    force: bool = typer.Option(False, "--force", help="Skriv over en fil som finnes"),
) -> None:
    """Lag kommunefilen for en ny kommune fra fee-engines standardverdier; alt kommunen må bekrefte er merket."""
    from .regelsett.kommunemal import init, unverified_count

    target = out or ((rules / "kommuner" / f"{nummer}.yaml") if rules else Path(f"{nummer}.yaml"))
    try:
        written = init(nummer, navn, sone, maalform, target, force=force)
    except FeeEngineError as exc:
        _fail(exc)
        return
    use = f"--rules {rules}" if rules and not out else f"--kommune-config {written}"
    say(
        "",
        "",
        f"Skrev {written}. {unverified_count(maalform is not None)} verdier er ikke bekreftet "
        f"(verifisert: false): kontroller dem mot kommunens vedtak, rett dem og sett verifisert: true "
        f"(se docs/kommunefil.md). Bruk filen med {use}.",
        to=out_console,
    )


def main() -> None:
    stopp.stop_on_signals()  # SIGTERM ends a command as Ctrl-C does, once: its `finally` blocks run (fee_engine.stopp)
    try:
        app()
    finally:
        if stopp.stopped():
            say("Stoppet ", "bold red", "(SIGTERM).")
            stopp.end_as_stopped()
        stopp.done()
