"""``--source api`` and ``--source emulator``: configuration and one synchronous fetch for the batch.

Configuration comes from a YAML file (``--api-config``) and environment variables, which win:

==============================  ===========================================================
``FEE_ENGINE_ENV``              ``test`` (default) or ``prod``: default URLs and audience
``FEE_ENGINE_SSG_URL``          base URL of Summert skattegrunnlag (without ``/v2``)
``FEE_ENGINE_TOKEN_URL``        Maskinporten token endpoint
``FEE_ENGINE_AUDIENCE``         Maskinporten issuer, the grant's ``aud``
``FEE_ENGINE_CLIENT_ID``        the Maskinporten client id (``iss``)
``FEE_ENGINE_KEY_FILE``         PEM private key (with ``FEE_ENGINE_CERT_FILE``, PEM chain, or ``FEE_ENGINE_KID``)
``FEE_ENGINE_P12_FILE``         or a PKCS#12 file with key and certificate
``FEE_ENGINE_KEY_PASSWORD``     password of the key or PKCS#12 file
``FEE_ENGINE_KID``              a pre-registered key id instead of a certificate
``FEE_ENGINE_CONSUMER_ORG``     the municipality's organisation number when a vendor acts for it
``FEE_ENGINE_MAX_IN_FLIGHT``    concurrent requests (default 5, Skatteetaten's guidance)
==============================  ===========================================================

File keys are the same names in lower case without the prefix (``client_id``, ``key_file`` …).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .base import Lookup
from .cache import LookupCache
from .client import SsgClient
from .emulator import EmulatorServer
from .errors import MissingCredentialsError
from .maskinporten import ENVIRONMENTS, Credentials, TokenProvider, load_pem, load_pkcs12


@dataclass
class ApiConfig:
    env: str = "test"
    ssg_url: str | None = None
    token_url: str | None = None
    audience: str | None = None
    client_id: str | None = None
    key_file: str | None = None
    cert_file: str | None = None
    p12_file: str | None = None
    key_password: str | None = None
    kid: str | None = None
    consumer_org: str | None = None
    max_in_flight: int = 5

    @classmethod
    def load(cls, file: Path | None = None, environ: dict[str, str] | None = None) -> "ApiConfig":
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        if file:
            raw = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
            unknown = set(raw) - {f.name for f in fields(cls)}
            if unknown:
                raise MissingCredentialsError(f"{file}: ukjente nøkler: {', '.join(sorted(unknown))}")
            values.update(raw)
        for f in fields(cls):
            env = environ.get(f"FEE_ENGINE_{f.name.upper()}")
            if env:
                values[f.name] = int(env) if f.name == "max_in_flight" else env
        cfg = cls(**values)
        if cfg.env not in ENVIRONMENTS:
            raise MissingCredentialsError(f"FEE_ENGINE_ENV må være test eller prod, ikke «{cfg.env}»")
        defaults = ENVIRONMENTS[cfg.env]
        cfg.ssg_url = cfg.ssg_url or defaults["ssg_url"]
        cfg.token_url = cfg.token_url or defaults["token_url"]
        cfg.audience = cfg.audience or defaults["audience"]
        return cfg

    def credentials(self) -> Credentials:
        missing = []
        if not self.client_id:
            missing.append("klient-id (FEE_ENGINE_CLIENT_ID)")
        if not (self.key_file or self.p12_file):
            missing.append("privatnøkkel (FEE_ENGINE_KEY_FILE eller FEE_ENGINE_P12_FILE)")
        if self.key_file and not (self.cert_file or self.kid):
            missing.append("sertifikat (FEE_ENGINE_CERT_FILE) eller registrert nøkkel-id (FEE_ENGINE_KID)")
        if missing:
            raise MissingCredentialsError("--source api mangler " + ", ".join(missing))
        password = self.key_password.encode() if self.key_password else None
        if self.p12_file:
            key, chain = load_pkcs12(Path(self.p12_file), password)
        else:
            key, chain = load_pem(Path(self.key_file), Path(self.cert_file) if self.cert_file else None, password)  # type: ignore[arg-type]
        assert self.client_id
        return Credentials(self.client_id, key, x5c=None if self.kid else chain, kid=self.kid)


def throwaway_identity(common_name: str = "fee-engine emulator client") -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A throwaway RSA key and self-signed certificate for talking to the emulator."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Syntetisk kommune 310000000")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, cert


def write_identity(directory: Path) -> tuple[Path, Path]:
    """Write a test key (0600) and certificate as PEM files; returns their paths."""
    key, cert = throwaway_identity()
    directory.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = directory / "klient.key.pem", directory / "klient.cert.pem"
    fd = os.open(key_file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def fetch(client: SsgClient, persons: list[str], plan: list[tuple[int, str]], cache: LookupCache | None,
          audit: Path | None, progress: Callable[[], None] | None) -> dict[str, list[Lookup]]:
    return asyncio.run(client.fetch_all(persons, plan, cache=cache, audit=audit, progress=progress))


def fetch_api(cfg: ApiConfig, persons: list[str], plan: list[tuple[int, str]], cache: LookupCache | None,
              audit: Path | None, progress: Callable[[], None] | None) -> dict[str, list[Lookup]]:
    creds = cfg.credentials()
    tokens = TokenProvider(creds, cfg.token_url or "", cfg.audience or "", consumer_org=cfg.consumer_org)
    client = SsgClient(cfg.ssg_url or "", tokens, max_in_flight=cfg.max_in_flight)
    return fetch(client, persons, plan, cache, audit, progress)


def fetch_emulator(data: Path, persons: list[str], plan: list[tuple[int, str]], cache: LookupCache | None,
                   audit: Path | None, progress: Callable[[], None] | None, max_in_flight: int = 5) -> dict[str, list[Lookup]]:
    """Start the emulator in-process on ``data`` and fetch through exactly the same client code over HTTP."""
    from .maskinporten import x5c_chain

    key, cert = throwaway_identity()
    der = cert.public_bytes(serialization.Encoding.DER)
    with EmulatorServer(data, trusted_certs=[der]) as server:
        creds = Credentials("fee-engine-emulator", key, x5c=x5c_chain([cert]))
        tokens = TokenProvider(creds, server.base_url + "/token", server.state.issuer)
        client = SsgClient(server.base_url, tokens, max_in_flight=max_in_flight)
        return fetch(client, persons, plan, cache, audit, progress)
