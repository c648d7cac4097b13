"""Summert skattegrunnlag through KS Fiks's proxy (``--source fiks``): the URL, the headers and the error bodies.

KS documents a proxy of Skatteetaten's API v2 in Fiks register that keeps Skatteetaten's data
model and stages («Datamodellen forblir uendret»)::

    GET {fiks}/skatteetaten/formueinntekt/summertskatt/api/v2/{rolleId}/{stadie}/{rettighetspakke}/{inntektsaar}/{fnr}

with a Maskinporten token of scope ``ks:fiks`` and the headers ``IntegrasjonId`` and
``IntegrasjonPassord`` of the municipality's integration in Fiks-konfigurasjon; the role
(``rolleId``) must be in the service area of the purpose («Foreldrebetaling SFO/barnehage»
for ``kommuneforeldrebetaling``). So the client is :class:`~.client.SsgClient` itself, with
:func:`url_builder`, :func:`headers` and :func:`feilsvar` plugged in: the fallback, the cache,
the outcomes, audit lines, retries and limits are the direct source's.

Error bodies. Known: Fiks's own errors are JSON ``{"timestamp", "status", "error", "errorId",
"path", "originalPath", "message", "errorCode", "errorJson"}`` (not problem+json), and Fiks's
«overbygg» answers 404 «Ingen treff» and 410 «Finnes ikke lenger» in that shape. Not
documented: whether the proxy passes Skatteetaten's body (``kode``, ``melding``,
``korrelasjonsid``) through, wraps it in ``errorJson``, or answers in its own words only.
:func:`feilsvar` therefore reads, in this order:

1. Skatteetaten's body at the top (``kode``): used as it is;
2. Skatteetaten's body in ``errorJson`` (an object, or a string holding one): used as it is;
3. an SSG code in ``errorCode`` or ``message``: that code;
4. Fiks's own body without an SSG code: code ``FIKS-<status>`` (or ``FIKS-<errorCode>``), and a
   404 is taken as «no match» (``ingen_data``: the fallback goes on, and the household ends
   ``manuell`` with that code; never zero income). Fiks's words cannot tell an unknown person
   (SSG-007) from a year without data (SSG-008), so both are ``ingen_data`` here.

``errorId`` stands in for ``korrelasjonsid`` when Skatteetaten's is missing. A 404 that is not
JSON stops the batch (a wrong URL or role), as on the direct way.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .client import Feilsvar, SsgClient, _clean
from .formaal import Formaal

FIKS_ENVIRONMENTS = {"test": "https://api.fiks.test.ks.no", "prod": "https://api.fiks.ks.no"}
SSG_PATH = "/skatteetaten/formueinntekt/summertskatt/api/v2"
HINT_403 = (
    "kontroller at integrasjonen (FEE_ENGINE_FIKS_INTEGRASJON_ID) og passordet "
    "(FEE_ENGINE_FIKS_INTEGRASJON_PASSORD) stemmer og at integrasjonen er autorisert for tjenesten i "
    "Fiks-konfigurasjon, at rollen (FEE_ENGINE_FIKS_ROLLE_ID) er i tjenesteområdet for formålet "
    "(«Foreldrebetaling SFO/barnehage»), og at organisasjonsnummeret i Maskinporten-tokenet er integrasjonens"
)
_SSG_CODE = re.compile(r"\bSSG-[0-9]{3}\b")


def url_builder(base_url: str, rolle_id: str, rettighetspakke: str):
    """``url_for(stage, year, person)`` for Fiks's proxy of Summert skattegrunnlag v2."""
    root = f"{base_url.rstrip('/')}{SSG_PATH}/{rolle_id}"

    def url_for(stage: str, year: int, person: str) -> str:
        return f"{root}/{stage}/{rettighetspakke}/{year}/{person}"

    return url_for


def headers(integrasjon_id: str, integrasjon_passord: str) -> dict[str, str]:
    return {"IntegrasjonId": integrasjon_id, "IntegrasjonPassord": integrasjon_passord}


class _FiksBody(msgspec.Struct):
    """The fields of either shape; anything else is skipped."""

    kode: Any = None
    melding: Any = None
    korrelasjonsid: Any = None
    status: Any = None
    errorId: Any = None
    message: Any = None
    errorCode: Any = None
    errorJson: Any = None


_decoder = msgspec.json.Decoder(_FiksBody)


def _decode(data: Any) -> _FiksBody | None:
    try:
        if isinstance(data, (bytes, str)):
            return _decoder.decode(data) if data else None
        if isinstance(data, dict):
            return msgspec.convert(data, _FiksBody)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return None


def feilsvar(data: bytes) -> Feilsvar:
    """Fiks's error body, or Skatteetaten's inside or instead of it, as the client reads errors (see above)."""
    body = _decode(data)
    if body is None:
        return Feilsvar()
    fiks_id = _clean(body.errorId, 100)
    if isinstance(body.kode, str) and body.kode:  # 1. Skatteetaten's body, passed through
        return Feilsvar(_clean(body.kode, 40), _clean(body.melding), _clean(body.korrelasjonsid, 100) or fiks_id)
    inner = _decode(body.errorJson.encode() if isinstance(body.errorJson, str) else body.errorJson)
    if inner is not None and isinstance(inner.kode, str) and inner.kode:  # 2. wrapped in errorJson
        return Feilsvar(
            _clean(inner.kode, 40),
            _clean(inner.melding) or _clean(body.message),
            _clean(inner.korrelasjonsid, 100) or fiks_id,
        )
    texts = [t for t in (body.errorCode, body.message) if isinstance(t, str)]
    for text in texts:  # 3. an SSG code in Fiks's own words
        found = _SSG_CODE.search(text[:400])
        if found:
            return Feilsvar(found.group(0), _clean(body.message), fiks_id)
    if fiks_id is None and not texts and body.status is None:
        return Feilsvar()  # not a Fiks error body either
    if isinstance(body.errorCode, str) and body.errorCode:  # 4. Fiks's own error
        kode = _clean(f"FIKS-{body.errorCode}", 40)
    elif isinstance(body.status, int) and not isinstance(body.status, bool) and 100 <= body.status <= 599:
        kode = f"FIKS-{body.status}"
    else:
        kode = "FIKS"
    return Feilsvar(kode, _clean(body.message), fiks_id, utfall="ingen_data")


def client(
    base_url: str,
    rolle_id: str,
    integrasjon_id: str,
    integrasjon_passord: str,
    tokens: Any,
    *,
    formaal: Formaal = Formaal.FORELDREBETALING,
    **kw: Any,
) -> SsgClient:
    """An :class:`SsgClient` that asks through Fiks; ``kw`` as for the direct client (limits, retries, kilde …)."""
    formaal = Formaal.parse(formaal)
    kw.setdefault("kilde", "fiks")
    return SsgClient(
        base_url,
        tokens,
        formaal=formaal,
        url_for=url_builder(base_url, rolle_id, formaal.ssg_pakke),
        extra_headers=headers(integrasjon_id, integrasjon_passord),
        feilsvar=feilsvar,
        tjeneste="KS Fiks",
        hint_403=HINT_403,
        **kw,
    )
