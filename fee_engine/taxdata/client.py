"""Summert skattegrunnlag API v2 over HTTP (httpx, async).

``GET {base}/v2/{stadie}/kommuneforeldrebetaling/{inntektsaar}/{personidentifikator}``
with a Maskinporten token. At most ``max_in_flight`` requests at once (Skatteetaten:
no more than 5 concurrent calls per organisation), each person's fallback asked in
order, answers stored in the cache as they arrive. Retries with exponential backoff
and full jitter on 5xx, 429 (``Retry-After`` honoured), time-outs and dropped
connections; a 401 renews the token once; 403, SSG-003, SSG-009 or a 404 without a
JSON body stop the batch (see :mod:`.errors`).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

from .base import RETTIGHETSPAKKE, Lookup
from .cache import LookupCache
from .errors import AuthenticationError, TaxConfigurationError, TaxDataError
from .maskinporten import TokenProvider

from ..identity import install_log_masking

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


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else default


class SsgClient:
    def __init__(self, base_url: str, tokens: TokenProvider, *, rettighetspakke: str = RETTIGHETSPAKKE,
                 max_in_flight: int = 5, max_attempts: int = 8, backoff: float = 0.1, max_backoff: float = 8.0,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v2"):
            self.base_url = self.base_url[:-3]
        self.tokens, self.pakke = tokens, rettighetspakke
        self.max_in_flight, self.max_attempts = max_in_flight, max_attempts
        self.backoff, self.max_backoff, self.timeout = backoff, max_backoff, timeout
        self.transport = transport
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

    async def lookup(self, client: httpx.AsyncClient, person: str, year: int, stage: str) -> Lookup:
        url = f"{self.base_url}/v2/{stage}/{self.pakke}/{year}/{person}"
        renewed = False
        last = "ukjent"
        korr = None
        attempt = 0
        while attempt < self.max_attempts:
            token = await self.tokens.get(client)
            self._track(+1)
            self.stats.requests += 1
            try:
                r = await client.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                                     timeout=self.timeout)
                body_bytes = r.content
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = type(exc).__name__
                attempt += 1
                await self._sleep_backoff(attempt)
                continue
            finally:
                self._track(-1)
            body = _json(body_bytes)
            kode = body.get("kode") if isinstance(body, dict) else None
            korr = (body.get("korrelasjonsid") if isinstance(body, dict) else None) or korr
            melding = str(body.get("melding", "")) if isinstance(body, dict) else ""
            s = r.status_code
            if s == 200:
                if not isinstance(body, dict):
                    return Lookup(person, year, stage, "feil", "UGYLDIG-SVAR", korrelasjonsid=korr, melding="svaret var ikke JSON")
                return Lookup(person, year, stage, "ok", "200", body=body, korrelasjonsid=korr)
            if s == 401:
                await self.tokens.invalidate(token)
                if renewed:
                    raise AuthenticationError(f"Skatteetaten avviste et nytt token ({kode or 'HTTP 401'})", korr)
                renewed = True
                continue
            if s == 403:
                raise TaxConfigurationError(
                    f"Skatteetaten nekter tilgang ({kode or 'HTTP 403'}: {melding or 'ingen melding'}); kontroller "
                    "rettighetspakke, delegering i Altinn og consumer_org", korr)
            if s == 404 and kode == "SSG-008":
                return Lookup(person, year, stage, "ingen_data", kode, korrelasjonsid=korr, melding=melding)
            if s == 404 and kode == "SSG-007":
                return Lookup(person, year, stage, "ukjent_person", kode, korrelasjonsid=korr, melding=melding)
            if s == 404:
                raise TaxConfigurationError(
                    f"ukjent adresse hos Skatteetaten ({kode or 'HTTP 404 uten JSON'}): kontroller base-URL og "
                    f"rettighetspakke «{self.pakke}»", korr)
            if s == 406:
                raise TaxConfigurationError(f"Skatteetaten godtar ikke formatet ({kode or 'HTTP 406'})", korr)
            if s == 410:
                return Lookup(person, year, stage, "slettet", kode or "HTTP-410", korrelasjonsid=korr, melding=melding)
            if s == 400:
                return Lookup(person, year, stage, "feil", kode or "HTTP-400", korrelasjonsid=korr, melding=melding)
            if s == 429 or s >= 500:
                last = f"HTTP-{s}" + (f" {kode}" if kode else "")
                attempt += 1
                wait = _retry_after(r.headers.get("Retry-After"), 0.0) if s == 429 else 0.0
                await self._sleep_backoff(attempt, at_least=wait)
                continue
            return Lookup(person, year, stage, "feil", kode or f"HTTP-{s}", korrelasjonsid=korr, melding=melding)
        return Lookup(person, year, stage, "feil", last, korrelasjonsid=korr,
                      melding=f"ga opp etter {self.max_attempts} forsøk")

    async def _sleep_backoff(self, attempt: int, at_least: float = 0.0) -> None:
        self.stats.retries += 1
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))
        await asyncio.sleep(max(delay, at_least))

    async def fetch_all(self, persons: list[str], plan: list[tuple[int, str]], *, cache: LookupCache | None = None,
                        audit: Path | None = None, progress: Callable[[], None] | None = None) -> dict[str, list[Lookup]]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for p in persons:
            queue.put_nowait(p)
        out: dict[str, list[Lookup]] = {}
        fh = audit.open("a", encoding="utf-8") if audit else None
        self.stats.started = self._last_change = time.monotonic()
        limits = httpx.Limits(max_connections=self.max_in_flight + 1, max_keepalive_connections=self.max_in_flight)

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
                        res = await self.lookup(client, person, year, stage)
                        source = "skatteetaten"
                        if cache:
                            cache.put(res)
                    else:
                        self.stats.cache_hits += 1
                    if fh:
                        fh.write(json.dumps({**res.audit_line(), "kilde": source}, ensure_ascii=False) + "\n")
                    tried.append(res)
                    if res.status == "feil":
                        log.warning("oppslag feilet: %s %s/%s kode %s korrelasjonsid %s", res.audit_line()["person"],
                                    year, stage, res.kode, res.korrelasjonsid)
                    if res.status not in ("ingen_data", "slettet"):
                        break
                out[person] = tried
                if progress:
                    progress()

        try:
            async with httpx.AsyncClient(transport=self.transport, limits=limits, timeout=self.timeout) as client:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(min(self.max_in_flight, max(len(persons), 1))):
                        tg.create_task(worker(client))
        except* TaxDataError as group:
            raise group.exceptions[0] from None
        finally:
            self.stats.finished = time.monotonic()
            self._track(0)
            if fh:
                fh.close()
        return out


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None
