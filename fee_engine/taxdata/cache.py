"""Resumable, private storage of tax answers: an embedded SQLite file with encrypted answers.

Beside the cache file (default ``.fee-engine/skatt.sqlite``):

``skatt.sqlite`` (0600)
    table ``oppslag``: ``person`` = HMAC-SHA256 of the fødselsnummer (never the number),
    ``inntektsaar``, ``stadie``, ``status``, ``kode``, ``korrelasjonsid``, ``hentet`` (UTC)
    and ``body``: the answer minimised to what fee-engine reads (``grunnlag`` items'
    ``tekniskNavn``/``beloep``/``kategori``, ``skjermet``, ``inntektsaar``, ``stadie``; no
    ``personidentifikator``, no ``spesifisering``), encrypted with AES-256-GCM and bound to its
    row (the row key is the associated data, so an answer cannot be moved to another person).
``skatt.sqlite.nokkel`` (0600)
    32 random bytes: the HMAC key, from which the encryption key is derived (HKDF-SHA256);
    or ``FEE_ENGINE_CACHE_KEY`` instead. Created atomically (written to a private temporary
    file, then hard-linked into place), so two runs starting at once agree on one key.
``skatt.sqlite-wal``, ``-shm`` (0600, SQLite's write-ahead log)
``skatt.sqlite.plasser/0`` … ``4``
    lock files: a request to Skatteetaten holds one (``flock``), so every run that uses this
    cache shares Skatteetaten's limit of 5 requests in flight; a second run waits for a free one.

A cache belongs to one purpose (:class:`~.formaal.Formaal`) and, when a vendor acts for a
municipality, to one municipality (``consumer_org``): both are written into the file (table
``eier``) when it is created and checked every time it is opened, so an answer fetched for
one purpose or municipality is never served to another. Each purpose has its own file
(``skatt.sqlite`` for foreldrebetaling, ``boligsosial.sqlite``) and key, and its own
encryption key derived from it. A file from before the marker is taken as foreldrebetaling's.

Each answer is committed as it arrives (WAL, a busy timeout for concurrent runs), so a batch
that is stopped resumes where it was; only final outcomes are stored (a ``feil`` is asked
again next time). A cache file that is corrupt, truncated or not a database is renamed
``<name>.korrupt-<time>`` with a warning and a fresh one is started; a full disk stops the
batch (exit 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import hmac
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigurationError
from ..settings import RunSettings
from ..storage import private_dir, storage_error
from . import answer as answers
from .base import Lookup
from .formaal import Formaal, PurposeError

FINAL = ("ok", "ingen_data", "ukjent_person", "slettet")
KEY_BYTES = 32
SCHEMA_VERSION = 1  # 0: bodies as JSON text in clear (before encryption)
BUSY_TIMEOUT_S = 60.0
SKATTEETATEN_LIMIT = 5  # "Det bør ikke være mer enn 5 samtidige kall for et api fra en virksomhet."
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_ROW = "person=? AND inntektsaar=? AND stadie=?"

log = logging.getLogger("fee_engine.taxdata")


def _private_file(path: Path) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _CORRUPT


class CorruptCache(Exception):
    pass


def load_or_create_key(key_file: Path) -> bytes:
    """The key in ``key_file``, or a new random one put there atomically (the first of two racing runs wins)."""
    try:
        data = key_file.read_bytes()
    except FileNotFoundError:
        tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(KEY_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, key_file)  # fails if another run was first: then its key is the key
            except FileExistsError:
                pass
        except OSError as exc:
            raise storage_error(key_file, exc) from None
        finally:
            tmp.unlink(missing_ok=True)
        data = key_file.read_bytes()
    if len(data) != KEY_BYTES:
        raise CorruptCache(f"nøkkelfilen {key_file.name} har feil lengde")
    return data


class LookupCache:
    def __init__(
        self,
        path: Path | str,
        *,
        environ: dict[str, str] | None = None,
        formaal: Formaal = Formaal.FORELDREBETALING,
        kommune: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.formaal, self.kommune = Formaal.parse(formaal), kommune
        self.key_file = self.path.with_name(self.path.name + ".nokkel")
        self.warnings: list[str] = []
        self.unreadable = 0
        private_dir(self.path.parent)
        run_settings = RunSettings.load(environ=environ)
        secret = run_settings.boligsosial_cache_key if self.formaal is Formaal.BOLIGSOSIAL else run_settings.cache_key
        self._env_key = secret.get_secret_value().encode() if secret else None
        with self._opening():
            try:
                self._open()
            except CorruptCache as exc:
                self._set_aside(str(exc))
                self._open()

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """One process at a time opens (and on first use creates) the cache: SQLite can answer «busy» at once,
        without waiting, to a second connection that switches a new file to WAL while the first one does."""
        lock = self.path.with_name(self.path.name + ".apne")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise storage_error(lock, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- opening, checking, setting aside ----------------------------------------------------
    def _open(self) -> None:
        try:
            key = self._env_key or load_or_create_key(self.key_file)
        except OSError as exc:
            raise storage_error(self.key_file, exc) from None
        self._key = key
        info = b"fee-engine svar v1" + (
            b"" if self.formaal is Formaal.FORELDREBETALING else f" {self.formaal.value}".encode()
        )  # a row of one purpose opens in no other
        self._aead = AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(key))
        self.db: sqlite3.Connection | None = None
        try:
            _private_file(self.path)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            self.db = db
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA secure_delete=ON")
            check = db.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise CorruptCache("SQLite-kontrollen fant feil")
            db.execute(
                "CREATE TABLE IF NOT EXISTS oppslag (person TEXT NOT NULL, inntektsaar INTEGER NOT NULL,"
                " stadie TEXT NOT NULL, status TEXT NOT NULL, kode TEXT NOT NULL, body BLOB, korrelasjonsid TEXT,"
                " hentet TEXT NOT NULL, PRIMARY KEY (person, inntektsaar, stadie))"
            )
            db.commit()
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self._migrate()
            self._check_owner(db)
            self._create_tables(db)
        except CorruptCache:
            self._close_quietly()
            raise
        except sqlite3.Error as exc:
            self._close_quietly()
            if _is_corrupt(exc):
                raise CorruptCache("filen er ikke en lesbar SQLite-database") from None
            raise self._error(exc) from None
        except OSError as exc:
            self._close_quietly()
            raise storage_error(self.path, exc) from None
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def _check_owner(self, db: sqlite3.Connection) -> None:
        """The purpose and municipality the file was made for must be this run's (see the module docstring)."""
        db.execute("CREATE TABLE IF NOT EXISTS eier (navn TEXT PRIMARY KEY, verdi TEXT NOT NULL)")
        stored = dict(db.execute("SELECT navn, verdi FROM eier").fetchall())
        if not stored:
            used = db.execute("SELECT COUNT(*) FROM oppslag").fetchone()[0] > 0
            # answers stored before the marker existed were fetched for foreldrebetaling, by the organisation itself
            stored = (
                {"formaal": Formaal.FORELDREBETALING.value, "kommune": ""}
                if used
                else {"formaal": self.formaal.value, "kommune": self.kommune or ""}
            )
            db.executemany("INSERT OR REPLACE INTO eier VALUES (?, ?)", sorted(stored.items()))
            db.commit()
        if stored.get("formaal") != self.formaal.value:
            self._close_quietly()
            raise PurposeError(
                f"lageret {self.path} er laget for formålet {stored.get('formaal')} og kan ikke brukes til "
                f"{self.formaal.tekst}: svar hentet for ett formål brukes aldri til et annet; bruk et eget --cache"
            )
        if stored.get("kommune", "") != (self.kommune or ""):
            self._close_quietly()
            theirs = "organisasjonen selv" if not stored.get("kommune") else "en annen kommune (consumer_org)"
            ours = "denne kommunen (consumer_org)" if self.kommune else "organisasjonen selv (uten consumer_org)"
            raise ConfigurationError(
                f"lageret {self.path} tilhører {theirs}, ikke {ours}: en leverandør har ett lager per kommune; "
                "bruk et eget --cache for hver kommune"
            )

    def _create_tables(self, db: sqlite3.Connection) -> None:
        """Tables a purpose adds (the boligsosial cache keeps a-ordningen's answers too); none here."""

    def check_formaal(self, formaal: Formaal) -> None:
        if Formaal.parse(formaal) is not self.formaal:
            raise PurposeError(f"lageret {self.path} er for {self.formaal.tekst}, ikke {Formaal.parse(formaal).tekst}")

    def _close_quietly(self) -> None:
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error:
                pass
            self.db = None

    def _set_aside(self, why: str) -> None:
        """Rename a broken cache (and its key, if that is what is broken) and carry on with a fresh one."""
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        moved = []
        files = [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]
        if "nøkkel" in why:
            files.append(self.key_file)
        for f in files:
            try:
                f.rename(f.with_name(f"{f.name}.korrupt-{stamp}"))
                moved.append(f.name)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise storage_error(f, exc) from None
        message = (
            f"lageret {self.path} kunne ikke brukes ({why}); flyttet til {self.path.name}.korrupt-{stamp} "
            "og startet et nytt, så svarene hentes på nytt. Den flyttede filen kan slettes."
        )
        self.warnings.append(message)
        log.warning(message)

    def _error(self, exc: sqlite3.Error) -> ConfigurationError:
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return ConfigurationError(
                f"lageret {self.path} er låst av en annen kjøring i mer enn {BUSY_TIMEOUT_S:.0f} s"
            )
        return storage_error(self.path, exc)

    def _migrate(self) -> None:
        """Version 0 kept bodies as JSON text in clear: encrypt them (minimised) and rewrite the file."""
        assert self.db is not None
        rows = self.db.execute(
            "SELECT person, inntektsaar, stadie, body FROM oppslag WHERE typeof(body) = 'text'"
        ).fetchall()
        for person_key, year, stage, body in rows:
            try:
                obj = json.loads(body) if body else None
                if isinstance(obj, dict):
                    obj.pop("personidentifikator", None)  # the row key says whose it is
                ans = answers.convert(obj, "", year, stage) if isinstance(obj, dict) else None
            except (ValueError, RecursionError):
                ans = None
            if ans is None:
                self.db.execute(f"DELETE FROM oppslag WHERE {_ROW}", (person_key, year, stage))
                continue
            self.db.execute(
                f"UPDATE oppslag SET body=? WHERE {_ROW}",
                (self._seal(person_key, year, stage, answers.minimised(ans)), person_key, year, stage),
            )
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self.db.commit()
        if rows:
            self.db.execute("VACUUM")  # no page with a clear-text answer is left in the file
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- rows ---------------------------------------------------------------------------------
    def person_key(self, person: str) -> str:
        return hmac.digest(self._key, person.encode(), "sha256").hex()

    @staticmethod
    def _aad(person_key: str, year: int, stage: str) -> bytes:
        return f"{person_key}|{year}|{stage}".encode()

    def _seal(self, person_key: str, year: int, stage: str, plain: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, plain, self._aad(person_key, year, stage))

    def _execute(self, sql: str, args: tuple) -> sqlite3.Cursor:
        assert self.db is not None
        try:
            return self.db.execute(sql, args)
        except sqlite3.Error as exc:
            if _is_corrupt(exc):
                self._close_quietly()
                self._set_aside("filen ble ødelagt under kjøringen")
                self._open()
                return self.db.execute(sql, args)  # type: ignore[union-attr]
            raise self._error(exc) from None

    def get(self, person: str, year: int, stage: str) -> Lookup | None:
        key = self.person_key(person)
        sql = f"SELECT status, kode, body, korrelasjonsid FROM oppslag WHERE {_ROW}"
        row = self._execute(sql, (key, year, stage)).fetchone()
        return None if row is None else self._lookup(person, key, year, stage, row)

    def _lookup(self, person: str, key: str, year: int, stage: str, row: tuple) -> Lookup | None:
        """A stored row as the answer it holds; None where it is to be asked again (not final, or unreadable)."""
        res = self._opened(person, key, year, stage, row)
        if res is False:
            self._forget([(key, year, stage)])
            return None
        return res

    def _opened(self, person: str, key: str, year: int, stage: str, row: tuple) -> Lookup | Literal[False] | None:
        """:meth:`_lookup` without the database: False for an answer that cannot be read (tampered with, another
        key, or not an answer), to be deleted and asked again."""
        status, kode, body, korr = row
        if status not in FINAL:
            return None
        if status != "ok":
            return Lookup(person, year, stage, status, kode, None, korr)
        try:
            plain = self._aead.decrypt(body[:12], body[12:], self._aad(key, year, stage))
            ans = answers.decode(plain, person, year, stage)
        except (InvalidTag, TypeError, ValueError):
            return False
        return Lookup(person, year, stage, "ok", kode, ans, korr)

    def _forget(self, rows: list[tuple[str, int, str]]) -> None:
        """Stored answers that could not be read, deleted (each counted once), so they are asked again."""
        for row in rows:
            self.unreadable += 1
            self._execute(f"DELETE FROM oppslag WHERE {_ROW}", row)

    def answered(
        self, persons: list[str], plan: list[tuple[int, str]], into: dict[str, list[Lookup]] | None = None
    ) -> dict[str, list[Lookup]]:
        """Each person whose walk along ``plan`` (as :meth:`get` a step at a time) ends in what is stored: the
        answers it takes, the last one deciding. A person with a step not stored is left out (to be asked).
        ``into``: the dict filled, person by person (what was opened before a stop is there for its audit lines).

        One query for the plan's years instead of one a step: a batch run again from a full cache reads its
        answers in one pass, keeping only this batch's rows (a cache shared with other runs holds more)."""
        persons = list(dict.fromkeys(persons))
        stored = self.stored(plan, persons)
        got, unreadable = stored.walk(persons, into)
        self.forgotten(unreadable)
        return got

    def stored(self, plan: list[tuple[int, str]], persons: list[str] | None = None) -> Stored:
        """What the cache holds along ``plan``, read in one pass (:meth:`answered`), to be walked (:meth:`Stored.walk`)
        here or, half of it, in a forked process that shares it: the walk opens the answers and never touches the
        database. With ``persons``, only their rows are kept (their keys made here); without, every row along the
        plan is (still encrypted), and each walk makes the keys of its own persons: for a batch split in two, the
        keys (an HMAC each, 0.18 s for 100 000 persons) are then made by both processes at once. That holds the
        rows of the plan's years that other batches stored as well (a cache used the year before shares one of
        them), some 500 bytes each, until the walks are done."""
        keys = {person: self.person_key(person) for person in dict.fromkeys(persons or ())}
        wanted, steps = set(keys.values()), set(plan)
        years = sorted({year for year, _ in plan})
        sql = (
            "SELECT person, inntektsaar, stadie, status, kode, body, korrelasjonsid FROM oppslag"
            f" WHERE inntektsaar IN ({', '.join('?' * len(years))})"
        )
        assert self.db is not None
        try:
            found = self.db.execute(sql, years)
            if persons is None:
                rows = {(r[0], r[1], r[2]): r[3:] for r in found if r[1:3] in steps}
            else:
                rows = {(r[0], r[1], r[2]): r[3:] for r in found if r[0] in wanted and r[1:3] in steps}
        except sqlite3.Error as exc:  # as _execute: a damaged file is set aside and everyone is asked again
            if not _is_corrupt(exc):
                raise self._error(exc) from None
            self._close_quietly()
            self._set_aside("filen ble ødelagt under kjøringen")
            self._open()
            rows = {}
        return Stored(self, keys, plan, rows)

    def forgotten(self, unreadable: list[tuple[str, int, str]]) -> None:
        """The rows a walk could not read (:meth:`Stored.walk`), deleted, and the deletion committed: not held open
        for the run."""
        self._forget(unreadable)
        if self.db is not None and self.db.in_transaction:
            self.db.commit()

    def put(self, res: Lookup) -> None:
        if res.status not in FINAL:
            return
        key = self.person_key(res.person)
        body = None
        if res.status == "ok":
            ans = (
                res.body
                if isinstance(res.body, answers.Answer)
                else answers.convert(res.body, res.person, res.inntektsaar, res.stadie)
            )
            body = self._seal(key, res.inntektsaar, res.stadie, answers.minimised(ans))
        self._execute(
            "INSERT OR REPLACE INTO oppslag VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                res.inntektsaar,
                res.stadie,
                res.status,
                res.kode,
                body,
                res.korrelasjonsid,
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ),
        )
        try:
            self.db.commit()  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def count(self) -> int:
        return int(self._execute("SELECT COUNT(*) FROM oppslag", ()).fetchone()[0])

    def purge(self, older_than_days: int) -> int:
        """Delete answers fetched more than ``older_than_days`` days ago (0: all); returns how many."""
        if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 0:
            raise ConfigurationError(f"antall dager må være et heltall 0 eller større, ikke {older_than_days!r}")
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than_days)).isoformat(timespec="seconds")
        removed = 0
        for table in self._answer_tables():  # every table of answers, also those a purpose added
            removed += self._execute(f"DELETE FROM {table} WHERE hentet <= ?", (cutoff,)).rowcount
        try:
            self.db.commit()  # type: ignore[union-attr]
            self.db.execute("VACUUM")  # type: ignore[union-attr]
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return removed

    def _answer_tables(self) -> list[str]:
        rows = self._execute("SELECT name FROM sqlite_master WHERE type = 'table'", ()).fetchall()
        return [
            name
            for (name,) in rows
            if name.isidentifier()
            and any(col[1] == "hentet" for col in self._execute(f"PRAGMA table_info({name})", ()).fetchall())
        ]

    @staticmethod
    def owner_of(path: Path | str) -> tuple[Formaal, str | None]:
        """The purpose and municipality a cache file was made for (foreldrebetaling, own: an unmarked or new file)."""
        try:
            con = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                stored = dict(con.execute("SELECT navn, verdi FROM eier").fetchall())
            finally:
                con.close()
        except sqlite3.Error:
            stored = {}
        try:
            formaal = Formaal.parse(stored.get("formaal", Formaal.FORELDREBETALING.value))
        except PurposeError:
            formaal = Formaal.FORELDREBETALING
        return formaal, stored.get("kommune") or None

    def slots(self) -> SharedSlots:
        return SharedSlots(self.path.with_name(self.path.name + ".plasser"))

    def close(self) -> None:
        if self.unreadable:
            self.warnings.append(
                f"{self.unreadable} lagrede svar kunne ikke leses (annen nøkkel eller endret fil) og ble hentet på nytt"
            )
            self.unreadable = 0
        self._close_quietly()


class Stored:
    """A batch's rows in the cache, read in one pass (:meth:`LookupCache.stored`): walked along the plan a person at
    a time, opening (decrypting and checking) each answer taken. The walk reads no database, so a forked process
    can walk its half of the persons from the rows it shares with this one."""

    def __init__(self, cache: LookupCache, keys: dict[str, str], plan: list[tuple[int, str]], rows: dict) -> None:
        self.cache, self.keys, self.plan, self.rows = cache, keys, plan, rows  # keys: those made already

    def walk(
        self, persons: list[str], into: dict[str, list[Lookup]] | None = None
    ) -> tuple[dict[str, list[Lookup]], list[tuple[str, int, str]]]:
        """Each of these persons whose walk ends in what is stored, with the answers it takes (a person with a step
        not stored, or stored but unreadable, is left out: to be asked); and the unreadable rows, for
        :meth:`LookupCache.forgotten`. ``into``: the dict filled, person by person (what was opened before a stop
        is there for its audit lines)."""
        out: dict[str, list[Lookup]] = {} if into is None else into
        unreadable: list[tuple[str, int, str]] = []
        opened, rows, keys, key_of = self.cache._opened, self.rows, self.keys, self.cache.person_key
        for person in persons:
            key = keys.get(person) or key_of(person)
            tried: list[Lookup] = []
            for year, stage in self.plan:
                row = rows.get((key, year, stage))
                res = None if row is None else opened(person, key, year, stage, row)
                if res is False:
                    unreadable.append((key, year, stage))
                    res = None
                if res is None:
                    break  # to be asked
                tried.append(res)
                if res.status not in ("ingen_data", "slettet"):
                    out[person] = tried
                    break
            else:  # no data in any step: that too is an answer
                out[person] = tried
        return out, unreadable


class SharedSlots:
    """At most 5 requests in flight across every process (and client) that uses the same folder.

    One lock file per slot; a request holds one with ``flock`` (released by the kernel if the
    process dies). A run that finds every slot taken by another run polls until one is free.
    """

    def __init__(self, directory: Path) -> None:
        private_dir(directory)
        try:
            self._fds = [
                os.open(directory / str(i), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                for i in range(SKATTEETATEN_LIMIT)
            ]
        except OSError as exc:
            raise storage_error(directory, exc) from None
        self._held: set[int] = set()
        self.waits = 0

    def try_acquire(self) -> int | None:
        for i, fd in enumerate(self._fds):
            if i in self._held:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self._held.add(i)
            return i
        return None

    async def acquire(self) -> int:
        delay = 0.002
        while True:
            slot = self.try_acquire()
            if slot is not None:
                return slot
            if self.waits == 0:
                log.info("alle %d plassene mot Skatteetaten er i bruk av en annen kjøring; venter", SKATTEETATEN_LIMIT)
            self.waits += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def release(self, slot: int) -> None:
        fcntl.flock(self._fds[slot], fcntl.LOCK_UN)
        self._held.discard(slot)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
