"""Reforms: small dated overlays of values on a rule set, for regression-testing a rule change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..errors import RuleSetError
from . import RuleSet
from .lasting import check_value, first_of_month, read_yaml, suggest
from .skjema import Value


def read_overlay(file: Path) -> dict[str, dict[dt.date, Any]]:
    """A reform file: ``{parameter path: {date: value}}`` (paths as ``fee-engine rules show`` prints them)."""
    raw = read_yaml(Path(file))
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

    Each value holds from its date until the next dated value of the parameter. Values are checked like the
    rule set's own; an unknown path names the nearest valid ones.
    """
    national = dict(rules.national)
    municipalities = dict(rules.municipalities)
    all_paths = list(national) + [f"kommune.{nr}.{p}" for nr, m in municipalities.items() for p in m.parametere]
    for path, dated in overlay.items():
        nr = ""
        if path.startswith("kommune."):
            parts = path.split(".", 2)
            if len(parts) < 3 or parts[1] not in municipalities or parts[2] not in municipalities[parts[1]].parametere:
                raise RuleSetError(f"reform {name}: ukjent parameter «{path}».{suggest(path, all_paths)}")
            nr, local = parts[1], parts[2]
            param = municipalities[nr].parametere[local]
        elif path in national:
            local, param = path, national[path]
        else:
            raise RuleSetError(f"reform {name}: ukjent parameter «{path}».{suggest(path, all_paths)}")
        values = {v.gjelder_fra: v for v in param.verdier}
        for day, value in dated.items():
            first_of_month(day, f"reform {name}: {path}")
            checked = check_value(local, value, f"reform {name}: {path} ({day})")
            values[day] = Value(
                gjelder_fra=day,
                verdi=checked,
                kilde=f"reform {name}",
                verifisert=False,
                merknad="reformverdi, ikke vedtatt",
            )
        new_param = param.model_copy(update={"verdier": sorted(values.values(), key=lambda v: v.gjelder_fra)})
        if nr:
            m = municipalities[nr]
            municipalities[nr] = m.model_copy(update={"parametere": {**m.parametere, local: new_param}})
        else:
            national[path] = new_param
    info = rules.info.model_copy(update={"versjon": f"{rules.info.versjon}+{name}"})
    return RuleSet(info, national, municipalities, rules.income_specs, rules.source)
