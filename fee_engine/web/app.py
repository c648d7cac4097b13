"""``fee-engine serve``: the office's web application and the calculator API (Starlette, Jinja2, no build chain).

Pages: Ny kjøring (upload, check, run, report, downloads), Kalkulator, Regelendring, and the API's
description. Every page is rendered on the server; the only script is a small static file that redraws
the progress bar. See docs/web.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import gc
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import batch, kalkulator
from ..enrollment import MAX_INNTEKT_KR
from ..enrollment.fields import parse_kroner
from ..errors import FeeEngineError
from ..identity import mask_digits_in_text
from ..regelsett import RuleSet, load_rules
from ..steg import ALLE
from ..text import kroner, maaned_navn, thousands
from .config import WebConfig
from .kjoeringer import FINAL, RunManager, private_dir, read_json, write_json
from .openapi import CHILD_FIELDS, EXAMPLE_REQUEST, openapi
from .opplasting import UploadError, receive_upload
from .sikkerhet import TOKEN_RE, RateLimiter, Signer, WebMiddleware, session
from .tekster import FIELD_LABELS, KALKULATOR

STATIC = Path(__file__).parent / "static"
MAX_FORM_BYTES = 64 * 1024
MAX_API_BYTES = 256 * 1024
MAX_REJECTIONS_SHOWN = 2000
CLEANUP_EVERY_S = 600

FORMAT_NAMES = {
    "csv": "CSV (maanedlig.csv, vedtak.csv)",
    "xlsx": "Arbeidsbok (vedtak.xlsx)",
    "json": "JSON (vedtak.json)",
    "html": "Rapport (rapport.html)",
    "brev": "Vedtaksbrev (PDF)",
}
FILE_DESCRIPTIONS = {
    "vedtak.xlsx": "arbeidsbok for økonomi: forside, vedtak, månedlig, oppsummering, avvist og manuell",
    "maanedlig.csv": "ett beløp per barn og måned",
    "vedtak.csv": "ett vedtak per barn og periode, med forklaring",
    "vedtak.json": "vedtakene med hvert steg, for andre systemer",
    "rapport.html": "rapporten til kontoret",
    "avvist.csv": "avviste rader",
    "utenfor_perioden.csv": "plasser bare utenfor perioden",
    "revisjon.jsonl": "logg over skatteoppslag (maskert)",
    "kjoering.json": "regelsett, periode, tall og advarsler",
    "fakturagrunnlag.csv": "fakturagrunnlag",
    "fakturagrunnlag.xlsx": "fakturagrunnlag som arbeidsbok",
    "brev.zip": "vedtaksbrevene, alle i én ZIP",
}
RUN_PHASES = ["lese", "hente", "beregne", "skrive"]
PHASE_NAMES = {
    "lese": "Leser og kontrollerer filen",
    "hente": "Henter skattegrunnlag",
    "beregne": "Beregner",
    "skrive": "Skriver resultatene",
}


def _kr(v: Any) -> str:
    return kroner(int(v)).replace(" ", "\u00a0")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} kB"
    return f"{n / 1024 / 1024:.1f} MB".replace(".", ",")


def proxied(request: Request) -> bool:
    """The request came through a proxy (it says whom it forwards for)."""
    return any(h in request.headers for h in ("x-forwarded-for", "forwarded", "x-real-ip"))


def safe_name(filename: str, suffix: str) -> str:
    """The uploaded file's own name as the outputs will name it (kjoering.json, the report, the workbook), with
    nothing but letters, digits, «-», «_» and «.», digit runs like a fødselsnummer masked; never a path."""
    stem = Path(filename.replace("\\", "/")).stem
    stem = mask_digits_in_text(re.sub(r"[^\w.-]+", "_", stem)).replace("*", "x").strip("._")[:80]
    return (stem or "innskriving") + suffix


def barnehageaar(today: dt.date | None = None) -> str:
    first, _ = batch.default_period(today)
    return f"{first.year}/{(first.year + 1) % 100:02d}"


class Web:
    """The application's state: settings, rule set, runs, signer, templates, rate limits."""

    def __init__(self, config: WebConfig) -> None:
        config.check()
        self.config = config
        self.rules: RuleSet = load_rules(config.rules_dir, config.kommune_config)
        self.runs = RunManager(config)
        self.signer = Signer(config.secret)
        self.env = Environment(
            loader=PackageLoader("fee_engine.web", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(kr=_kr, tall=lambda v: thousands(int(v)).replace(" ", "\u00a0"), storrelse=_size)
        self.api_limiter = RateLimiter(config.rate_limit_per_minute)
        self.login_limiter = RateLimiter(10)
        self.step_names = {s.kode: s.beskrivelse for s in ALLE if getattr(s, "beskrivelse", "")}
        self.step_names.update(manuell_behandling="Venter på saksbehandler", ikke_fakturert="Ikke fakturert måned")
        self.example_answer: str | None = None

    # -- helpers -----------------------------------------------------------------------------------
    def authenticated(self, request: Request) -> bool:
        """The office's pages are open: the secret was given in this session, or the server has none and the
        request came straight from this machine (not through a proxy, which would open them to the network)."""
        if self.config.secret:
            return session(request).auth
        return not proxied(request)

    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        s = session(request)
        base = {
            "csrf": self.signer.csrf(s),
            "office": self.authenticated(request),
            "innlogget": bool(self.config.secret and s.auth),
            "regelsett": self.rules.version,
            "kilde": self.config.source_text,
        }
        return HTMLResponse(self.env.get_template(name).render(**base, **ctx), status_code=status)

    def guard(self, request: Request) -> Response | None:
        """Office pages: behind the access secret when the server has one."""
        if self.authenticated(request):
            return None
        if not self.config.secret:
            return self.render(
                request,
                "feil.html",
                403,
                tittel="Tilgangsnøkkel mangler",
                melding="Denne serveren har ingen tilgangsnøkkel og kan derfor ikke nås gjennom en "
                "proxy. Start den med --tilgangsnokkel (se docs/web.md).",
            )
        if request.method == "GET" and "application/json" not in request.headers.get("accept", ""):
            return RedirectResponse("/logg-inn", status_code=303)
        return JSONResponse({"feil": "logg inn først"}, status_code=403)

    def forbidden(self, request: Request) -> HTMLResponse:
        return self.render(
            request,
            "feil.html",
            403,
            tittel="Skjemaet er utløpt",
            melding="Skjemaet kom ikke fra denne siden, eller økten er utløpt. Gå tilbake og last siden på nytt.",
        )

    def not_found(self, request: Request) -> HTMLResponse:
        return self.render(
            request,
            "feil.html",
            404,
            tittel="Finnes ikke",
            melding="Siden finnes ikke, eller kjøringen er slettet (kjøringer slettes etter "
            f"{self.config.retention_hours:g} timer).",
        )

    async def small_form(self, request: Request) -> dict[str, list[str]] | None:
        """A urlencoded form of at most 64 kB (None when larger)."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    def csrf_ok(self, request: Request, form: dict[str, list[str]] | None) -> bool:
        return form is not None and self.signer.check_csrf(session(request), (form.get("csrf") or [""])[0])

    def run_or_none(self, request: Request) -> Path | None:
        return self.runs.path(request.path_params.get("token", ""))

    def clean_message(self, run: Path, message: str) -> str:
        return mask_digits_in_text(message.replace(str(run) + "/", "").replace(str(run), ""))

    # -- login -------------------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        if not self.config.secret or session(request).auth:
            return RedirectResponse("/", status_code=303)
        return self.render(request, "logg_inn.html")

    async def login(self, request: Request) -> Response:
        form = await self.small_form(request)
        if not self.csrf_ok(request, form):
            return self.forbidden(request)
        ok, wait = self.login_limiter.allow(request.client.host if request.client else "?")
        if not ok:
            return self.render(request, "logg_inn.html", 429, feil=f"For mange forsøk; vent {wait} sekunder.")
        assert form is not None
        if not self.signer.check_secret((form.get("nokkel") or [""])[0]):
            return self.render(request, "logg_inn.html", 401, feil="Feil tilgangsnøkkel.")
        session(request).login()
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await self.small_form(request)
        if not self.csrf_ok(request, form):
            return self.forbidden(request)
        session(request).logout()
        return RedirectResponse("/logg-inn" if self.config.secret else "/", status_code=303)

    # -- Ny kjøring --------------------------------------------------------------------------------
    def periods(self) -> list[str]:
        last = self.rules.info.gyldig_til
        end_year = last.year if last.month >= 7 else last.year - 1
        return [f"{y}/{(y + 1) % 100:02d}" for y in range(end_year - 1, 2018, -1)]

    def formats(self) -> list[tuple[str, str]]:
        return [(f, FORMAT_NAMES.get(f, f)) for f in batch.ALL_FORMATS]

    async def home(self, request: Request, feil: str = "", status: int = 200) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        last = session(request).last_run
        return self.render(
            request,
            "forside.html",
            status,
            side="ny",
            feil=feil,
            periode=barnehageaar(),
            perioder=self.periods(),
            formater=self.formats(),
            maks_mb=f"{self.config.max_upload_mb:g}",
            siste=last if last and self.runs.path(last) else "",
        )

    async def new_run(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        s = session(request)
        token, run = self.runs.new_run()

        def name_for(field: str, filename: str, n: int) -> str:
            suffix = Path(filename).suffix.lower()
            if field == "innskriving":
                if suffix in (".csv", ".txt"):
                    return safe_name(filename, ".csv")
                if suffix in (".xlsx", ".xlsm"):
                    return safe_name(filename, ".xlsx")
                raise UploadError(400, "innskrivingsfilen må være CSV eller XLSX (.csv eller .xlsx)")
            if field == "kommunefil":
                if suffix in (".yaml", ".yml"):
                    return f"kommune-{n}.yaml"
                raise UploadError(400, "kommunefilen må være YAML (.yaml)")
            raise UploadError(400, "ukjent fil i skjemaet")

        try:
            up = await receive_upload(
                request, run / "inn", self.config.max_upload_bytes, name_for, lambda t: self.signer.check_csrf(s, t)
            )
            if not self.signer.check_csrf(s, up.fields.get("csrf", "")):
                raise UploadError(403, "skjemaet er utløpt eller kom ikke fra denne siden; last siden på nytt")
            enr = [f for f in up.files if f.field == "innskriving"]
            if not enr or enr[0].size == 0:
                raise UploadError(400, "velg en innskrivingsfil (den var tom eller manglet)")
            period_text = up.fields.get("periode", "").strip() or barnehageaar()
            try:
                batch.parse_period(period_text)
            except FeeEngineError as exc:
                raise UploadError(400, str(exc).replace("--period", "perioden")) from None
        except UploadError as exc:
            self.runs.discard(run)
            return await self.home(request, feil=exc.message, status=exc.status)
        wanted = set(up.multi.get("format", [])) | {"csv"}
        meta = {
            "opprettet": time.time(),
            "filnavn": mask_digits_in_text(Path(enr[0].filename).name)[:120],
            "innskriving": enr[0].path.name,
            "kommunefiler": [f.path.name for f in up.files if f.field == "kommunefil"],
            "periode": period_text,
            "formater": [f for f in batch.ALL_FORMATS if f in wanted],
        }
        write_json(run / "meta.json", meta)
        self.runs.start(run, "kontroll", run / "kontroll")
        s.last_run, s.dirty = token, True
        return RedirectResponse(f"/kjoering/{token}", status_code=303)

    def phases(self, st: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        sums: dict[str, dict[str, Any]] = {}
        for key, label, done, total in st.get("faser", []):
            v = sums.setdefault(key, {"gjort": 0, "totalt": 0, "etikett": label})
            v["gjort"] += done
            v["totalt"] += total
            v["etikett"] = label
        current = st.get("fase", "")
        cur = keys.index(current) if current in keys else -1
        finished = st.get("tilstand") in FINAL
        out = []
        for i, key in enumerate(keys):
            v = sums.get(key, {"gjort": 0, "totalt": 0, "etikett": ""})
            if finished or i < cur:
                state = "ferdig"
            elif i == cur:
                state = "pagaar"
            else:
                state = "venter"
            name = PHASE_NAMES[key]
            if key == "skrive" and state == "pagaar" and v["etikett"]:
                name = v["etikett"]
            if key == "hente" and state == "ferdig" and not v["totalt"]:
                name += " (ingen oppslag trengs)"
            pct = int(100 * v["gjort"] / v["totalt"]) if v["totalt"] else 0
            out.append({"navn": name, "tilstand": state, "gjort": v["gjort"], "totalt": v["totalt"], "prosent": pct})
        if cur == -1 and not finished and keys:
            out[0]["tilstand"] = "pagaar"
        return {"faser": out, "sekunder": int(time.time() - float(st.get("startet", time.time())))}

    def work_dir(self, run: Path) -> tuple[Path, list[str]]:
        kj = run / "kjoering"
        if (kj / "status.json").exists():
            return kj, RUN_PHASES
        return run / "kontroll", ["lese"]

    async def run_page(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        run = self.run_or_none(request)
        if run is None:
            return self.not_found(request)
        token = run.name
        meta = read_json(run / "meta.json") or {}
        directory, keys = self.work_dir(run)
        st = self.runs.status(directory) or {"tilstand": "feilet", "melding": "fant ikke arbeidet"}
        started = directory.name == "kjoering"
        if st["tilstand"] == "feilet":
            return self.render(
                request,
                "feilet.html",
                side="ny",
                tittel="Kjøringen stoppet" if started else "Filen kunne ikke kontrolleres",
                melding=self.clean_message(run, st.get("melding", "")),
                tilbake="/",
                tilbake_tekst="Ny kjøring",
            )
        if st["tilstand"] != "ferdig":
            return self.render(
                request,
                "venter.html",
                side="ny",
                tittel="Beregner" if started else "Kontrollerer filen",
                ingress=f"{meta.get('filnavn', '')} · periode {meta.get('periode', '')}",
                status_url=f"/kjoering/{token}/status",
                **self.phases(st, keys),
            )
        if not started:
            return await run_in_threadpool(self._check_page, request, run, meta)
        return await run_in_threadpool(self._result_page, request, run, meta)

    def _check_page(self, request: Request, run: Path, meta: dict[str, Any]) -> Response:
        summary = read_json(run / "kontroll" / "oppsummering.json") or {}
        rows = []
        # written in the office's Excel dialect (; with a BOM), so it opens as it is when downloaded
        with (
            contextlib.suppress(OSError),
            (run / "kontroll" / "avvist.csv").open(encoding="utf-8-sig", newline="") as fh,
        ):
            for i, row in enumerate(csv.DictReader(fh, delimiter=";")):
                if i >= MAX_REJECTIONS_SHOWN:
                    break
                rows.append(row)
        return self.render(request, "kontroll.html", side="ny", token=run.name, meta=meta, o=summary, avvist=rows)

    def _result_page(self, request: Request, run: Path, meta: dict[str, Any]) -> Response:
        result = read_json(run / "kjoering" / "resultat.json") or {}
        manual = read_json(run / "kjoering" / "manuelle.json") or {"totalt": 0, "saker": []}
        files = self.runs.downloads(run)
        return self.render(
            request,
            "resultat.html",
            side="ny",
            token=run.name,
            meta=meta,
            r=result,
            filer=files,
            beskrivelser=FILE_DESCRIPTIONS,
            manuelle=manual["saker"],
            manuelle_totalt=manual["totalt"],
            har_rapport=any(f.name == "rapport.html" for f in files),
        )

    async def run_status(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        run = self.run_or_none(request)
        if run is None:
            return JSONResponse({"feil": "finnes ikke"}, status_code=404)
        directory, keys = self.work_dir(run)
        return self._status_json(directory, keys)

    def _status_json(self, directory: Path, keys: list[str]) -> Response:
        st = self.runs.status(directory) or {"tilstand": "feilet"}
        view = self.phases(st, keys)
        html = self.env.get_template("_fremdrift.html").render(**view)
        return JSONResponse(
            {
                "tilstand": st.get("tilstand"),
                "fase": st.get("fase", ""),
                "etikett": st.get("etikett", ""),
                "gjort": st.get("gjort", 0),
                "totalt": st.get("totalt", 0),
                "html": html,
            }
        )

    async def start_run(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        form = await self.small_form(request)
        if not self.csrf_ok(request, form):
            return self.forbidden(request)
        run = self.run_or_none(request)
        if run is None:
            return self.not_found(request)
        kontroll = self.runs.status(run / "kontroll") or {}
        if kontroll.get("tilstand") == "ferdig" and not (run / "kjoering" / "status.json").exists():
            self.runs.start(run, "kjoering", run / "kjoering")
        return RedirectResponse(f"/kjoering/{run.name}", status_code=303)

    async def download(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        run = self.run_or_none(request)
        name = request.path_params.get("navn", "")
        if run is None:
            return self.not_found(request)
        if (path := self.runs.output_file(run, name)) is not None:
            return FileResponse(path, filename=name, content_disposition_type="attachment")
        if (folder := self.runs.output_folder(run, name)) is not None:
            return StreamingResponse(
                self.runs.zip_chunks(folder),
                media_type="application/zip",
                headers={"content-disposition": f'attachment; filename="{name}"'},
            )
        return self.not_found(request)

    async def rejections_csv(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        run = self.run_or_none(request)
        path = run / "kontroll" / "avvist.csv" if run else None
        if path is None or not path.is_file():
            return self.not_found(request)
        return FileResponse(path, filename="avvist.csv", content_disposition_type="attachment")

    async def report(self, request: Request) -> Response:
        """``rapport.html`` as the batch wrote it (inline CSS and SVG, no script), in a sandbox."""
        if (r := self.guard(request)) is not None:
            return r
        run = self.run_or_none(request)
        path = self.runs.output_file(run, "rapport.html") if run else None
        if path is None:
            return self.not_found(request)
        return FileResponse(
            path,
            media_type="text/html; charset=utf-8",
            headers={
                "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "frame-ancestors 'none'; sandbox"
            },
        )

    # -- Regelendring ------------------------------------------------------------------------------
    def reforms(self) -> list[tuple[str, str]]:
        d = self.config.reform_dir
        if not d or not Path(d).is_dir():
            return []
        out = []
        for f in sorted(Path(d).glob("*.yaml")):
            first = next(
                (ln.lstrip("# ").strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.startswith("#")), ""
            )
            out.append((f.stem, first))
        return out

    def parameter_paths(self) -> list[str]:
        paths = list(self.rules.national)
        for nr, m in sorted(self.rules.municipalities.items()):
            paths += [f"kommune.{nr}.{p}" for p in m.parametere]
        return paths

    def earlier_diffs(self, run: Path) -> list[tuple[str, str]]:
        base = run / "regelendring"
        if not base.is_dir():
            return []
        items = []
        for d in base.iterdir():
            info = read_json(d / "navn.json")
            if info and TOKEN_RE.fullmatch(d.name):
                items.append((info.get("opprettet", 0), d.name, info.get("navn", d.name)))
        return [(i, n) for _, i, n in sorted(items)]

    async def reform_latest(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        last = session(request).last_run
        run = self.runs.path(last) if last else None
        if run is not None and (self.runs.status(run / "kjoering") or {}).get("tilstand") == "ferdig":
            return RedirectResponse(f"/kjoering/{run.name}/regelendring", status_code=303)
        return self.render(request, "regelendring_tom.html", side="regelendring")

    async def reform_page(
        self, request: Request, feil: str = "", status: int = 200, skjema: dict[str, str] | None = None, valgt: str = ""
    ) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        run = self.run_or_none(request)
        if run is None:
            return self.not_found(request)
        if (self.runs.status(run / "kjoering") or {}).get("tilstand") != "ferdig":
            return RedirectResponse(f"/kjoering/{run.name}", status_code=303)
        meta = read_json(run / "meta.json") or {}
        reforms = self.reforms()
        return self.render(
            request,
            "regelendring.html",
            status,
            side="regelendring",
            token=run.name,
            meta=meta,
            feil=feil,
            reformer=reforms,
            parametere=self.parameter_paths(),
            skjema=skjema or {"parameter": "", "fra": "", "verdi": ""},
            valgt=valgt or ("reform" if reforms else "verdi"),
            tidligere=self.earlier_diffs(run),
        )

    async def start_reform(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        run = self.run_or_none(request)
        if run is None:
            return self.not_found(request)
        s = session(request)
        import secrets as _secrets

        rid = _secrets.token_urlsafe(32)
        directory = private_dir(run / "regelendring" / rid)

        def name_for(field: str, filename: str, n: int) -> str:
            if field != "reformfil" or Path(filename).suffix.lower() not in (".yaml", ".yml"):
                raise UploadError(400, "reformfilen må være YAML (.yaml)")
            return "opplastet.yaml"

        fields: dict[str, str] = {}
        try:
            up = await receive_upload(request, directory, 1024 * 1024, name_for, lambda t: self.signer.check_csrf(s, t))
            fields = up.fields
            if not self.signer.check_csrf(s, fields.get("csrf", "")):
                raise UploadError(403, "skjemaet er utløpt; last siden på nytt")
            kind = fields.get("type", "")
            if kind == "reform":
                name = fields.get("reform", "")
                if name not in dict(self.reforms()):
                    raise UploadError(400, "velg en av reformene i listen")
                source = Path(self.config.reform_dir) / f"{name}.yaml"  # type: ignore[arg-type]
                overlay_path = directory / f"{name}.yaml"
                overlay_path.write_bytes(source.read_bytes())
                label = name
            elif kind == "fil":
                up_files = [f for f in up.files if f.field == "reformfil" and f.size > 0]
                if not up_files:
                    raise UploadError(400, "velg en reformfil")
                stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(up_files[0].filename).stem)[:40] or "reformfil"
                overlay_path = directory / f"{stem}.yaml"
                up_files[0].path.rename(overlay_path)
                label = mask_digits_in_text(stem)
            elif kind == "verdi":
                overlay_path, label = self._value_overlay(directory, fields)
            else:
                raise UploadError(400, "velg en reform, en reformfil eller en verdi å endre")
            await run_in_threadpool(self._check_overlay, run, overlay_path)
        except UploadError as exc:
            self.runs.discard(directory)
            return await self.reform_page(
                request,
                feil=exc.message,
                status=exc.status,
                valgt=fields.get("type", ""),
                skjema={k: fields.get(k, "") for k in ("parameter", "fra", "verdi")},
            )
        write_json(directory / "navn.json", {"navn": label, "opprettet": time.time()})
        self.runs.start(run, "regelendring", directory, reform=str(overlay_path))
        return RedirectResponse(f"/kjoering/{run.name}/regelendring/{rid}", status_code=303)

    @staticmethod
    def _value_overlay(directory: Path, fields: dict[str, str]) -> tuple[Path, str]:
        path = fields.get("parameter", "").strip()
        try:
            day = dt.date.fromisoformat(fields.get("fra", "").strip())
        except ValueError:
            raise UploadError(400, "fra dato må være en dato (ÅÅÅÅ-MM-DD)") from None
        text = fields.get("verdi", "").strip()
        if not path or not text:
            raise UploadError(400, "skriv både parameter og ny verdi")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UploadError(400, f"«{text}» kan ikke leses som en verdi") from None
        overlay_path = directory / "endret_verdi.yaml"
        overlay_path.write_text(yaml.safe_dump({path: {day: value}}, allow_unicode=True), encoding="utf-8")
        return overlay_path, f"{path} = {text} fra {day.isoformat()}"

    def _check_overlay(self, run: Path, overlay_path: Path) -> None:
        from ..regelsett.reform import apply_overlay, read_overlay

        meta = read_json(run / "meta.json") or {}
        rules = self.rules
        if meta.get("kommunefiler"):
            rules = load_rules(self.config.rules_dir, [run / "inn" / f for f in meta["kommunefiler"]])
        try:
            apply_overlay(rules, read_overlay(overlay_path), overlay_path.stem)
        except FeeEngineError as exc:
            raise UploadError(400, self.clean_message(run, str(exc))) from None

    def reform_dir(self, request: Request) -> tuple[Path, Path] | None:
        run = self.run_or_none(request)
        rid = request.path_params.get("rid", "")
        if run is None or not TOKEN_RE.fullmatch(rid) or not (run / "regelendring" / rid / "navn.json").is_file():
            return None
        return run, run / "regelendring" / rid

    async def reform_result(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        found = self.reform_dir(request)
        if found is None:
            return self.not_found(request)
        run, directory = found
        meta = read_json(run / "meta.json") or {}
        name = (read_json(directory / "navn.json") or {}).get("navn", "")
        st = self.runs.status(directory) or {"tilstand": "feilet", "melding": "fant ikke arbeidet"}
        if st["tilstand"] == "feilet":
            return self.render(
                request,
                "feilet.html",
                side="regelendring",
                tittel="Regelendringen stoppet",
                melding=self.clean_message(run, st.get("melding", "")),
                tilbake=f"/kjoering/{run.name}/regelendring",
                tilbake_tekst="Tilbake",
            )
        if st["tilstand"] != "ferdig":
            return self.render(
                request,
                "venter.html",
                side="regelendring",
                tittel=f"Regelendring: {name}",
                ingress="Den samme filen beregnes med dagens regler (A) og med endringen (B).",
                status_url=f"/kjoering/{run.name}/regelendring/{directory.name}/status",
                **self.phases(st, ["lese", "hente", "beregne"]),
            )
        summary = read_json(directory / "sammendrag.json") or {}
        files = [f for f in self.runs.downloads_in(directory / "ut")]
        return self.render(
            request,
            "regelendring_resultat.html",
            side="regelendring",
            token=run.name,
            id=directory.name,
            navn=name,
            meta=meta,
            s=summary,
            filer=files,
        )

    async def reform_status(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        found = self.reform_dir(request)
        if found is None:
            return JSONResponse({"feil": "finnes ikke"}, status_code=404)
        return self._status_json(found[1], ["lese", "hente", "beregne"])

    async def reform_download(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        found = self.reform_dir(request)
        name = request.path_params.get("navn", "")
        path = self.runs.output_file(found[0], name, sub=f"regelendring/{found[1].name}") if found else None
        if path is None:
            return self.not_found(request)
        return FileResponse(path, filename=name, content_disposition_type="attachment")

    # -- Kalkulator --------------------------------------------------------------------------------
    def calculator_open(self, request: Request) -> bool:
        return self.config.public_calculator or self.authenticated(request)

    def default_kommune(self) -> str:
        nrs = sorted(self.rules.municipalities)
        if self.config.kommune in self.rules.municipalities:
            return self.config.kommune  # type: ignore[return-value]
        if self.config.kommune_config:
            return sorted(self.rules.municipalities)[0] if len(nrs) == 1 else self._first_configured(nrs)
        return nrs[0]

    def _first_configured(self, nrs: list[str]) -> str:
        from ..regelsett import load_municipality

        with contextlib.suppress(FeeEngineError, OSError):
            return load_municipality(Path(self.config.kommune_config[0])).kommunenummer
        return nrs[0]

    def maalform(self, kommune: str, day: dt.date) -> str:
        for nr, _, form in kalkulator.municipalities(self.rules, day):
            if nr == kommune:
                return form if form in KALKULATOR else "bokmål"
        return "bokmål"

    async def calculator(self, request: Request) -> Response:
        if not self.calculator_open(request):
            return self.guard(request) or RedirectResponse("/logg-inn", status_code=303)
        today = dt.date.today()
        kommune = request.query_params.get("kommune", "")
        if kommune not in self.rules.municipalities:
            kommune = self.default_kommune()
        form = {
            "kommune": kommune,
            "maaned": f"{today:%Y-%m}",
            "soekt": True,
            "inntektsform": "voksne",
            "inntekt_soeker": "",
            "inntekt_partner": "",
            "inntekt_samlet": "",
            "barn": [self._blank_child("barnehage"), self._blank_child("")],
        }
        return self._calculator_page(request, form)

    @staticmethod
    def _blank_child(tilbud: str) -> dict[str, Any]:
        return {
            "tilbud": tilbud,
            "fodt": "",
            "plass": "100" if tilbud == "barnehage" else "",
            "trinn": "",
            "timer": "",
            "pris": "",
            "saerskilte": False,
        }

    def _calculator_page(self, request: Request, form: dict[str, Any], status: int = 200, **ctx: Any) -> Response:
        try:
            day = kalkulator.parse_maaned(form["maaned"])
        except kalkulator.KalkulatorFeil:
            day = dt.date.today()
        if day > self.rules.info.gyldig_til:
            day = self.rules.info.gyldig_til
        form_lang = self.maalform(form["kommune"], day)
        t = KALKULATOR[form_lang]
        return self.render(
            request,
            "kalkulator.html",
            status,
            side="kalkulator",
            t=t,
            skjema=form,
            kommuner=kalkulator.municipalities(self.rules, day),
            stegnavn=self.step_names,
            lang="nn" if form_lang == "nynorsk" else "nb",
            **ctx,
        )

    async def calculate(self, request: Request) -> Response:
        if not self.calculator_open(request):
            return self.guard(request) or RedirectResponse("/logg-inn", status_code=303)
        raw = await self.small_form(request)
        if not self.csrf_ok(request, raw):
            return self.forbidden(request)
        if not self.authenticated(request):
            ok, wait = self.api_limiter.allow(request.client.host if request.client else "?")
            if not ok:
                return PlainTextResponse(
                    f"For mange beregninger; vent {wait} sekunder.", status_code=429, headers={"retry-after": str(wait)}
                )
        assert raw is not None

        def one(name: str) -> str:
            return (raw.get(name) or [""])[0].strip()

        try:
            n = max(1, min(int(one("antall") or "1"), kalkulator.MAX_BARN))
        except ValueError:
            n = 1
        children = [
            {
                "tilbud": one(f"tilbud_{i}") if one(f"tilbud_{i}") in ("barnehage", "sfo") else "",
                "fodt": one(f"fodt_{i}"),
                "plass": one(f"plass_{i}"),
                "trinn": one(f"trinn_{i}"),
                "timer": one(f"timer_{i}"),
                "pris": one(f"pris_{i}"),
                "saerskilte": one(f"saerskilte_{i}") == "ja",
            }
            for i in range(n)
        ]
        kommune = one("kommune") if one("kommune") in self.rules.municipalities else self.default_kommune()
        form = {
            "kommune": kommune,
            "maaned": one("maaned"),
            "soekt": one("soekt") == "ja",
            "inntektsform": "samlet" if one("inntektsform") == "samlet" else "voksne",
            "inntekt_soeker": one("inntekt_soeker"),
            "inntekt_partner": one("inntekt_partner"),
            "inntekt_samlet": one("inntekt_samlet"),
            "barn": children,
        }
        if one("handling") == "flere" and n < kalkulator.MAX_BARN:
            children.append(self._blank_child(""))
            return self._calculator_page(request, form)
        return await run_in_threadpool(self._calculate, request, form)

    def _calculate(self, request: Request, form: dict[str, Any]) -> Response:
        try:
            day = kalkulator.parse_maaned(form["maaned"])
        except kalkulator.KalkulatorFeil:
            day = dt.date.today()
        t = KALKULATOR[self.maalform(form["kommune"], min(day, self.rules.info.gyldig_til))]
        errors: list[dict[str, str]] = []
        rows, index = [], []
        for i, c in enumerate(form["barn"]):
            if not c["tilbud"]:
                continue
            row = {
                "barn_id": f"{t['barn']} {i + 1}",
                "husholdning_id": "H",
                "kommunenummer": form["kommune"],
                "tilbud": c["tilbud"],
                "soekt_redusert": "ja" if form["soekt"] else "nei",
                "saerskilte_behov": "ja" if c["saerskilte"] else "",
            }
            if c["tilbud"] == "barnehage":
                row.update(barn_fodselsdato=c["fodt"], plass_prosent=c["plass"], pris_maaned=c["pris"])
            else:
                row.update(
                    trinn=c["trinn"], timer_per_uke=c["timer"], barn_fodselsdato=c["fodt"], pris_maaned=c["pris"]
                )
            rows.append(row)
            index.append(i)
        if not rows:
            return self._calculator_page(
                request, form, 422, feil=[{"etikett": t["barn"], "verdi": "", "aarsak": t["ingen_barn"]}]
            )
        income: Any = None
        note = ""
        if form["soekt"]:
            income, errors = self._household_income(form, t)
            if income is None and not errors:
                note = t["uten_inntekt"]
        else:
            note = ""
        try:  # (with a bad income, the children are still checked, so every problem shows at once)
            result = kalkulator.beregn(self.rules, form["maaned"], rows, {"H": income} if income is not None else {})
        except kalkulator.KalkulatorFeil as exc:
            errors += [
                {"etikett": self._label(f.felt, index, t), "verdi": f.verdi, "aarsak": f.aarsak} for f in exc.feil
            ]
        if errors:
            return self._calculator_page(request, form, 422, feil=errors)
        month = kalkulator.parse_maaned(form["maaned"])
        return self._calculator_page(
            request,
            form,
            resultat=result,
            merknad=note,
            oppgitt=income is not None,
            sum=sum(b.belop for b in result.barn),
            maaned_tekst=maaned_navn(month),
        )

    @staticmethod
    def _household_income(form: dict[str, Any], t: dict[str, str]) -> tuple[str | None, list[dict[str, str]]]:
        """The household's income as kroner text for the calculator (None: none given), or the problems."""
        import pandas as pd

        if form["inntektsform"] == "samlet":
            parts = [("inntekt_samlet", t["husholdningens"])]
        else:
            parts = [("inntekt_soeker", t["soeker"]), ("inntekt_partner", t["partner"])]
        given = [(form[k], label) for k, label in parts if form[k]]
        if not given:
            return None, []
        oere, codes = parse_kroner(pd.Series([g for g, _ in given], dtype=object), MAX_INNTEKT_KR)
        errors = []
        from ..enrollment import REASONS

        for (text, label), code in zip(given, codes.tolist()):
            if code:
                fmt = {
                    "hint": " i kroner, f.eks. 300000 eller 300 000",
                    "hint_en": "",
                    "max": f"{MAX_INNTEKT_KR:,} kr".replace(",", " "),
                }
                errors.append({"etikett": label, "verdi": text, "aarsak": REASONS[code][0].format(**fmt)})
        if errors:
            return None, errors
        total = int(oere.sum())
        return f"{total // 100},{total % 100:02d}", []

    @staticmethod
    def _label(felt: str, index: list[int], t: dict[str, str]) -> str:
        m = re.fullmatch(r"barn\[(\d+)\]\.?(.*)", felt)
        if m:
            k = int(m.group(1))
            i = index[k] if k < len(index) else k
            column = m.group(2)
            return f"{t['barn']} {i + 1}" + (
                f", {t[FIELD_LABELS[column]].lower()}" if column in FIELD_LABELS else (f", {column}" if column else "")
            )
        if felt.startswith("inntekt"):
            return t["inntekt"]
        if felt == "maaned":
            return t["maaned"]
        return felt or t["husholdning"]

    # -- API ---------------------------------------------------------------------------------------
    def api_allowed(self, request: Request) -> bool:
        if self.config.public_calculator or self.authenticated(request):
            return True
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and self.signer.check_secret(auth[7:])

    def cors(self, request: Request) -> dict[str, str]:
        origin = request.headers.get("origin", "")
        if self.config.public_calculator and origin and origin in self.config.cors_origins:
            return {
                "access-control-allow-origin": origin,
                "vary": "Origin",
                "cross-origin-resource-policy": "cross-origin",
            }
        return {"vary": "Origin"}

    async def api_preflight(self, request: Request) -> Response:
        headers = self.cors(request)
        if "access-control-allow-origin" in headers:
            headers.update(
                {
                    "access-control-allow-methods": "POST, GET, OPTIONS",
                    "access-control-allow-headers": "Content-Type",
                    "access-control-max-age": "600",
                }
            )
        return Response(status_code=204, headers=headers)

    def api_error(
        self,
        request: Request,
        status: int,
        felt: str,
        aarsak: str,
        aarsak_en: str,
        kode: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        body = {"feil": [{"felt": felt, "verdi": "", "aarsak": aarsak, "aarsak_en": aarsak_en, "kode": kode}]}
        return JSONResponse(body, status_code=status, headers={**self.cors(request), **(headers or {})})

    async def api_calculate(self, request: Request) -> Response:
        if not self.api_allowed(request):
            return self.api_error(
                request,
                401,
                "",
                "tilgangsnøkkel mangler",
                "access secret missing",
                "tilgang",
                {"www-authenticate": "Bearer"},
            )
        if self.config.public_calculator and not self.authenticated(request):
            ok, wait = self.api_limiter.allow(request.client.host if request.client else "?")
            if not ok:
                return self.api_error(
                    request,
                    429,
                    "",
                    f"for mange kall; vent {wait} sekunder",
                    f"too many requests; wait {wait} seconds",
                    "grense",
                    {"retry-after": str(wait)},
                )
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return self.api_error(
                request,
                415,
                "",
                "Content-Type må være application/json",
                "Content-Type must be application/json",
                "innholdstype",
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_API_BYTES:
                return self.api_error(
                    request, 413, "", "forespørselen er for stor", "the request is too large", "for_stor"
                )
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self.api_error(request, 400, "", "ikke gyldig JSON", "not valid JSON", "json")
        try:
            result = await run_in_threadpool(kalkulator.beregn_json, self.rules, data)
        except kalkulator.KalkulatorFeil as exc:
            return JSONResponse({"feil": [f.as_dict() for f in exc.feil]}, status_code=422, headers=self.cors(request))
        return JSONResponse(result, headers=self.cors(request))

    async def api_spec(self, request: Request) -> Response:
        if not self.api_allowed(request):
            return self.api_error(request, 401, "", "tilgangsnøkkel mangler", "access secret missing", "tilgang")
        return JSONResponse(openapi(self.rules.version), headers=self.cors(request))

    async def api_page(self, request: Request) -> Response:
        if (r := self.guard(request)) is not None:
            return r
        example = json.dumps(EXAMPLE_REQUEST, ensure_ascii=False, indent=2)
        if self.example_answer is None:  # the example computed once, by the engine itself
            try:
                answer = await run_in_threadpool(kalkulator.beregn_json, self.rules, EXAMPLE_REQUEST)
                for b in answer["barn"]:
                    b["forklaring"] = b["forklaring"][:90] + " …"
                    b["steg"] = b["steg"][:1] + (["…"] if len(b["steg"]) > 1 else [])
                self.example_answer = json.dumps({"barn": answer["barn"][:1]}, ensure_ascii=False, indent=2)
            except FeeEngineError as exc:
                self.example_answer = str(exc)
        return self.render(
            request,
            "api.html",
            side="api",
            eksempel=example,
            svar=self.example_answer,
            felt=CHILD_FIELDS,
            offentlig=self.config.public_calculator,
            grense=self.config.rate_limit_per_minute,
            opprinnelser=", ".join(self.config.cors_origins),
        )

    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def not_found_handler(self, request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"feil": "finnes ikke"}, status_code=404)
        return self.not_found(request)

    # -- retention ---------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette):  # type: ignore[no-untyped-def]
        await run_in_threadpool(self.runs.cleanup)
        # The rule set, templates and modules live as long as the server: keep them out of the collector's scans
        # (every full collection would walk them again; a calculation makes many short-lived objects).
        gc.collect()
        gc.freeze()

        async def every() -> None:
            while True:
                await asyncio.sleep(CLEANUP_EVERY_S)
                await run_in_threadpool(self.runs.cleanup)

        task = asyncio.create_task(every())
        try:
            yield
        finally:
            task.cancel()
            self.runs.stop_all()


def create_app(config: WebConfig) -> Starlette:
    web = Web(config)
    routes = [
        Route("/", web.home),
        Route("/logg-inn", web.login_page, methods=["GET"]),
        Route("/logg-inn", web.login, methods=["POST"]),
        Route("/logg-ut", web.logout, methods=["POST"]),
        Route("/kjoering", web.new_run, methods=["POST"]),
        Route("/kjoering/{token}", web.run_page),
        Route("/kjoering/{token}/status", web.run_status),
        Route("/kjoering/{token}/start", web.start_run, methods=["POST"]),
        Route("/kjoering/{token}/fil/{navn}", web.download),
        Route("/kjoering/{token}/avvist.csv", web.rejections_csv),
        Route("/kjoering/{token}/rapport", web.report),
        Route("/kjoering/{token}/regelendring", web.reform_page, methods=["GET"]),
        Route("/kjoering/{token}/regelendring", web.start_reform, methods=["POST"]),
        Route("/kjoering/{token}/regelendring/{rid}", web.reform_result),
        Route("/kjoering/{token}/regelendring/{rid}/status", web.reform_status),
        Route("/kjoering/{token}/regelendring/{rid}/fil/{navn}", web.reform_download),
        Route("/regelendring", web.reform_latest),
        Route("/kalkulator", web.calculator, methods=["GET"]),
        Route("/kalkulator", web.calculate, methods=["POST"]),
        Route("/api", web.api_page),
        Route("/api/beregn", web.api_calculate, methods=["POST"]),
        Route("/api/beregn", web.api_preflight, methods=["OPTIONS"]),
        Route("/api/openapi.json", web.api_spec, methods=["GET"]),
        Route("/api/openapi.json", web.api_preflight, methods=["OPTIONS"]),
        Route("/helse", web.health),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=web.lifespan, exception_handlers={404: web.not_found_handler})
    app.state.web = web
    app.add_middleware(WebMiddleware, config=config, signer=web.signer)
    return app
