"""Resumable, private storage of tax answers: an embedded SQLite file.

Answers are keyed by an HMAC-SHA256 of the person id (never the bare fødselsnummer),
inntektsår and stadie. The HMAC key is ``FEE_ENGINE_CACHE_KEY`` or a random key in a
file beside the cache. The cache, its key and its journal are created with mode 0600.
Each answer is committed as it arrives, so a batch that is stopped resumes where it
was; only final outcomes are stored (a ``feil`` is asked again next time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from pathlib import Path

from .base import Lookup

FINAL = ("ok", "ingen_data", "ukjent_person", "slettet")


def _private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)


class LookupCache:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        _private_file(self.path)
        self._key = self._load_key()
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS oppslag (person TEXT NOT NULL, inntektsaar INTEGER NOT NULL, stadie TEXT NOT NULL,"
            " status TEXT NOT NULL, kode TEXT NOT NULL, body TEXT, korrelasjonsid TEXT, hentet TEXT NOT NULL,"
            " PRIMARY KEY (person, inntektsaar, stadie))"
        )
        self.db.commit()
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def _load_key(self) -> bytes:
        env = os.environ.get("FEE_ENGINE_CACHE_KEY")
        if env:
            return env.encode()
        key_file = self.path.with_name(self.path.name + ".nokkel")
        if not key_file.exists():
            _private_file(key_file)
            key_file.write_bytes(secrets.token_bytes(32))
        return key_file.read_bytes()

    def person_key(self, person: str) -> str:
        return hmac.new(self._key, person.encode(), hashlib.sha256).hexdigest()

    def get(self, person: str, year: int, stage: str) -> Lookup | None:
        row = self.db.execute(
            "SELECT status, kode, body, korrelasjonsid FROM oppslag WHERE person=? AND inntektsaar=? AND stadie=?",
            (self.person_key(person), year, stage),
        ).fetchone()
        if row is None:
            return None
        status, kode, body, korr = row
        return Lookup(person, year, stage, status, kode, json.loads(body) if body else None, korr)

    def put(self, res: Lookup) -> None:
        if res.status not in FINAL:
            return
        self.db.execute(
            "INSERT OR REPLACE INTO oppslag VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.person_key(res.person), res.inntektsaar, res.stadie, res.status, res.kode,
             json.dumps(res.body) if res.body is not None else None, res.korrelasjonsid,
             dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
        )
        self.db.commit()

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM oppslag").fetchone()[0])

    def purge(self, older_than_days: int) -> int:
        """Delete answers fetched more than ``older_than_days`` days ago; returns how many."""
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=older_than_days)).isoformat(timespec="seconds")
        cur = self.db.execute("DELETE FROM oppslag WHERE hentet <= ?", (cutoff,))
        self.db.commit()
        self.db.execute("VACUUM")
        return cur.rowcount

    def close(self) -> None:
        self.db.close()
