"""Reading and validating the enrollment file (one row per child placement).

:func:`read_enrollment` returns an :class:`Enrollment`: the accepted rows with typed
columns, and one rejection per problem found (row number, column, value, reason). A row
with any problem is rejected whole; every other row is kept, so rows in = rows accepted +
rows rejected. :meth:`Enrollment.split_period` then sets aside the accepted rows whose
placement lies entirely outside the period, so rows in = decided + rejected + outside.

Row numbers are as a spreadsheet shows them: the header is row 1, the first data row is
row 2. Every echoed value is masked where it holds a fødselsnummer or D-nummer.

The checks are vectorised over the whole file (the mod-11 check included).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from stdnum.no import orgnr

from ..errors import InputError
from ..identity import fnr_problems, mask, mask_ids
from ..text import is_text
from .fields import has_control, parse_dates, parse_hundredths, parse_kroner, parse_yes_no
from .reading import excel_serial_dates, read_table

REQUIRED = ["barn_id", "husholdning_id", "foresatt_fnr", "kommunenummer", "tilbud"]
KNOWN = REQUIRED + [
    "barn_fodselsdato",
    "partner_fnr",
    "institusjon",
    "plass_prosent",
    "timer_per_uke",
    "trinn",
    "saerskilte_behov",
    "pris_maaned",
    "fra_dato",
    "til_dato",
    "soekt_redusert",
    "dokumentert_inntekt",
    "betaler_fnr",
    "eier_orgnr",  # the invoicing basis: who pays (default foresatt_fnr), a private owner
]
# The columns fee-engine makes itself, as it names them: the checked rows, the households, the runs and the outputs
# (tests/test_enrollment.py holds this to the columns a run makes). A column of the file by one of these names is
# passed through under a name of its own (:func:`_own_name`): before, a column «plass_bp» in the file took the place
# of the share read from «plass_prosent», and the amounts were computed from it.
ENGINE_COLUMNS = frozenset(
    {
        "aarsak",
        "andel_bp",
        "ansvar",
        "antall_maaneder",
        "art",
        "artikkel",
        "barn_fodselsdato",
        "barn_id",
        "belop",
        "betaler_fnr",
        "bh_heltid_timer_c",
        "bh_kjerne_fra_alder",
        "bh_kjerne_grense_oere",
        "bh_kjerne_timer_c",
        "bh_maks_oere",
        "dok_inntekt_oere",
        "eier_orgnr",
        "etter_fakturering_oere",
        "etter_gratis_kjernetid_oere",
        "etter_gratis_timer_sfo_oere",
        "etter_inntektsgrense",
        "etter_inntektsgrense_oere",
        "etter_ordinaer_pris_oere",
        "etter_saerskilte_behov_oere",
        "etter_soeskenmoderasjon_oere",
        "fakturert",
        "fakturerte_mnd",
        "flagg",
        "foreloepig",
        "foresatt_fnr",
        "forklaring",
        "forklaring_kode",
        "forventet_aar",
        "fra_dato",
        "fra_maaned",
        "gratis_timer",
        "gratis_timer_sfo",
        "husholdning_id",
        "husholdningsinntekt",
        "inntekt_brukt",
        "inntekt_oere",
        "inntekt_status",
        "inntekt_tak_oere",
        "inntekt_trinn",
        "inntektsaar",
        "inntektsreduksjon",
        "institusjon",
        "kjernetid",
        "kjernetid_alder",
        "kode",
        "kolonne",
        "kommunenummer",
        "linjer",
        "maalform",
        "maaned",
        "manuell_grunn",
        "manuell_kode",
        "merknad_saksbehandler",
        "ordinaer_pris",
        "partner_aar",
        "partner_fnr",
        "partner_oere",
        "partner_stadie",
        "Plass",  # never a file's (its header is read in lower case), kept so the list is whole
        "plass_bp",
        "pris_oere",
        "pris_tak_oere",
        "rad",
        "regelsett",
        "saerskilte_behov",
        "saerskilte_behov_fritak",
        "sfo_gratis_fast",
        "sfo_gratis_fast_oere",
        "sfo_gratis_timer_c",
        "soeker_aar",
        "soeker_oere",
        "soeker_stadie",
        "soekt_redusert",
        "soesken_bp",
        "soesken_rang",
        "soeskenmoderasjon",
        "sone",
        "stadie",
        "status",
        "til_dato",
        "til_maaned",
        "tilbud",
        "timer_c",
        "tjeneste",
        "trinn",
        "ukjente_poster",
        "uverifisert",
        "verdi",
        "voksne",
    }
)
FNR_COLUMNS = ("foresatt_fnr", "partner_fnr", "betaler_fnr")
DATE_COLUMNS = ("barn_fodselsdato", "fra_dato", "til_dato")
TILBUD = ("barnehage", "sfo")

# A placement's dates are held within these (read_enrollment): beyond any period either way.
EARLIEST, LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-12-31")

# Bounds of every number read (kroner, percent, hours).
MAX_PRIS_KR = 100_000
MAX_INNTEKT_KR = 1_000_000_000

# Reasons, Norwegian bokmål and English, by code.
REASONS: dict[str, tuple[str, str]] = {
    "mangler": ("mangler verdi", "value missing"),
    "fnr_lengde": ("fødselsnummer må ha 11 sifre", "fødselsnummer must have 11 digits"),
    "fnr_tegn": ("fødselsnummer kan bare inneholde sifre", "fødselsnummer may contain digits only"),
    "fnr_kontroll": ("kontrollsifrene i fødselsnummeret stemmer ikke (mod 11)", "check digits do not match (mod 11)"),
    "fnr_dato": ("fødselsnummeret inneholder ingen gyldig fødselsdato", "fødselsnummer holds no valid birth date"),
    "partner_lik": ("partner_fnr er den samme som foresatt_fnr", "partner_fnr equals foresatt_fnr"),
    "kommune_format": ("kommunenummer må ha 4 sifre", "kommunenummer must have 4 digits"),
    "sfo_pris_plassholder": (
        "SFO-prislisten til kommune {kommune} er en plassholder på 0 kr som ikke er bekreftet (fra kommune init): "
        "legg inn kommunens priser under sfo.prisliste i kommunefilen, eller oppgi pris_maaned",
        "the SFO price list of municipality {kommune} is an unconfirmed placeholder of 0 kr (from kommune init): "
        "enter the municipality's prices under sfo.prisliste in its settings file, or give pris_maaned",
    ),
    "kommune_ukjent": (
        "ingen kommunefil for dette kommunenummeret i regelsettet",
        "no municipal file for this kommunenummer in the rule set",
    ),
    "tilbud": ("tilbud må være «barnehage» eller «sfo»", "tilbud must be 'barnehage' or 'sfo'"),
    "dato": ("ugyldig dato (bruk ÅÅÅÅ-MM-DD eller DD.MM.ÅÅÅÅ)", "invalid date (use YYYY-MM-DD or DD.MM.YYYY)"),
    "dato_framtid": ("fødselsdato etter periodens slutt", "birth date after the end of the period"),
    "tall": ("må være et tall{hint}", "must be a number{hint_en}"),
    "tall_tvetydig": (
        "kan bety både tusen og desimaler; skriv 1500 (eller 1 500) for ett tusen fem hundre, "
        "1,50 for én krone og femti øre",
        "ambiguous: thousands or decimals? write 1500 (or 1 500) for one thousand five hundred, "
        "1,50 for one krone fifty",
    ),
    "for_stort": ("er større enn {max}", "is larger than {max}"),
    "plass": ("plass_prosent må være større enn 0 og høyst 100", "plass_prosent must be above 0 and at most 100"),
    "timer": ("timer_per_uke må være større enn 0 og høyst 60", "timer_per_uke must be above 0 and at most 60"),
    "trinn": ("trinn må være et helt tall fra 1 til 7", "trinn must be a whole number from 1 to 7"),
    "ja_nei": ("må være «ja» eller «nei»", "must be 'ja' or 'nei'"),
    "negativ": ("kan ikke være negativ", "cannot be negative"),
    "periode": ("til_dato er før fra_dato", "til_dato is before fra_dato"),
    "duplikat": (
        "barn_id finnes også på rad {other} med samme tilbud og overlappende periode",
        "barn_id also on row {other} with the same tilbud and an overlapping period",
    ),
    "voksne": (
        "husholdningen har flere enn to voksne (foresatt_fnr/partner_fnr) på sine rader",
        "the household has more than two adults (foresatt_fnr/partner_fnr) across its rows",
    ),
    "motstrid": ("radene i husholdningen har ulike verdier i {col}", "the household's rows disagree on {col}"),
    "kontrolltegn": (
        "inneholder kontrolltegn (f.eks. NUL) som ikke hører hjemme i en celle",
        "contains control characters (e.g. NUL) that do not belong in a cell",
    ),
    "anfoerselstegn": (
        'raden har et anførselstegn (") som ikke er lukket; raden er ikke lest',
        'the row has an unclosed quote ("); the row was not read',
    ),
    "felt_antall": ("raden har {n} felt, men overskriften har {m}", "the row has {n} fields but the header has {m}"),
    "orgnr": (
        "organisasjonsnummeret må ha 9 sifre med gyldig kontrollsiffer (mod 11)",
        "the organisation number must have 9 digits with a valid check digit (mod 11)",
    ),
}
REJECTION_COLUMNS = ["rad", "kolonne", "verdi", "aarsak", "kode", "aarsak_en"]


@dataclass
class Enrollment:
    rows: pd.DataFrame  # accepted rows, typed
    rejections: pd.DataFrame  # rad, kolonne, verdi, aarsak, kode, aarsak_en
    n_rows: int
    extra_columns: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # how the file was read (e.g. Windows-1252)
    outside: pd.DataFrame | None = None  # accepted rows entirely outside the period (set by split_period)
    rejected_households: set[str] = field(default_factory=set)  # husholdning_id of rejected rows (for the letters)

    @property
    def rejected_rows(self) -> int:
        return int(self.rejections["rad"].nunique()) if len(self.rejections) else 0

    @property
    def outside_rows(self) -> int:
        return 0 if self.outside is None else len(self.outside)

    def messages(self, lang: str = "nb") -> pd.DataFrame:
        out = self.rejections.copy()
        if lang == "en":
            out["aarsak"] = out["aarsak_en"]
        return out.drop(columns=["aarsak_en"])

    def reject(self, mask_: pd.Series, column: str, code: str, **fmt: object) -> None:
        """Move accepted rows to the rejections (a check that needs the rule set; rows in still add up)."""
        if not mask_.any():
            return
        nb, en = REASONS[code]
        rows = self.rows[mask_.to_numpy()]
        sub = pd.DataFrame(
            {
                "rad": rows["rad"].to_numpy(),
                "kolonne": column,
                "verdi": rows[column].astype(str).to_numpy(),
                "aarsak": nb.format(**fmt),
                "kode": code,
                "aarsak_en": en.format(**fmt),
            }
        )
        new = _rejections([sub])  # masked and ordered as the reading's own rejections
        both = pd.concat([self.rejections, new], ignore_index=True) if len(self.rejections) else new
        self.rejections = both.sort_values(["rad", "kolonne"], kind="stable").reset_index(drop=True)
        self.rejected_households |= set(rows["husholdning_id"].astype(str)) - {""}
        self.rows = self.rows[~mask_.to_numpy()].reset_index(drop=True)

    def split_period(self, first: pd.Timestamp, last_day: pd.Timestamp) -> None:
        """Set aside the placements that end before ``first`` or start after ``last_day`` (once)."""
        if self.outside is not None:
            return
        r = self.rows
        out = (r["til_dato"] < first) | (r["fra_dato"] > last_day)
        self.outside = r[out].reset_index(drop=True)
        self.rows = r[~out].reset_index(drop=True)


# -- validation ------------------------------------------------------------------------
def per_unique(values: pd.Series, fn: Callable[[pd.Series], object]) -> object:
    """``fn`` on the distinct values only, spread back to every row (a column of 100 000 rows has a few
    hundred distinct place sizes, dates or amounts). ``fn`` returns a Series or a tuple of Series."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return _spread(fn(pd.Series(np.asarray(uniques, dtype=object), dtype=object)), codes, values.index)


def _spread(result: object, codes: np.ndarray, index: pd.Index) -> object:
    """A result per distinct value (a Series, or a tuple of them) given to every row by the rows' codes."""

    def spread(r: pd.Series) -> pd.Series:
        return pd.Series(np.asarray(r.to_numpy())[codes], index=index)

    return tuple(spread(r) for r in result) if isinstance(result, tuple) else spread(result)  # type: ignore[union-attr]


class _Labels:
    """A label per row (a problem code, an answer) from a label per distinct value, kept as a small integer per row:
    :meth:`is_` compares integers. Comparing the rows' texts with a label took 62 comparisons of 500 000 texts
    (0.8 s) at national scale; the labels themselves are a handful."""

    def __init__(self, per_unique: pd.Series, codes: np.ndarray, index: pd.Index) -> None:
        label_codes, names = pd.factorize(per_unique.to_numpy(dtype=object), use_na_sentinel=False)
        self.names: list[object] = list(names)
        self.codes = label_codes[codes]  # equal labels, equal codes
        self.index = index

    def is_(self, label: object) -> pd.Series:
        """The rows labelled ``label``."""
        at = self.names.index(label) if label in self.names else -1
        return pd.Series(self.codes == at, index=self.index)

    def texts(self) -> pd.Series:
        """The labels, a text object per row."""
        return pd.Series(np.asarray(self.names, dtype=object)[self.codes], index=self.index)


class _Factored:
    """The file's columns, each factorized once: a code per row and the column's distinct values.

    A check runs on the distinct values only and is spread back to the rows by the codes (:meth:`per_unique`),
    and a comparison with one value compares codes (:meth:`eq`): a column of 100 000 rows has a few hundred
    distinct place sizes, dates or amounts, and even its identifiers are hashed once, not once per check.
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df
        self._f: dict[str, tuple[np.ndarray, pd.Series]] = {}

    def put(self, column: str, codes: np.ndarray, uniques: np.ndarray) -> None:
        """``column`` as ``uniques[codes]``; the frame gets the column as text (pandas' ``str``), its type found from
        the distinct values and the rows taken from them (not every row's text looked at again)."""
        self._f[column] = (codes, pd.Series(uniques, dtype=object))
        self._df[column] = pd.Series(pd.Series(uniques).array.take(codes), index=self._df.index)

    def _get(self, column: str) -> tuple[np.ndarray, pd.Series]:
        if column not in self._f:
            codes, uniques = pd.factorize(self._df[column].astype(str), use_na_sentinel=False)
            self._f[column] = (codes, pd.Series(np.asarray(uniques, dtype=object), dtype=object))
        return self._f[column]

    def forget(self, column: str) -> None:
        """The frame's column was changed: factorize it again when next asked."""
        self._f.pop(column, None)

    def per_unique(self, column: str, fn: Callable[[pd.Series], object]) -> object:
        """``fn`` on the column's distinct values (an object Series), spread back to every row; ``fn`` returns a
        Series or a tuple of Series."""
        codes, uniques = self._get(column)
        return _spread(fn(uniques), codes, self._df.index)

    def on_uniques(self, column: str, fn: Callable[[pd.Series], pd.Series]) -> tuple[np.ndarray, pd.Series]:
        """The rows' codes and ``fn`` on the column's distinct values, not spread."""
        codes, uniques = self._get(column)
        return codes, fn(uniques)

    def labels(self, column: str, fn: Callable[[pd.Series], object]) -> tuple:
        """As :meth:`per_unique`, but each result of ``fn`` that is text comes back as
        :class:`_Labels`, to be compared with a label; the others are spread as Series. Always a tuple."""
        codes, uniques = self._get(column)
        result = fn(uniques)
        parts = result if isinstance(result, tuple) else (result,)
        return tuple(
            _Labels(r, codes, self._df.index) if is_text(r) else _spread(r, codes, self._df.index) for r in parts
        )

    def eq(self, column: str, value: str) -> pd.Series:
        """Rows whose value is ``value``."""
        codes, uniques = self._get(column)
        hit = np.flatnonzero(uniques.to_numpy() == value)
        return pd.Series(codes == hit[0] if len(hit) else np.zeros(len(codes), dtype=bool), index=self._df.index)

    def codes(self, column: str) -> np.ndarray:
        return self._get(column)[0]


def read_enrollment(
    path: Path | str,
    known_kommuner: set[str] | None = None,
    period_end: pd.Timestamp | None = None,
    require_fnr: bool = True,
) -> Enrollment:
    """``require_fnr=False``: ``foresatt_fnr`` may be absent or empty (the calculator, which is given the
    household's income and looks nothing up); a number that is given is still checked."""
    path = Path(path)
    table = read_table(path)
    header = [str(c).strip().lower().lstrip("\ufeff").strip() for c in table.header]
    seen: dict[str, list[str]] = {}
    for original, name in zip(table.header, header):
        seen.setdefault(name, []).append(original.strip())
    dupes = {k: v for k, v in seen.items() if len(v) > 1}
    if dupes:
        listed = "; ".join(" og ".join(f"«{o}»" for o in v) for v in dupes.values())
        raise InputError(
            f"{path}: samme kolonne står flere ganger i overskriften ({listed}); "
            "kolonnenavn skilles ikke på store og små bokstaver"
        )
    missing = [c for c in REQUIRED if c not in header and (require_fnr or c != "foresatt_fnr")]
    if missing:
        raise InputError(f"{path}: mangler påkrevde kolonner: {', '.join(missing)} (fant: {', '.join(header)})")
    coded = dict(zip(header, table.columns)) if table.columns is not None else {}  # a plain file: coded as read
    df = table.frame(header, skip=set(coded) & set(KNOWN))  # those are put in below, from their codes
    n = len(df)
    extra = [c for c in header if c not in KNOWN]
    renamed = {c: _own_name(c, set(header)) for c in extra if c in ENGINE_COLUMNS}  # passed through, not used
    for c in KNOWN:
        if c not in df.columns and c not in coded:
            df[c] = ""
    f = _Factored(df)
    for c in KNOWN:  # stripped once per distinct value; values that only differed by spaces share a code
        if c in coded:
            raw_codes, found = coded[c].codes, coded[c].values
        else:
            raw_codes, found = pd.factorize(df[c].to_numpy(dtype=object))  # an empty cell (None, NaN): code -1
        raw = found.tolist() + [""]  # ... which is the last value, ""
        if set(map(type, raw)) == {str}:  # mapped, not a generator: 500 000 ids a column at national scale
            stripped = list(map(str.strip, raw))
            if all(map(operator.is_, stripped, raw)) and (not len(raw_codes) or raw_codes.min() >= 0):
                f.put(c, raw_codes, np.array(raw[:-1], dtype=object))  # the usual column: nothing to strip
                continue
            stripped = np.array(stripped, dtype=object)
        else:  # from a workbook: numbers and dates as pandas writes them as text
            stripped = pd.Series(raw, dtype=object).astype(str).str.strip().to_numpy(dtype=object)
        codes, uniques = pd.factorize(stripped)  # a few values per column, or the ids once
        f.put(c, codes[raw_codes], np.asarray(uniques, dtype=object))
    df["rad"] = np.asarray(table.row_numbers, dtype=np.int64)
    if table.from_excel:  # Excel drops leading zeros of numbers typed into cells; dates may be serial numbers
        for c in FNR_COLUMNS:
            df[c] = df[c].where(~df[c].str.fullmatch(r"[0-9]{10}"), "0" + df[c])
        df["kommunenummer"] = df["kommunenummer"].where(
            ~df["kommunenummer"].str.fullmatch(r"[0-9]{3}"), "0" + df["kommunenummer"]
        )
        for c in DATE_COLUMNS:
            df[c] = excel_serial_dates(df[c])
        for c in (*FNR_COLUMNS, "kommunenummer", *DATE_COLUMNS):
            f.forget(c)

    problems: list[pd.DataFrame] = []

    def flag(mask_: pd.Series, column: str, code: str, **fmt: object) -> None:
        if not mask_.any():
            return
        nb, en = REASONS[code]
        sub = df.loc[mask_, ["rad", column]].rename(columns={column: "verdi"})
        sub.insert(1, "kolonne", column)
        sub["kode"] = code
        sub["aarsak"] = nb.format(**fmt)
        sub["aarsak_en"] = en.format(**fmt)
        problems.append(sub)

    for p in table.problems:  # found while splitting the file into rows
        nb, en = REASONS[p.kode]
        fmt = dict(p.fmt)
        problems.append(
            pd.DataFrame(
                [
                    {
                        "rad": p.rad,
                        "kolonne": p.kolonne,
                        "verdi": p.verdi,
                        "kode": p.kode,
                        "aarsak": nb.format(**fmt),
                        "aarsak_en": en.format(**fmt),
                    }
                ]
            )
        )
    if table.maybe_control:
        for c in header:
            flag(f.per_unique(c, has_control), c, "kontrolltegn")

    offer, bh, sfo, no_tilbud, other_tilbud = f.labels(
        "tilbud",
        lambda u: (lower := u.str.lower(), lower == "barnehage", lower == "sfo", lower == "", ~lower.isin(TILBUD)),
    )
    tilbud = offer.texts()

    for c in ("barn_id", "husholdning_id"):
        flag(f.eq(c, ""), c, "mangler")
    for c in FNR_COLUMNS:
        (problem,) = f.labels(c, fnr_problems)
        optional = c != "foresatt_fnr" or not require_fnr  # partner_fnr and betaler_fnr may be left empty
        for code in ("mangler", "fnr_tegn", "fnr_lengde", "fnr_kontroll", "fnr_dato"):
            if not (optional and code == "mangler"):
                flag(problem.is_(code), c, code)

    def digits(u: pd.Series) -> pd.Series:
        """The distinct values without spaces, dots and dashes; a value of digits only (most) as it is."""
        rest = ~np.fromiter(map(str.isdigit, u.to_numpy()), bool, len(u))
        if not rest.any():
            return u
        out = u.copy()
        out[rest] = u[rest].str.replace(r"[\s.-]", "", regex=True)
        return out

    (f_codes, f_digits), (p_codes, p_digits) = f.on_uniques("foresatt_fnr", digits), f.on_uniques("partner_fnr", digits)
    foresatt, partner = _spread(f_digits, f_codes, df.index), _spread(p_digits, p_codes, df.index)
    # each adult as a number, the same in both columns: the distinct numbers of both factorized together
    both = np.concatenate([f_digits.to_numpy(dtype=object), p_digits.to_numpy(dtype=object)])
    person, people = pd.factorize(both)
    nobody = int(np.flatnonzero(people == "")[0]) if (people == "").any() else -1
    f_person, p_person = person[: len(f_digits)][f_codes], person[len(f_digits) :][p_codes]
    flag(pd.Series((p_person != nobody) & (p_person == f_person), index=df.index), "partner_fnr", "partner_lik")

    def orgnr_digits(u: pd.Series) -> tuple[pd.Series, pd.Series]:
        v = digits(u)
        return v, v.map(lambda x: x != "" and not orgnr.is_valid(x)).astype(bool)

    betaler = f.per_unique("betaler_fnr", digits)
    eier, bad_orgnr = f.per_unique("eier_orgnr", orgnr_digits)
    flag(bad_orgnr, "eier_orgnr", "orgnr")

    knr = df["kommunenummer"]
    no_knr = f.eq("kommunenummer", "")
    four = f.per_unique("kommunenummer", lambda u: u.str.fullmatch(r"[0-9]{4}"))
    flag(no_knr, "kommunenummer", "mangler")
    flag(~no_knr & ~four, "kommunenummer", "kommune_format")
    if known_kommuner is not None:
        flag(four & ~f.per_unique("kommunenummer", lambda u: u.isin(known_kommuner)), "kommunenummer", "kommune_ukjent")
    flag(no_tilbud, "tilbud", "mangler")
    flag(~no_tilbud & other_tilbud, "tilbud", "tilbud")

    birth = f.per_unique("barn_fodselsdato", parse_dates)
    no_birth = f.eq("barn_fodselsdato", "")
    flag(bh & no_birth, "barn_fodselsdato", "mangler")
    flag(~no_birth & birth.isna(), "barn_fodselsdato", "dato")
    if period_end is not None:
        flag(birth > period_end, "barn_fodselsdato", "dato_framtid")

    plass, code = f.labels("plass_prosent", lambda u: parse_hundredths(u, suffix="%"))
    flag(bh & f.eq("plass_prosent", ""), "plass_prosent", "mangler")
    flag(
        code.is_("tall"),
        "plass_prosent",
        "tall",
        hint=" (prosent, høyst to desimaler)",
        hint_en=" (percent, at most two decimals)",
    )
    flag((plass >= 0) & ((plass <= 0) | (plass > 100_00)), "plass_prosent", "plass")

    timer, code = f.labels("timer_per_uke", parse_hundredths)
    flag(sfo & f.eq("timer_per_uke", ""), "timer_per_uke", "mangler")
    flag(
        code.is_("tall"),
        "timer_per_uke",
        "tall",
        hint=" (timer, høyst to desimaler)",
        hint_en=" (hours, at most two decimals)",
    )
    flag((timer >= 0) & ((timer <= 0) | (timer > 60_00)), "timer_per_uke", "timer")

    def grade(u: pd.Series) -> tuple[pd.Series, pd.Series]:
        ok = u.str.fullmatch(r"[1-7]").astype(bool)
        return ok, pd.to_numeric(u.where(ok, "0")).astype(np.int64)

    trinn_ok, trinn = f.per_unique("trinn", grade)
    no_trinn = f.eq("trinn", "")
    flag(sfo & no_trinn, "trinn", "mangler")
    flag(~no_trinn & ~trinn_ok, "trinn", "trinn")

    def yes_no(default: str) -> Callable[[pd.Series], tuple[pd.Series, pd.Series]]:
        def parsed(u: pd.Series) -> tuple[pd.Series, pd.Series]:
            answer, code = parse_yes_no(u)
            return answer.replace("", default), code

        return parsed

    answers = {}
    for c, default in (("saerskilte_behov", ""), ("soekt_redusert", "ja")):  # an empty soekt_redusert is «ja»
        answers[c], code = f.labels(c, yes_no(default))
        flag(code.is_("ja_nei"), c, "ja_nei")

    amounts = {}
    for c, limit in (("pris_maaned", MAX_PRIS_KR), ("dokumentert_inntekt", MAX_INNTEKT_KR)):
        amounts[c], code = f.labels(c, lambda u, limit=limit: parse_kroner(u, limit))
        flag(
            code.is_("tall"),
            c,
            "tall",
            hint=" i kroner, f.eks. 300000, 300 000, 300.000 eller 1500,50",
            hint_en=" in kroner, e.g. 300000, 300 000, 300.000 or 1500,50",
        )
        flag(code.is_("tall_tvetydig"), c, "tall_tvetydig")
        flag(code.is_("negativ"), c, "negativ")
        flag(code.is_("for_stort"), c, "for_stort", max=f"{limit:,} kr".replace(",", " "))

    fra, til = f.per_unique("fra_dato", parse_dates), f.per_unique("til_dato", parse_dates)
    for c, parsed in (("fra_dato", fra), ("til_dato", til)):
        flag(~f.eq(c, "") & parsed.isna(), c, "dato")
    # A placement's dates held within 1900–2200: «9999-12-31» (a common way to write «no end») is a date after any
    # period, as 2200-12-31 is, and the calculation's nanosecond dates end in 2262 (9999 wrapped round to 1816, and
    # such a placement was never billed).
    fra, til = (d.clip(lower=EARLIEST, upper=LATEST) for d in (fra, til))
    flag(fra.notna() & til.notna() & (til < fra), "til_dato", "periode")

    duplicates = _duplicates(df, f.codes("barn_id"), f.eq("barn_id", "").to_numpy(), offer.codes, fra, til)
    if duplicates is not None:
        problems.append(duplicates)

    # Household consistency: at most two adults, one answer per household (compared as parsed values).
    hh = f.codes("husholdning_id")
    has_hh = ~f.eq("husholdning_id", "")
    adults = np.concatenate([f_person, p_person])
    named = adults != nobody
    n_adults = _distinct_per_group(np.concatenate([hh, hh])[named], adults[named], len(df))
    flag(has_hh & (n_adults[hh] > 2), "husholdning_id", "voksne")
    soekt = answers["soekt_redusert"]
    for c, normal in (
        ("soekt_redusert", soekt.codes),
        ("dokumentert_inntekt", pd.factorize(amounts["dokumentert_inntekt"])[0]),
    ):
        distinct = _distinct_per_group(hh, normal, len(df))
        flag(has_hh & (distinct[hh] > 1), c, "motstrid", col=c)

    rejections = _rejections(problems)
    bad_rows = set(rejections["rad"]) if len(rejections) else set()
    keep = ~df["rad"].isin(bad_rows)
    acc = pd.DataFrame(
        {
            "rad": df["rad"],
            "barn_id": df["barn_id"],
            "husholdning_id": df["husholdning_id"],
            "foresatt_fnr": foresatt,
            "partner_fnr": partner,
            "kommunenummer": knr,
            "tilbud": tilbud,
            "institusjon": f.per_unique("institusjon", mask_ids),
            "barn_fodselsdato": birth,
            # exact integer units: basis points of a place, hundredths of an hour, øre
            "plass_bp": plass.clip(lower=0),
            "timer_c": timer.clip(lower=0),
            "trinn": trinn,
            "saerskilte_behov": answers["saerskilte_behov"].is_("ja"),
            "pris_oere": amounts["pris_maaned"],
            "fra_dato": fra,
            "til_dato": til,
            "soekt_redusert": soekt.is_("ja"),
            "dok_inntekt_oere": amounts["dokumentert_inntekt"],
            "betaler_fnr": betaler,  # '' = foresatt_fnr pays
            "eier_orgnr": eier,  # '' = the municipality invoices (or the municipal setting names an owner)
        }
    )
    for c in extra:  # passed through to the outputs: identifiers masked
        acc[renamed.get(c, c)] = per_unique(df[c].astype(object).fillna("").astype(str), mask_ids)  # not factorized
    acc = acc[keep.to_numpy()].reset_index(drop=True)
    rejected_households = set(df.loc[~keep, "husholdning_id"].astype(str)) - {""}
    return Enrollment(
        rows=acc,
        rejections=rejections,
        n_rows=n,
        extra_columns=[renamed.get(c, c) for c in extra],
        notices=list(table.notices)
        + [
            f"Kolonnen «{c}» i filen har samme navn som en kolonne fee-engine lager selv; den er ikke brukt i "
            f"beregningen og står i utdataene som «{new}»"
            for c, new in renamed.items()
        ]
        + _keys_that_are_fnr(df, f),
        rejected_households=rejected_households,
    )


def _distinct_per_group(group: np.ndarray, value: np.ndarray, groups: int) -> np.ndarray:
    """How many distinct ``value`` codes each ``group`` code has (both non-negative, groups < ``groups``)."""
    width = int(value.max(initial=0)) + 1  # a (group, value) pair as one number
    # pandas' hash table: each pair once, unsorted (counted, not ordered); np.unique took 13 times as long
    pairs = pd.unique(group.astype(np.int64) * width + value)
    return np.bincount(pairs // width, minlength=groups)


def documented_but_not_applied(rows: pd.DataFrame) -> list[str]:
    """A notice for the rows (accepted, in the period) with a documented income where the household did not apply:
    the income is not used (the price is the ordinary one), which the office may not have meant."""
    which = ~rows["soekt_redusert"].to_numpy(dtype=bool) & (rows["dok_inntekt_oere"].to_numpy() >= 0)
    rad = rows["rad"][which].tolist()
    if not rad:
        return []
    listed = ", ".join(map(str, rad[:10])) + (" …" if len(rad) > 10 else "")
    return [
        f"dokumentert_inntekt er fylt ut på {len(rad)} rad{'er' if len(rad) != 1 else ''} der soekt_redusert er "
        f"nei (rad {listed}): inntekten er ikke brukt, og prisen er ordinær pris. Sett soekt_redusert til ja der "
        "husholdningen har søkt"
    ]


def _own_name(column: str, header: set[str]) -> str:
    """A name for a file's column that fee-engine also makes itself: «plass_bp» becomes «plass_bp_fil» (or
    «plass_bp_fil2», … when the file has that name too)."""
    name, n = f"{column}_fil", 2
    while name in header or name in ENGINE_COLUMNS:
        name, n = f"{column}_fil{n}", n + 1
    return name


def _fnr_shaped(u: pd.Series) -> pd.Series:
    """Which distinct values are eleven digits, or six and five with a space, dot or dash between: only values
    of 11 or 12 characters are matched against the pattern (an id column has 500 000 distinct values at
    national scale, rarely of that length)."""
    length = np.fromiter(map(len, u.to_numpy()), np.int64, len(u))
    near = (length == 11) | (length == 12)
    shaped = np.zeros(len(u), dtype=bool)
    if near.any():
        shaped[near] = u[near].str.fullmatch(r"[0-9]{6}[\s.-]?[0-9]{5}").to_numpy(dtype=bool)
    return pd.Series(shaped, index=u.index)


def _keys_that_are_fnr(df: pd.DataFrame, f: _Factored) -> list[str]:
    """A notice when barn_id or husholdning_id holds fødselsnumre: they are keys, written to every output as given."""
    out = []
    for c in ("barn_id", "husholdning_id"):
        shaped = f.per_unique(c, _fnr_shaped)
        n = int((fnr_problems(df.loc[shaped, c]) == "").sum()) if shaped.any() else 0
        if n:
            out.append(
                f"{c} på {n} rader ser ut som fødselsnumre; {c} skrives i utdataene slik den står, så bruk "
                "interne id-er (f.eks. elevnummer eller et løpenummer) i stedet"
            )
    return out


def _duplicates(
    df: pd.DataFrame, child: np.ndarray, no_child: np.ndarray, offer: np.ndarray, fra: pd.Series, til: pd.Series
) -> pd.DataFrame | None:
    """The same barn_id and tilbud with overlapping placement periods: each placement that starts while an
    earlier one of the same child and offer still runs is rejected, naming that one's row. ``child`` and ``offer``
    are the rows' codes of barn_id and of the offer (equal codes, equal values), ``no_child`` the rows without a
    barn_id. Vectorised: sorted by child, offer and start, a placement overlaps an earlier one when it starts
    before the latest end so far."""
    dup = (np.bincount(child)[child] > 1) & ~no_child
    if not dup.any():
        return None
    idx = np.flatnonzero(dup)
    who = pd.factorize(child[idx].astype(np.int64) * (int(offer.max(initial=0)) + 1) + offer[idx])[0]
    # days (the dates are whole days): a day number and a group number fit one int64 together, below
    lo = fra.to_numpy("datetime64[D]")[idx]
    hi = til.to_numpy("datetime64[D]")[idx]
    lo = np.where(np.isnat(lo), np.datetime64("1900-01-01", "D"), lo).astype(np.int64)
    hi = np.where(np.isnat(hi), np.datetime64("2200-01-01", "D"), hi).astype(np.int64)
    rad = df["rad"].to_numpy()[idx]
    order = np.lexsort((rad, lo, who))
    w, lo_s, hi_s, rad_s = who[order], lo[order], hi[order], rad[order]
    first = np.ones(len(order), dtype=bool)  # the first placement of each child and offer
    first[1:] = w[1:] != w[:-1]
    # The latest end among the earlier placements of the same child and offer, and whose it is. Each group's ends
    # lifted above every earlier group's (group number × span), so one running maximum restarts at each group.
    base = min(int(hi_s.min()), 0)
    span = int(hi_s.max()) - base + 1
    group = np.cumsum(first) - 1
    lifted = np.maximum.accumulate(group * span + (hi_s - base))  # the latest end so far, this placement's too
    run_max = np.full(len(order), np.iinfo(np.int64).min)
    run_max[1:] = lifted[:-1] - group[1:] * span + base  # before this placement (the group's first: none, unused)
    # whose: the last placement whose end was later than every earlier one of its group (a group's first always is)
    record = first.copy()
    record[1:] |= hi_s[1:] > run_max[1:]
    holder = np.maximum.accumulate(np.where(record, np.arange(len(order)), 0))
    run_rad = np.zeros(len(order), dtype=np.int64)
    run_rad[1:] = rad_s[holder[:-1]]
    overlap = ~first & (lo_s <= run_max)
    if not overlap.any():
        return None
    rows = idx[order[overlap]]
    nb, en = REASONS["duplikat"]
    other = run_rad[overlap]
    return pd.DataFrame(
        {
            "rad": df["rad"].to_numpy()[rows],
            "kolonne": "barn_id",
            "verdi": df["barn_id"].to_numpy()[rows],
            "kode": "duplikat",
            "aarsak": [nb.format(other=int(o)) for o in other],
            "aarsak_en": [en.format(other=int(o)) for o in other],
        }
    )


def _rejections(problems: list[pd.DataFrame]) -> pd.DataFrame:
    if not problems:
        return pd.DataFrame(columns=REJECTION_COLUMNS)
    rej = pd.concat(problems, ignore_index=True)
    verdi = rej["verdi"].astype(str)
    in_id_column = rej["kolonne"].isin(FNR_COLUMNS)
    rej["verdi"] = mask_ids(verdi).where(~in_id_column, verdi.map(mask))
    rej = rej.sort_values(["rad", "kolonne"], kind="stable").reset_index(drop=True)
    return rej[REJECTION_COLUMNS]


__all__ = ["Enrollment", "read_enrollment", "fnr_problems", "REASONS", "KNOWN", "REQUIRED"]
