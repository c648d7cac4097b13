"""A local stand-in for Skatteetaten's Summert skattegrunnlag API v2 and Maskinporten's token endpoint.

An ASGI app (Starlette) served by uvicorn, for tests, demos and ``--source emulator``:

* ``POST /token``: verifies the JWT grant as Maskinporten does (RS256 signature against the
  ``x5c`` certificate or a registered ``kid``; ``aud``; ``iat`` within 10 s; ``exp − iat ≤ 120``;
  scope; a ``jti`` is used once) and issues short-lived opaque access tokens.
* ``GET /v2/{stadie}/{rettighetspakke}/{inntektsaar}/{personidentifikator}``: answers from a
  fixture folder (CONTRACT §3) with the API's status codes and error bodies. A fixture body
  ``{"_emulator": {"status": 410, "kode": "SSG-011"}}`` makes the emulator answer with that error.
* Fault injection: fixed and random latency, a share of 500/503, 429 with ``Retry-After``,
  dropped connections (the response is cut off mid-body; logged as one line, not a
  traceback), tokens that expire early, and for the token endpoint: the first N requests
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
from .maskinporten import GRANT_TYPE, SCOPE

STAGES = ("oppgjoer", "utkast")
MESSAGES = {
    "SSG-004": "Feil i forbindelse med autentisering.",
    "SSG-005": "Feil i forbindelse med autorisering.",
    "SSG-006": "Feil i forbindelse med validering av inputdata.",
    "SSG-007": "Ikke treff på oppgitt personidentifikator",
    "SSG-008": "Ingen summert skattegrunnlag funnet på oppgitt personidentifikator og inntektsår",
    "SSG-009": "Feil tilknyttet dataformat. Kun json eller xml er støttet.",
    "SSG-001": "Uventet feil på tjenesten.",
    "SSG-002": "Uventet feil i et bakenforliggende system.",
}


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
    scope: str = SCOPE
    trusted_certs: list[bytes] | None = None  # DER; None = any certificate whose key verifies the signature
    registered_kids: dict[str, Any] = field(default_factory=dict)  # kid -> public key
    rettighetspakker: tuple[str, ...] = ("kommuneforeldrebetaling",)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    seen_jti: set[str] = field(default_factory=set)
    served: collections.Counter = field(default_factory=collections.Counter)  # (person, year, stage) -> answers sent
    requests: int = 0
    token_requests: int = 0
    in_flight: int = 0  # SSG requests being answered now, and the most at once
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


def _error(status: int, kode: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"kode": kode, "melding": MESSAGES.get(kode, ""), "korrelasjonsid": str(uuid.uuid4())},
                        status_code=status, headers=headers)


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
            claims = jwt.decode(assertion, key, algorithms=[header["alg"]], audience=state.issuer,
                                options={"require": ["aud", "iss", "iat", "exp", "scope"]}, leeway=10)
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
        if state.scope not in scopes:
            return _oauth_error(f"Client is not allowed scope {' '.join(scopes) or '(none)'}", "invalid_scope")
        jti = claims.get("jti")
        if jti:
            if jti in state.seen_jti:
                return _oauth_error("MP-012: Grant is used before")
            state.seen_jti.add(jti)
        access = secrets.token_urlsafe(32)
        state.tokens[access] = time.monotonic() + state.faults.token_lifetime_s
        return JSONResponse({"access_token": access, "token_type": "Bearer",
                             "expires_in": max(1, math.ceil(state.faults.token_lifetime_s)), "scope": state.scope})

    async def ssg(request: Request) -> Response:
        """Answers ``latency`` after the request arrived (the emulator's own work included)."""
        arrived = time.monotonic()
        state.requests += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            f = state.faults
            delay = (f.latency_ms + state.rng.uniform(0, f.jitter_ms)) / 1000 if (f.latency_ms or f.jitter_ms) else 0.0
            response = await answer(request)
            if delay:
                await asyncio.sleep(max(0.0, arrived + delay - time.monotonic()))
            return response
        finally:
            state.in_flight -= 1

    async def answer(request: Request) -> Response:
        f = state.faults
        auth = request.headers.get("authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else ""
        expiry = state.tokens.get(tok)
        if expiry is None or time.monotonic() > expiry:
            return _error(401, "SSG-004")
        accept = request.headers.get("accept", "application/json")
        if not any(a in accept for a in ("application/json", "*/*", "application/xml")):
            return _error(406, "SSG-009")
        p = request.path_params
        if p["rettighetspakke"] not in state.rettighetspakker:
            return _error(403, "SSG-005")
        if p["stadie"] not in STAGES:
            return _error(404, "SSG-003")
        person = p["personidentifikator"]
        if not (person.isdigit() and len(person) == 11) or not p["inntektsaar"].isdigit():
            return _error(400, "SSG-006")
        roll = state.rng.random()
        if roll < f.rate_429:
            return _error(429, "SSG-001", headers={"Retry-After": f"{f.retry_after_s:g}"})
        roll -= f.rate_429
        if roll < f.rate_500:
            return _error(500, "SSG-001")
        roll -= f.rate_500
        if roll < f.rate_503:
            return PlainTextResponse("Service Unavailable", status_code=503)
        roll -= f.rate_503
        year = int(p["inntektsaar"])
        key = (person, year, p["stadie"])
        if roll < f.drop_rate:
            return _Dropped(state)
        if (year, p["stadie"], person) not in state.index:
            state.served[key] += 1
            return _error(404, "SSG-007" if person not in state.persons else "SSG-008")
        raw = (Path(state.data) / str(year) / p["stadie"] / f"{person}.json").read_bytes()
        state.served[key] += 1
        if b'"_emulator"' in raw:
            e = json.loads(raw)["_emulator"]
            return _error(int(e["status"]), str(e["kode"]))
        return Response(raw, media_type="application/json")

    async def not_found(request: Request) -> Response:
        return PlainTextResponse("404 NOT FOUND", status_code=404)

    return Starlette(routes=[
        Route("/token", token, methods=["POST"]),
        Route("/v2/{stadie}/{rettighetspakke}/{inntektsaar}/{personidentifikator}", ssg, methods=["GET"]),
        Route("/{path:path}", not_found, methods=["GET", "POST"]),
    ])


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
        log.warning("emulator: bryter forbindelsen midt i svaret på %s (feilinnsprøyting)",
                    mask_digits_in_text(str(scope.get("path", "?"))))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"personidentifikator": "', "more_body": True})


class EmulatorServer:
    """Runs the emulator with uvicorn in a background thread on 127.0.0.1 (port 0 = a free port)."""

    def __init__(self, data: Path, *, port: int = 0, faults: Faults | None = None, trusted_certs: list[bytes] | None = None,
                 registered_kids: dict[str, Any] | None = None, host: str = "127.0.0.1") -> None:
        import uvicorn

        self.state = EmulatorState(Path(data), faults or Faults(), trusted_certs=trusted_certs,
                                   registered_kids=registered_kids or {})
        self.app = make_app(self.state)
        self.config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", access_log=False,
                                     lifespan="off", timeout_keep_alive=30)
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

    def __enter__(self) -> "EmulatorServer":
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
