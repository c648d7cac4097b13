"""The shape of a Summert skattegrunnlag v2 answer, checked in one step from the bytes.

Every answer, from files, from the cache or over HTTP, is decoded straight into the typed
model below (msgspec: about 0.3 µs for a one-item answer, 2 µs for a 3 kB answer with
``spesifisering``) and then checked against the request. An answer that does not fit is
never read as zero income: :func:`answer_lookup` turns it into a ``feil`` lookup with code
``UGYLDIG-SVAR`` and a reason in plain Norwegian, and the household becomes ``manuell``.

What is checked:

* at most :data:`MAX_BYTES`, valid JSON (no ``NaN``/``Infinity``), a JSON object at the top,
  nesting within the decoder's recursion limit;
* ``personidentifikator``, ``inntektsaar`` and ``stadie``, where present, name what was asked;
* ``skjermet`` a boolean; ``grunnlag`` absent, ``null`` or a list of objects, each with a
  string ``tekniskNavn`` and a whole-krone ``beloep`` within ±:data:`MAX_AMOUNT` (an integer,
  or a string of digits; no floats), ``kategori`` a string or a list of strings;
* unknown fields are allowed and skipped (``spesifisering``, ``svalbardGrunnlag`` …).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from ..identity import mask_digits_in_text
from .base import Lookup

MAX_BYTES = 2 * 1024 * 1024  # a real answer is a few kB; the bound keeps a runaway answer from stalling a batch
MAX_AMOUNT = 10**11  # kr; a hundred billion is beyond any household
INVALID = "UGYLDIG-SVAR"

Amount = Annotated[int, Meta(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
AmountText = Annotated[str, Meta(pattern=r"^\s*-?[0-9]{1,11}\s*$")]  # 11 digits stay within MAX_AMOUNT
Year = Annotated[int, Meta(ge=0, le=9999)]
YearText = Annotated[str, Meta(pattern=r"^[0-9]{4}$")]


class Post(Struct, frozen=True):
    """One ``grunnlag`` item."""

    tekniskNavn: str
    beloep: Amount | AmountText
    kategori: str | list[str] | None = None

    @property
    def kroner(self) -> int:
        b = self.beloep
        return b if type(b) is int else int(b)


class Answer(Struct, frozen=True):
    """The fields of an answer that fee-engine reads; everything else is skipped."""

    personidentifikator: str | None = None
    inntektsaar: Year | YearText | None = None
    stadie: str | None = None
    skjermet: bool | None = None
    grunnlag: list[Post] | None = None


_decoder = msgspec.json.Decoder(Answer)
_encoder = msgspec.json.Encoder()


class InvalidAnswer(ValueError):
    """The answer does not fit the API's shape or the request; the message is Norwegian and names no person."""


_TYPES = {
    "object": "et objekt",
    "array": "en liste",
    "str": "tekst",
    "int": "et heltall",
    "float": "et desimaltall",
    "bool": "sann/usann",
    "null": "null",
}
_EXPECTED = re.compile(r"Expected `([^`]*)`, got `([^`]*)`")
_PATH = re.compile(r" - at `\$([^`]*)`")


def _type_text(spec: str) -> str:
    return " eller ".join(_TYPES.get(t.strip(), t.strip()) for t in spec.split("|"))


def _reason_from(exc: Exception) -> str:
    """A Norwegian reason from msgspec's message (which holds types and field paths, never values)."""
    text = str(exc)
    m = _PATH.search(text)
    where = f" i {m.group(1).lstrip('.')}" if m and m.group(1) else ""
    if isinstance(exc, RecursionError):
        return "svaret er nøstet for dypt"
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return "svaret er ikke gyldig JSON"
    if "<=" in text or ">=" in text:
        return f"beløpet{where} er utenfor ±{MAX_AMOUNT:,} kr".replace(",", " ")
    if "matching regex" in text:
        return f"verdien{where} har feil form (ventet et helt tall)"
    if "missing required field" in text:
        field = re.search(r"field `([^`]*)`", text)
        return f"feltet {field.group(1) if field else '?'} mangler{where}"
    m2 = _EXPECTED.search(text)
    if m2:
        return f"ventet {_type_text(m2.group(1))}{where}, fikk {_type_text(m2.group(2))}"
    return "svaret har feil form"


def check(answer: Answer, person: str, year: int, stage: str) -> Answer:
    """The answer must be about what was asked: person, income year and stage, where it names them."""
    if answer.personidentifikator is not None and answer.personidentifikator != person:
        raise InvalidAnswer("svaret gjelder en annen person enn den det ble spurt om")
    if answer.inntektsaar is not None and int(answer.inntektsaar) != year:
        raise InvalidAnswer(f"svaret gjelder inntektsår {int(answer.inntektsaar)}, men det ble spurt om {year}")
    if answer.stadie is not None and answer.stadie != stage:
        got = mask_digits_in_text(answer.stadie[:40])
        raise InvalidAnswer(f"svaret gjelder stadie «{got}», men det ble spurt om «{stage}»")
    return answer


def decode(raw: bytes, person: str, year: int, stage: str) -> Answer:
    """Bytes to a checked :class:`Answer`, or :class:`InvalidAnswer` with the reason."""
    if len(raw) > MAX_BYTES:
        raise InvalidAnswer(f"svaret er større enn {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        answer = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise InvalidAnswer(_reason_from(exc)) from None
    return check(answer, person, year, stage)


def convert(obj: Any, person: str, year: int, stage: str) -> Answer:
    """An already parsed body (a dict, e.g. built by a test or an older caller) through the same checks."""
    if isinstance(obj, Answer):
        return check(obj, person, year, stage)
    try:
        answer = msgspec.convert(obj, Answer)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise InvalidAnswer(_reason_from(exc)) from None
    return check(answer, person, year, stage)


def answer_lookup(raw: bytes, person: str, year: int, stage: str, korrelasjonsid: str | None = None) -> Lookup:
    """A 200 answer as a :class:`Lookup`: ``ok`` with the checked body, or ``feil`` ``UGYLDIG-SVAR`` with the reason."""
    try:
        body = decode(raw, person, year, stage)
        return Lookup(person, year, stage, "ok", "200", body=body, korrelasjonsid=korrelasjonsid)
    except InvalidAnswer as exc:
        return Lookup(
            person, year, stage, "feil", INVALID, korrelasjonsid=korrelasjonsid, melding=f"ugyldig svar: {exc}"
        )


def minimised(answer: Answer) -> bytes:
    """What the cache keeps of an answer: only the fields fee-engine reads, without the person's identifier."""
    return _encoder.encode(msgspec.structs.replace(answer, personidentifikator=None))
