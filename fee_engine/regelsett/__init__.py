"""The rule set as dated data: national parameters, municipal files and income lists.

The value in force on a date is the last one dated on or before it. What the calculation needs
per (municipality, month) is built by :mod:`fee_engine.beregning.tabell` from the steps'
declarations; this package loads, validates and looks up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import ValidationError

from ..errors import RuleSetError
from .lasting import (
    load_income_lists,
    load_municipality,
    load_national,
    pydantic_message,
    read_yaml,
    resolve_income_lists,
    schema,
    suggest,
)
from .skjema import COUNTED, IncomeList, Municipality, Parameter, RuleSetInfo, Value
from .visning import format_value


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
        self.income_classes = resolve_income_lists(income_specs)
        self.source = source

    @property
    def version(self) -> str:
        return self.info.versjon

    def parameter(self, path: str) -> Parameter:
        if path.startswith("kommune."):
            _, nr, rest = path.split(".", 2)
            kommune = self.municipality(nr)
            if rest not in kommune.parametere:
                raise RuleSetError(f"ukjent parameter «{path}».{suggest(rest, list(kommune.parametere))}")
            return kommune.parametere[rest]
        if path not in self.national:
            raise RuleSetError(f"ukjent parameter «{path}».{suggest(path, list(self.national))}")
        return self.national[path]

    def hjemmel(self, path: str, kommune: str | None = None) -> str:
        """The legal reference of a parameter; ``kommune.<path>`` is the municipality's own parameter."""
        if path.startswith("kommune.") and kommune is not None and not path[8:12].isdigit():
            path = f"kommune.{kommune}.{path[8:]}"
        return self.parameter(path).hjemmel

    def hjemmel_kort(self, path: str, day: dt.date, kommune: str | None = None) -> str:
        """The legal reference as a parent reads it, in force on ``day`` (``hjemmel_kort``, else ``hjemmel``)."""
        if path.startswith("kommune.") and kommune is not None and not path[8:12].isdigit():
            path = f"kommune.{kommune}.{path[8:]}"
        return self.parameter(path).short_reference(day)

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


def default_rules_dir() -> Path:
    here = Path(__file__).resolve().parent.parent.parent / "rules"
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
        info = RuleSetInfo.model_validate(read_yaml(info_file))
    except ValidationError as exc:
        raise RuleSetError(f"{info_file}: {pydantic_message(exc)}") from None
    national = load_national(directory)
    municipalities: dict[str, Municipality] = {}
    for file in sorted((directory / "kommuner").glob("*.yaml")):
        m = load_municipality(file)
        if file.stem != m.kommunenummer:
            raise RuleSetError(f"{file}: filnavnet skal være kommunenummeret ({m.kommunenummer}.yaml)")
        municipalities[m.kommunenummer] = m
    for file in kommune_files or []:
        m = load_municipality(Path(file))
        municipalities[m.kommunenummer] = m
    return RuleSet(info, national, municipalities, load_income_lists(directory), directory)


__all__ = [
    "RuleSet",
    "load_rules",
    "default_rules_dir",
    "format_value",
    "Parameter",
    "Value",
    "Municipality",
    "IncomeList",
    "COUNTED",
    "schema",
    "load_municipality",
]
