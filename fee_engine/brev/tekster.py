"""The fixed sentences of a letter, in bokmål and nynorsk (``maler/tekster.yaml``).

Every key has both forms, with the same placeholders. A municipality's ``--brevmal DIR`` may hold a
``tekster.yaml`` that replaces some of them; a key that does not exist is refused (a typo would otherwise
be silently ignored).
"""

from __future__ import annotations

import re
import string
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigurationError

MAALFORMER = ("bokmål", "nynorsk")
LANG = {"bokmål": "nb", "nynorsk": "nn"}
PAKKE = Path(__file__).resolve().parent / "maler"
NBSP = "\u00a0"


def _felt(tekst: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(tekst) if name}


def _les(fil: Path) -> dict[str, dict[str, str]]:
    try:
        raw = yaml.safe_load(fil.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{fil}: kan ikke leses: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{fil}: forventet nøkler med bokmål og nynorsk")
    out: dict[str, dict[str, str]] = {}
    for key, forms in raw.items():
        if (
            not isinstance(forms, dict)
            or set(forms) != set(MAALFORMER)
            or not all(isinstance(v, str) for v in forms.values())
        ):
            raise ConfigurationError(f"{fil}: «{key}» skal ha nøyaktig to tekster, bokmål og nynorsk")
        if _felt(forms["bokmål"]) != _felt(forms["nynorsk"]):
            raise ConfigurationError(f"{fil}: «{key}» har ulike {{felt}} på bokmål og nynorsk")
        out[str(key)] = {m: " ".join(forms[m].split()) for m in MAALFORMER}
    return out


def les_tekster(mal: Path | None = None) -> dict[str, dict[str, str]]:
    """The package's sentences, with the ones in ``mal/tekster.yaml`` (if any) in their place."""
    tekster = _les(PAKKE / "tekster.yaml")
    egen = Path(mal) / "tekster.yaml" if mal else None
    if egen is not None and egen.exists():
        for key, forms in _les(egen).items():
            if key not in tekster:
                raise ConfigurationError(f"{egen}: ukjent tekst «{key}»")
            if _felt(forms["bokmål"]) - _felt(tekster[key]["bokmål"]):
                raise ConfigurationError(
                    f"{egen}: «{key}» bruker felt som fee-engine ikke fyller ut "
                    f"(tillatt: {', '.join(sorted(_felt(tekster[key]['bokmål']))) or 'ingen'})"
                )
            tekster[key] = forms
    return tekster


class Tekster:
    """The sentences in one målform: ``t.dato`` is a sentence, ``t("resultat", belop=…)`` fills one in."""

    def __init__(self, alle: dict[str, dict[str, str]], maalform: str) -> None:
        if maalform not in MAALFORMER:
            raise ConfigurationError(f"ukjent målform «{maalform}» (bokmål eller nynorsk)")
        self._alle = alle
        self.maalform = maalform
        self.lang = LANG[maalform]

    @cached_property
    def _her(self) -> dict[str, str]:
        return {k: v[self.maalform] for k, v in self._alle.items()}

    def __getattr__(self, key: str) -> str:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._her[key]
        except KeyError:
            raise AttributeError(f"ingen tekst «{key}»") from None

    def __call__(self, key: str, **felt: Any) -> str:
        return ikke_bryt(self._her[key].format_map(felt))


_BINDINGER = re.compile(r"(?<=\d) (?=kr\b)|(?<=§) (?=\d)|(?<=§§) (?=\d)|(?<=nr\.) (?=\d)")


def ikke_bryt(tekst: str) -> str:
    """No line break between an amount and «kr», after «§» or «nr.»: those spaces become no-break spaces."""
    return _BINDINGER.sub(NBSP, tekst)
