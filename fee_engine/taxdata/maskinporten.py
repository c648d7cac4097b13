"""Maskinporten: the JWT-bearer grant (RFC 7523) and a cached, self-renewing access token.

The grant is signed RS256 with the organisation's key and carries the business
certificate chain in ``x5c`` (or a pre-registered ``kid``); claims ``aud`` (Maskinporten's
issuer), ``iss`` (client id), ``scope``, ``iat``, ``exp`` (at most 120 s later), a unique
``jti``, and ``consumer_org`` when a vendor acts for a municipality. Keys and tokens are
never logged. ``scope`` may name several scopes (space-separated): boligsosial bistand asks
for Summert skattegrunnlag and the Inntekt API in one token, KS Fiks for ``ks:fiks``.

A vendor acting for a municipality (``consumer_org``) gets a token only if the municipality
has delegated each scope's Altinn service to the vendor's organisation number; Maskinporten
checks this against Altinn and refuses the grant otherwise. The refusal then names the
delegations to give (:data:`~.formaal.DELEGERINGER`).

The token request is retried like a lookup (network errors, time-outs, 5xx, 429) and its
answer is bounded (:data:`MAX_TOKEN_BYTES`) and checked (:class:`TokenResponse`): an
``access_token`` of RFC 6750 token characters (no spaces, no CR/LF), ``token_type`` Bearer
if given, ``expires_in`` a whole number of seconds ≥ 1. Anything else stops the batch
(exit 2) with what was wrong, never the token itself.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12
from msgspec import Meta

from .errors import MaskinportenError, MissingCredentialsError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "skatteetaten:summertskattegrunnlag"
ENVIRONMENTS = {
    "test": {
        "audience": "https://test.maskinporten.no/",
        "token_url": "https://test.maskinporten.no/token",
        "ssg_url": "https://summertskattegrunnlag.api.skatteetaten-test.no",
    },
    "prod": {
        "audience": "https://maskinporten.no/",
        "token_url": "https://maskinporten.no/token",
        "ssg_url": "https://summertskattegrunnlag.api.skatteetaten.no",
    },
}
GRANT_LIFETIME = 100  # seconds; Maskinporten allows at most 120
MAX_TOKEN_BYTES = 64 * 1024  # a token answer is about 1 kB


class TokenResponse(msgspec.Struct):
    """The token endpoint's answer (RFC 6749 § 5.1); unknown fields are skipped."""

    access_token: Annotated[str, Meta(min_length=1, max_length=16384, pattern=r"^[A-Za-z0-9\-._~+/]+=*$")]
    token_type: str | None = None
    expires_in: Annotated[int, Meta(ge=1, le=7 * 24 * 3600)] = 120


class OAuthError(msgspec.Struct):
    error: Any = None
    error_description: Any = None


def _token_problem(exc: Exception) -> str:
    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):  # a ValidationError is a DecodeError too
        return "svaret er ikke JSON"
    if "access_token" in text:
        return (
            "access_token mangler"
            if "missing" in text
            else "access_token er ikke et gyldig token (bare bokstaver, sifre og -._~+/ er lov)"
        )
    if "expires_in" in text:
        return "expires_in er ikke et helt antall sekunder fra 1 og oppover"
    if text.startswith("Expected `object`") and " - at " not in text:
        return "svaret er ikke et JSON-objekt"
    return "svaret har feil form"


@dataclass
class Credentials:
    client_id: str
    key: RSAPrivateKey = field(repr=False)
    x5c: list[str] | None = None
    kid: str | None = None

    def __post_init__(self) -> None:
        if not self.x5c and not self.kid:
            raise MissingCredentialsError(
                "Maskinporten krever enten et virksomhetssertifikat (x5c) eller en registrert nøkkel (kid)"
            )


def x5c_chain(certs: list[x509.Certificate]) -> list[str]:
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in certs]


def load_pem(
    key_file: Path, cert_file: Path | None, password: bytes | None = None
) -> tuple[RSAPrivateKey, list[str] | None]:
    try:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=password)
    except (OSError, ValueError, TypeError) as exc:
        raise MissingCredentialsError(f"kan ikke lese privatnøkkelen {key_file} ({type(exc).__name__})") from None
    if not isinstance(key, RSAPrivateKey):
        raise MissingCredentialsError(f"{key_file}: Maskinporten-klienten bruker RS256 og trenger en RSA-nøkkel")
    chain = None
    if cert_file:
        try:
            chain = x5c_chain(x509.load_pem_x509_certificates(Path(cert_file).read_bytes()))
        except (OSError, ValueError) as exc:
            raise MissingCredentialsError(f"kan ikke lese sertifikatet {cert_file} ({type(exc).__name__})") from None
    return key, chain


def load_pkcs12(file: Path, password: bytes | None) -> tuple[RSAPrivateKey, list[str]]:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(Path(file).read_bytes(), password)
    except (OSError, ValueError) as exc:
        raise MissingCredentialsError(
            f"kan ikke åpne PKCS#12-filen {file} (feil passord eller fil: {type(exc).__name__})"
        ) from None
    if not isinstance(key, RSAPrivateKey) or cert is None:
        raise MissingCredentialsError(f"{file}: fant ikke en RSA-nøkkel med sertifikat")
    return key, x5c_chain([cert, *(extra or [])])


def make_grant(
    creds: Credentials,
    audience: str,
    scope: str = SCOPE,
    consumer_org: str | None = None,
    now: float | None = None,
    lifetime: int = GRANT_LIFETIME,
) -> str:
    now = int(now if now is not None else time.time())
    claims = {
        "aud": audience,
        "iss": creds.client_id,
        "scope": scope,
        "iat": now,
        "exp": now + min(lifetime, 120),
        "jti": str(uuid.uuid4()),
    }
    if consumer_org:
        claims["consumer_org"] = consumer_org
    headers = {"kid": creds.kid} if creds.kid else {"x5c": creds.x5c}
    return jwt.encode(claims, creds.key, algorithm="RS256", headers=headers)


class TokenProvider:
    """Gets an access token from Maskinporten, caches it, renews it ``margin`` seconds before expiry.

    Concurrent callers share one request (an asyncio lock), so a batch never asks twice at once.
    """

    def __init__(
        self,
        creds: Credentials,
        token_url: str,
        audience: str,
        *,
        scope: str = SCOPE,
        consumer_org: str | None = None,
        margin: float = 10.0,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 8,
        backoff: float = 0.1,
        max_backoff: float = 8.0,
        timeout: float = 30.0,
        deadline: float = 60.0,
    ) -> None:
        self.creds, self.token_url, self.audience, self.scope = creds, token_url, audience, scope
        self.consumer_org, self.margin = consumer_org, margin
        self.max_attempts, self.backoff, self.max_backoff = max_attempts, backoff, max_backoff
        self.timeout, self.deadline = timeout, deadline
        self._client = client
        self._token: str | None = None
        self._expires = 0.0
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0
        self.retries = 0

    async def get(self, client: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                await self._fetch(self._client or client)
            assert self._token is not None
            return self._token

    async def invalidate(self, token: str) -> None:
        async with self._lock:
            if self._token == token:
                self._token = None

    async def _post(self, client: httpx.AsyncClient, grant: str) -> tuple[int, bytes]:
        async with client.stream(
            "POST", self.token_url, data={"grant_type": GRANT_TYPE, "assertion": grant}, timeout=self.timeout
        ) as r:
            parts, size = [], 0
            async for chunk in r.aiter_bytes():
                parts.append(chunk)
                size += len(chunk)
                if size > MAX_TOKEN_BYTES:
                    raise MaskinportenError(
                        f"Maskinporten sendte et svar større enn {MAX_TOKEN_BYTES // 1024} KiB på {self.token_url}"
                    )
            return r.status_code, b"".join(parts)

    async def _fetch(self, client: httpx.AsyncClient) -> None:
        last = "ukjent"
        for attempt in range(1, self.max_attempts + 1):
            grant = make_grant(self.creds, self.audience, self.scope, self.consumer_org)  # a new jti each time
            try:
                async with asyncio.timeout(self.deadline):
                    status, data = await self._post(client, grant)
            except (httpx.TimeoutException, httpx.TransportError, TimeoutError) as exc:
                last = type(exc).__name__
            else:
                if status == 200:
                    self._accept(data)
                    return
                if status != 429 and status < 500:
                    detail = _oauth_detail(status, data)
                    raise MaskinportenError(
                        f"Maskinporten avviste forespørselen om token ({detail})" + self._delegation_hint()
                    )
                last = f"HTTP {status}"
            if attempt < self.max_attempts:
                self.retries += 1
                await asyncio.sleep(random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt)))
        raise MaskinportenError(
            f"Maskinporten svarte ikke etter {self.max_attempts} forsøk ({last}) på {self.token_url}"
        )

    def _delegation_hint(self) -> str:
        """What a municipality must have delegated in Altinn when a vendor asks on its behalf."""
        from .formaal import DELEGERINGER

        if not self.consumer_org:
            return ""
        names = [DELEGERINGER[s] for s in self.scope.split() if s in DELEGERINGER]
        if not names:
            return (
                ". Leverandøren henter på vegne av kommunen (consumer_org): kommunen må ha gitt leverandøren "
                "tilgang til dette scopet"
            )
        listed = " og ".join(f"«{n}»" for n in names)
        both = " (begge må delegeres)" if len(names) > 1 else ""
        return (
            f". Leverandøren henter på vegne av kommunen (consumer_org): kommunen må i Altinn ha delegert "
            f"{listed}{both} til leverandørens organisasjonsnummer"
        )

    def _accept(self, data: bytes) -> None:
        try:
            body = msgspec.json.decode(data, type=TokenResponse)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            raise MaskinportenError(f"Maskinporten ga et svar som ikke kan brukes: {_token_problem(exc)}") from None
        if body.token_type is not None and body.token_type.lower() != "bearer":
            raise MaskinportenError("Maskinporten ga et svar som ikke kan brukes: token_type er ikke Bearer")
        now = time.monotonic()
        self._token = body.access_token
        self._expires = now + body.expires_in
        # renew ``margin`` seconds before expiry, but never later than half-way for a short-lived token
        self._renew_at = now + max(body.expires_in - self.margin, body.expires_in / 2)
        self.fetched += 1


def _oauth_detail(status: int, data: bytes) -> str:
    from ..identity import mask_digits_in_text

    try:
        body = msgspec.json.decode(data, type=OAuthError)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return f"HTTP {status}"
    parts = [str(x)[:200] for x in (body.error, body.error_description) if isinstance(x, str)]
    if not parts:
        return f"HTTP {status}"
    return mask_digits_in_text("".join(c if c.isprintable() else " " for c in ": ".join(parts)))
