"""The audit log of tax lookups: one line per lookup, append-only, 0600, kept across runs.

A municipality must keep a record of every lookup it makes in Skatteetaten's data. The log
lives outside ``--out`` (default ``.fee-engine/revisjon.jsonl``, beside the cache; setting
``--audit-log`` or ``FEE_ENGINE_AUDIT_LOG``), is opened with ``O_APPEND`` (runs add to it,
never replace it; concurrent runs' lines do not tear) and mode 0600. A lookup made by asking
(Skatteetaten, Fiks, the emulator) has its line handed to the operating system as it is made
(an ``os.write`` per line: a killed process loses no line it has written); answers read on this
disk have theirs handed over together before any of them is used: from the cache, the lines of
all the answers a process has opened; from a folder of answer files, every
:data:`~fee_engine.taxdata.base.LOCAL_LINES` lines and the rest when the reading ends or stops
with an exception (SIGTERM raises one: :mod:`fee_engine.stopp`; a stop waits while a block is
handed over and counted). Such a line's ``tid`` is when it was handed over. A process killed
outright (SIGKILL) while it reads can leave out the lines of answers it read and never used. A
background thread ``fsync``\\ s the file at least once a second
while there are new lines, and once more at the end, so a crash of the machine loses at
most about a second of lines. ``--out`` gets ``revisjon.jsonl`` with this run's lines only.

A line::

    {"tid": "2026-11-24T09:30:01+00:00", "kjoering": "<uuid4 of the run>", "kommando": "run",
     "bruker": "<OS user>", "formaal": "kommuneforeldrebetaling", "kilde": "skatteetaten",
     "person": "010180*****", "inntektsaar": 2023, "stadie": "oppgjoer", "resultat": "200",
     "korrelasjonsid": null}

``kilde``: ``skatteetaten`` (asked over HTTP), ``fiks`` (asked through KS Fiks), ``emulator``
(the local emulator), ``lager`` (answered from the cache), ``filer`` (a folder of answers).
``person`` is masked to the birth date; a full fødselsnummer is never written. ``formaal`` is
the purpose's rights package (:class:`~fee_engine.taxdata.formaal.Formaal`): a log opened for
one purpose takes no lookup made for another. When a vendor acts for a municipality, every
line has ``paa_vegne_av`` (the municipality's organisation number, ``consumer_org``).

A lookup in a-ordningen (Inntekt API, ``fee-engine inntekt``) has ``tjeneste: "inntekt"`` and
``periode`` (``2025-07..2025-09``) in place of ``inntektsaar`` and ``stadie``.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .identity import mask, mask_digits_in_text
from .settings import RunSettings
from .stopp import whole
from .storage import DEFAULT_DIR, private_dir, storage_error
from .taxdata.base import RETTIGHETSPAKKE, Lookup, _now_text

FILE_NAME = "revisjon.jsonl"
SOURCES = ("skatteetaten", "fiks", "emulator", "lager", "filer")


def default_path(cache: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """``FEE_ENGINE_AUDIT_LOG``, else beside the cache, else ``.fee-engine/revisjon.jsonl``."""
    configured = RunSettings.load(environ=environ).audit_log
    if configured:
        return configured
    return (Path(cache).parent if cache else DEFAULT_DIR) / FILE_NAME


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no passwd entry (containers with an arbitrary uid)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "ukjent"


@functools.lru_cache(maxsize=4096)
def _text(value: str) -> str:
    """A short JSON string (codes, stages: few distinct values, so cached); digits masked, length bounded."""
    return json.dumps(mask_digits_in_text(value[:100]), ensure_ascii=False)


class AuditLog:
    """Append lines for one run (``command``) to the audit log, and to ``copy`` (this run's lines only)."""

    def __init__(
        self,
        path: Path,
        *,
        command: str,
        purpose: str = RETTIGHETSPAKKE,
        copy: Path | None = None,
        run_id: str | None = None,
        sync_interval: float = 1.0,
        kommune: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.run_id = run_id or str(uuid.uuid4())
        self.command, self.purpose, self.kommune = command, purpose, kommune
        if kommune is not None and not (len(kommune) == 9 and kommune.isascii() and kommune.isdigit()):
            raise ConfigurationError("consumer_org må være et organisasjonsnummer med 9 sifre")
        self.lines = 0
        private_dir(self.path.parent)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except IsADirectoryError:
            raise ConfigurationError(f"revisjonsloggen {self.path} er en mappe, ikke en fil") from None
        except OSError as exc:
            raise storage_error(self.path, exc) from None
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(self._fd)
            raise ConfigurationError(f"revisjonsloggen {self.path} må være en vanlig fil")
        if stat.S_IMODE(st.st_mode) != 0o600:
            os.fchmod(self._fd, 0o600)  # an older log made with the umask's mode
        if st.st_size:
            self._end_cut_line()
        self._copy = None
        if copy is not None:
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            self._copy = os.fdopen(fd, "wb", buffering=1 << 16)
        self._fixed = (
            f'"kjoering": "{self.run_id}", "kommando": {_text(command)}, "bruker": {json.dumps(os_user())}, '
            f'"formaal": {_text(purpose)}, '
        )
        if kommune:  # an organisation number, not a person: written as it is
            self._fixed += f'"paa_vegne_av": "{kommune}", '
        self._dirty = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._syncer = threading.Thread(
            target=self._sync_loop, args=(sync_interval,), name="revisjon-fsync", daemon=True
        )
        self._syncer.start()
        self.closed = False

    def _end_cut_line(self) -> None:
        """A kept log whose last line was cut short (a full disk, a run killed in the middle of a write) gets that
        line ended before this run's first: else the two would run together into one line no program can read.
        (Should another run be appending a block at that very moment, its last byte may not be written yet: the log
        then gets an empty line, which loses nothing.)"""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                last = fh.read(1)
        except OSError:  # not readable by this user: left as it is
            return
        if last and last != b"\n":
            try:
                os.write(self._fd, b"\n")
            except OSError as exc:
                os.close(self._fd)
                raise storage_error(self.path, exc) from None

    def _sync_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if self._dirty:
                self._dirty = False
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self._error = exc
                    return

    def write(self, res: Lookup, kilde: str) -> None:
        """One line for one lookup, handed to the operating system at once."""
        if self._error is not None:
            raise storage_error(self.path, self._error)
        self._append(self._line(res, kilde, _now_text()))

    def write_many(self, results: list[Lookup], kilde: str) -> None:
        """A line for each of these lookups (answers read on this disk: from the cache, or a block of answer files),
        handed to the operating system together (:data:`_MANY` lines a write), before any of them is used. Every
        line has the time of this call."""
        if self._error is not None:
            raise storage_error(self.path, self._error)
        now = _now_text()
        with whole():  # a stop (Ctrl-C, SIGTERM) waits until every one of these lines is written
            for b in range(0, len(results), _MANY):  # about 300 kB a write
                lines = [self._line(res, kilde, now) for res in results[b : b + _MANY]]
                self._append(b"".join(lines), len(lines))

    def _line(self, res: Lookup, kilde: str, now: str) -> bytes:
        return (
            f'{{"tid": "{now}", {self._fixed}"kilde": "{kilde}", '
            f'"person": {_person(mask(res.person))}, "inntektsaar": {int(res.inntektsaar)}, '
            f'"stadie": {_text(res.stadie)}, "resultat": {_text(res.kode)}, '
            f'"korrelasjonsid": {_korr(res.korrelasjonsid)}}}\n'
        ).encode()

    def write_aordning(self, person: str, periode: str, kode: str, korrelasjonsid: str | None, kilde: str) -> None:
        """One line for one lookup in a-ordningen (Inntekt API): ``periode`` is ``YYYY-MM..YYYY-MM``."""
        if self._error is not None:
            raise storage_error(self.path, self._error)
        line = (
            f'{{"tid": "{_now_text()}", {self._fixed}"kilde": "{kilde}", "tjeneste": "inntekt", '
            f'"person": {_person(mask(person))}, "periode": {_text(periode)}, "resultat": {_text(kode)}, '
            f'"korrelasjonsid": {_korr(korrelasjonsid)}}}\n'
        ).encode()
        self._append(line)

    def _append(self, line: bytes, lines: int = 1) -> None:
        with whole():  # a stop (Ctrl-C, SIGTERM) waits until the lines are written, copied and counted
            try:
                written = os.write(self._fd, line)
                while written < len(line):  # a short write (a signal, a nearly full disk): the rest, still appended
                    written += os.write(self._fd, line[written:])
            except OSError as exc:
                raise storage_error(self.path, exc) from None
            self._dirty = True
            if self._copy is not None:
                self._copy.write(line)
            self.lines += lines

    def add_lines(self, copy_lines: bytes, n: int) -> None:
        """Lines another process appended to the kept log for this run: counted, and added to this run's copy."""
        if self._copy is not None and copy_lines:
            self._copy.write(copy_lines)
        self.lines += n
        self._dirty = True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        self._syncer.join()
        try:
            if self._copy is not None:
                self._copy.close()
            os.fsync(self._fd)
        except OSError as exc:
            raise storage_error(self.path, exc) from None
        finally:
            os.close(self._fd)
        if self._error is not None:
            raise storage_error(self.path, self._error)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_PLAIN = frozenset("0123456789*")
_MANY = 1_000  # lines handed to the system in one write by write_many


# A correlation id as Skatteetaten and the cache give it (a UUID): letters, digits and dashes, nothing JSON escapes;
# with no six digits in a row, nothing :func:`~fee_engine.identity.mask_digits_in_text` masks either.
_PLAIN_ID = re.compile(r"[0-9A-Za-z-]*")
_SIX_DIGITS = re.compile(r"[0-9]{6}")


def _korr(korr: str | None) -> str:
    """The correlation id as JSON, digits that could be a fødselsnummer masked, length bounded. A plain id in
    which nothing is masked is written as it is: what ``json.dumps`` writes, without its cost (a third of a line
    from the cache)."""
    if korr is None:
        return "null"
    text = str(korr)[:100]
    if _PLAIN_ID.fullmatch(text) and not _SIX_DIGITS.search(text):
        return f'"{text}"'
    return json.dumps(mask_digits_in_text(text))


def _person(masked: str) -> str:
    return f'"{masked}"' if _PLAIN.issuperset(masked) else json.dumps(masked)
