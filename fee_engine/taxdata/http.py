"""``--source api|fiks|emulator|fiks-emulator``: configuration and one synchronous fetch for the batch.

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
``FEE_ENGINE_MAX_IN_FLIGHT``    concurrent requests, 1–5 (default 5, Skatteetaten's limit)
``FEE_ENGINE_MAX_ATTEMPTS``     attempts per lookup and per token request before giving up, 1–20 (default 8)
``FEE_ENGINE_BACKOFF_S``        first backoff in seconds, doubled per retry with full jitter (default 0.1)
``FEE_ENGINE_RETTIGHETSPAKKE``  optional: if given, it must be the purpose's own (checked, never chosen by it)
``FEE_ENGINE_FIKS_URL``         KS Fiks (``--source fiks``): base URL (default by ``FEE_ENGINE_ENV``:
                                ``https://api.fiks.test.ks.no`` or ``https://api.fiks.ks.no``)
``FEE_ENGINE_FIKS_INTEGRASJON_ID``       the integration's id in Fiks-konfigurasjon (header ``IntegrasjonId``)
``FEE_ENGINE_FIKS_INTEGRASJON_PASSORD``  its password (header ``IntegrasjonPassord``; secret, never shown)
``FEE_ENGINE_FIKS_ROLLE_ID``    the municipality's Fiks role (``rolleId`` in the path)
``FEE_ENGINE_INNTEKT_URL``      Inntekt API (``fee-engine inntekt``): base URL (default by ``FEE_ENGINE_ENV``)
``FEE_ENGINE_INNTEKT_STI``      its path template with ``{rettighetspakke}`` and ``{personidentifikator}``
                                (default the documented ``/api/innrapportert/inntektsmottaker/…/oppgave/inntekt``)
==============================  ===========================================================

File keys are the same names in lower case without the prefix (``client_id``, ``key_file`` …).
An unknown key, a value of the wrong type (``FEE_ENGINE_MAX_IN_FLIGHT=abc``), a number of
requests outside 1–5, a URL that is not http(s), or a file that is not YAML stops the batch
(exit 2) with a message naming the setting; a password is never shown, a number never in full.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from ..settings import Settings
from .base import Digest, Lookup, run_coroutine
from .cache import SKATTEETATEN_LIMIT, LookupCache
from .client import SsgClient
from .errors import MissingCredentialsError
from .fiks import FIKS_ENVIRONMENTS
from .formaal import FIKS_SCOPE, Formaal, PurposeError
from .maskinporten import ENVIRONMENTS, Credentials, TokenProvider, load_pem, load_pkcs12

if TYPE_CHECKING:  # the emulator's server stack (an extra) is imported only when an emulator is started
    from .emulator import FiksEmulator

INNTEKT_ENVIRONMENTS = {
    "test": "https://inntekt.api.skatteetaten-test.no",
    "prod": "https://inntekt.api.skatteetaten.no",
}
INNTEKT_STI = "/api/innrapportert/inntektsmottaker/{rettighetspakke}/{personidentifikator}/oppgave/inntekt"


def _no_control(value: str | None) -> str | None:
    if value is not None and not all(c.isprintable() for c in value):
        raise ValueError("inneholder kontrolltegn (for eksempel linjeskift)")
    return value


def _url(value: str | None) -> str | None:
    if value is None:
        return None
    _no_control(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError("må være en http(s)-adresse, for eksempel https://maskinporten.no/token")
    return value


def _segment(value: str | None) -> str | None:
    """A value that goes into a URL path or a header as it is: letters, digits and -._~ only."""
    if value is not None and not (
        1 <= len(value) <= 100 and all(c.isascii() and (c.isalnum() or c in "-._~") for c in value)
    ):
        raise ValueError("kan bare ha bokstaver a–z, sifre og -._~ (høyst 100 tegn); vanligvis en UUID")
    return value


def _password(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not all(c.isprintable() for c in value.get_secret_value()):
        raise ValueError("inneholder kontrolltegn (for eksempel linjeskift)")
    return value


def _template(value: str | None) -> str | None:
    if value is None:
        return None
    _no_control(value)
    names = set(re.findall(r"{([^{}]*)}", value))
    if not value.startswith("/") or names != {"rettighetspakke", "personidentifikator"} or "?" in value or " " in value:
        raise ValueError("må begynne med / og ha nøyaktig {rettighetspakke} og {personidentifikator} (uten ?)")
    return value


Text = Annotated[str | None, AfterValidator(_no_control)]
Url = Annotated[str | None, AfterValidator(_url)]
Segment = Annotated[str | None, AfterValidator(_segment)]


class ApiConfig(Settings):
    """``--source api`` settings: environment ``FEE_ENGINE_*`` over ``--api-config`` (YAML), checked with types."""

    _secret_fields = frozenset({"key_password", "fiks_integrasjon_passord"})
    _advice = {
        "max_in_flight": "Skatteetaten: høyst 5 samtidige kall per virksomhet",
        "consumer_org": "kommunens organisasjonsnummer, 9 sifre",
        "env": "test eller prod",
        "fiks_rolle_id": "rollens id i Fiks-konfigurasjon",
        "fiks_integrasjon_id": "integrasjonens id i Fiks-konfigurasjon",
    }

    env: Literal["test", "prod"] = "test"
    ssg_url: Url = None
    token_url: Url = None
    audience: Url = None
    client_id: Text = None
    key_file: Path | None = None
    cert_file: Path | None = None
    p12_file: Path | None = None
    key_password: SecretStr | None = None
    kid: Text = None
    consumer_org: Annotated[str | None, Field(pattern=r"^[0-9]{9}$")] = None
    max_in_flight: Annotated[int, Field(ge=1, le=SKATTEETATEN_LIMIT)] = SKATTEETATEN_LIMIT
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 8
    backoff_s: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = 0.1
    rettighetspakke: Text = None
    fiks_url: Url = None
    fiks_integrasjon_id: Segment = None
    fiks_integrasjon_passord: Annotated[SecretStr | None, AfterValidator(_password)] = None
    fiks_rolle_id: Segment = None
    inntekt_url: Url = None
    inntekt_sti: Annotated[str | None, AfterValidator(_template)] = None

    @field_validator("max_in_flight", "max_attempts", mode="before")
    @classmethod
    def _whole_number(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("må være et heltall")
        return v

    @field_validator("client_id", "kid", "consumer_org", "key_password", "fiks_integrasjon_passord", mode="before")
    @classmethod
    def _number_as_text(cls, v: Any) -> Any:
        """YAML reads ``consumer_org: 964338531`` as a number; it is an identifier."""
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _environment_defaults(self) -> ApiConfig:
        defaults = ENVIRONMENTS[self.env]
        self.ssg_url = self.ssg_url or defaults["ssg_url"]
        self.token_url = self.token_url or defaults["token_url"]
        self.audience = self.audience or defaults["audience"]
        self.fiks_url = self.fiks_url or FIKS_ENVIRONMENTS[self.env]
        self.inntekt_url = self.inntekt_url or INNTEKT_ENVIRONMENTS[self.env]
        self.inntekt_sti = self.inntekt_sti or INNTEKT_STI
        return self

    def check_formaal(self, formaal: Formaal) -> ApiConfig:
        """A ``rettighetspakke`` in the settings must be the purpose's own: a command never takes another's."""
        formaal = Formaal.parse(formaal)
        if self.rettighetspakke is not None and self.rettighetspakke not in (formaal.ssg_pakke, formaal.inntekt_pakke):
            raise PurposeError(
                f"innstillingen rettighetspakke = «{self.rettighetspakke}» hører ikke til "
                f"{formaal.tekst} (bare «{formaal.ssg_pakke}»"
                + (f" og «{formaal.inntekt_pakke}»" if formaal.inntekt_pakke else "")
                + ")"
            )
        return self

    def fiks(self, source: str = "fiks") -> tuple[str, str, str, str]:
        """``(url, rolle_id, integrasjon_id, integrasjon_passord)`` for ``--source fiks``, or what is missing."""
        missing = [
            name
            for name, v in (
                ("FEE_ENGINE_FIKS_INTEGRASJON_ID", self.fiks_integrasjon_id),
                ("FEE_ENGINE_FIKS_INTEGRASJON_PASSORD", self.fiks_integrasjon_passord),
                ("FEE_ENGINE_FIKS_ROLLE_ID", self.fiks_rolle_id),
            )
            if not v
        ]
        if missing:
            where = (
                "emulatoren venter de verdiene du setter, så hvilke som helst duger"
                if source == "fiks-emulator"
                else "fra Fiks-konfigurasjon: integrasjonen og kommunens rolle"
            )
            raise MissingCredentialsError(f"--source {source} mangler " + ", ".join(missing) + f" ({where})")
        assert self.fiks_url and self.fiks_integrasjon_id and self.fiks_rolle_id and self.fiks_integrasjon_passord
        return (
            self.fiks_url,
            self.fiks_rolle_id,
            self.fiks_integrasjon_id,
            self.fiks_integrasjon_passord.get_secret_value(),
        )

    def tokens(self, scope: str) -> TokenProvider:
        """A token provider for ``scope`` (space-separated scopes) with these credentials."""
        return TokenProvider(
            self.credentials(),
            self.token_url or "",
            self.audience or "",
            scope=scope,
            consumer_org=self.consumer_org,
            max_attempts=self.max_attempts,
            backoff=self.backoff_s,
        )

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
        password = self.key_password.get_secret_value().encode() if self.key_password else None
        if self.p12_file:
            key, chain = load_pkcs12(Path(self.p12_file), password)
        else:
            cert = Path(self.cert_file) if self.cert_file else None
            key, chain = load_pem(Path(self.key_file), cert, password)  # type: ignore[arg-type]
        assert self.client_id
        return Credentials(self.client_id, key, x5c=None if self.kid else chain, kid=self.kid)


def throwaway_identity(common_name: str = "fee-engine emulator client") -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A throwaway RSA key and self-signed certificate for talking to the emulator."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Syntetisk kommune 310000000"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write_identity(directory: Path) -> tuple[Path, Path]:
    """Write a test key (0600) and certificate as PEM files; returns their paths."""
    key, cert = throwaway_identity()
    directory.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = directory / "klient.key.pem", directory / "klient.cert.pem"
    fd = os.open(key_file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def fetch(
    client: SsgClient,
    persons: list[str],
    plan: list[tuple[int, str]],
    cache: LookupCache | None,
    audit: Any,
    progress: Callable[[], None] | None,
    digest: Digest | None = None,
) -> Any:
    """The lookups (with ``digest``, what it makes of them: :meth:`SsgClient.fetch_all`)."""
    if cache is not None and client.slots is None:
        client.slots = cache.slots()  # every run on this cache shares Skatteetaten's 5
    try:
        return run_coroutine(
            client.fetch_all(persons, plan, cache=cache, audit=audit, progress=progress, digest=digest)
        )
    finally:
        if client.slots is not None:
            client.slots.close()


def ssg_client(cfg: ApiConfig, formaal: Formaal, tokens: TokenProvider, **kw: Any) -> SsgClient:
    """The direct Summert skattegrunnlag client for ``formaal`` with these settings."""
    cfg.check_formaal(formaal)
    kw.setdefault("max_in_flight", cfg.max_in_flight)
    return SsgClient(
        cfg.ssg_url or "", tokens, formaal=formaal, max_attempts=cfg.max_attempts, backoff=cfg.backoff_s, **kw
    )


def fiks_client(cfg: ApiConfig, formaal: Formaal, tokens: TokenProvider | None = None, **kw: Any) -> SsgClient:
    """Summert skattegrunnlag through KS Fiks (scope ``ks:fiks``, the integration's headers, the role)."""
    from . import fiks

    cfg.check_formaal(formaal)
    url, rolle, integrasjon, passord = cfg.fiks()
    kw.setdefault("max_in_flight", cfg.max_in_flight)
    return fiks.client(
        url,
        rolle,
        integrasjon,
        passord,
        tokens or cfg.tokens(FIKS_SCOPE),
        formaal=formaal,
        max_attempts=cfg.max_attempts,
        backoff=cfg.backoff_s,
        **kw,
    )


def fetch_api(
    cfg: ApiConfig,
    persons: list[str],
    plan: list[tuple[int, str]],
    cache: LookupCache | None,
    audit: Any,
    progress: Callable[[], None] | None,
    formaal: Formaal = Formaal.FORELDREBETALING,
    digest: Digest | None = None,
) -> Any:
    client = ssg_client(cfg, formaal, cfg.tokens(" ".join(Formaal.parse(formaal).scopes[:1])))
    return fetch(client, persons, plan, cache, audit, progress, digest)


def fetch_fiks(
    cfg: ApiConfig,
    persons: list[str],
    plan: list[tuple[int, str]],
    cache: LookupCache | None,
    audit: Any,
    progress: Callable[[], None] | None,
    formaal: Formaal = Formaal.FORELDREBETALING,
    digest: Digest | None = None,
) -> Any:
    return fetch(fiks_client(cfg, formaal), persons, plan, cache, audit, progress, digest)


def emulator_module() -> Any:
    """The emulator, whose server stack is an extra: a clear stop when it is not installed."""
    try:
        from . import emulator
    except ImportError as exc:
        raise MissingCredentialsError(
            f"emulatoren trenger pakkene i fee-engine[emulator] ({exc.name} mangler): "
            "pip install 'fee-engine[emulator]'"
        ) from None
    return emulator


class LocalEmulator:
    """The emulator started in-process on a free loopback port, with a throwaway key it trusts alone.

    ``fiks``: also serve KS Fiks's proxy, expecting the integration and role of ``fiks``.
    ``with LocalEmulator(data) as em``: ``em.tokens(scope)`` gives a token provider for it.
    """

    def __init__(
        self,
        data: Path,
        *,
        fiks: FiksEmulator | None = None,
        inntekt_data: Path | None = None,
        consumer_org: str | None = None,
        **kw: Any,
    ) -> None:
        from .maskinporten import x5c_chain

        EmulatorServer = emulator_module().EmulatorServer  # noqa: N806

        key, cert = throwaway_identity()
        self.creds = Credentials("fee-engine-emulator", key, x5c=x5c_chain([cert]))
        self.consumer_org = consumer_org
        self.server = EmulatorServer(
            data,
            trusted_certs=[cert.public_bytes(serialization.Encoding.DER)],
            fiks=fiks,
            inntekt_data=inntekt_data,
            **kw,
        )

    def __enter__(self) -> LocalEmulator:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def tokens(self, scope: str) -> TokenProvider:
        return TokenProvider(
            self.creds, self.base_url + "/token", self.server.state.issuer, scope=scope, consumer_org=self.consumer_org
        )


def fetch_emulator(
    data: Path,
    persons: list[str],
    plan: list[tuple[int, str]],
    cache: LookupCache | None,
    audit: Any,
    progress: Callable[[], None] | None,
    max_in_flight: int = 5,
    formaal: Formaal = Formaal.FORELDREBETALING,
) -> dict[str, list[Lookup]]:
    """Start the emulator in-process on ``data`` and fetch through exactly the same client code over HTTP."""
    formaal = Formaal.parse(formaal)
    with LocalEmulator(data) as em:
        client = SsgClient(
            em.base_url,
            em.tokens(" ".join(formaal.scopes[:1])),
            formaal=formaal,
            max_in_flight=max_in_flight,
            kilde="emulator",
        )
        return fetch(client, persons, plan, cache, audit, progress)


def fetch_fiks_emulator(
    cfg: ApiConfig,
    data: Path,
    persons: list[str],
    plan: list[tuple[int, str]],
    cache: LookupCache | None,
    audit: Any,
    progress: Callable[[], None] | None,
    formaal: Formaal = Formaal.FORELDREBETALING,
    feilformat: str = "skatteetaten",
    max_in_flight: int = 5,
) -> dict[str, list[Lookup]]:
    """The emulator in-process as KS Fiks, expecting the integration and role of the settings; the real Fiks client."""
    FiksEmulator = emulator_module().FiksEmulator  # noqa: N806
    _, rolle, integrasjon, passord = cfg.fiks()
    fiks = FiksEmulator(integrasjon, passord, rolle, feilformat)
    with LocalEmulator(data, fiks=fiks) as em:
        local = cfg.model_copy(update={"fiks_url": em.base_url})
        client = fiks_client(local, formaal, em.tokens(FIKS_SCOPE), kilde="emulator", max_in_flight=max_in_flight)
        return fetch(client, persons, plan, cache, audit, progress)
