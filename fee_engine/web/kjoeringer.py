"""The runs of the web application: each in its own private folder, named by a random token.

``<data>/kjoeringer/<token>/`` (0700; every file 0600) holds ``meta.json``, the uploaded files under
``inn/``, and one folder per piece of work, each with its ``jobb.json`` and ``status.json``:
``kontroll/`` (the file checked, ``avvist.csv``), ``kjoering/`` (the batch; its outputs in ``ut/``) and
``regelendring/<token>/`` (a reform's diff). The work runs in a process of its own
(:mod:`fee_engine.web.arbeider`), so two people can run at once and the server stays quick; the page
polls ``status.json``. Everything is on disk, so a run survives a page reload (and the page can be
found again only through its token: 256 random bits, never listed). Runs older than the retention time
are removed when the server starts and every few minutes after.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import WebConfig
from .sikkerhet import TOKEN_RE

FINAL = ("ferdig", "feilet")


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
    os.replace(tmp, path)


def _absolute(p: Path | None) -> str | None:
    return str(Path(p).resolve()) if p else None


@dataclass
class Download:
    name: str
    size: int
    folder: bool = False  # a folder of the outputs (letters), downloaded as one ZIP


class RunManager:
    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.root = private_dir(Path(config.data_dir).resolve() / "kjoeringer")
        private_dir(self.root.parent)
        self.procs: dict[Path, subprocess.Popen] = {}
        self.lock = threading.Lock()

    # -- finding runs ---------------------------------------------------------------------------
    def path(self, token: str) -> Path | None:
        """The run's folder, or None for anything that is not an existing run's token."""
        if not TOKEN_RE.fullmatch(token or ""):
            return None
        p = self.root / token
        return p if (p / "meta.json").is_file() else None

    def new_run(self) -> tuple[str, Path]:
        token = secrets.token_urlsafe(32)
        run = private_dir(self.root / token)
        private_dir(run / "inn")
        return token, run

    def discard(self, run: Path) -> None:
        shutil.rmtree(run, ignore_errors=True)

    # -- work -------------------------------------------------------------------------------------
    def job_base(self, run: Path, meta: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        return {
            "innskriving": meta["innskriving"],  # relative to inn/, where the work runs: the outputs name the file only
            "kommunefiler": [str(run / "inn" / f) for f in meta.get("kommunefiler", [])],
            "periode": meta["periode"],
            "formater": meta.get("formater", ["csv", "xlsx", "json", "html"]),
            "source": c.source,
            "tax_data": _absolute(c.tax_data),
            "api_config": _absolute(c.api_config),
            "cache": _absolute(c.cache),
            "rules_dir": _absolute(c.rules_dir),
        }

    def start(self, run: Path, task: str, directory: Path, **extra: Any) -> None:
        """Start ``task`` for ``run`` in its own process, its files in ``directory``."""
        meta = read_json(run / "meta.json") or {}
        private_dir(directory)
        write_json(directory / "jobb.json", {"oppgave": task, **self.job_base(run, meta), **extra})
        write_json(
            directory / "status.json",
            {
                "oppgave": task,
                "tilstand": "venter",
                "fase": "",
                "etikett": "",
                "gjort": 0,
                "totalt": 0,
                "faser": [],
                "startet": time.time(),
                "oppdatert": time.time(),
                "melding": "",
            },
        )
        log = os.fdopen(os.open(directory / "arbeider.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fee_engine.web.arbeider", str(directory)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=run / "inn",
                start_new_session=True,  # a Ctrl-C at the server's terminal is the server's: it stops its runs itself
            )
        finally:
            log.close()
        with self.lock:
            self.procs[directory] = proc

    def status(self, directory: Path) -> dict[str, Any] | None:
        """The work's status; a process that ended without saying so is reported as stopped."""
        st = read_json(directory / "status.json")
        if st is None:
            return None
        if st.get("tilstand") not in FINAL:
            with self.lock:
                proc = self.procs.get(directory)
            if proc is None or proc.poll() is not None:
                time.sleep(0.05)  # the process may have written its last status just now
                st = read_json(directory / "status.json") or st
                if st.get("tilstand") not in FINAL:
                    st = {
                        **st,
                        "tilstand": "feilet",
                        "melding": "arbeidet stoppet før det var ferdig (serveren ble startet på nytt eller "
                        "prosessen døde)",
                    }
                    write_json(directory / "status.json", st)
        if st.get("tilstand") in FINAL:
            with self.lock:
                proc = self.procs.pop(directory, None)
            if proc is not None:
                proc.wait(timeout=10)
        return st

    def running(self) -> int:
        with self.lock:
            return sum(1 for p in self.procs.values() if p.poll() is None)

    # -- outputs ----------------------------------------------------------------------------------
    def downloads(self, run: Path) -> list[Download]:
        """Every file the batch wrote (and each folder, e.g. the letters, as one ZIP), in name order."""
        return self.downloads_in(run / "kjoering" / "ut")

    @staticmethod
    def downloads_in(out: Path) -> list[Download]:
        if not out.is_dir():
            return []
        items = []
        for p in sorted(out.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_dir():
                size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                items.append(Download(p.name + ".zip", size, folder=True))
            elif p.is_file():
                items.append(Download(p.name, p.stat().st_size))
        return items

    def output_file(self, run: Path, name: str, sub: str = "kjoering") -> Path | None:
        """An output by the name the page listed (never a path a client typed)."""
        base = run / sub / "ut"
        if not base.is_dir():
            return None
        for p in base.iterdir():
            if p.is_file() and p.name == name and not name.startswith("."):
                return p
        return None

    def output_folder(self, run: Path, name: str) -> Path | None:
        base = run / "kjoering" / "ut"
        if not name.endswith(".zip") or not base.is_dir():
            return None
        for p in base.iterdir():
            if p.is_dir() and p.name + ".zip" == name and not p.name.startswith("."):
                return p
        return None

    @staticmethod
    def zip_chunks(folder: Path) -> Iterator[bytes]:
        """The folder as a ZIP, produced piece by piece (letters for a whole municipality are large)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(folder.parent).as_posix())
                    if buf.tell() > 1 << 20:
                        yield buf.getvalue()
                        buf.seek(0)
                        buf.truncate()
        yield buf.getvalue()

    # -- retention --------------------------------------------------------------------------------
    def cleanup(self, now: float | None = None) -> int:
        """Remove every run older than the retention time (a run still working is stopped first)."""
        now = time.time() if now is None else now
        limit = self.config.retention_hours * 3600
        removed = 0
        for run in list(self.root.iterdir()):
            if not run.is_dir() or not TOKEN_RE.fullmatch(run.name):
                continue
            meta = read_json(run / "meta.json")
            created = float(meta["opprettet"]) if meta and "opprettet" in meta else run.stat().st_mtime
            if now - created < limit:
                continue
            with self.lock:
                for d, proc in list(self.procs.items()):
                    if run in d.parents and proc.poll() is None:
                        proc.kill()
                        proc.wait(timeout=10)
                        self.procs.pop(d, None)
            shutil.rmtree(run, ignore_errors=True)
            removed += 1
        return removed

    def stop_all(self) -> None:
        with self.lock:
            for proc in self.procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
