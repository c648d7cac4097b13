"""Fødselsnummer and D-nummer: the check used on whole files, masking, synthetic test numbers.

:func:`fnr_problems` is the one production check: mod-11 check digits and a valid birth date,
vectorised over a column, accepting D-numbers (day + 40), the synthetic numbers of Skatteetaten's
and NAV's test population (Tenor / syntetisk Folkeregister: month + 80) and NAV's older test range
(month + 40). The tests hold it against python-stdnum's check digits as an independent oracle.
:func:`make_synthetic` makes valid synthetic numbers (with stdnum's check digits) for test data.

Privacy rule for the whole project: a full fødselsnummer is never written to a
log or an error message. Use :func:`mask` (or :func:`mask_digits_in_text` on
free text) whenever an identifier leaves the data path.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re

import numpy as np
import pandas as pd
from stdnum.no.fodselsnummer import calc_check_digit1, calc_check_digit2

__all__ = ["fnr_problems", "mask", "mask_digits_in_text", "mask_ids", "make_synthetic", "install_log_masking"]


def mask(number: object) -> str:
    """Show the birth date part only: ``010180*****``. Anything shorter is masked whole."""
    s = "" if number is None else str(number)
    if len(s) <= 6:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 6)


# Nine or more digits in a row, or a fødselsnummer written with a space, dot or dash after the birth date.
_DIGIT_RUN = re.compile(r"[0-9]{9,}|(?<![0-9])[0-9]{6}[\s.-][0-9]{5}(?![0-9])")


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


LOGGERS_ON_THE_DATA_PATH = (
    "httpx",
    "httpcore",
    "httpcore.http11",
    "httpcore.connection",
    "fee_engine",
    "fee_engine.emulator",
    "fee_engine.taxdata",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
)


def install_log_masking() -> None:
    for name in LOGGERS_ON_THE_DATA_PATH:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskingFilter) for f in logger.filters):
            logger.addFilter(MaskingFilter())


# -- the vectorised check used on whole files ---------------------------------------------------
_W1 = np.array([3, 7, 6, 1, 8, 9, 4, 5, 2])
_W2 = np.array([5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])  # by month 1-12 (0: none)


def fnr_problems(s: pd.Series) -> pd.Series:
    """Reason code per value ('' = valid, 'mangler' = empty): digits, length, mod-11 and date, vectorised.

    Spaces, dots and dashes between digits are allowed (``010180 12345``). Only ASCII digits count.
    """
    text = s.astype(str)
    values = text.to_numpy(dtype=object)
    # most values are written as 11 plain digits: only the others go through the separators and the checks
    n = len(values)  # mapped, not a generator: a file's distinct numbers, 500 000 of them at national scale
    plain = np.fromiter(map(len, values), np.int64, n) == 11
    if plain.any():  # the eleven characters as code points, side by side: ASCII digits are 48-57
        points = values[plain].astype("U11").view(np.uint32).reshape(-1, 11)
        plain[plain] = ((points >= 48) & (points <= 57)).all(axis=1)
    code = pd.Series("", index=s.index, dtype=object)
    if plain.all():
        v = text
        ok = pd.Series(True, index=s.index)
    else:  # the separators taken out of the other values only (mostly the empty cells of an optional column)
        other = ~plain
        rest = text[other].str.replace(r"[\s.-]", "", regex=True)
        filled = rest != ""
        found = np.where(~filled, "mangler", "")
        found = np.where(filled & ~rest.str.fullmatch(r"[0-9]*").to_numpy(bool), "fnr_tegn", found)
        found = np.where((found == "") & filled & (rest.str.len() != 11).to_numpy(bool), "fnr_lengde", found)
        code[other] = found.astype(object)  # Python texts, as elsewhere in the column
        v = text.copy()
        v[other] = rest
        ok = code == ""
    if ok.any():
        vals = v[ok].to_numpy(dtype="U11")  # eleven ASCII digits each, as checked above
        digits = vals.view(np.uint32).reshape(-1, 11).astype(np.int64) - 48
        k1 = (11 - (digits[:, :9] @ _W1) % 11) % 11
        k2 = (11 - (digits[:, :10] @ _W2) % 11) % 11
        bad_check = (k1 != digits[:, 9]) | (k2 != digits[:, 10])
        day = digits[:, 0] * 10 + digits[:, 1]
        month = digits[:, 2] * 10 + digits[:, 3]
        yy = digits[:, 4] * 10 + digits[:, 5]
        individ = digits[:, 6] * 100 + digits[:, 7] * 10 + digits[:, 8]
        day = np.where(day > 40, day - 40, day)
        month = np.where(month > 80, month - 80, np.where(month > 40, month - 40, month))
        century = np.select(
            [individ < 500, (individ < 750) & (yy >= 54), yy < 40, individ >= 900],
            [1900, 1800, 2000, 1900],
            default=0,
        )
        year = century + yy
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
        bad_date = (century == 0) | (month < 1) | (month > 12) | (day < 1) | (day > days)
        code[ok] = np.where(bad_check, "fnr_kontroll", np.where(bad_date, "fnr_dato", ""))
    return code


# Eleven digits, also written with a space, dot or dash after the birth date (fnr_problems accepts those).
_ELEVEN = r"(?<![0-9])[0-9]{6}[\s.-]?[0-9]{5}(?![0-9])"


def mask_ids(values: pd.Series) -> pd.Series:
    """Mask every 11-digit number that is a valid fødselsnummer or D-nummer inside each text value.

    The first six digits stay (``010180*****``), as everywhere else. Other 11-digit numbers, such
    as account numbers, are left as they are. Vectorised: only values holding 11 digits in a row
    are looked at more closely.
    """
    text = values.astype(str)
    candidates = text.str.contains(_ELEVEN, regex=True)
    if not candidates.any():
        return values
    found = text[candidates].str.extractall(f"(?P<n>{_ELEVEN})")["n"]
    valid = set(found[fnr_problems(found.reset_index(drop=True)).to_numpy() == ""])
    if not valid:
        return values
    pattern = re.compile(_ELEVEN)
    out = values.copy()
    out[candidates] = text[candidates].map(
        lambda t: pattern.sub(lambda m: mask(m.group(0)) if m.group(0) in valid else m.group(0), t)
    )
    return out
