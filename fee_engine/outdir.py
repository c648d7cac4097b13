"""A run owns its output folder: a manifest of what it wrote, nothing stale left beside it.

``--out DIR`` gets ``.fee-engine-manifest.json`` listing the files the run wrote. The next
run into the same folder removes the files the previous run listed and it does not write
(a ``vedtak.xlsx`` from a run with ``--format xlsx`` does not stay beside a later CSV-only
result) and leaves every other file alone. A folder that is not empty and has no manifest
was not made by fee-engine and is refused (exit 2) unless ``--overwrite``; so is an output
whose name is taken by a folder (``out/vedtak.csv/``). While a run writes, it holds a lock
on the folder itself (``flock``): a second run into the same folder at the same time is refused.

Everything is written in a private staging folder inside ``DIR`` first and moved into place
(one file at a time, atomic each) only when the whole result is complete: a file of the previous run trades
places with the new one (:func:`exchange`) and is deleted with the staging folder.

The results hold household incomes taken from tax answers, so nothing a run writes is readable by
other users of the machine: files are at most 0640 and folders 0750 (stricter modes, like the
invoicing basis's 0600, stay as they are), and a folder ``--out`` creates is 0750.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import fcntl
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .stopp import whole

NOT_FOR_OTHERS = 0o027  # no write for the group, nothing for others


def _private(path: Path) -> None:
    """Take group write and every permission for others off ``path`` and, for a folder, all it holds."""
    if path.is_symlink():
        return
    os.chmod(path, path.stat().st_mode & 0o7777 & ~NOT_FOR_OTHERS)
    if path.is_dir():
        for root, dirs, names in os.walk(path):
            for n in dirs + names:
                p = Path(root) / n
                if not p.is_symlink():
                    os.chmod(p, p.stat().st_mode & 0o7777 & ~NOT_FOR_OTHERS)


MANIFEST = ".fee-engine-manifest.json"
STAGING_PREFIX = ".fee-engine-"
# What fee-engine wrote before it kept a manifest: such a folder is taken as made by fee-engine.
LEGACY_NAMES = frozenset(
    {
        "maanedlig.csv",
        "vedtak.csv",
        "vedtak.xlsx",
        "vedtak.json",
        "rapport.html",
        "avvist.csv",
        "revisjon.jsonl",
        "kjoering.json",
        "endringer.csv",
        "oppsummering.csv",
        "endringer.xlsx",
        "endringer.html",
    }
)
LEGACY_MARKERS = frozenset({"kjoering.json", "endringer.csv"})


def _ours(name: str) -> bool:
    return name == MANIFEST or name.startswith(STAGING_PREFIX)


def _plain_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\0" not in name
        and not _ours(name)
    )


_RENAME_EXCHANGE = 2  # renameat2's flag (Linux 3.15, glibc 2.28): swap two names in one step


def exchange(a: Path, b: Path) -> bool:
    """Swap the names of two files (or folders) in one atomic step: the new one at ``a`` takes the name ``b``, and
    the old one at ``b`` the name ``a``. False, and nothing changed, where the system cannot (no ``renameat2``, or
    a file system without it).

    A rename over an existing file would be atomic too, but ext4 (Linux's usual file system) then writes the
    new file's data to disk there and then, in the renaming process (its ``auto_da_alloc`` guard for programs
    that replace a file without ``fsync``): 0.2-0.4 s for a run of 100 000 children, 1.5-2.3 s for 500 000. A
    swap is not a replacement, so the kernel writes the new file in the background, as in a new folder; the old
    one goes with the staging folder. A reader of the output folder finds the old file or the new one, never
    none, and a run stopped at any point leaves one of them in place."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):  # TypeError: where CDLL(None) is refused (Windows)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    here = -100  # AT_FDCWD: the paths as they are
    return renameat2(here, os.fsencode(a), here, os.fsencode(b), _RENAME_EXCHANGE) == 0


_CLEARING: list[threading.Thread] = []  # staging folders being deleted (OutputFolder's clear_in_background)


def wait_for_clearing() -> None:
    """Wait until every staging folder being deleted in the background is gone (and its output folder unlocked)."""
    while _CLEARING:
        _CLEARING.pop().join()


class OutputFolder:
    """``with OutputFolder(out, ...) as folder``: write into ``folder.staging``, then ``folder.commit(files)``."""

    def __init__(
        self,
        out: Path,
        *,
        overwrite: bool = False,
        command: str = "run",
        run_id: str = "",
        clear_in_background: bool = False,
    ) -> None:
        """``clear_in_background``: for a process that ends after the run (the command line). The staging folder,
        which holds the previous run's files once the new ones are in place, is deleted by a thread of its own
        while the process finishes (the summary, its exit), not before ``with`` ends: at 100 000 children the
        previous run's 280 MB took some 0.1 s to delete. :func:`wait_for_clearing` waits for it (the command line,
        before it returns); the thread is not a daemon either, so the process waits for it before it exits. The
        folder stays locked until it is done."""
        self.out = Path(out)
        self.overwrite, self.command, self.run_id = overwrite, command, run_id
        self.staging: Path | None = None
        self._lock_fd: int | None = None
        self.previous: set[str] = set()
        self._in_background = clear_in_background
        self.clearing: threading.Thread | None = None

    def __enter__(self) -> OutputFolder:
        if self.out.exists() and not self.out.is_dir():
            raise ConfigurationError(f"--out {self.out} finnes og er ikke en mappe")
        self.out.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._lock_fd = os.open(self.out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise ConfigurationError(
                f"en annen fee-engine-kjøring skriver til {self.out} nå; vent til den er ferdig "
                "eller velg en annen --out"
            ) from None
        try:
            self._check()
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out))  # 0700
        except BaseException:
            self._unlock()
            raise
        return self

    def _check(self) -> None:
        entries = {e.name: e for e in os.scandir(self.out)}
        for name, e in entries.items():  # staging folders of runs that were killed (we hold the lock: none is running)
            if name.startswith(STAGING_PREFIX) and e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
        others = sorted(n for n in entries if not _ours(n))
        manifest = self.out / MANIFEST
        if manifest.exists():
            self.previous = self._read_manifest(manifest)
            return
        if others and set(others) <= LEGACY_NAMES and LEGACY_MARKERS & set(others):
            self.previous = set(others)  # an output folder from before the manifest
            return
        if others and not self.overwrite:
            shown = ", ".join(others[:3]) + (" …" if len(others) > 3 else "")
            raise ConfigurationError(
                f"--out {self.out} er ikke tom og ble ikke laget av fee-engine ({shown}); velg en tom eller ny mappe, "
                "eller bruk --overwrite for å skrive dit likevel (andre filer blir liggende)"
            )

    @staticmethod
    def _read_manifest(manifest: Path) -> set[str]:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            files = data.get("filer", []) if isinstance(data, dict) else []
        except (OSError, ValueError):
            files = []
        return {n for n in files if _plain_name(n)} if isinstance(files, list) else set()

    def _write_manifest(self, names: set[str]) -> None:
        body = {
            "laget_av": "fee-engine",
            "kommando": self.command,
            "kjoering": self.run_id,
            "tid": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "filer": sorted(names),
        }
        tmp = self.out / f"{STAGING_PREFIX}manifest.tmp"
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _private(tmp)
        os.replace(tmp, self.out / MANIFEST)

    def commit(self, files: list[Path]) -> list[Path]:
        """Move the staged files into ``out``; remove what an earlier run wrote and this one did not."""
        names = [Path(f).name for f in files]
        for f, name in zip(files, names):
            target = self.out / name
            if target.is_symlink() or not target.exists():
                continue
            staged_dir = Path(f).is_dir()
            if target.is_dir() and not (staged_dir and name in self.previous):
                what = "mappen" if staged_dir else "filen"
                raise ConfigurationError(
                    f"{target} er en mappe, men fee-engine skal skrive {what} {name} der; flytt "
                    "eller slett mappen, eller velg en annen --out"
                )
        with whole():  # a stop (Ctrl-C, SIGTERM) waits: --out holds one run's files, never some of each
            return self._moved_in(files, names)

    def _moved_in(self, files: list[Path], names: list[str]) -> list[Path]:
        self._write_manifest(self.previous | set(names))  # if the run dies now, the next one still knows every file
        final = []
        for f, name in zip(files, names):
            staged = Path(f)
            _private(staged)
            target = self.out / name
            same_kind = not target.is_symlink() and (
                (staged.is_file() and target.is_file()) or (staged.is_dir() and target.is_dir())
            )
            if not (same_kind and exchange(staged, target)):  # else the previous one is in the staging folder now
                if staged.is_dir() and target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                os.replace(staged, target)
            final.append(target)
        for name in sorted(self.previous - set(names)):
            stale = self.out / name
            if stale.is_symlink() or stale.is_file():
                stale.unlink(missing_ok=True)
            elif stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        self._write_manifest(set(names))
        return final

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __exit__(self, *exc: Any) -> None:
        staging, self.staging = self.staging, None
        if staging is not None and self._in_background and exc[0] is None:
            clearing = threading.Thread(target=self._clear, args=(staging,), name="fee-engine-rydding")
            try:
                clearing.start()
            except RuntimeError:  # no thread could be started: cleared here, as without one
                pass
            else:
                self.clearing = clearing
                _CLEARING.append(clearing)
                return
        self._clear(staging)

    def _clear(self, staging: Path | None) -> None:
        try:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        finally:
            self._unlock()
