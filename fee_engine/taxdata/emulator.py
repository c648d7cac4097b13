"""A local stand-in for Skatteetaten's APIs, KS Fiks's proxy and Maskinporten's token endpoint.

An ASGI app (Starlette) served by uvicorn, for tests, demos and ``--source emulator`` /
``--source fiks-emulator``:

* ``POST /token``: verifies the JWT grant as Maskinporten does (RS256 signature against the
  ``x5c`` certificate or a registered ``kid``; ``aud``; ``iat`` within 10 s; ``exp − iat ≤ 120``;
  the scopes the client may have; a ``jti`` is used once) and issues short-lived opaque access
  tokens that remember their scopes. Told which delegations exist (``delegeringer``: consumer_org
  → Altinn services), it refuses a grant whose ``consumer_org`` has not delegated every
  requested scope's service to the vendor, as Maskinporten does against Altinn.
* ``GET /v2/{stadie}/{rettighetspakke}/{inntektsaar}/{personidentifikator}``: Summert
  skattegrunnlag from a fixture folder (``<år>/<stadie>/<fnr>.json``) with the API's status codes and error
  bodies (token scope ``skatteetaten:summertskattegrunnlag``; the packages of both purposes,
  ``kommuneboligsosialeformaal`` with stage ``oppgjoer`` only). A fixture body
  ``{"_emulator": {"status": 410, "kode": "SSG-011"}}`` makes the emulator answer with that error.
* with ``fiks``: KS Fiks's proxy of the same, ``GET /skatteetaten/formueinntekt/summertskatt/api/v2/
  {rolleId}/…``, checking the token's scope ``ks:fiks``, the headers ``IntegrasjonId`` and
  ``IntegrasjonPassord`` and the role; Skatteetaten's errors passed through, wrapped in Fiks's
  ``errorJson``, or in Fiks's own words only (``FiksEmulator.feilformat``).
* with ``inntekt_data``: the Inntekt API (a-ordningen), ``GET /api/innrapportert/inntektsmottaker/
  {rettighetspakke}/{personidentifikator}/oppgave/inntekt?fraOgMed=&tilOgMed=``, from
  ``<fnr>.json`` files holding every month (the emulator keeps the months asked for), with
  IM-00x errors; scope ``skatteetaten:inntekt``, package ``kommuneBoligsosialeFormaal``.
* Every answer carries a ``Korrelasjonsid`` header, every error body a ``korrelasjonsid``.
* Fault injection on every data route: fixed and random latency, a share of 500/503, 429 with
  ``Retry-After``, dropped connections (the response is cut off mid-body; logged as one line,
  not a traceback), tokens that expire early, and for the token endpoint: the first N requests
  dropped, or a fixed (broken) answer.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextvars
import json
import logging
import math
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..identity import mask_digits_in_text
from .errors import MESSAGES
from .formaal import DELEGERINGER, FIKS_SCOPE, INNTEKT_SCOPE, SSG_SCOPE, Formaal
from .maskinporten import GRANT_TYPE

STAGES = ("oppgjoer", "utkast")
SSG_STAGES = {f.ssg_pakke: f.ssg_stadier for f in Formaal}
INNTEKT_PAKKER = tuple(f.inntekt_pakke for f in Formaal if f.inntekt_pakke)
FIKS_PATH = "/skatteetaten/formueinntekt/summertskatt/api/v2"
INNTEKT_PATH = "/api/innrapportert/inntektsmottaker/{rettighetspakke}/{personidentifikator}/oppgave/inntekt"
FIKS_ERRORS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
FIKS_MESSAGES = {
    401: "Ikke tilgang",
    403: "Ikke tilgang",
    404: "Ingen treff",
    410: "Finnes ikke lenger",
    400: "Feil input",
}


@dataclass
class FiksEmulator:
    """What the emulated Fiks proxy expects, and how it reports Skatteetaten's errors.

    ``feilformat``: ``skatteetaten`` (Skatteetaten's body passed through), ``innpakket`` (Fiks's
    error body with Skatteetaten's in ``errorJson``) or ``fiks`` (Fiks's own words, no SSG code).
    """

    integrasjon_id: str
    integrasjon_passord: str
    rolle_id: str
    feilformat: str = "skatteetaten"


@dataclass
class TokenInfo:
    expiry: float  # monotonic
    scopes: frozenset[str]
    consumer_org: str | None = None


@dataclass
class Faults:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_429: float = 0.0
    retry_after_s: float = 1.0
    drop_rate: float = 0.0
    token_lifetime_s: float = 120.0
    seed: int | None = None
    token_drop_first: int = 0  # the first N token requests: the connection drops mid-answer
    token_reply: bytes | None = None  # answer every token request with these bytes (status 200)


@dataclass
class EmulatorState:
    data: Path
    faults: Faults = field(default_factory=Faults)
    issuer: str = "http://127.0.0.1/"
    scopes: tuple[str, ...] = (SSG_SCOPE, INNTEKT_SCOPE, FIKS_SCOPE)  # what the client may ask for
    trusted_certs: list[bytes] | None = None  # DER; None = any certificate whose key verifies the signature
    registered_kids: dict[str, Any] = field(default_factory=dict)  # kid -> public key
    rettighetspakker: tuple[str, ...] = tuple(SSG_STAGES)
    fiks: FiksEmulator | None = None
    inntekt_data: Path | None = None  # <fnr>.json per person: the Inntekt API's answer over every month
    delegeringer: dict[str, set[str]] | None = None  # consumer_org -> Altinn services; None: not checked
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    seen_jti: set[str] = field(default_factory=set)
    served: collections.Counter = field(default_factory=collections.Counter)  # (person, year, stage) -> answers sent
    consumer_orgs: collections.Counter = field(default_factory=collections.Counter)  # tokens issued per consumer_org
    requests: int = 0
    fiks_requests: int = 0
    inntekt_requests: int = 0
    token_requests: int = 0
    in_flight: int = 0  # data requests being answered now, and the most at once
    max_in_flight: int = 0
    dropped: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.faults.seed)
        self.persons: set[str] = set()
        self.index: set[tuple[int, str, str]] = set()
        for year_dir in Path(self.data).iterdir() if Path(self.data).is_dir() else []:
            if not year_dir.name.isdigit():
                continue
            for stage_dir in year_dir.iterdir():
                for f in stage_dir.glob("*.json"):
                    self.index.add((int(year_dir.name), stage_dir.name, f.stem))
                    self.persons.add(f.stem)
        self.inntekt_persons: set[str] = set()
        if self.inntekt_data is not None and Path(self.inntekt_data).is_dir():
            self.inntekt_persons = {f.stem for f in Path(self.inntekt_data).glob("*.json")}


def _error(status: int, kode: str, headers: dict[str, str] | None = None) -> JSONResponse:
    korr = str(uuid.uuid4())
    return JSONResponse(
        {"kode": kode, "melding": MESSAGES.get(kode, ""), "korrelasjonsid": korr},
        status_code=status,
        headers={"Korrelasjonsid": korr, **(headers or {})},
    )


def _fiks_error(
    status: int,
    message: str,
    path: str,
    *,
    inner: dict | None = None,
    kode: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Fiks's own error body (``ErrorMessage``); ``inner``: Skatteetaten's body in ``errorJson``."""
    body: dict[str, Any] = {
        "timestamp": int(time.time() * 1000),
        "status": status,
        "error": FIKS_ERRORS.get(status, "Error"),
        "errorId": str(uuid.uuid4()),
        "path": mask_digits_in_text(path),
        "originalPath": mask_digits_in_text(path),
        "message": message,
        "errorCode": kode,
        "errorJson": inner,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _answer(raw: bytes) -> Response:
    return Response(raw, media_type="application/json", headers={"Korrelasjonsid": str(uuid.uuid4())})


def _oauth_error(description: str, error: str = "invalid_grant") -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


log = logging.getLogger("fee_engine.emulator")
_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("fee_engine_emulator_dropping", default=False)


class _OneLinePerDrop(logging.Filter):
    """uvicorn reports a response cut off on purpose as an error; the emulator has logged it already."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and "without completing response" in str(record.msg))


def make_app(state: EmulatorState) -> Starlette:
    async def token(request: Request) -> Response:
        state.token_requests += 1
        if state.token_requests <= state.faults.token_drop_first:
            return _Dropped(state)
        if state.faults.token_reply is not None:
            return Response(state.faults.token_reply, media_type="application/json")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if form.get("grant_type") != GRANT_TYPE:
            return _oauth_error("Invalid grant_type", "unsupported_grant_type")
        assertion = str(form.get("assertion") or "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return _oauth_error("Invalid assertion: not a JWT")
        if header.get("alg") not in ("RS256", "RS384", "RS512"):
            return _oauth_error("Invalid assertion: unsupported alg")
        if "x5c" in header:
            chain = header["x5c"]
            if not isinstance(chain, list) or not chain:
                return _oauth_error("MP-123: x5c must be an array of certificates")
            try:
                der = base64.b64decode(chain[0])
                cert = x509.load_der_x509_certificate(der)
            except ValueError:
                return _oauth_error("MP-123: invalid certificate in x5c")
            if state.trusted_certs is not None and der not in state.trusted_certs:
                return _oauth_error("Certificate is not registered for this client")
            key = cert.public_key()
        elif "kid" in header:
            key = state.registered_kids.get(header["kid"])
            if key is None:
                return _oauth_error("Unknown kid")
        else:
            return _oauth_error("Invalid assertion: either kid or x5c must be present")
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[header["alg"]],
                audience=state.issuer,
                options={"require": ["aud", "iss", "iat", "exp", "scope"]},
                leeway=10,
            )
        except jwt.InvalidSignatureError:
            return _oauth_error("MP-124: Invalid assertion. Client authentication failed: signature")
        except jwt.ExpiredSignatureError:
            return _oauth_error("Invalid assertion: the grant has expired")
        except jwt.ImmatureSignatureError:
            return _oauth_error("Invalid assertion: iat is more than 10 seconds from the server's clock")
        except jwt.InvalidAudienceError:
            return _oauth_error("Invalid assertion: aud must be the issuer identifier of Maskinporten")
        except jwt.PyJWTError as exc:
            return _oauth_error(f"Invalid assertion: {type(exc).__name__}")
        now = time.time()
        if abs(claims["iat"] - now) > 10:
            return _oauth_error("Invalid assertion: iat is more than 10 seconds from the server's clock")
        if claims["exp"] - claims["iat"] > 120:
            return _oauth_error("Invalid assertion: exp - iat must be at most 120 seconds")
        scopes = str(claims.get("scope", "")).split()
        if not scopes or any(sc not in state.scopes for sc in scopes):
            return _oauth_error(f"Client is not allowed scope {' '.join(scopes) or '(none)'}", "invalid_scope")
        consumer = claims.get("consumer_org")
        if consumer is not None and not (isinstance(consumer, str) and len(consumer) == 9 and consumer.isdigit()):
            return _oauth_error("Invalid assertion: consumer_org must be an organization number", "invalid_request")
        if consumer and state.delegeringer is not None:
            given = state.delegeringer.get(consumer, set())
            missing = [sc for sc in scopes if sc in DELEGERINGER and DELEGERINGER[sc] not in given]
            if missing:
                return _oauth_error(
                    f"Consumer has not delegated access to the scope(s) {' '.join(missing)} to the supplier (Altinn)",
                    "invalid_scope",
                )
        jti = claims.get("jti")
        if jti:
            if jti in state.seen_jti:
                return _oauth_error("MP-012: Grant is used before")
            state.seen_jti.add(jti)
        access = secrets.token_urlsafe(32)
        state.tokens[access] = TokenInfo(
            time.monotonic() + state.faults.token_lifetime_s, frozenset(scopes), consumer or None
        )
        if consumer:
            state.consumer_orgs[consumer] += 1
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": max(1, math.ceil(state.faults.token_lifetime_s)),
                "scope": " ".join(scopes),
            }
        )

    def valid_token(request: Request, scope: str) -> TokenInfo | None | bool:
        """The token's record; None when it is unknown or expired; False when it lacks ``scope``."""
        auth = request.headers.get("authorization", "")
        info = state.tokens.get(auth[7:] if auth.startswith("Bearer ") else "")
        if info is None or time.monotonic() > info.expiry:
            return None
        return info if scope in info.scopes else False

    def roll_fault(f: Faults) -> str | None:
        """Which fault (if any) this request gets: ``429``, ``500``, ``503`` or ``drop``."""
        roll = state.rng.random()
        for name, rate in (("429", f.rate_429), ("500", f.rate_500), ("503", f.rate_503), ("drop", f.drop_rate)):
            if roll < rate:
                return name
            roll -= rate
        return None

    async def timed(request: Request, handler: Any, counter: str) -> Response:
        """Answers ``latency`` after the request arrived (the emulator's own work included)."""
        arrived = time.monotonic()
        state.requests += 1
        if counter:
            setattr(state, counter, getattr(state, counter) + 1)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            f = state.faults
            delay = (f.latency_ms + state.rng.uniform(0, f.jitter_ms)) / 1000 if (f.latency_ms or f.jitter_ms) else 0.0
            response = await handler(request)
            if delay:
                await asyncio.sleep(max(0.0, arrived + delay - time.monotonic()))
            return response
        finally:
            state.in_flight -= 1

    async def ssg(request: Request) -> Response:
        return await timed(request, lambda r: answer(r, r.path_params, _error, SSG_SCOPE), "")

    async def answer(request: Request, p: dict[str, str], err: Any, scope: str) -> Response:
        """Summert skattegrunnlag from the fixture folder; ``err(status, kode, headers)`` makes the error answers."""
        f = state.faults
        token = valid_token(request, scope)
        if token is None:
            return err(401, "SSG-004")
        if token is False:
            return err(403, "SSG-005")
        accept = request.headers.get("accept", "application/json")
        if not any(a in accept for a in ("application/json", "*/*", "application/xml")):
            return err(406, "SSG-009")
        if p["rettighetspakke"] not in state.rettighetspakker:
            return err(403, "SSG-005")
        if p["stadie"] not in STAGES:
            return err(404, "SSG-003")
        person = p["personidentifikator"]
        if not (person.isdigit() and len(person) == 11) or not p["inntektsaar"].isdigit():
            return err(400, "SSG-006")
        if p["stadie"] not in SSG_STAGES.get(p["rettighetspakke"], STAGES):
            return err(400, "SSG-006")
        fault = roll_fault(f)
        if fault == "429":
            return err(429, "SSG-001", {"Retry-After": f"{f.retry_after_s:g}"})
        if fault == "500":
            return err(500, "SSG-001")
        if fault == "503":
            return PlainTextResponse("Service Unavailable", status_code=503)
        year = int(p["inntektsaar"])
        key = (person, year, p["stadie"])
        if fault == "drop":
            return _Dropped(state)
        if (year, p["stadie"], person) not in state.index:
            state.served[key] += 1
            return err(404, "SSG-007" if person not in state.persons else "SSG-008")
        raw = (Path(state.data) / str(year) / p["stadie"] / f"{person}.json").read_bytes()
        state.served[key] += 1
        if b'"_emulator"' in raw:
            e = json.loads(raw)["_emulator"]
            return err(int(e["status"]), str(e["kode"]))
        return _answer(raw)

    async def fiks(request: Request) -> Response:
        return await timed(request, fiks_answer, "fiks_requests")

    async def fiks_answer(request: Request) -> Response:
        conf = state.fiks
        path = request.url.path
        if conf is None:
            return PlainTextResponse("404 NOT FOUND", status_code=404)
        if not isinstance(valid_token(request, FIKS_SCOPE), TokenInfo):
            return _fiks_error(401, "Ikke tilgang: token mangler, er utløpt eller har ikke scope ks:fiks", path)
        if (
            request.headers.get("integrasjonid") != conf.integrasjon_id
            or request.headers.get("integrasjonpassord") != conf.integrasjon_passord
        ):
            return _fiks_error(403, "Ikke tilgang: ukjent integrasjon eller feil passord", path)
        p = request.path_params
        if p["rolleId"] != conf.rolle_id:
            return _fiks_error(403, "Mangler tilgang til rollen", path)

        def err(status: int, kode: str, headers: dict[str, str] | None = None) -> Response:
            if conf.feilformat == "skatteetaten" or status in (429,) or status >= 500:
                return _error(status, kode, headers)
            inner = {"kode": kode, "melding": MESSAGES.get(kode, ""), "korrelasjonsid": str(uuid.uuid4())}
            if conf.feilformat == "innpakket":
                return _fiks_error(status, FIKS_MESSAGES.get(status, "Feil"), path, inner=inner, headers=headers)
            return _fiks_error(status, FIKS_MESSAGES.get(status, "Feil"), path, headers=headers)

        # behind Fiks, the token Skatteetaten sees is Fiks's own: the scope was checked above
        return await answer(request, p, err, FIKS_SCOPE)

    async def inntekt(request: Request) -> Response:
        return await timed(request, inntekt_answer, "inntekt_requests")

    async def inntekt_answer(request: Request) -> Response:
        f = state.faults
        if state.inntekt_data is None:
            return _error(404, "IM-003")
        token = valid_token(request, INNTEKT_SCOPE)
        if token is None:
            return _error(401, "IM-004")
        if token is False:
            return _error(403, "IM-005")
        accept = request.headers.get("accept", "application/json")
        if not any(a in accept for a in ("application/json", "*/*", "application/xml")):
            return _error(406, "IM-009")
        p = request.path_params
        if p["rettighetspakke"] not in INNTEKT_PAKKER:
            return _error(403, "IM-005")
        person = p["personidentifikator"]
        first, last = request.query_params.get("fraOgMed", ""), request.query_params.get("tilOgMed", "")
        months_ok = _month(first) and (not last or (_month(last) and last >= first))
        if not (person.isdigit() and len(person) == 11) or not months_ok:
            return _error(400, "IM-006")
        fault = roll_fault(f)
        if fault == "429":
            return _error(429, "IM-001", {"Retry-After": f"{f.retry_after_s:g}"})
        if fault == "500":
            return _error(500, "IM-001")
        if fault == "503":
            return PlainTextResponse("Service Unavailable", status_code=503)
        if fault == "drop":
            return _Dropped(state)
        key = (person, first, last or "")
        state.served[key] += 1
        if person not in state.inntekt_persons:
            return _error(404, "IM-007")
        raw = (Path(state.inntekt_data) / f"{person}.json").read_bytes()  # type: ignore[arg-type]
        if b'"_emulator"' in raw:
            e = json.loads(raw)["_emulator"]
            return _error(int(e["status"]), str(e["kode"]))
        body = json.loads(raw)
        items = body.get("oppgaveInntektsmottaker") or [] if isinstance(body, dict) else []
        kept = [
            o
            for o in items
            if isinstance(o, dict)
            and first <= str(o.get("kalendermaaned", ""))
            and (not last or str(o.get("kalendermaaned", "")) <= last)
        ]
        if not kept:
            return _error(404, "IM-008")
        return _answer(json.dumps({**body, "oppgaveInntektsmottaker": kept}, ensure_ascii=False).encode("utf-8"))

    async def not_found(request: Request) -> Response:
        return PlainTextResponse("404 NOT FOUND", status_code=404)

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/v2/{stadie}/{rettighetspakke}/{inntektsaar}/{personidentifikator}", ssg, methods=["GET"]),
            Route(
                FIKS_PATH + "/{rolleId}/{stadie}/{rettighetspakke}/{inntektsaar}/{personidentifikator}",
                fiks,
                methods=["GET"],
            ),
            Route(INNTEKT_PATH, inntekt, methods=["GET"]),
            Route("/{path:path}", not_found, methods=["GET", "POST"]),
        ]
    )


def read_delegations(file: Path) -> dict[str, set[str]]:
    """``--delegeringer FILE``: which municipality (consumer_org) has delegated which Altinn services to the vendor.

    YAML, one organisation number per key and the delegated services as a list::

        "310000001": ["Summert skattegrunnlag API - På vegne av", "Inntekt API - På vegne av"]
        "310000002": ["Summert skattegrunnlag API - På vegne av"]
    """
    import yaml

    from ..errors import ConfigurationError

    try:
        raw = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"kan ikke lese {file} ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{file}: skal være linjer «organisasjonsnummer: [delegeringer]»")
    known = sorted(DELEGERINGER.values())
    out: dict[str, set[str]] = {}
    for org, names in raw.items():
        org = str(org)
        if not (len(org) == 9 and org.isdigit()):
            raise ConfigurationError(
                f"{file}: «{mask_digits_in_text(org)[:20]}» er ikke et organisasjonsnummer (9 sifre)"
            )
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigurationError(f"{file}: delegeringene for en kommune skal være en liste med tjenestenavn")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigurationError(f"{file}: ukjent delegering «{unknown[0][:80]}» (kjente: {'; '.join(known)})")
        out[org] = set(names)
    return out


def _month(text: str) -> bool:
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit() and 1 <= int(text[5:]) <= 12


class _Dropped(Response):
    """Promise a body and send only part of it: the client sees the connection drop mid-response.

    The app returns with the body unfinished, so the server closes the connection; one log
    line says so (a short body with ``more_body`` false would make uvicorn log a traceback).
    """

    def __init__(self, state: EmulatorState) -> None:
        super().__init__()
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.state.dropped += 1
        _dropping.set(True)
        log.warning(
            "emulator: bryter forbindelsen midt i svaret på %s (feilinnsprøyting)",
            mask_digits_in_text(str(scope.get("path", "?"))),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"personidentifikator": "', "more_body": True})


class EmulatorServer:
    """Runs the emulator with uvicorn in a background thread on 127.0.0.1 (port 0 = a free port)."""

    def __init__(
        self,
        data: Path,
        *,
        port: int = 0,
        faults: Faults | None = None,
        trusted_certs: list[bytes] | None = None,
        registered_kids: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        fiks: FiksEmulator | None = None,
        inntekt_data: Path | None = None,
        delegeringer: dict[str, set[str]] | None = None,
    ) -> None:
        import uvicorn

        self.state = EmulatorState(
            Path(data),
            faults or Faults(),
            trusted_certs=trusted_certs,
            registered_kids=registered_kids or {},
            fiks=fiks,
            inntekt_data=Path(inntekt_data) if inntekt_data else None,
            delegeringer=delegeringer,
        )
        self.app = make_app(self.state)
        self.config = uvicorn.Config(
            self.app, host=host, port=port, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self.server = uvicorn.Server(self.config)
        uvicorn_error = logging.getLogger("uvicorn.error")  # after uvicorn has configured its logging
        if not any(isinstance(f, _OneLinePerDrop) for f in uvicorn_error.filters):
            uvicorn_error.addFilter(_OneLinePerDrop())
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.host = host

    @property
    def base_url(self) -> str:
        sock = self.server.servers[0].sockets[0]
        return f"http://{self.host}:{sock.getsockname()[1]}"

    def __enter__(self) -> EmulatorServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        self.state.issuer = self.base_url + "/"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
