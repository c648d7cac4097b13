"""Vectorised parsers for the enrollment file's fields: dates, kroner, decimals, yes/no.

Each parser takes a Series of stripped strings and returns the parsed values plus a Series
of problem codes ('' = fine, 'mangler' is left to the caller). Only ASCII digits count as
digits (``\\d`` would take Arabic-Indic and other Unicode digits); exponents, ``inf`` and
``nan`` are not numbers here. Money is parsed to integer øre from the digits, never
through a float.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


# -- dates ----------------------------------------------------------------------------------
def parse_dates(s: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` or ``DD.MM.YYYY`` (also ``D.M.YYYY``); NaT where neither."""
    iso = pd.to_datetime(
        s.where(s.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), None), format="%Y-%m-%d", errors="coerce"
    )
    nor = pd.to_datetime(
        s.where(s.str.fullmatch(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}"), None), format="%d.%m.%Y", errors="coerce"
    )
    return iso.fillna(nor)


# -- kroner ---------------------------------------------------------------------------------
# After spaces (also no-break and thin spaces) and a «kr»/«NOK» or «,-» are taken away:
_KRONER_FORMS = [
    r"(?P<i>[0-9]+)",  # 300000
    r"(?P<i>[0-9]{1,3}(?:\.[0-9]{3})+)(?:,(?P<d>[0-9]{1,2}))?",  # 300.000, 1.234.567, 1.500,00
    r"(?P<i>[0-9]+),(?P<d>[0-9]{1,2})",  # 1500,50
    r"(?P<i>[0-9]+)\.(?P<d>[0-9]{1,2})",  # 1500.5, 1500.50
    r"(?P<i>[0-9]{1,3}(?:,[0-9]{3})+)\.(?P<d>[0-9]{1,2})",  # 1,234.50 (comma thousands, decimal point)
]
_AMBIGUOUS = r"[0-9]{1,3}(?:,[0-9]{3})+"  # 1,500 and 3,000: thousands or a decimal comma?
_SPACES = r"[\s\u00a0\u202f\u2009\u2007]"


def parse_kroner(s: pd.Series, max_kroner: int) -> tuple[pd.Series, pd.Series]:
    """Kroner as typed in Norway -> (øre as int64, -1 where empty or bad; problem code per value).

    Codes: ``tall`` (not an amount), ``tall_tvetydig`` (``1,500``), ``negativ``, ``for_stort``.
    """
    plain = _whole_kroner(s, max_kroner)
    if plain is not None:
        return plain
    t = s.str.replace(_SPACES, "", regex=True).str.replace(r"(?i)^(?:kr\.?|nok)|(?:kr\.?|nok|,-)$", "", regex=True)
    negative = t.str.startswith("-")
    t = t.str.replace(r"^-", "", regex=True)
    oere = pd.Series(-1, index=s.index, dtype=np.int64)
    code = pd.Series("", index=s.index, dtype=object)
    matched = pd.Series(False, index=s.index)
    for form in _KRONER_FORMS:
        found = t.str.extract(f"^{form}$")
        hit = found["i"].notna() & ~matched
        if not hit.any():
            continue
        digits = found.loc[hit, "i"].str.replace(r"[.,]", "", regex=True).str.lstrip("0").replace("", "0")
        dec = found["d"].reindex(found.index).loc[hit].fillna("") if "d" in found else pd.Series("", index=digits.index)
        too_long = digits.str.len() > 12
        whole = pd.to_numeric(digits.where(~too_long, "0")).astype(np.int64)
        cents = pd.to_numeric(dec.str.ljust(2, "0").replace("", "00")).astype(np.int64)
        value = whole * 100 + cents
        value[too_long] = np.iinfo(np.int64).max // 4
        oere[hit] = value
        matched |= hit
    code[(s != "") & ~matched] = "tall"
    code[(s != "") & ~matched & t.str.fullmatch(_AMBIGUOUS)] = "tall_tvetydig"
    code[matched & negative & (oere > 0)] = "negativ"
    code[matched & ~negative & (oere > max_kroner * 100)] = "for_stort"
    oere[code != ""] = -1
    oere[matched & negative & (oere == 0)] = 0  # «-0» is 0
    return oere, code


def _whole_kroner(s: pd.Series, max_kroner: int) -> tuple[pd.Series, pd.Series] | None:
    """:func:`parse_kroner` of values that are all empty or whole kroner in at most 12 ASCII digits (a price list's
    amounts, as a system writes them), without its regular expressions: 50 ms of the file's check, whatever its size;
    None when any value is written otherwise."""
    values = s.to_numpy(dtype=object)
    if not all(isinstance(v, str) and (v == "" or (len(v) <= 12 and v.isascii() and v.isdigit())) for v in values):
        return None
    whole = np.array([int(v) if v else -1 for v in values], dtype=np.int64)
    too_large = whole > max_kroner
    oere = np.where((whole >= 0) & ~too_large, whole * 100, -1)
    code = np.where(too_large, "for_stort", "").astype(object)
    return pd.Series(oere, index=s.index, dtype=np.int64), pd.Series(code, index=s.index, dtype=object)


# -- decimals (place size, hours) -------------------------------------------------------------
def parse_hundredths(s: pd.Series, suffix: str = "") -> tuple[pd.Series, pd.Series]:
    """A number with at most two decimals (``,`` or ``.``), optional ``suffix`` (``%``) -> hundredths.

    Returns (int64 hundredths, -1 where empty or bad; code ``tall`` where not such a number).
    """
    t = s.str.replace(_SPACES, "", regex=True)
    if suffix:
        t = t.str.removesuffix(suffix)
    found = t.str.extract(r"^(?P<i>[0-9]{1,6})(?:[.,](?P<d>[0-9]{1,2}))?$")
    hit = found["i"].notna()
    value = pd.Series(-1, index=s.index, dtype=np.int64)
    if hit.any():
        whole = pd.to_numeric(found.loc[hit, "i"]).astype(np.int64)
        cents = pd.to_numeric(found.loc[hit, "d"].fillna("").str.ljust(2, "0").replace("", "00")).astype(np.int64)
        value[hit] = whole * 100 + cents
    code = pd.Series("", index=s.index, dtype=object)
    code[(s != "") & ~hit] = "tall"
    return value, code


# -- yes / no ---------------------------------------------------------------------------------
YES_NO = {"ja": "ja", "nei": "nei", "j": "ja", "n": "nei", "": ""}


def parse_yes_no(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``ja``/``nei`` in any case (``Ja``, ``JA``) -> 'ja'/'nei'/''; code ``ja_nei`` for anything else."""
    low = s.str.lower().map(YES_NO)
    code = pd.Series(np.where(low.isna(), "ja_nei", ""), index=s.index, dtype=object)
    return low.fillna(""), code


# -- control characters ---------------------------------------------------------------------
def has_control(s: pd.Series) -> pd.Series:
    """NUL and other control characters (a tab and a carriage return are allowed in text)."""
    from .reading import CONTROL

    return s.str.contains(CONTROL.pattern, regex=True)
