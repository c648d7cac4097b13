"""An independent scalar fødselsnummer check for the tests: python-stdnum's check digits plus the date rules.

The production check is :func:`fee_engine.identity.fnr_problems` (vectorised, hand-written); the tests
hold it against this one.
"""

from __future__ import annotations

import datetime as _dt
import re

from stdnum.no.fodselsnummer import calc_check_digit1, calc_check_digit2


class FnrError(ValueError):
    """The value is not a valid fødselsnummer or D-nummer (message is safe to show)."""


def _century(yy: int, individ: int) -> int | None:
    if individ < 500:
        return 1900
    if individ < 750 and yy >= 54:
        return 1800
    if yy < 40:
        return 2000
    if individ >= 900:
        return 1900
    return None


def birth_date(number: str) -> _dt.date:
    """The birth date encoded in a valid number (D-, H- and synthetic numbers included)."""
    day, month, yy, individ = int(number[0:2]), int(number[2:4]), int(number[4:6]), int(number[6:9])
    if day > 40:  # D-nummer
        day -= 40
    if month > 80:  # synthetic (Tenor, syntetisk Folkeregister)
        month -= 80
    elif month > 40:  # H-nummer / older NAV test numbers
        month -= 40
    century = _century(yy, individ)
    if century is None:
        raise FnrError("fødselsnummeret har et individnummer som ikke passer til fødselsåret")
    try:
        return _dt.date(century + yy, month, day)
    except ValueError:
        raise FnrError("fødselsnummeret inneholder ikke en gyldig fødselsdato") from None


def validate_fnr(value: object) -> str:
    """Return the 11-digit number, or raise :class:`FnrError` with a reason that names no digits."""
    if value is None:
        raise FnrError("mangler")
    number = re.sub(r"[\s.-]", "", str(value))
    if not number:
        raise FnrError("mangler")
    if not number.isdigit():
        raise FnrError("må bestå av 11 sifre")
    if len(number) != 11:
        raise FnrError(f"må ha 11 sifre, har {len(number)}")
    if calc_check_digit1(number[:9]) != number[9] or calc_check_digit2(number[:10]) != number[10]:
        raise FnrError("kontrollsifrene stemmer ikke (mod 11)")
    birth_date(number)
    return number


def is_synthetic(number: str) -> bool:
    """True for Skatteetaten's synthetic test numbers (month + 80)."""
    return len(number) == 11 and int(number[2:4]) > 80
