"""Exceptions of the tax-data side, in one place.

``TaxDataError`` (base; a FeeEngineError, message safe to show)
    ``TaxConfigurationError`` (exit 2): the service refuses us as configured. The batch stops
        at once and never hammers the service: 403 (SSG-005, SSG-010, DAS-008), SSG-003 or a
        404 without a JSON body (wrong URL or rettighetspakke), SSG-009 (406, format).
    ``MissingCredentialsError`` (exit 2): ``--source api`` without client id, key, URLs …
    ``MaskinportenError`` (exit 2): the token endpoint refused the JWT grant.
    ``AuthenticationError`` (exit 2): 401 again right after a fresh token.

Not exceptions, but lookup outcomes (:class:`~fee_engine.taxdata.base.Lookup`): SSG-007,
SSG-008, SSG-011 (and 410) feed the fallback and the ``manuell`` logic; SSG-006 and an
answer that does not fit the API's shape (``UGYLDIG-SVAR``) become status ``feil``; a lookup
whose retries ran out (5xx, 429, time-outs, dropped connections) becomes ``feil`` with
``midlertidig`` set (the run is incomplete, exit 3). No ``feil`` is cached, so a rerun asks
again. Every failure keeps ``korrelasjonsid``.
"""

from __future__ import annotations

from ..errors import ConfigurationError


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
