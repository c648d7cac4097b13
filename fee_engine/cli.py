"""Command line (CONTRACT §1). Commands only parse options, call the service and print."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from . import batch
from .enrollment import read_enrollment
from .errors import ConfigurationError, FeeEngineError
from .identity import mask_digits_in_text
from .regelsett import format_value, load_rules
from .text import kroner, thousands

# No local variables in a crash report: they may hold fødselsnumre or tax data.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Inntektsgradert foreldrebetaling i barnehage og SFO.")
rules_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False, help="Regelsettet.")
app.add_typer(rules_app, name="rules")
console = Console(stderr=True)
out_console = Console()


def _fail(exc: FeeEngineError) -> None:
    console.print(f"[bold red]Feil:[/] {mask_digits_in_text(str(exc))}")
    raise typer.Exit(exc.exit_code)


class RateColumn(ProgressColumn):
    """Items per second, once there is a rate to show."""

    def render(self, task) -> Text:  # type: ignore[no-untyped-def]
        return Text(thousands(round(task.speed)) + "/s" if task.speed else "", style="progress.data.speed")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)


def _progress_factory(progress: Progress):
    def start(label: str, total: int):
        task = progress.add_task(label, total=total)
        return lambda advance=1: progress.advance(task, advance)

    return start


@app.command()
def run(
    enrollment: Path = typer.Argument(..., help="Innskrivingsfil (CSV med ; eller , eller XLSX)"),
    out: Path = typer.Option(..., "--out", help="Mappe for resultatene"),
    period: Optional[str] = typer.Option(None, "--period", help="Første og siste måned, f.eks. 2026-08..2027-07"),
    source: str = typer.Option("files", "--source", help="api, emulator eller files"),
    tax_data: Optional[Path] = typer.Option(None, "--tax-data", help="Mappe med skattegrunnlag (files/emulator)"),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Regelsett-mappe (standard: den medfølgende rules/)"),
    kommune_config: Optional[list[Path]] = typer.Option(None, "--kommune-config", help="Kommunefil som erstatter den i regelsettet"),
    formats: str = typer.Option(",".join(batch.ALL_FORMATS), "--format", help="Utdata: xlsx,csv,json,html"),
    api_config: Optional[Path] = typer.Option(None, "--api-config", help="YAML med Maskinporten- og API-innstillinger (--source api)"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite-lager for svar (api: .fee-engine/skatt.sqlite)"),
) -> None:
    """Beregn foreldrebetaling for hvert barn og hver måned i perioden."""
    try:
        wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
        unknown = [f for f in wanted if f not in batch.ALL_FORMATS]
        if unknown:
            raise batch.ConfigurationError(f"ukjent format: {', '.join(unknown)} (velg blant {', '.join(batch.ALL_FORMATS)})")
        opts = batch.RunOptions(
            enrollment=enrollment, out=out,
            period=batch.parse_period(period) if period else batch.default_period(),
            source=source, tax_data=tax_data, rules_dir=rules, kommune_config=list(kommune_config or []),
            formats=wanted, api_config=api_config, cache=cache,
        )
        with _progress() as progress:
            result = batch.run(opts, progress=_progress_factory(progress))
    except FeeEngineError as exc:
        _fail(exc)
        return
    except OSError as exc:  # e.g. --out cannot be written
        _fail(ConfigurationError(f"{exc.filename or ''}: {exc.strerror}"))
        return
    _summary(result, opts)
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
    t.add_row("Resultater", str(opts.out))
    out_console.print(t)
    for note in result.notices:
        console.print(f"Merk: {note}", markup=False, highlight=False)
    for w in result.warnings:
        console.print(f"[yellow]Advarsel:[/] {w}")
    if result.rows_rejected:
        console.print(f"[red]{result.rows_rejected} rader ble avvist; se {opts.out / 'avvist.csv'}[/]")
    if result.rows_outside:
        console.print(f"[yellow]{result.rows_outside} rader har plass bare utenfor perioden og er ikke beregnet; "
                      f"se {opts.out / 'utenfor_perioden.csv'}[/]")


@app.command()
def diff(
    enrollment: Path = typer.Argument(..., help="Innskrivingsfil"),
    out: Path = typer.Option(..., "--out", help="Mappe for resultatene"),
    rules_a: Optional[Path] = typer.Option(None, "--rules-a", help="Regelsett A (standard: det medfølgende)"),
    rules_b: Optional[Path] = typer.Option(None, "--rules-b", help="Regelsett B (standard: A)"),
    reform: Optional[list[Path]] = typer.Option(None, "--reform", help="Reformfil lagt oppå B (kan gjentas)"),
    period: Optional[str] = typer.Option(None, "--period", help="Første og siste måned, f.eks. 2026-08..2027-07"),
    source: str = typer.Option("files", "--source", help="api, emulator eller files"),
    tax_data: Optional[Path] = typer.Option(None, "--tax-data", help="Mappe med skattegrunnlag (files/emulator)"),
    kommune_config: Optional[list[Path]] = typer.Option(None, "--kommune-config", help="Kommunefil som erstatter den i regelsettet"),
    formats: str = typer.Option("csv,xlsx,html", "--format", help="Utdata: csv,xlsx,html"),
) -> None:
    """Samme kjøring under to regelsett: endringer per barn og måned, per enhet og totalt."""
    try:
        run_opts = batch.RunOptions(
            enrollment=enrollment, out=out, period=batch.parse_period(period) if period else batch.default_period(),
            source=source, tax_data=tax_data, kommune_config=list(kommune_config or []),
            formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
        )
        with _progress() as progress:
            result = batch.diff(batch.DiffOptions(run_opts, rules_a, rules_b, list(reform or [])),
                                progress=_progress_factory(progress))
    except FeeEngineError as exc:
        _fail(exc)
        return
    t = Table(title=f"Endringer: {result.rules_a} → {result.rules_b}", show_header=False)
    t.add_row("Inntekt A", kroner(result.revenue_a))
    t.add_row("Inntekt B", kroner(result.revenue_b))
    t.add_row("Differanse (B − A)", kroner(result.difference))
    t.add_row("Barn-måneder endret", str(len(result.changes)))
    t.add_row("Barn berørt", str(result.changes.drop_duplicates(["barn_id", "tilbud"]).shape[0]))
    t.add_row("Resultater", str(out))
    out_console.print(t)
    raise typer.Exit(1 if result.rows_rejected else 0)


@app.command()
def validate(
    enrollment: Path = typer.Argument(..., help="Innskrivingsfil"),
    lang: str = typer.Option("nb", "--lang", help="nb eller en"),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Regelsett-mappe"),
) -> None:
    """Kontroller innskrivingsfilen uten å beregne; skriv ut hvert problem."""
    try:
        rs = load_rules(rules)
        enr = read_enrollment(enrollment, known_kommuner=set(rs.municipalities))
    except FeeEngineError as exc:
        _fail(exc)
        return
    msgs = enr.messages(lang)
    for r in msgs.itertuples(index=False):
        label = ("row {rad}, column {kolonne}, value «{verdi}»: {aarsak}" if lang == "en"
                 else "rad {rad}, kolonne {kolonne}, verdi «{verdi}»: {aarsak}")
        out_console.print(label.format(rad=r.rad, kolonne=r.kolonne, verdi=r.verdi, aarsak=r.aarsak), markup=False, highlight=False)
    ok = enr.n_rows - enr.rejected_rows
    summary = (f"{enr.n_rows} rows, {ok} accepted, {enr.rejected_rows} rejected" if lang == "en"
               else f"{enr.n_rows} rader, {ok} godtatt, {enr.rejected_rows} avvist")
    out_console.print(summary)
    raise typer.Exit(1 if enr.rejected_rows else 0)


@app.command()
def emulator(
    data: Path = typer.Option(..., "--data", help="Mappe med skattegrunnlag (ÅR/STADIE/PERSON.json)"),
    port: int = typer.Option(8080, "--port", help="Port på 127.0.0.1"),
    latency_ms: float = typer.Option(0, "--latency-ms", help="Fast forsinkelse per oppslag"),
    jitter_ms: float = typer.Option(0, "--jitter-ms", help="Tilfeldig ekstra forsinkelse, 0 til N ms"),
    rate_500: float = typer.Option(0, "--rate-500", help="Andel svar med 500 (0–1)"),
    rate_503: float = typer.Option(0, "--rate-503", help="Andel svar med 503 (0–1)"),
    rate_429: float = typer.Option(0, "--rate-429", help="Andel svar med 429 (0–1)"),
    retry_after: float = typer.Option(1, "--retry-after", help="Retry-After i sekunder ved 429"),
    drop_rate: float = typer.Option(0, "--drop-rate", help="Andel forbindelser som brytes midt i svaret (0–1)"),
    token_lifetime: float = typer.Option(120, "--token-lifetime", help="Levetid for tokens i sekunder"),
    client_cert: Optional[Path] = typer.Option(None, "--client-cert", help="Godta bare dette klientsertifikatet (PEM)"),
    write_client: Optional[Path] = typer.Option(None, "--write-client", help="Lag testnøkkel og -sertifikat i denne mappen og godta bare dem"),
) -> None:
    """Lokal Summert skattegrunnlag API v2 og Maskinporten-tokenendepunkt for test."""
    import time as _time

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from .taxdata.emulator import EmulatorServer, Faults
    from .taxdata.http import write_identity

    trusted = None
    if write_client:
        key_file, cert_file = write_identity(write_client)
        client_cert = cert_file
        console.print(f"Testklient: FEE_ENGINE_KEY_FILE={key_file} FEE_ENGINE_CERT_FILE={cert_file}")
    if client_cert:
        trusted = [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(client_cert.read_bytes())]
    else:
        console.print("[yellow]Advarsel:[/] godtar alle klientsertifikater (bruk --client-cert eller --write-client)")
    faults = Faults(latency_ms, jitter_ms, rate_500, rate_503, rate_429, retry_after, drop_rate, token_lifetime)
    with EmulatorServer(data, port=port, faults=faults, trusted_certs=trusted) as server:
        console.print(f"Emulator på {server.base_url}: FEE_ENGINE_SSG_URL={server.base_url} "
                      f"FEE_ENGINE_TOKEN_URL={server.base_url}/token FEE_ENGINE_AUDIENCE={server.state.issuer}")
        console.print("Stopp med Ctrl-C.")
        try:
            while True:
                _time.sleep(1)
        except KeyboardInterrupt:
            pass


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Adresse å lytte på (annet enn 127.0.0.1 krever tilgangsnøkkel)"),
    port: int = typer.Option(8000, "--port", help="Port"),
    data: Path = typer.Option(Path(".fee-engine") / "web", "--data", help="Mappe for kjøringene (0700)"),
    secret: Optional[str] = typer.Option(None, "--tilgangsnokkel", envvar="FEE_ENGINE_WEB_SECRET", show_envvar=True,
                                         help="Tilgangsnøkkel for kontorets sider (minst 16 tegn)"),
    source: str = typer.Option("files", "--source", help="api, emulator eller files"),
    tax_data: Optional[Path] = typer.Option(None, "--tax-data", help="Mappe med skattegrunnlag (files/emulator)"),
    api_config: Optional[Path] = typer.Option(None, "--api-config", help="YAML med Maskinporten- og API-innstillinger"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite-lager for svar (api: .fee-engine/skatt.sqlite)"),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Regelsett-mappe"),
    kommune_config: Optional[list[Path]] = typer.Option(None, "--kommune-config",
                                                        help="Kommunefil som erstatter den i regelsettet"),
    kommune: Optional[str] = typer.Option(None, "--kommune",
                                          help="Kommunenummeret kalkulatoren starter med (og målformen)"),
    reformer: Optional[Path] = typer.Option(None, "--reformer", help="Mappe med reformfiler for Regelendring"),
    retention: float = typer.Option(24, "--oppbevaring-timer", help="Slett kjøringer eldre enn så mange timer"),
    max_upload: float = typer.Option(50, "--maks-opplasting-mb", help="Største innskrivingsfil i MB"),
    public: bool = typer.Option(False, "--offentlig-kalkulator", help="Åpne kalkulatoren og /api/beregn uten nøkkel"),
    cors: Optional[list[str]] = typer.Option(None, "--cors-opprinnelse",
                                             help="Nettsted som kan kalle API-et (kan gjentas)"),
    rate: int = typer.Option(60, "--grense-per-minutt",
                             help="Kall per minutt per klient på den offentlige kalkulatoren"),
    allowed_hosts: Optional[list[str]] = typer.Option(None, "--vertsnavn",
                                                      help="Godta bare dette Host-navnet (kan gjentas)"),
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
        host=host, port=port, data_dir=data.resolve(), secret=secret or None, source=source,
        tax_data=tax_data.resolve() if tax_data else None, api_config=api_config.resolve() if api_config else None,
        cache=cache.resolve() if cache else None, rules_dir=rules.resolve() if rules else None,
        kommune_config=[p.resolve() for p in kommune_config or []], kommune=kommune,
        reform_dir=reformer.resolve() if reformer else (default_reforms if default_reforms.is_dir() else None),
        retention_hours=retention, max_upload_mb=max_upload, public_calculator=public, cors_origins=list(cors or []),
        rate_limit_per_minute=rate, allowed_hosts=list(allowed_hosts or []),
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
    children: int = typer.Argument(..., help="Antall barn"),
    out: Path = typer.Argument(..., help="Mappe for innskriving.csv og skatt/"),
    seed: int = typer.Option(1, "--seed", help="Frø: samme frø gir de samme filene"),
    kommune: Optional[str] = typer.Option(None, "--kommune", help="Alle i denne kommunen (standard: fordelt på fire)"),
    income_year: int = typer.Option(2023, "--inntektsaar", help="Inntektsåret svarene gjelder"),
) -> None:
    """Lag en syntetisk befolkning (innskrivingsfil og skattegrunnlag) for test og ytelsesmåling."""
    from .synthetic import generate

    generate(children, out, seed=seed, kommune=kommune, income_year=income_year)
    out_console.print(f"Skrev {out / 'innskriving.csv'} og {out / 'skatt'} ({children} barn, frø {seed}).")


cache_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False, help="Lageret av svar fra Skatteetaten.")
app.add_typer(cache_app, name="cache")


@cache_app.command("purge")
def cache_purge(
    days: int = typer.Option(..., "--days", help="Slett svar hentet for mer enn så mange dager siden"),
    cache: Path = typer.Option(Path(".fee-engine") / "skatt.sqlite", "--cache", help="SQLite-lageret"),
) -> None:
    """Slett gamle svar fra lageret (oppbevaringstid)."""
    from .taxdata.cache import LookupCache

    if not cache.exists():
        console.print(f"Fant ikke {cache}; ingenting å slette.")
        raise typer.Exit(0)
    store = LookupCache(cache)
    removed = store.purge(days)
    left = store.count()
    store.close()
    out_console.print(f"Slettet {removed} svar eldre enn {days} dager; {left} igjen i {cache}.")


@rules_app.command("show")
def rules_show(
    date: str = typer.Option(..., "--date", help="ÅÅÅÅ-MM-DD"),
    kommune: Optional[str] = typer.Option(None, "--kommune", help="Kommunenummer, f.eks. 0301"),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Regelsett-mappe"),
) -> None:
    """Vis parameterne som gjelder på en dato, med kilde."""
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        console.print(f"[bold red]Feil:[/] ugyldig dato «{date}» (bruk ÅÅÅÅ-MM-DD)")
        raise typer.Exit(2) from None
    try:
        rs = load_rules(rules)
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
        out_console.print(f"{param.path} = {verdi}  ({unit}fra {v.gjelder_fra.isoformat()}; {flag})",
                          highlight=False, soft_wrap=True)
        out_console.print(f"    hjemmel: {param.hjemmel}", highlight=False, markup=False, soft_wrap=True)
        out_console.print(f"    kilde: {v.kilde}" + (f" ({v.merknad})" if v.merknad else ""), highlight=False,
                          markup=False, soft_wrap=True)


def main() -> None:
    app()
