"""Summert skattegrunnlag API v2 over HTTP (httpx, async): directly, or through KS Fiks's proxy.

Directly: ``GET {base}/v2/{stadie}/{rettighetspakke}/{inntektsaar}/{personidentifikator}``
with a Maskinporten token. Through Fiks (:mod:`.fiks`) the same client gets another URL
builder (``url_for``), two extra headers and a mapper for the error bodies Fiks adds, and
everything else is shared. At most ``max_in_flight`` requests at once (Skatteetaten:
no more than 5 concurrent calls per organisation; with a cache, every run that shares
it shares the 5 through lock files, see :class:`~.cache.SharedSlots`), each person's
fallback asked in order, answers stored in the cache as they arrive. Retries with
exponential backoff and full jitter on 5xx, 429 (``Retry-After`` honoured), time-outs
and dropped connections; a lookup whose retries run out is ``feil`` with ``midlertidig``
set (a re-run asks it again). A 401 renews the token once; 403, SSG-003, SSG-009 or a 404
without a JSON body stop the batch (see :mod:`.errors`).

:class:`ApiClient` is the part every API shares (limits, retries, token, bounded reading,
error bodies); :class:`SsgClient` adds Summert skattegrunnlag's outcomes and the fallback,
and the Inntekt API client (:mod:`fee_engine.boligsosial.aordning`) its own. A client is
made for one purpose (:class:`~.formaal.Formaal`) and refuses another purpose's rights
package or stage before it asks anything.

Every answer is bounded (:data:`~.answer.MAX_BYTES` read at most; a request attempt may
take at most ``deadline`` seconds in all, however slowly the bytes come) and checked
against the API's shape and the request (:mod:`.answer`). Its ``korrelasjonsid`` (from the
error body, or the ``Korrelasjonsid`` header of an answer) goes with the lookup into the
audit log.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from ..errors import ConfigurationError
from ..identity import install_log_masking, mask, mask_digits_in_text
from . import answer as answers
from .base import SPLIT_AT, Digest, Lookup, decoded_as, halves_in_two
from .cache import SKATTEETATEN_LIMIT, LookupCache, SharedSlots, Stored
from .errors import AuthenticationError, TaxConfigurationError, TaxDataError
from .formaal import Formaal
from .maskinporten import TokenProvider

log = logging.getLogger("fee_engine.taxdata")
install_log_masking()


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    cache_hits: int = 0
    max_in_flight: int = 0
    busy_area: float = 0.0  # ∫ in-flight dt
    started: float = 0.0
    finished: float = 0.0

    @property
    def mean_in_flight(self) -> float:
        span = self.finished - self.started
        return self.busy_area / span if span > 0 else 0.0


def _retry_after(value: str | None, default: float, cap: float = 120.0) -> float:
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = parsed.timestamp() - time.time() if parsed else default
    if seconds != seconds:  # NaN
        return default
    return min(cap, max(0.0, seconds))


class ErrorBody(msgspec.Struct):
    """An error answer's fields; anything else in it, or a field of another type, is ignored."""

    kode: Any = None
    melding: Any = None
    korrelasjonsid: Any = None


@dataclass(frozen=True)
class Feilsvar:
    """An error answer as the client reads it: cleaned texts, and the outcome when a mapper knew it without a code.

    ``utfall``: ``ingen_data`` or ``ukjent_person`` when the body says so in a service's own words
    (KS Fiks's «Ingen treff», see :mod:`.fiks`); ``None``: decided from ``kode`` and the status.
    """

    kode: str | None = None
    melding: str | None = None
    korrelasjonsid: str | None = None
    utfall: str | None = None


_error_decoder = msgspec.json.Decoder(ErrorBody)


def _clean(value: Any, limit: int = 200) -> str | None:
    """A server-given text safe to show: a string, printable, bounded, digit runs masked."""
    if not isinstance(value, str) or not value:
        return None
    return mask_digits_in_text("".join(c if c.isprintable() else " " for c in value[:limit]))


def _error_body(data: bytes) -> Feilsvar:
    """Skatteetaten's error body ``{"kode", "melding", "korrelasjonsid"}`` (all its delings-APIs)."""
    try:
        body = _error_decoder.decode(data) if data else ErrorBody()
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return Feilsvar()
    return Feilsvar(_clean(body.kode, 40), _clean(body.melding), _clean(body.korrelasjonsid, 100))


KORRELASJON_HEADER = "korrelasjonsid"  # on an answer; Skatteetaten documents it only in error bodies (assumed)


@dataclass
class Exchange:
    """One request after retries: a status other than 401/403/406/429/5xx, or ``status`` 0 when retries ran out."""

    status: int
    body: bytes = b""
    too_big: bool = False
    feil: Feilsvar = Feilsvar()
    korrelasjonsid: str | None = None
    last: str = ""


class ApiClient:
    """What every Skatteetaten API client shares: the token, limits, retries, bounded reading, error bodies.

    ``extra_headers`` go with every request (KS Fiks: ``IntegrasjonId`` and ``IntegrasjonPassord``;
    never logged). ``feilsvar`` reads an error body (default: Skatteetaten's). ``tjeneste`` names the
    service in messages; ``hint_403`` says what to check when it refuses us.
    """

    tjeneste = "Skatteetaten"
    hint_403 = "kontroller rettighetspakke, delegering i Altinn og consumer_org"

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        formaal: Formaal = Formaal.FORELDREBETALING,
        max_in_flight: int = 5,
        max_attempts: int = 8,
        backoff: float = 0.1,
        max_backoff: float = 8.0,
        timeout: float = 30.0,
        deadline: float = 120.0,
        max_bytes: int = answers.MAX_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        slots: SharedSlots | None = None,
        kilde: str = "skatteetaten",
        extra_headers: dict[str, str] | None = None,
        feilsvar: Callable[[bytes], Feilsvar] | None = None,
        tjeneste: str | None = None,
        hint_403: str | None = None,
    ) -> None:
        if type(max_in_flight) is not int or not 1 <= max_in_flight <= SKATTEETATEN_LIMIT:
            raise ConfigurationError(
                f"samtidige kall må være et heltall fra 1 til {SKATTEETATEN_LIMIT}, ikke {max_in_flight!r}"
            )
        self.formaal = Formaal.parse(formaal)
        self.tokens = tokens
        self.max_in_flight, self.max_attempts = max_in_flight, max_attempts
        self.backoff, self.max_backoff, self.timeout = backoff, max_backoff, timeout
        self.deadline, self.max_bytes = deadline, max_bytes
        self.transport = transport
        self.slots = slots
        self.kilde = kilde  # in the audit log: skatteetaten, fiks, or emulator
        self.extra_headers = dict(extra_headers or {})
        self.feilsvar = feilsvar or _error_body
        self.tjeneste = tjeneste or self.tjeneste
        self.hint_403 = hint_403 or self.hint_403
        self.stats = ClientStats()
        self._in_flight = 0
        self._last_change = 0.0

    # -- bookkeeping of the requests in flight (for the benchmark) --------------------------
    def _track(self, delta: int) -> None:
        now = time.monotonic()
        self.stats.busy_area += self._in_flight * (now - self._last_change)
        self._last_change = now
        self._in_flight += delta
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)

    async def _get(self, client: httpx.AsyncClient, url: str, token: str) -> tuple[httpx.Response, bytes, bool]:
        """One request: the response, at most ``max_bytes`` + 1 of its body, and whether there was more."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **self.extra_headers}
        async with client.stream("GET", url, headers=headers, timeout=self.timeout) as r:
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                return r, b"", True
            parts, size = [], 0
            async for chunk in r.aiter_bytes():  # decoded: a compressed answer is bounded by what it unpacks to
                parts.append(chunk)
                size += len(chunk)
                if size > self.max_bytes:
                    return r, b"", True
            return r, b"".join(parts), False

    async def _exchange(self, client: httpx.AsyncClient, url: str) -> Exchange:
        """GET ``url`` until an answer to classify, retrying what may pass; stop (raise) on what will not.

        401 renews the token once (twice in a row: :class:`AuthenticationError`); 403 and 406 stop
        the batch (:class:`TaxConfigurationError`); 429, 5xx, time-outs and dropped connections are
        retried with backoff, and when the attempts run out the exchange has ``status`` 0.
        """
        renewed = False
        last = "ukjent"
        korr = None
        attempt = 0
        while attempt < self.max_attempts:
            token = await self.tokens.get(client)
            slot = await self.slots.acquire() if self.slots else None
            self._track(+1)
            self.stats.requests += 1
            try:
                async with asyncio.timeout(self.deadline):
                    r, body_bytes, too_big = await self._get(client, url, token)
            except (httpx.TimeoutException, httpx.TransportError, TimeoutError) as exc:
                last = type(exc).__name__
                attempt += 1
                await self._sleep_backoff(attempt)
                continue
            finally:
                self._track(-1)
                if slot is not None:
                    self.slots.release(slot)  # type: ignore[union-attr]
            s = r.status_code
            if s == 200:
                header = _clean(r.headers.get(KORRELASJON_HEADER), 100)
                return Exchange(200, body_bytes, too_big, korrelasjonsid=header or korr)
            err = self.feilsvar(body_bytes)
            kode, melding = err.kode, err.melding or ""
            korr = err.korrelasjonsid or _clean(r.headers.get(KORRELASJON_HEADER), 100) or korr
            if s == 401:
                await self.tokens.invalidate(token)
                if renewed:
                    raise AuthenticationError(
                        f"{self.tjeneste} avviste et nytt token ({kode or 'HTTP 401'})", korr, kode or "HTTP-401"
                    )
                renewed = True
                continue
            if s == 403:
                raise TaxConfigurationError(
                    f"{self.tjeneste} nekter tilgang ({kode or 'HTTP 403'}: {melding or 'ingen melding'}); "
                    f"{self.hint_403}",
                    korr,
                    kode or "HTTP-403",
                )
            if s == 406:
                raise TaxConfigurationError(
                    f"{self.tjeneste} godtar ikke formatet ({kode or 'HTTP 406'})", korr, kode or "HTTP-406"
                )
            if s == 429 or s >= 500:
                last = f"HTTP-{s}" + (f" {kode}" if kode else "")
                attempt += 1
                wait = _retry_after(r.headers.get("Retry-After"), 0.0) if s == 429 else 0.0
                await self._sleep_backoff(attempt, at_least=wait)
                continue
            return Exchange(s, body_bytes, feil=err, korrelasjonsid=korr)
        return Exchange(0, korrelasjonsid=korr, last=last)

    async def _sleep_backoff(self, attempt: int, at_least: float = 0.0) -> None:
        self.stats.retries += 1
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
        await asyncio.sleep(max(delay, at_least))

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=self.max_in_flight + 1, max_keepalive_connections=self.max_in_flight)


SSG_OUTCOMES = {"SSG-007": "ukjent_person", "SSG-008": "ingen_data"}


class SsgClient(ApiClient):
    """Summert skattegrunnlag v2 for one purpose: the direct API, or through ``url_for`` (KS Fiks)."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        rettighetspakke: str | None = None,
        url_for: Callable[[str, int, str], str] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(tokens, **kw)
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v2"):
            self.base_url = self.base_url[:-3]
        self.pakke = rettighetspakke or self.formaal.ssg_pakke
        self.formaal.check_ssg(self.pakke)  # run can never ask with the boligsosial package, nor inntekt with this
        self.url_for = url_for or self._direct_url

    def _direct_url(self, stage: str, year: int, person: str) -> str:
        return f"{self.base_url}/v2/{stage}/{self.pakke}/{year}/{person}"

    async def lookup(self, client: httpx.AsyncClient, person: str, year: int, stage: str) -> Lookup:
        self.formaal.check_ssg(self.pakke, stage)
        ex = await self._exchange(client, self.url_for(stage, year, person))
        s, korr = ex.status, ex.korrelasjonsid
        if s == 0:
            return Lookup(
                person,
                year,
                stage,
                "feil",
                ex.last,
                korrelasjonsid=korr,
                melding=f"ga opp etter {self.max_attempts} forsøk",
                midlertidig=True,
            )
        if s == 200:
            if ex.too_big:
                return Lookup(
                    person,
                    year,
                    stage,
                    "feil",
                    answers.INVALID,
                    korrelasjonsid=korr,
                    melding=f"ugyldig svar: svaret er større enn {self.max_bytes // (1024 * 1024)} MiB",
                )
            return answers.answer_lookup(ex.body, person, year, stage, korr)
        err = ex.feil
        kode, melding = err.kode, err.melding or ""
        if s == 404:
            outcome = err.utfall or SSG_OUTCOMES.get(kode or "")
            if outcome:
                return Lookup(
                    person,
                    year,
                    stage,
                    outcome,
                    kode or "HTTP-404",  # type: ignore[arg-type]
                    korrelasjonsid=korr,
                    melding=melding,
                )
            raise TaxConfigurationError(
                f"ukjent adresse hos {self.tjeneste} ({kode or 'HTTP 404 uten JSON'}): kontroller base-URL og "
                f"rettighetspakke «{self.pakke}»",
                korr,
                kode or "HTTP-404",
            )
        if s == 410:
            return Lookup(person, year, stage, "slettet", kode or "HTTP-410", korrelasjonsid=korr, melding=melding)
        return Lookup(person, year, stage, "feil", kode or f"HTTP-{s}", korrelasjonsid=korr, melding=melding)

    async def fetch_all(
        self,
        persons: list[str],
        plan: list[tuple[int, str]],
        *,
        cache: LookupCache | None = None,
        audit: Any = None,
        progress: Callable[[], None] | None = None,
        digest: Digest | None = None,
    ) -> Any:
        """Every person's fallback; ``audit`` an :class:`~fee_engine.audit.AuditLog` (or a path to append to).

        With ``digest``, what it makes of the lookups instead (:data:`~.base.Digest`); the answers a large batch
        finds in the cache are then opened and digested by two processes (:func:`_stored_in_two`)."""
        from ..audit import AuditLog

        persons = list(dict.fromkeys(persons))  # a person named twice is asked once
        for _, stage in plan:  # before anything is asked
            self.formaal.check_ssg(self.pakke, stage)
        if cache is not None:
            cache.check_formaal(self.formaal)
        own_log = isinstance(audit, (str, Path))
        alog = AuditLog(Path(audit), command="oppslag", purpose=self.formaal.revisjon) if own_log else audit
        if alog is not None and alog.purpose != self.formaal.revisjon:
            raise ConfigurationError(
                f"revisjonsloggen er åpnet for formålet «{alog.purpose}», men oppslagene gjelder "
                f"«{self.formaal.revisjon}»"
            )
        self.stats.started = self._last_change = time.monotonic()
        out: dict[str, list[Lookup]] = {}
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def worker(client: httpx.AsyncClient) -> None:
            while True:
                try:
                    person = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                tried: list[Lookup] = []
                for year, stage in plan:
                    res = cache.get(person, year, stage) if cache else None
                    source = "lager"
                    if res is None:
                        try:
                            res = await self.lookup(client, person, year, stage)
                        except TaxDataError as exc:  # the batch stops; the lookup that stopped it is on record too
                            if alog is not None:
                                alog.write(
                                    Lookup(
                                        person,
                                        year,
                                        stage,
                                        "feil",
                                        exc.kode or "STOPP",
                                        korrelasjonsid=exc.korrelasjonsid,
                                    ),
                                    self.kilde,
                                )
                            raise
                        source = self.kilde
                        if alog is not None:
                            alog.write(res, source)  # before it is stored: a stored answer always has its line
                        if cache:
                            cache.put(res)
                    else:
                        self.stats.cache_hits += 1
                        if alog is not None:
                            alog.write(res, source)
                    tried.append(res)
                    if res.status == "feil":
                        log.warning(
                            "oppslag feilet: %s %s/%s kode %s korrelasjonsid %s",
                            mask(person),
                            year,
                            stage,
                            res.kode,
                            res.korrelasjonsid,
                        )
                    if res.status not in ("ingen_data", "slettet"):
                        break
                out[person] = tried
                if progress:
                    progress()

        from_cache = None
        try:
            # First everyone the cache answers to the end, in one pass (a line each in the audit log, as below);
            # only the others are asked, and with none left no connection is opened.
            if cache is not None and digest is not None and alog is not None and len(persons) >= SPLIT_AT:
                from_cache, to_ask, hits = _stored_in_two(cache.stored(plan), persons, alog, progress, digest)
                self.stats.cache_hits += hits
            else:
                if cache is not None:
                    opened: dict[str, list[Lookup]] = {}
                    with _lines_if_stopped(opened, alog):
                        cache.answered(persons, plan, opened)
                    out.update(opened)
                self.stats.cache_hits += _taken(out, alog, progress)
                to_ask = [p for p in persons if p not in out]
            for p in to_ask:
                queue.put_nowait(p)
            if not queue.empty():
                async with httpx.AsyncClient(
                    transport=self.transport, limits=self._limits(), timeout=self.timeout
                ) as client:
                    async with asyncio.TaskGroup() as tg:
                        for _ in range(min(self.max_in_flight, queue.qsize())):
                            tg.create_task(worker(client))
        except* ConfigurationError as group:
            raise group.exceptions[0] from None
        finally:
            self.stats.finished = time.monotonic()
            self._track(0)
            if own_log and alog is not None:
                alog.close()
        if digest is None:
            return out
        return digest(out) if from_cache is None else from_cache.merged(digest(out))


def _stored_in_two(
    stored: Stored, persons: list[str], log: Any, progress: Callable[[], None] | None, digest: Digest
) -> tuple[Any, list[str], int]:
    """The answers ``stored`` holds, opened, written in the audit log (``lager``) and digested by two processes, a
    half of the persons each (:func:`~.base.halves_in_two`): at 100 000 persons, opening the answers (decrypting
    and checking them), their audit lines and the digest took about 1.1 s in one process. Only the child's digest
    comes back, with the persons it has to leave to be asked and the rows it could not read.

    Returns the digest of everyone the cache answered (in the order of the persons), the persons to be asked,
    and the number of answers taken from the cache. The rows that could not be read are deleted here."""

    def work(part: list[str], tick: Callable[[], None] | None) -> tuple[Any, list[str], list, int]:
        got: dict[str, list[Lookup]] = {}
        with _lines_if_stopped(got, log):
            _, unreadable = stored.walk(part, got)
        n = _taken(got, log, tick)
        return digest(got), [p for p in part if p not in got], unreadable, n

    def pack(result: tuple[Any, list[str], list, int]) -> tuple[bytes, list[str], list, int]:
        return (msgspec.msgpack.encode(result[0]), *result[1:])

    def unpack(packed: tuple[bytes, list[str], list, int], mine: tuple) -> tuple[Any, list[str], list, int]:
        return (decoded_as(packed[0], mine[0]), *packed[1:])

    if not stored.rows:  # nothing stored (a first run, or a damaged cache set aside): everyone is asked
        return digest({}), persons, 0
    (d1, ask1, bad1, n1), (d2, ask2, bad2, n2) = halves_in_two(persons, log, progress, work, pack, unpack)
    stored.cache.forgotten(bad1 + bad2)
    if progress:  # the child's half, ticked here (those left to be asked are ticked when asked)
        for _ in range(len(persons) - len(persons) // 2 - len(ask2)):
            progress()
    return d1.merged(d2), ask1 + ask2, n1 + n2


@contextmanager
def _lines_if_stopped(opened: dict[str, list[Lookup]], log: Any) -> Iterator[None]:
    """Answers being opened from the cache into ``opened``: if that stops (Ctrl-C, SIGTERM, an error), the ones
    opened so far get their ``lager`` lines before the stop goes on, as they would have had them before use."""
    try:
        yield
    except BaseException:
        if opened:
            _lager_lines(opened, log)
        raise


def _lager_lines(got: dict[str, list[Lookup]], log: Any) -> int:
    """A ``lager`` line in the audit log for each answer in ``got`` (handed to the system together); how many."""
    taken = [res for answered in got.values() for res in answered]
    if log is not None:
        log.write_many(taken, "lager")
    return len(taken)


def _taken(got: dict[str, list[Lookup]], log: Any, progress: Callable[[], None] | None) -> int:
    """Answers taken from the cache: a ``lager`` line each in the audit log (handed to the system together, before
    any is used) and a tick per person; how many there are."""
    n = _lager_lines(got, log)
    if progress:
        for _ in got:
            progress()
    return n
