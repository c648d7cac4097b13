"""Tax data straight from a fixture folder: ``DIR/<inntektsaar>/<stadie>/<personidentifikator>.json``.

Answers as the API would (docs/tilkobling.md): no file = SSG-008; a person with no file in
any year = SSG-007. A lookup opens the file it asks for; only when there is none are the other
years and stages looked at, to tell the two apart.
Each file goes through the same checks as an answer over HTTP (:mod:`.answer`): one that
does not fit is a ``feil`` lookup with code ``UGYLDIG-SVAR`` and its reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigurationError
from .answer import MAX_BYTES, answer_lookup
from .base import Lookup
from .errors import MESSAGES

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 65536


class FileSource:
    name = "files"
    kilde = "filer"  # in the audit log
    local = True  # answers on this disk: may be read by two processes (base.fetch_with_fallback)

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ConfigurationError(f"fant ikke mappen med skattedata: {self.directory}")
        self._root = str(self.directory)
        # the folders of answers (<inntektsår>/<stadie>); a file is looked for only when it is asked for
        self._folders = [
            stage_entry.path
            for year_entry in os.scandir(self.directory)
            if year_entry.is_dir() and year_entry.name.isdigit()
            for stage_entry in os.scandir(year_entry.path)
            if stage_entry.is_dir()
        ]
        self._known: dict[str, bool] = {}

    def _has_any_answer(self, person: str) -> bool:
        """Whether ``person`` has a file in some year and stage (else Skatteetaten does not know them)."""
        if person not in self._known:
            name = person + ".json"
            self._known[person] = any(os.path.lexists(os.path.join(f, name)) for f in self._folders)
        return self._known[person]

    def _missing(self, person: str, inntektsaar: int, stadie: str, named: bool = True) -> Lookup:
        if not named or not self._has_any_answer(person):
            return Lookup(
                person,
                inntektsaar,
                stadie,
                "ukjent_person",
                "SSG-007",
                melding=MESSAGES["SSG-007"],
            )
        return Lookup(
            person,
            inntektsaar,
            stadie,
            "ingen_data",
            "SSG-008",
            melding=MESSAGES["SSG-008"],
        )

    def lookup(self, person: str, inntektsaar: int, stadie: str) -> Lookup:
        # digits only (every fødselsnummer) is a file name; anything else is looked at closer
        if not person.isdigit() and (
            not person or person in (".", "..") or os.path.basename(person) != person or "\0" in person
        ):
            return self._missing(person, inntektsaar, stadie, named=False)  # not a file name: never a path
        path = f"{self._root}{os.sep}{inntektsaar}{os.sep}{stadie}{os.sep}{person}.json"
        try:
            try:
                fd = os.open(path, _READ_FLAGS)
            except (FileNotFoundError, NotADirectoryError):
                return self._missing(person, inntektsaar, stadie)
            try:
                raw = os.read(fd, _CHUNK)
                if len(raw) == _CHUNK:  # a large answer: read on, but never more than one byte past the bound
                    parts = [raw]
                    size = len(raw)
                    while size <= MAX_BYTES:
                        more = os.read(fd, min(_CHUNK, MAX_BYTES + 1 - size))
                        if not more:
                            break
                        parts.append(more)
                        size += len(more)
                    raw = b"".join(parts)
            finally:
                os.close(fd)
        except OSError as exc:
            return Lookup(
                person,
                inntektsaar,
                stadie,
                "feil",
                "UGYLDIG-FIL",
                melding=f"svarfilen kan ikke leses ({exc.strerror or type(exc).__name__})",
            )
        return answer_lookup(raw, person, inntektsaar, stadie)


_STAGES = ("oppgjoer", "utkast")


def _holds_answers(directory: str) -> bool:
    """True when ``directory`` has ``<inntektsår>/<stadie>/<11 digits>.json`` (stops at the first)."""
    try:
        years = [e for e in os.scandir(directory) if e.is_dir() and len(e.name) == 4 and e.name.isdigit()]
    except OSError:
        return False
    for year in years:
        for stage in _STAGES:
            try:
                with os.scandir(os.path.join(year.path, stage)) as it:
                    for f in it:
                        n = f.name
                        if len(n) == 16 and n.endswith(".json") and n[:11].isascii() and n[:11].isdigit():
                            return True
            except OSError:
                continue
    return False


def check_layout(directory: Path | str) -> None:
    """Stop before any lookup when ``--tax-data`` is not a folder of answers.

    A wrong folder would otherwise make every applicant «unknown to Skatteetaten» (SSG-007),
    which is false. A real folder in which one applicant has no file is a genuine SSG-007.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ConfigurationError(f"fant ikke mappen med skattedata: {d}")
    if _holds_answers(str(d)):
        return
    expected = (
        "forventet undermapper <inntektsår>/<stadie>/<personidentifikator>.json, for eksempel "
        f"{d / '2023' / 'oppgjoer' / '<11 sifre>.json'} (stadie er oppgjoer eller utkast)"
    )
    hint = ""
    if d.name.isdigit() and any((d / s).is_dir() for s in _STAGES):
        hint = f"; mappen ser ut som ett inntektsår: bruk mappen over, {d.parent}"
    elif d.name in _STAGES:
        hint = f"; mappen ser ut som ett stadie: bruk {d.parent.parent}"
    else:
        below = [e.path for e in os.scandir(d) if e.is_dir() and _holds_answers(e.path)]
        if below:
            hint = f"; svarene ligger ett nivå lenger ned: bruk {below[0]}"
    raise ConfigurationError(f"fant ingen skattegrunnlag i {d}: {expected}{hint}")
