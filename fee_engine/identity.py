"""Fødselsnummer and D-nummer: validation, masking, synthetic test numbers.

The check digits are python-stdnum's. What stdnum does not do is accept the
synthetic numbers from Skatteetaten's and NAV's test population (Tenor /
syntetisk Folkeregister: month + 80) or NAV's older test range (month + 40),
so the date part is checked here.

Privacy rule for the whole project: a full fødselsnummer is never written to a
log or an error message. Use :func:`mask` (or :func:`mask_digits_in_text` on
free text) whenever an identifier leaves the data path.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re

from stdnum.no.fodselsnummer import calc_check_digit1, calc_check_digit2

__all__ = ["FnrError", "validate_fnr", "is_synthetic", "mask", "mask_digits_in_text", "make_synthetic", "install_log_masking"]


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


def mask(number: object) -> str:
    """Show the birth date part only: ``010180*****``. Anything shorter is masked whole."""
    s = "" if number is None else str(number)
    if len(s) <= 6:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 6)


_DIGIT_RUN = re.compile(r"\d{9,}")


def mask_digits_in_text(text: str) -> str:
    """Mask every run of nine or more digits in free text (error messages, log lines)."""
    return _DIGIT_RUN.sub(lambda m: mask(m.group(0)), text)


def make_synthetic(birth: _dt.date, serial: int) -> str:
    """A valid synthetic fødselsnummer (month + 80) for test data; ``serial`` picks the individnummer.

    Individnummer ranges follow the century rules; serials whose check digit would be 10 are
    skipped, so the returned number always validates.
    """
    if birth.year >= 2000:
        lo, hi = 500, 999
    else:
        lo, hi = 0, 499
    span = hi - lo + 1
    for k in range(span):
        individ = lo + (serial + k) % span
        stem = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}{individ:03d}"
        c1 = calc_check_digit1(stem)
        if len(c1) != 1:
            continue
        c2 = calc_check_digit2(stem + c1)
        if len(c2) != 1:
            continue
        return stem + c1 + c2
    raise ValueError("no valid number for that date")  # pragma: no cover - every date has one


class MaskingFilter:
    """A logging filter that masks every run of nine or more digits in a record's message.

    httpx logs each request URL at INFO, and Summert skattegrunnlag's URL ends in the
    fødselsnummer; :func:`install_log_masking` puts this filter on every logger that sees them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_digits_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


LOGGERS_ON_THE_DATA_PATH = ("httpx", "httpcore", "httpcore.http11", "httpcore.connection", "fee_engine",
                            "fee_engine.emulator", "fee_engine.taxdata", "uvicorn", "uvicorn.error", "uvicorn.access")


def install_log_masking() -> None:
    for name in LOGGERS_ON_THE_DATA_PATH:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskingFilter) for f in logger.filters):
            logger.addFilter(MaskingFilter())
