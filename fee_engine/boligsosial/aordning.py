"""Income reported in a-ordningen: Skatteetaten's Inntekt API, its answer, the months to ask for, and the sources.

The API (``docs/api/inntekt.md`` in Skatteetaten/api-dokumentasjon): scope ``skatteetaten:inntekt``,
rights package ``kommuneBoligsosialeFormaal``, the documented (old) URL
``GET {base}/api/innrapportert/inntektsmottaker/{rettighetspakke}/{personidentifikator}/oppgave/inntekt
?fraOgMed=YYYY-MM&tilOgMed=YYYY-MM``. Skatteetaten says this URL will be phased out for the one in
its OpenAPI (not public here), so both the base URL and the path template are settings
(``FEE_ENGINE_INNTEKT_URL``, ``FEE_ENGINE_INNTEKT_STI``). Error codes IM-001 … IM-010: IM-007
(404, no match on the person) and IM-008 (404, no income for the person and period, e.g.
deleted) are outcomes; IM-003 (404, unknown URL), IM-005/IM-010 (403) and IM-009 (406) stop
the run; IM-006 (400) is a failed lookup; IM-001/IM-002 (500) are retried.

The answer: ``oppgaveInntektsmottaker``, one element per month and payer (``kalendermaaned``,
``opplysningspliktigId``, ``virksomhetId``, ``inntektsmottaker.personidentifikator``) with its
``inntekt`` items (``fordel``: kontantytelse, naturalytelse or utgiftsgodtgjoerelse;
``beloep``; one of ``loennsinntekt``, ``ytelseFraOffentlige``, ``pensjonEllerTrygd``,
``naeringsinntekt`` with a ``beskrivelse``). It is decoded straight into the typed model below
(msgspec, unknown fields skipped) and checked against the request: the person, every month
within the period asked for, amounts in kroner with at most two decimals within ±10¹¹. One
that does not fit is a failed lookup (``UGYLDIG-SVAR``) with the reason; never zero income.

Months: a month is complete from the 10th of the month after (Skatteetaten: data are mostly
complete by then; do not base decisions on a month before it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import httpx
import msgspec
from msgspec import Meta, Struct

from ..errors import ConfigurationError
from ..identity import mask
from ..taxdata import answer as answers
from ..taxdata.cache import FINAL, LookupCache
from ..taxdata.client import ApiClient
from ..taxdata.errors import TaxConfigurationError, TaxDataError
from ..taxdata.formaal import Formaal

log = logging.getLogger("fee_engine.taxdata")
COMPLETE_FROM_DAY = 10
MAX_OERE = answers.MAX_AMOUNT * 100
OUTCOMES = {"IM-007": "ukjent_person", "IM-008": "ingen_data"}
Month = Annotated[str, Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]


# -- the months ---------------------------------------------------------------------------------------
def complete_months(day: dt.date, n: int) -> tuple[str, str]:
    """``(fraOgMed, tilOgMed)``: the last ``n`` complete months on ``day`` (a month is complete from the 10th after)."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 24:
        raise ConfigurationError(f"--maaneder må være et heltall fra 1 til 24, ikke {n!r}")
    back = 1 if day.day >= COMPLETE_FROM_DAY else 2
    last = _shift(day.year * 12 + day.month - 1, -back)
    first = _shift(last, -(n - 1))
    return _label(first), _label(last)


def months_between(first: str, last: str) -> list[str]:
    a, b = _index(first), _index(last)
    return [_label(i) for i in range(a, b + 1)]


def _index(label: str) -> int:
    return int(label[:4]) * 12 + int(label[5:7]) - 1


def _shift(index: int, k: int) -> int:
    return index + k


def _label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# -- the answer ---------------------------------------------------------------------------------------
class Beskrivelse(Struct, frozen=True):
    beskrivelse: str | None = None


class Post(Struct, frozen=True):
    """One ``inntekt`` item; only what the summary reads."""

    beloep: Decimal
    fordel: str | None = None
    loennsinntekt: Beskrivelse | None = None
    ytelseFraOffentlige: Beskrivelse | None = None
    pensjonEllerTrygd: Beskrivelse | None = None
    naeringsinntekt: Beskrivelse | None = None

    @property
    def type(self) -> str:
        for name in ("loennsinntekt", "ytelseFraOffentlige", "pensjonEllerTrygd", "naeringsinntekt"):
            if getattr(self, name) is not None:
                return name
        return "annet"

    @property
    def beskrivelse(self) -> str:
        part = getattr(self, self.type, None)
        return (part.beskrivelse or "") if part is not None else ""


class Mottaker(Struct, frozen=True):
    personidentifikator: str | None = None


class Oppgave(Struct, frozen=True):
    kalendermaaned: Month
    opplysningspliktigId: str | None = None
    virksomhetId: str | None = None
    inntektsmottaker: Mottaker | None = None
    inntekt: list[Post] | None = None


class Svar(Struct, frozen=True):
    oppgaveInntektsmottaker: list[Oppgave] | None = None


_decoder = msgspec.json.Decoder(Svar)
_encoder = msgspec.json.Encoder(decimal_format="string")


def oere(amount: Decimal) -> int:
    """Kroner with at most two decimals to øre; anything else is not an amount the API sends."""
    if not amount.is_finite():
        raise answers.InvalidAnswer("et beløp er ikke et tall")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise answers.InvalidAnswer("et beløp har mer enn to desimaler")
    try:
        value = int((amount * 100).to_integral_value())
    except (decimal.InvalidOperation, OverflowError):
        raise answers.InvalidAnswer("et beløp er utenfor det mulige") from None
    if abs(value) > MAX_OERE:
        raise answers.InvalidAnswer(f"et beløp er utenfor ±{answers.MAX_AMOUNT:,} kr".replace(",", " "))
    return value


def check(svar: Svar, person: str, first: str, last: str, *, keep_period: bool = False) -> Svar:
    """The answer must be about the person asked for and the months asked for (``keep_period``: drop the others)."""
    kept = []
    for o in svar.oppgaveInntektsmottaker or ():
        who = o.inntektsmottaker.personidentifikator if o.inntektsmottaker else None
        if who is not None and who != person:
            raise answers.InvalidAnswer("svaret gjelder en annen person enn den det ble spurt om")
        if not first <= o.kalendermaaned <= last:
            if keep_period:
                continue
            raise answers.InvalidAnswer(f"svaret har måneden {o.kalendermaaned}, men det ble spurt om {first}–{last}")
        for p in o.inntekt or ():
            oere(p.beloep)
        kept.append(o)
    return msgspec.structs.replace(svar, oppgaveInntektsmottaker=kept)


def decode(raw: bytes, person: str, first: str, last: str, *, keep_period: bool = False) -> Svar:
    if len(raw) > answers.MAX_BYTES:
        raise answers.InvalidAnswer(f"svaret er større enn {answers.MAX_BYTES // (1024 * 1024)} MiB")
    try:
        svar = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise answers.InvalidAnswer(answers._reason_from(exc)) from None
    return check(svar, person, first, last, keep_period=keep_period)


def minimised(svar: Svar) -> bytes:
    """What the cache keeps: months, payers, amounts, kinds; no identifier of the person."""
    return _encoder.encode(
        msgspec.structs.replace(
            svar,
            oppgaveInntektsmottaker=[
                msgspec.structs.replace(o, inntektsmottaker=None) for o in svar.oppgaveInntektsmottaker or ()
            ],
        )
    )


@dataclass(frozen=True)
class AordningLookup:
    """One lookup in a-ordningen for (person, fraOgMed, tilOgMed); statuses as for Summert skattegrunnlag."""

    person: str
    fra: str
    til: str
    status: str  # ok, ingen_data (IM-008), ukjent_person (IM-007), feil
    kode: str
    body: Svar | None = None
    korrelasjonsid: str | None = None
    melding: str = ""
    midlertidig: bool = False

    @property
    def periode(self) -> str:
        return f"{self.fra}..{self.til}"


def _lookup_from(
    raw: bytes, person: str, first: str, last: str, korr: str | None, keep_period: bool = False
) -> AordningLookup:
    try:
        body = decode(raw, person, first, last, keep_period=keep_period)
    except answers.InvalidAnswer as exc:
        return AordningLookup(
            person, first, last, "feil", answers.INVALID, korrelasjonsid=korr, melding=f"ugyldig svar: {exc}"
        )
    if keep_period and not body.oppgaveInntektsmottaker:
        return AordningLookup(
            person,
            first,
            last,
            "ingen_data",
            "IM-008",
            korrelasjonsid=korr,
            melding="ingen inntektsopplysninger for perioden",
        )
    return AordningLookup(person, first, last, "ok", "200", body, korr)


# -- from files: DIR/inntekt/<fnr>.json (every month; the months asked for are kept) ----------------------
class AordningFiles:
    name = "files"
    kilde = "filer"

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ConfigurationError(f"fant ikke mappen med a-ordningsdata: {self.directory}")
        self._persons = {f.name[:-5] for f in os.scandir(self.directory) if f.name.endswith(".json")}

    def lookup(self, person: str, first: str, last: str) -> AordningLookup:
        if person not in self._persons:
            return AordningLookup(
                person, first, last, "ukjent_person", "IM-007", melding="Ikke treff på oppgitt personidentifikator"
            )
        try:
            raw = (self.directory / f"{person}.json").read_bytes()
        except OSError as exc:
            return AordningLookup(
                person,
                first,
                last,
                "feil",
                "UGYLDIG-FIL",
                melding=f"svarfilen kan ikke leses ({exc.strerror or type(exc).__name__})",
            )
        if b'"_emulator"' in raw:  # a fixture that stands for an error answer (as the emulator gives it)
            try:
                kode = str(json.loads(raw)["_emulator"]["kode"])
            except (ValueError, KeyError, TypeError):
                kode = "UGYLDIG-FIL"
            status = OUTCOMES.get(kode, "feil")
            return AordningLookup(person, first, last, status, kode, melding="fra fixturfilen")
        return _lookup_from(raw, person, first, last, None, keep_period=True)


# -- over HTTP ------------------------------------------------------------------------------------------
class InntektClient(ApiClient):
    """Skatteetaten's Inntekt API for one purpose (only boligsosial has a rights package there)."""

    tjeneste = "Skatteetaten (Inntekt API)"
    hint_403 = (
        "kontroller rettighetspakken kommuneBoligsosialeFormaal, scope skatteetaten:inntekt, og at kommunen "
        "har delegert «Inntekt API - På vegne av» når en leverandør henter for den"
    )

    def __init__(self, base_url: str, sti: str, tokens: Any, *, rettighetspakke: str | None = None, **kw: Any) -> None:
        kw.setdefault("formaal", Formaal.BOLIGSOSIAL)
        super().__init__(tokens, **kw)
        self.pakke = rettighetspakke or self.formaal.inntekt_pakke or ""
        self.formaal.check_inntekt(self.pakke)
        self.base_url, self.sti = base_url.rstrip("/"), sti

    def url(self, person: str, first: str, last: str) -> str:
        path = self.sti.format(rettighetspakke=self.pakke, personidentifikator=person)
        return f"{self.base_url}{path}?fraOgMed={first}&tilOgMed={last}"

    async def lookup(self, client: httpx.AsyncClient, person: str, first: str, last: str) -> AordningLookup:
        ex = await self._exchange(client, self.url(person, first, last))
        s, korr = ex.status, ex.korrelasjonsid
        if s == 0:
            return AordningLookup(
                person,
                first,
                last,
                "feil",
                ex.last,
                korrelasjonsid=korr,
                melding=f"ga opp etter {self.max_attempts} forsøk",
                midlertidig=True,
            )
        if s == 200:
            if ex.too_big:
                return AordningLookup(
                    person,
                    first,
                    last,
                    "feil",
                    answers.INVALID,
                    korrelasjonsid=korr,
                    melding="ugyldig svar: svaret er for stort",
                )
            return _lookup_from(ex.body, person, first, last, korr)
        kode, melding = ex.feil.kode, ex.feil.melding or ""
        if s == 404 and kode in OUTCOMES:
            return AordningLookup(person, first, last, OUTCOMES[kode], kode, korrelasjonsid=korr, melding=melding)
        if s == 404:
            raise TaxConfigurationError(
                f"ukjent adresse hos {self.tjeneste} ({kode or 'HTTP 404 uten JSON'}): "
                "kontroller FEE_ENGINE_INNTEKT_URL og FEE_ENGINE_INNTEKT_STI",
                korr,
                kode or "HTTP-404",
            )
        return AordningLookup(person, first, last, "feil", kode or f"HTTP-{s}", korrelasjonsid=korr, melding=melding)

    async def fetch_all(
        self,
        persons: list[str],
        first: str,
        last: str,
        *,
        cache: AordningCache | None = None,
        audit: Any = None,
        progress: Callable[[], None] | None = None,
    ) -> dict[str, AordningLookup]:
        if cache is not None:
            cache.check_formaal(self.formaal)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for p in persons:
            queue.put_nowait(p)
        out: dict[str, AordningLookup] = {}
        self.stats.started = self._last_change = time.monotonic()

        async def worker(client: httpx.AsyncClient) -> None:
            while True:
                try:
                    person = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                res = cache.get_aordning(person, first, last) if cache else None
                source = "lager"
                if res is None:
                    try:
                        res = await self.lookup(client, person, first, last)
                    except TaxDataError as exc:
                        if audit is not None:
                            audit.write_aordning(
                                person, f"{first}..{last}", exc.kode or "STOPP", exc.korrelasjonsid, self.kilde
                            )
                        raise
                    source = self.kilde
                    if audit is not None:
                        audit.write_aordning(person, res.periode, res.kode, res.korrelasjonsid, source)
                    if cache:
                        cache.put_aordning(res)
                else:
                    self.stats.cache_hits += 1
                    if audit is not None:
                        audit.write_aordning(person, res.periode, res.kode, res.korrelasjonsid, source)
                if res.status == "feil":
                    log.warning(
                        "oppslag i a-ordningen feilet: %s %s kode %s korrelasjonsid %s",
                        mask(person),
                        res.periode,
                        res.kode,
                        res.korrelasjonsid,
                    )
                out[person] = res
                if progress:
                    progress()

        try:
            async with httpx.AsyncClient(
                transport=self.transport, limits=self._limits(), timeout=self.timeout
            ) as client:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(min(self.max_in_flight, max(len(persons), 1))):
                        tg.create_task(worker(client))
        except* ConfigurationError as group:
            raise group.exceptions[0] from None
        finally:
            self.stats.finished = time.monotonic()
            self._track(0)
        return out


# -- the boligsosial cache: Summert skattegrunnlag's table, and one for a-ordningen -------------------------
class AordningCache(LookupCache):
    """The boligsosial purpose's cache (``.fee-engine/boligsosial.sqlite``): also a-ordningen's answers, encrypted."""

    def __init__(self, path: Path | str, **kw: Any) -> None:
        kw.setdefault("formaal", Formaal.BOLIGSOSIAL)
        super().__init__(path, **kw)

    def _create_tables(self, db: Any) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS aordning (person TEXT NOT NULL, fra TEXT NOT NULL, til TEXT NOT NULL,"
            " status TEXT NOT NULL, kode TEXT NOT NULL, body BLOB, korrelasjonsid TEXT, hentet TEXT NOT NULL,"
            " PRIMARY KEY (person, fra, til))"
        )
        db.commit()

    def _aad_aordning(self, key: str, first: str, last: str) -> bytes:
        return f"aordning|{key}|{first}|{last}".encode()

    def get_aordning(self, person: str, first: str, last: str) -> AordningLookup | None:
        from cryptography.exceptions import InvalidTag

        key = self.person_key(person)
        row = self._execute(
            "SELECT status, kode, body, korrelasjonsid FROM aordning WHERE person=? AND fra=? AND til=?",
            (key, first, last),
        ).fetchone()
        if row is None or row[0] not in FINAL:
            return None
        status, kode, body, korr = row
        if status != "ok":
            return AordningLookup(person, first, last, status, kode, korrelasjonsid=korr)
        try:
            plain = self._aead.decrypt(body[:12], body[12:], self._aad_aordning(key, first, last))
            svar = decode(plain, person, first, last)
        except (InvalidTag, TypeError, ValueError):
            self.unreadable += 1
            self._execute("DELETE FROM aordning WHERE person=? AND fra=? AND til=?", (key, first, last))
            return None
        return AordningLookup(person, first, last, "ok", kode, svar, korr)

    def put_aordning(self, res: AordningLookup) -> None:
        if res.status not in FINAL:
            return
        import secrets
        import sqlite3

        key = self.person_key(res.person)
        body = None
        if res.status == "ok" and res.body is not None:
            nonce = secrets.token_bytes(12)
            body = nonce + self._aead.encrypt(nonce, minimised(res.body), self._aad_aordning(key, res.fra, res.til))
        self._execute(
            "INSERT OR REPLACE INTO aordning VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                res.fra,
                res.til,
                res.status,
                res.kode,
                body,
                res.korrelasjonsid,
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ),
        )
        try:
            self.db.commit()  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise self._error(exc) from None
