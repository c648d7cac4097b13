"""Maskinporten: the JWT-bearer grant (RFC 7523) and a cached, self-renewing access token.

The grant is signed RS256 with the organisation's key and carries the business
certificate chain in ``x5c`` (or a pre-registered ``kid``); claims ``aud`` (Maskinporten's
issuer), ``iss`` (client id), ``scope``, ``iat``, ``exp`` (at most 120 s later), a unique
``jti``, and ``consumer_org`` when a vendor acts for a municipality. Keys and tokens are
never logged.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12

from .errors import MaskinportenError, MissingCredentialsError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "skatteetaten:summertskattegrunnlag"
ENVIRONMENTS = {
    "test": {"audience": "https://test.maskinporten.no/", "token_url": "https://test.maskinporten.no/token",
             "ssg_url": "https://summertskattegrunnlag.api.skatteetaten-test.no"},
    "prod": {"audience": "https://maskinporten.no/", "token_url": "https://maskinporten.no/token",
             "ssg_url": "https://summertskattegrunnlag.api.skatteetaten.no"},
}
GRANT_LIFETIME = 100  # seconds; Maskinporten allows at most 120


@dataclass
class Credentials:
    client_id: str
    key: RSAPrivateKey = field(repr=False)
    x5c: list[str] | None = None
    kid: str | None = None

    def __post_init__(self) -> None:
        if not self.x5c and not self.kid:
            raise MissingCredentialsError("Maskinporten krever enten et virksomhetssertifikat (x5c) eller en registrert nøkkel (kid)")


def x5c_chain(certs: list[x509.Certificate]) -> list[str]:
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in certs]


def load_pem(key_file: Path, cert_file: Path | None, password: bytes | None = None) -> tuple[RSAPrivateKey, list[str] | None]:
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
        raise MissingCredentialsError(f"kan ikke åpne PKCS#12-filen {file} (feil passord eller fil: {type(exc).__name__})") from None
    if not isinstance(key, RSAPrivateKey) or cert is None:
        raise MissingCredentialsError(f"{file}: fant ikke en RSA-nøkkel med sertifikat")
    return key, x5c_chain([cert, *(extra or [])])


def make_grant(creds: Credentials, audience: str, scope: str = SCOPE, consumer_org: str | None = None,
               now: float | None = None, lifetime: int = GRANT_LIFETIME) -> str:
    now = int(now if now is not None else time.time())
    claims = {"aud": audience, "iss": creds.client_id, "scope": scope, "iat": now, "exp": now + min(lifetime, 120),
              "jti": str(uuid.uuid4())}
    if consumer_org:
        claims["consumer_org"] = consumer_org
    headers = {"kid": creds.kid} if creds.kid else {"x5c": creds.x5c}
    return jwt.encode(claims, creds.key, algorithm="RS256", headers=headers)


class TokenProvider:
    """Gets an access token from Maskinporten, caches it, renews it ``margin`` seconds before expiry.

    Concurrent callers share one request (an asyncio lock), so a batch never asks twice at once.
    """

    def __init__(self, creds: Credentials, token_url: str, audience: str, *, scope: str = SCOPE,
                 consumer_org: str | None = None, margin: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self.creds, self.token_url, self.audience, self.scope = creds, token_url, audience, scope
        self.consumer_org, self.margin = consumer_org, margin
        self._client = client
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0

    async def get(self, client: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires - self.margin:
                await self._fetch(self._client or client)
            assert self._token is not None
            return self._token

    async def invalidate(self, token: str) -> None:
        async with self._lock:
            if self._token == token:
                self._token = None

    async def _fetch(self, client: httpx.AsyncClient) -> None:
        grant = make_grant(self.creds, self.audience, self.scope, self.consumer_org)
        try:
            r = await client.post(self.token_url, data={"grant_type": GRANT_TYPE, "assertion": grant}, timeout=30)
        except httpx.HTTPError as exc:
            raise MaskinportenError(f"Maskinporten svarte ikke ({type(exc).__name__}) på {self.token_url}") from None
        if r.status_code != 200:
            try:
                body = r.json()
                detail = f"{body.get('error')}: {body.get('error_description')}"
            except ValueError:
                detail = f"HTTP {r.status_code}"
            raise MaskinportenError(f"Maskinporten avviste forespørselen om token ({detail})")
        body = r.json()
        lifetime = float(body.get("expires_in", 120))
        self._token = body["access_token"]
        self._expires = time.monotonic() + lifetime
        self.fetched += 1
