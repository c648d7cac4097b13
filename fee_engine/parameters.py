"""The rule set as dated data: schema, loading, value on a date, the per-month table.

Every parameter has a dotted path (``barnehage.maksimalpris.generell``; municipal
ones ``kommune.0301.sone``), a description, a legal reference (``hjemmel``) and a
list of dated values, each with its source (``kilde``) and a ``verifisert`` flag.
The value in force on a date is the last one dated on or before it. The loader
refuses unknown keys, unknown paths, values of the wrong type, two values on the
same date, and (when a month is asked for) a month with no value or past the
rule set's ``gyldig_til``.

The calculation never reads YAML: it gets :meth:`RuleSet.month_table`, one row
per (kommune, month) with every number it needs in integer øre or basis points.
"""

from __future__ import annotations

import datetime as dt
import difflib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from .errors import RuleSetError

Zone = Literal["generell", "sentralitet_5_6", "tiltakssone"]
Grade = Literal[1, 2, 3, 4, 5, 6, 7]
Month = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
Kroner = float  # whole or decimal kroner in YAML; converted to øre exactly on use


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiblingRates(_Strict):
    barn_2: float = Field(ge=0, le=100)
    barn_3_og_flere: float = Field(ge=0, le=100)


class PriceStep(_Strict):
    fra_timer: float = Field(ge=0)
    pris: Kroner = Field(ge=0)


# Expected type of every parameter, by path. An unknown path is an error.
NATIONAL_TYPES: dict[str, Any] = {
    "barnehage.maksimalpris.generell": Kroner,
    "barnehage.maksimalpris.sentralitet_5_6": Kroner,
    "barnehage.maksimalpris.tiltakssone": Kroner,
    "barnehage.redusert_betaling.maks_andel_av_inntekt": float,
    "barnehage.gratis_kjernetid.inntektsgrense": Kroner,
    "barnehage.gratis_kjernetid.timer_per_uke": float,
    "barnehage.gratis_kjernetid.fra_alder": int,
    "barnehage.gratis_kjernetid.til_alder": int,
    "barnehage.heltid_timer_per_uke": float,
    "barnehage.soeskenmoderasjon.barn_2": float,
    "barnehage.soeskenmoderasjon.barn_3_og_flere": float,
    "sfo.redusert_betaling.maks_andel_av_inntekt": float,
    "sfo.redusert_betaling.trinn": list[Grade],
    "sfo.gratis_timer.timer_per_uke": float,
    "sfo.gratis_timer.trinn": list[Grade],
    "sfo.saerskilte_behov_gratis.trinn": list[Grade],
}
MUNICIPAL_TYPES: dict[str, Any] = {
    "sone": Zone,
    "barnehage.fakturerte_maaneder": list[Month],
    "barnehage.deltid_pristak": Literal["forholdsmessig", "maksimalpris"],
    "barnehage.soeskenmoderasjon": SiblingRates | None,
    "sfo.fakturerte_maaneder": list[Month],
    "sfo.prisliste": list[PriceStep],
    "sfo.soeskenmoderasjon": SiblingRates | None,
    "sfo.gratis_timer.verdsetting": Literal["andel_av_avtalte_timer", "fast_belop"],
    "sfo.gratis_timer.fast_belop": Kroner,
    "inntekt.ukjent_post": Literal["manuell", "varsle"],
}
OPTIONAL_MUNICIPAL = {"sfo.gratis_timer.fast_belop"}
_ADAPTERS = {p: TypeAdapter(t) for p, t in {**NATIONAL_TYPES, **MUNICIPAL_TYPES}.items()}


class Value(_Strict):
    gjelder_fra: dt.date
    verdi: Any
    kilde: str
    verifisert: bool
    merknad: str | None = None


class Parameter(_Strict):
    path: str = ""
    beskrivelse: str
    enhet: str | None = None
    hjemmel: str
    verdier: list[Value] = Field(min_length=1)

    @field_validator("verdier")
    @classmethod
    def _dates_unique(cls, v: list[Value]) -> list[Value]:
        dates = [x.gjelder_fra for x in v]
        dupes = sorted({d for d in dates if dates.count(d) > 1})
        if dupes:
            raise ValueError(f"to verdier gjelder fra samme dato: {', '.join(map(str, dupes))}")
        return sorted(v, key=lambda x: x.gjelder_fra)

    def value_on(self, day: dt.date) -> Value:
        found = None
        for v in self.verdier:
            if v.gjelder_fra <= day:
                found = v
            else:
                break
        if found is None:
            raise RuleSetError(
                f"{self.path}: ingen verdi gjelder {day.isoformat()} "
                f"(første verdi gjelder fra {self.verdier[0].gjelder_fra.isoformat()})"
            )
        return found


class Municipality(_Strict):
    kommunenummer: str = Field(pattern=r"^\d{4}$")
    navn: str
    parametere: dict[str, Parameter]


class IncomeList(_Strict):
    """Classification of tekniskNavn for one inntektsår (rules/inntekt/<år>.yaml)."""

    inntektsaar: int
    verifisert: bool
    kilde: str
    bygger_paa: int | None = None
    personinntekt: list[str] = []
    kapitalinntekt: list[str] = []
    naeringsoverskudd: list[str] = []
    utelatt: dict[str, list[str]] = {}
    legg_til: dict[str, Any] = {}
    fjern: list[str] = []


COUNTED = ("personinntekt", "kapitalinntekt", "naeringsoverskudd")


_NEUTRAL_BH: dict[str, Any] = {
    "sone": "", "bh_maks_oere": 0, "bh_fakturert": False, "bh_fakt_mnd": 1, "bh_deltid_forholdsmessig": True,
    "bh_inntekt_bp": 0, "bh_kjerne_grense_oere": 0, "bh_kjerne_timer_c": 0, "bh_kjerne_fra_alder": 0,
    "bh_kjerne_til_alder": 0, "bh_heltid_timer_c": 1, "bh_sib2_bp": 0, "bh_sib3_bp": 0,
}
_NEUTRAL_SFO: dict[str, Any] = {
    "sfo_fakturert": False, "sfo_fakt_mnd": 1, "sfo_inntekt_bp": 0, "sfo_red_trinn": 0, "sfo_gratis_trinn": 0,
    "sfo_saer_trinn": 0, "sfo_gratis_timer_c": 0, "sfo_gratis_fast": False, "sfo_gratis_fast_oere": 0,
    "sfo_sib2_bp": 0, "sfo_sib3_bp": 0,
}


class RuleSetInfo(_Strict):
    versjon: str
    beskrivelse: str = ""
    gyldig_til: dt.date


def _suggest(path: str, valid: list[str]) -> str:
    near = difflib.get_close_matches(path, valid, n=3, cutoff=0.5)
    return f" Mente du: {', '.join(near)}?" if near else ""


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise RuleSetError(f"{path}: ugyldig YAML: {exc}") from None
    except OSError as exc:
        raise RuleSetError(f"{path}: kan ikke leses: {exc.strerror}") from None


def _pydantic_msg(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def _parse_parameter(path: str, raw: Any, where: Path, types: dict[str, Any], prefix: str = "") -> Parameter:
    if path not in types:
        raise RuleSetError(f"{where}: ukjent parameter «{prefix}{path}».{_suggest(path, list(types))}")
    try:
        param = Parameter.model_validate({**(raw or {}), "path": prefix + path})
    except ValidationError as exc:
        raise RuleSetError(f"{where}: {prefix}{path}: {_pydantic_msg(exc)}") from None
    adapter = _ADAPTERS[path]
    checked = []
    for v in param.verdier:
        _first_of_month(v.gjelder_fra, f"{where}: {prefix}{path}")
        try:
            verdi = adapter.validate_python(v.verdi)
        except ValidationError as exc:
            raise RuleSetError(
                f"{where}: {prefix}{path} (gjelder fra {v.gjelder_fra}): ugyldig verdi {v.verdi!r}: {_pydantic_msg(exc)}"
            ) from None
        checked.append(v.model_copy(update={"verdi": verdi}))
    return param.model_copy(update={"verdier": checked})


def _first_of_month(day: dt.date, where: str) -> None:
    """Fees are monthly: a value dated on another day than the 1st would silently start a month late."""
    if day.day != 1:
        raise RuleSetError(f"{where}: gjelder_fra {day.isoformat()} er ikke den 1. i en måned; verdier gjelder fra "
                           f"og med en hel måned (f.eks. {day.replace(day=1).isoformat()})")


def load_municipality(file: Path) -> Municipality:
    raw = _read_yaml(file)
    if not isinstance(raw, dict):
        raise RuleSetError(f"{file}: forventet en kommunefil med kommunenummer, navn og parametere")
    unknown = set(raw) - {"kommunenummer", "navn", "parametere"}
    if unknown:
        raise RuleSetError(f"{file}: ukjente nøkler: {', '.join(sorted(unknown))}")
    nr = str(raw.get("kommunenummer", ""))
    params = {}
    for path, body in (raw.get("parametere") or {}).items():
        params[path] = _parse_parameter(path, body, file, MUNICIPAL_TYPES, prefix=f"kommune.{nr}.")
    missing = set(MUNICIPAL_TYPES) - set(params) - OPTIONAL_MUNICIPAL
    if missing:
        raise RuleSetError(f"{file}: mangler parametere: {', '.join(sorted(missing))}")
    try:
        return Municipality(kommunenummer=nr, navn=raw.get("navn", ""), parametere=params)
    except ValidationError as exc:
        raise RuleSetError(f"{file}: {_pydantic_msg(exc)}") from None


def _resolve_income_lists(raw: dict[int, IncomeList]) -> dict[int, dict[str, str]]:
    """tekniskNavn -> class for each year, following ``bygger_paa`` chains."""
    resolved: dict[int, dict[str, str]] = {}

    def resolve(year: int, seen: tuple[int, ...] = ()) -> dict[str, str]:
        if year in resolved:
            return resolved[year]
        if year in seen:
            raise RuleSetError(f"rules/inntekt: sirkulær bygger_paa for {year}")
        if year not in raw:
            raise RuleSetError(f"rules/inntekt/{seen[-1] if seen else year}.yaml bygger på {year}, som ikke finnes")
        spec = raw[year]
        classes: dict[str, str] = dict(resolve(spec.bygger_paa, seen + (year,))) if spec.bygger_paa else {}
        for name in spec.fjern:
            if name not in classes:
                raise RuleSetError(f"rules/inntekt/{year}.yaml: kan ikke fjerne ukjent post {name}")
            del classes[name]
        own: list[tuple[str, str]] = []
        for cls in COUNTED:
            own += [(n, cls) for n in getattr(spec, cls)]
        for reason, names in spec.utelatt.items():
            own += [(n, f"utelatt:{reason}") for n in names]
        for cls, names in spec.legg_til.items():
            if cls.startswith("utelatt:") or cls in COUNTED:
                own += [(n, cls) for n in names]
            else:
                raise RuleSetError(f"rules/inntekt/{year}.yaml: ukjent klasse {cls} i legg_til")
        seen_here: dict[str, str] = {}
        for name, cls in own:
            if name in seen_here:
                raise RuleSetError(f"rules/inntekt/{year}.yaml: {name} står i både {seen_here[name]} og {cls}")
            seen_here[name] = cls
        classes.update(seen_here)
        resolved[year] = classes
        return classes

    for y in raw:
        resolve(y)
    return resolved


class RuleSet:
    """A loaded rule set: national parameters, municipal files, income lists."""

    def __init__(
        self,
        info: RuleSetInfo,
        national: dict[str, Parameter],
        municipalities: dict[str, Municipality],
        income_specs: dict[int, IncomeList],
        source: Path,
    ) -> None:
        self.info = info
        self.national = national
        self.municipalities = municipalities
        self.income_specs = income_specs
        self.income_classes = _resolve_income_lists(income_specs)
        self.source = source

    @property
    def version(self) -> str:
        return self.info.versjon

    # -- lookup -----------------------------------------------------------------
    def parameter(self, path: str) -> Parameter:
        if path.startswith("kommune."):
            _, nr, rest = path.split(".", 2)
            kommune = self.municipality(nr)
            if rest not in kommune.parametere:
                raise RuleSetError(f"ukjent parameter «{path}».{_suggest(rest, list(kommune.parametere))}")
            return kommune.parametere[rest]
        if path not in self.national:
            raise RuleSetError(f"ukjent parameter «{path}».{_suggest(path, list(self.national))}")
        return self.national[path]

    def municipality(self, nr: str) -> Municipality:
        if nr not in self.municipalities:
            raise RuleSetError(f"ingen kommunefil for kommune {nr} i {self.source / 'kommuner'}")
        return self.municipalities[nr]

    def value(self, path: str, day: dt.date) -> Value:
        if day > self.info.gyldig_til:
            raise RuleSetError(
                f"regelsettet {self.version} gjelder til {self.info.gyldig_til.isoformat()}; "
                f"ingen verdier for {day.isoformat()} (oppdater rules/ eller velg en annen --period)"
            )
        return self.parameter(path).value_on(day)

    def in_force(self, day: dt.date, kommune: str | None = None) -> list[tuple[Parameter, Value]]:
        """Every parameter with its value on ``day`` (national, then the municipality's)."""
        out = []
        paths = list(self.national)
        if kommune:
            paths += [f"kommune.{kommune}.{p}" for p in self.municipality(kommune).parametere]
        for path in paths:
            try:
                out.append((self.parameter(path), self.value(path, day)))
            except RuleSetError:
                continue
        return out

    def income_classification(self, year: int) -> dict[str, str]:
        if year not in self.income_classes:
            have = ", ".join(map(str, sorted(self.income_classes)))
            raise RuleSetError(f"ingen inntektsliste for inntektsår {year} i rules/inntekt (har {have})")
        return self.income_classes[year]

    # -- the table the calculation uses --------------------------------------------
    def month_table(self, months: list[dt.date], kommuner: list[str],
                    offers: tuple[str, ...] = ("barnehage", "sfo")) -> tuple[pd.DataFrame, dict, list[tuple[str, Value]]]:
        """One row per (kommune, month): every number of the law, in øre / basis points.

        Only the offers asked for are looked up (a batch without SFO needs no SFO price list);
        the other offer's columns are neutral. Returns the table, the SFO price lists per
        (kommune, month) as arrays ``(fra_timer, pris_oere)``, and the ``(path, Value)`` pairs
        used that are not verified.
        """
        rows = []
        prices: dict[tuple[str, pd.Timestamp], tuple[np.ndarray, np.ndarray]] = {}
        used: dict[tuple[str, dt.date], Value] = {}

        def val(path: str, day: dt.date) -> Any:
            v = self.value(path, day)
            used[(path, v.gjelder_fra)] = v
            return v.verdi

        for nr in kommuner:
            k = f"kommune.{nr}."
            self.municipality(nr)
            for m in months:
                row: dict[str, Any] = {"kommunenummer": nr, "maaned": pd.Timestamp(m)}
                row.update(self._barnehage_row(k, m, val) if "barnehage" in offers else _NEUTRAL_BH)
                row.update(self._sfo_row(k, m, val, nr, prices) if "sfo" in offers else _NEUTRAL_SFO)
                row["ukjent_post_manuell"] = val(k + "inntekt.ukjent_post", m) == "manuell"
                rows.append(row)
        columns = ["kommunenummer", "maaned", *_NEUTRAL_BH, *_NEUTRAL_SFO, "ukjent_post_manuell"]
        table = pd.DataFrame(rows, columns=columns)
        unverified = [(path, v) for (path, _), v in sorted(used.items(), key=lambda kv: kv[0]) if not v.verifisert]
        return table, prices, unverified

    def _barnehage_row(self, k: str, m: dt.date, val: Any) -> dict[str, Any]:
        zone = val(k + "sone", m)
        bh_months = val(k + "barnehage.fakturerte_maaneder", m)
        bh_sib_k = val(k + "barnehage.soeskenmoderasjon", m)
        sib2 = bp(val("barnehage.soeskenmoderasjon.barn_2", m))
        sib3 = bp(val("barnehage.soeskenmoderasjon.barn_3_og_flere", m))
        if bh_sib_k is not None:
            sib2, sib3 = max(sib2, bp(bh_sib_k.barn_2)), max(sib3, bp(bh_sib_k.barn_3_og_flere))
        return {
            "sone": zone,
            "bh_maks_oere": oere(val(f"barnehage.maksimalpris.{zone}", m)),
            "bh_fakturert": m.month in bh_months,
            "bh_fakt_mnd": len(bh_months),
            "bh_deltid_forholdsmessig": val(k + "barnehage.deltid_pristak", m) == "forholdsmessig",
            "bh_inntekt_bp": bp(val("barnehage.redusert_betaling.maks_andel_av_inntekt", m)),
            "bh_kjerne_grense_oere": oere(val("barnehage.gratis_kjernetid.inntektsgrense", m)),
            "bh_kjerne_timer_c": centi(val("barnehage.gratis_kjernetid.timer_per_uke", m)),
            "bh_kjerne_fra_alder": val("barnehage.gratis_kjernetid.fra_alder", m),
            "bh_kjerne_til_alder": val("barnehage.gratis_kjernetid.til_alder", m),
            "bh_heltid_timer_c": centi(val("barnehage.heltid_timer_per_uke", m)),
            "bh_sib2_bp": sib2,
            "bh_sib3_bp": sib3,
        }

    def _sfo_row(self, k: str, m: dt.date, val: Any, nr: str, prices: dict) -> dict[str, Any]:
        sfo_months = val(k + "sfo.fakturerte_maaneder", m)
        sfo_sib = val(k + "sfo.soeskenmoderasjon", m)
        verdsetting = val(k + "sfo.gratis_timer.verdsetting", m)
        steps = sorted(val(k + "sfo.prisliste", m), key=lambda s: s.fra_timer)
        prices[(nr, pd.Timestamp(m))] = (
            np.array([s.fra_timer for s in steps], dtype=float),
            np.array([oere(s.pris) for s in steps], dtype=np.int64),
        )
        return {
            "sfo_fakturert": m.month in sfo_months,
            "sfo_fakt_mnd": len(sfo_months),
            "sfo_inntekt_bp": bp(val("sfo.redusert_betaling.maks_andel_av_inntekt", m)),
            "sfo_red_trinn": grade_mask(val("sfo.redusert_betaling.trinn", m)),
            "sfo_gratis_trinn": grade_mask(val("sfo.gratis_timer.trinn", m)),
            "sfo_saer_trinn": grade_mask(val("sfo.saerskilte_behov_gratis.trinn", m)),
            "sfo_gratis_timer_c": centi(val("sfo.gratis_timer.timer_per_uke", m)),
            "sfo_gratis_fast": verdsetting == "fast_belop",
            "sfo_gratis_fast_oere": (
                            oere(val(k + "sfo.gratis_timer.fast_belop", m)) if verdsetting == "fast_belop" else 0
                        ),
            "sfo_sib2_bp": bp(sfo_sib.barn_2) if sfo_sib else 0,
            "sfo_sib3_bp": bp(sfo_sib.barn_3_og_flere) if sfo_sib else 0,
        }


def format_value(verdi: Any) -> str:
    """A parameter value as people read it: «2000», «1, 2, 3», «fra 0 t: 1700; fra 12.5 t: 3299»."""
    if isinstance(verdi, float) and verdi.is_integer():
        return str(int(verdi))
    if isinstance(verdi, list):
        if verdi and isinstance(verdi[0], PriceStep):
            return "; ".join(f"fra {format_value(x.fra_timer)} t: {format_value(x.pris)} kr" for x in verdi)
        return ", ".join(format_value(x) for x in verdi) or "(ingen)"
    if isinstance(verdi, SiblingRates):
        return f"barn 2: {format_value(verdi.barn_2)} %, barn 3+: {format_value(verdi.barn_3_og_flere)} %"
    if verdi is None:
        return "(ingen)"
    return str(verdi)


# -- exact unit conversions (one place) ---------------------------------------------
def _dec(x: Any) -> Decimal:
    return Decimal(str(x))


def oere(kroner: Any) -> int:
    """Kroner (int, float or str from YAML) to integer øre, half up."""
    return int((_dec(kroner) * 100).to_integral_value(ROUND_HALF_UP))


def bp(percent: Any) -> int:
    """Percent to basis points (6 -> 600), exact for up to two decimals."""
    return int((_dec(percent) * 100).to_integral_value(ROUND_HALF_UP))


def centi(hours: Any) -> int:
    """Hours to hundredths of an hour (41 -> 4100)."""
    return int((_dec(hours) * 100).to_integral_value(ROUND_HALF_UP))


def grade_mask(grades: list[int]) -> int:
    mask = 0
    for g in grades:
        mask |= 1 << g
    return mask


# -- loading -----------------------------------------------------------------------
def default_rules_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "rules"
    return here if here.is_dir() else Path.cwd() / "rules"


def load_rules(directory: Path | None = None, kommune_files: list[Path] | None = None) -> RuleSet:
    """Load and validate a rule set folder; ``kommune_files`` replace same-numbered files in it."""
    directory = Path(directory) if directory else default_rules_dir()
    if not directory.is_dir():
        raise RuleSetError(f"fant ikke regelsett-mappen {directory}")
    info_file = directory / "regelsett.yaml"
    if not info_file.exists():
        raise RuleSetError(f"{directory}: mangler regelsett.yaml (versjon og gyldig_til)")
    try:
        info = RuleSetInfo.model_validate(_read_yaml(info_file))
    except ValidationError as exc:
        raise RuleSetError(f"{info_file}: {_pydantic_msg(exc)}") from None

    national: dict[str, Parameter] = {}
    for sub in ("barnehage", "sfo"):
        for file in sorted((directory / sub).glob("*.yaml")):
            raw = _read_yaml(file) or {}
            if not isinstance(raw, dict):
                raise RuleSetError(f"{file}: forventet parametere som nøkler")
            for path, body in raw.items():
                if path in national:
                    raise RuleSetError(f"{file}: {path} er definert to ganger")
                national[path] = _parse_parameter(path, body, file, NATIONAL_TYPES)
    missing = set(NATIONAL_TYPES) - set(national)
    if missing:
        raise RuleSetError(f"{directory}: mangler parametere: {', '.join(sorted(missing))}")

    municipalities: dict[str, Municipality] = {}
    for file in sorted((directory / "kommuner").glob("*.yaml")):
        m = load_municipality(file)
        if file.stem != m.kommunenummer:
            raise RuleSetError(f"{file}: filnavnet skal være kommunenummeret ({m.kommunenummer}.yaml)")
        municipalities[m.kommunenummer] = m
    for file in kommune_files or []:
        m = load_municipality(Path(file))
        municipalities[m.kommunenummer] = m

    income: dict[int, IncomeList] = {}
    for file in sorted((directory / "inntekt").glob("*.yaml")):
        try:
            spec = IncomeList.model_validate(_read_yaml(file))
        except ValidationError as exc:
            raise RuleSetError(f"{file}: {_pydantic_msg(exc)}") from None
        income[spec.inntektsaar] = spec
    return RuleSet(info, national, municipalities, income, directory)


# -- reforms: small dated overlays on a rule set -----------------------------------------
def read_overlay(file: Path) -> dict[str, dict[dt.date, Any]]:
    """A reform file: ``{parameter path: {date: value}}`` (paths as ``fee-engine rules show`` prints them)."""
    raw = _read_yaml(Path(file))
    if not isinstance(raw, dict) or not raw:
        raise RuleSetError(f"{file}: en reformfil er parametere som nøkler, hver med datoer og verdier")
    out: dict[str, dict[dt.date, Any]] = {}
    for path, dated in raw.items():
        if not isinstance(dated, dict) or not dated:
            raise RuleSetError(f"{file}: {path}: forventet datoer med verdier, f.eks. «2024-10-01: 1500»")
        values = {}
        for day, value in dated.items():
            if isinstance(day, str):
                try:
                    day = dt.date.fromisoformat(day)
                except ValueError:
                    raise RuleSetError(f"{file}: {path}: «{day}» er ikke en dato (ÅÅÅÅ-MM-DD)") from None
            if not isinstance(day, dt.date):
                raise RuleSetError(f"{file}: {path}: «{day}» er ikke en dato (ÅÅÅÅ-MM-DD)")
            values[day] = value
        out[str(path)] = values
    return out


def apply_overlay(rules: RuleSet, overlay: dict[str, dict[dt.date, Any]], name: str) -> RuleSet:
    """A new rule set: ``rules`` with the overlay's dated values added (a value on an existing date replaces it).

    Each value holds from its date until the next dated value of the parameter. Values are
    checked like the rule set's own; an unknown path names the nearest valid ones.
    """
    national = dict(rules.national)
    municipalities = dict(rules.municipalities)
    all_paths = list(national) + [f"kommune.{nr}.{p}" for nr, m in municipalities.items() for p in m.parametere]
    for path, dated in overlay.items():
        if path.startswith("kommune."):
            parts = path.split(".", 2)
            if len(parts) < 3 or parts[1] not in municipalities or parts[2] not in municipalities[parts[1]].parametere:
                raise RuleSetError(f"reform {name}: ukjent parameter «{path}».{_suggest(path, all_paths)}")
            nr, local = parts[1], parts[2]
            param = municipalities[nr].parametere[local]
        elif path in national:
            local, param = path, national[path]
        else:
            raise RuleSetError(f"reform {name}: ukjent parameter «{path}».{_suggest(path, all_paths)}")
        adapter = _ADAPTERS[local]
        values = {v.gjelder_fra: v for v in param.verdier}
        for day, value in dated.items():
            _first_of_month(day, f"reform {name}: {path}")
            try:
                checked = adapter.validate_python(value)
            except ValidationError as exc:
                raise RuleSetError(f"reform {name}: {path} ({day}): ugyldig verdi {value!r}: {_pydantic_msg(exc)}") from None
            values[day] = Value(gjelder_fra=day, verdi=checked, kilde=f"reform {name}", verifisert=False,
                                merknad="reformverdi, ikke vedtatt")
        new_param = param.model_copy(update={"verdier": sorted(values.values(), key=lambda v: v.gjelder_fra)})
        if path.startswith("kommune."):
            m = municipalities[nr]
            municipalities[nr] = m.model_copy(update={"parametere": {**m.parametere, local: new_param}})
        else:
            national[path] = new_param
    info = rules.info.model_copy(update={"versjon": f"{rules.info.versjon}+{name}"})
    return RuleSet(info, national, municipalities, rules.income_specs, rules.source)
