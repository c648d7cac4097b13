"""Exceptions of the tax-data side, in one place.

``TaxDataError`` (base; a FeeEngineError, message safe to show)
    ``TaxConfigurationError`` (exit 2): the service refuses us as configured. The batch stops
        at once and never hammers the service: 403 (SSG-005, SSG-010, DAS-008), SSG-003 or a
        404 without a JSON body (wrong URL or rettighetspakke), SSG-009 (406, format).
    ``MissingCredentialsError`` (exit 2): ``--source api`` without client id, key, URLs …
    ``MaskinportenError`` (exit 2): the token endpoint refused the JWT grant.
    ``AuthenticationError`` (exit 2): 401 again right after a fresh token.

Through KS Fiks the same classes apply: :mod:`.fiks` reads Fiks's error bodies into the same
codes first (a 403 names the integration, its password and the role). A rights package or stage
of another purpose is refused before any request
(:class:`~fee_engine.taxdata.formaal.PurposeError`, exit 2).

Not exceptions, but lookup outcomes (:class:`~fee_engine.taxdata.base.Lookup`): SSG-007,
SSG-008, SSG-011 (and 410) feed the fallback and the ``manuell`` logic; SSG-006 and an
answer that does not fit the API's shape (``UGYLDIG-SVAR``) become status ``feil``; a lookup
whose retries ran out (5xx, 429, time-outs, dropped connections) becomes ``feil`` with
``midlertidig`` set (the run is incomplete, exit 3). No ``feil`` is cached, so a rerun asks
again. Every failure keeps ``korrelasjonsid``.
"""

from __future__ import annotations

from ..errors import ConfigurationError

# The services' own messages for their codes (Summert skattegrunnlag SSG-xxx, Inntekt API IM-xxx), as their
# documentation gives them: the emulator answers with them, and a folder of answers (taxdata.files) gives the
# same for a person or year it has no file for.
MESSAGES = {
    "SSG-004": "Feil i forbindelse med autentisering.",
    "SSG-005": "Feil i forbindelse med autorisering.",
    "SSG-006": "Feil i forbindelse med validering av inputdata.",
    "SSG-007": "Ikke treff på oppgitt personidentifikator",
    "SSG-008": "Ingen summert skattegrunnlag funnet på oppgitt personidentifikator og inntektsår",
    "SSG-009": "Feil tilknyttet dataformat. Kun json eller xml er støttet.",
    "SSG-001": "Uventet feil på tjenesten.",
    "SSG-002": "Uventet feil i et bakenforliggende system.",
    "IM-001": "Uventet feil på tjenesten.",
    "IM-003": "Ukjent url benyttet.",
    "IM-004": "Feil i forbindelse med autentisering.",
    "IM-005": "Feil i forbindelse med autorisering.",
    "IM-006": "Feil i forbindelse med validering av inputdata.",
    "IM-007": "Ikke treff på oppgitt personidentifikator.",
    "IM-008": "Det finnes ikke inntektsopplysninger for angitt personidentifikator og tidspunkt.",
    "IM-009": "Feil tilknyttet dataformat. Kun json eller xml er støttet.",
}


class TaxDataError(ConfigurationError):
    def __init__(self, message: str, korrelasjonsid: str | None = None, kode: str | None = None) -> None:
        super().__init__(message + (f" (korrelasjonsid {korrelasjonsid})" if korrelasjonsid else ""))
        self.korrelasjonsid = korrelasjonsid
        self.kode = kode  # the service's code or HTTP status, for the audit line of the lookup that stopped the batch


class TaxConfigurationError(TaxDataError):
    pass


class MissingCredentialsError(TaxDataError):
    pass


class MaskinportenError(TaxDataError):
    pass


class AuthenticationError(TaxDataError):
    pass
