"""Settings from ``FEE_ENGINE_*`` environment variables and YAML files, validated with types.

Each settings class is a pydantic-settings ``BaseSettings``: the environment is read by
pydantic-settings (prefix ``FEE_ENGINE_``, case-insensitive, empty values ignored), a YAML
file (``--api-config``) may give the same names in lower case without the prefix, and the
environment wins. A wrong value stops the batch (exit 2) with a message that names the
setting, where it came from and what is wrong; a value is shown masked (runs of nine or more
digits, so never a fødselsnummer) and a secret (password, key) is never shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from .errors import ConfigurationError
from .identity import mask_digits_in_text

PREFIX = "FEE_ENGINE_"


class SettingsError(ConfigurationError):
    """A setting has a value that cannot be used (exit 2)."""


class _Environ(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ`` unless a test passes its own)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            (k if self.case_sensitive else k.lower()): v
            for k, v in self._environ.items()
            if not (self.env_ignore_empty and v == "")
        }


_MESSAGES = {
    "int_parsing": "må være et heltall",
    "int_type": "må være et heltall",
    "int_from_float": "må være et heltall",
    "bool_parsing": "må være true eller false",
    "bool_type": "må være true eller false",
    "string_type": "må være tekst",
    "literal_error": "må være en av {expected}",
    "greater_than_equal": "må være minst {ge}",
    "less_than_equal": "må være høyst {le}",
    "greater_than": "må være større enn {gt}",
    "less_than": "må være mindre enn {lt}",
    "string_pattern_mismatch": "har feil form",
    "string_too_short": "er for kort",
    "extra_forbidden": "er ikke en kjent innstilling",
    "path_type": "må være en filsti",
}


class Settings(BaseSettings):
    """Base of every settings class: ``load`` merges a YAML file and the environment and validates once."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, case_sensitive=False, extra="forbid")
    _secret_fields: ClassVar[frozenset[str]] = frozenset()
    _advice: ClassVar[dict[str, str]] = {}

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: Any, init_settings: Any, env_settings: Any, dotenv_settings: Any, file_secret_settings: Any
    ) -> tuple[Any, ...]:
        """Only what :meth:`load` passes in: it reads the environment itself (so a test can pass its own)."""
        return (init_settings,)

    @classmethod
    def load(cls, file: Path | None = None, environ: Mapping[str, str] | None = None) -> Any:
        from_file = read_yaml(file) if file else {}
        from_env = _Environ(cls, os.environ if environ is None else environ)()
        try:
            return cls(**{**from_file, **from_env})
        except ValidationError as exc:
            raise SettingsError(cls._describe(exc, set(from_env), file)) from None

    @classmethod
    def _describe(cls, exc: ValidationError, from_env: set[str], file: Path | None) -> str:
        problems = []
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err["loc"] else "?"
            where = f"{PREFIX}{name.upper()}" if name in from_env else (f"{file}: {name}" if file else name)
            text = _MESSAGES.get(err["type"], "er ugyldig")
            try:
                text = text.format(**(err.get("ctx") or {})).replace("' or '", "' eller '")
            except (KeyError, IndexError):
                pass
            if err["type"] == "value_error":
                text = str(err.get("ctx", {}).get("error", "er ugyldig"))
            value = "" if name in cls._secret_fields or err["type"] == "extra_forbidden" else _shown(err.get("input"))
            advice = cls._advice.get(name, "")
            problems.append(f"{where}{value} {text}" + (f" ({advice})" if advice else ""))
        return "ugyldige innstillinger: " + "; ".join(problems)


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr) or value is None or isinstance(value, dict):
        return ""
    text = mask_digits_in_text(str(value))
    text = "".join(c if c.isprintable() else "?" for c in text)
    return f" = «{text[:60]}{'…' if len(text) > 60 else ''}»"


def read_yaml(file: Path) -> dict[str, Any]:
    """A YAML settings file as a mapping, or a clear error (never a quoted line of it: it may hold secrets)."""
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"fant ikke innstillingsfilen {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"kan ikke lese innstillingsfilen {path} ({type(exc).__name__})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" på linje {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"innstillingsfilen {path} er ikke gyldig YAML{at}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise SettingsError(f"innstillingsfilen {path} må bestå av linjer «navn: verdi»")
    return raw


class RunSettings(Settings):
    """Settings of every run (environment only): where the audit log is, the cache keys (one per purpose)."""

    _secret_fields = frozenset({"cache_key", "boligsosial_cache_key"})
    audit_log: Path | None = None
    cache_key: SecretStr | None = None
    boligsosial_cache_key: SecretStr | None = None
