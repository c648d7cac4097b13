"""The cache of tax answers: encrypted and minimised, never committable, safe for concurrent runs, robust to damage."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.identity import make_synthetic
from fee_engine.storage import DiskFullError
from fee_engine.taxdata.cache import LookupCache
from fee_engine.taxdata.emulator import EmulatorServer, Faults
from tests.apirun import api_env, client_identity, run_cmd
from tests.test_answers import real_shaped
from tests.test_audit import small_disk  # noqa: F401  (fixture)
from tests.test_taxdata_http import DER, PLAN, client_for, population, run

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"
runner = CliRunner()


def run_emulator_source(cache: Path, out: Path):
    return runner.invoke(
        app,
        [
            "run",
            str(DEMO / "innskriving.csv"),
            "--source",
            "emulator",
            "--tax-data",
            str(DEMO / "skatt"),
            "--cache",
            str(cache),
            "--period",
            "2024-08..2025-07",
            "--format",
            "csv",
            "--out",
            str(out),
        ],
    )


def all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


# -- 1: answers are encrypted and minimised ------------------------------------------------------
def test_real_shaped_answers_are_stored_encrypted_without_identifiers(tmp_path):
    data = tmp_path / "skatt"
    persons = [make_synthetic(dt.date(1980, 3, 1 + i), i) for i in range(3)]
    for p in persons:
        f = data / "2023" / "oppgjoer" / f"{p}.json"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(real_shaped(p)), encoding="utf-8")
    cache_file = tmp_path / "c" / "skatt.sqlite"
    cache = LookupCache(cache_file)
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        out = run(client_for(s), persons, cache=cache)
    cache.close()
    assert all(out[p][-1].status == "ok" for p in persons)
    raw = all_bytes(cache_file.parent)
    for needle in [
        *persons,
        *(p[:6] for p in persons),
        "samletLoennsinntekt",
        "719038",
        "kontonummer",
        "95751752084",
        "FORSIKTIG EMPATISK TIGER",
        "kategori",
        "inntektsfradrag",
        "formue",
    ]:
        assert needle.encode() not in raw, needle
    # what is stored, decrypted with the key beside the cache: only what fee-engine reads, no identifier
    key = (cache_file.parent / "skatt.sqlite.nokkel").read_bytes()
    aead = AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=b"fee-engine svar v1").derive(key))
    con = sqlite3.connect(cache_file)
    ((pk, year, stage, body),) = con.execute("SELECT person, inntektsaar, stadie, body FROM oppslag LIMIT 1").fetchall()
    plain = json.loads(aead.decrypt(body[:12], body[12:], f"{pk}|{year}|{stage}".encode()))
    assert plain["personidentifikator"] is None and "spesifisering" not in json.dumps(plain)
    assert {i["tekniskNavn"] for i in plain["grunnlag"]} >= {"samletLoennsinntektMedTrygdeavgiftspliktOgMedTrekkplikt"}
    # and read back, the answer is the same
    again = LookupCache(cache_file)
    hit = again.get(persons[0], 2023, "oppgjoer")
    assert (
        hit is not None
        and hit.status == "ok"
        and sum(i.kroner for i in hit.body.grunnlag) == sum(i["beloep"] for i in real_shaped()["grunnlag"])
    )


def test_an_answer_moved_to_another_person_is_not_read(tmp_path):
    from fee_engine.taxdata.answer import decode
    from fee_engine.taxdata.base import Lookup

    a, b = make_synthetic(dt.date(1980, 1, 1), 1), make_synthetic(dt.date(1981, 1, 1), 2)
    c = LookupCache(tmp_path / "skatt.sqlite")
    c.put(Lookup(a, 2023, "oppgjoer", "ok", "200", decode(json.dumps(real_shaped(a)).encode(), a, 2023, "oppgjoer")))
    c.put(Lookup(b, 2023, "oppgjoer", "ingen_data", "SSG-008"))
    c.db.execute(
        "UPDATE oppslag SET body = (SELECT body FROM oppslag WHERE person = ?) WHERE person = ?",
        (c.person_key(a), c.person_key(b)),
    )
    c.db.execute("UPDATE oppslag SET status = 'ok' WHERE person = ?", (c.person_key(b),))
    c.db.commit()
    assert c.get(b, 2023, "oppgjoer") is None and c.get(a, 2023, "oppgjoer").status == "ok"


def test_an_old_cache_with_answers_in_clear_is_encrypted_on_opening(tmp_path):
    p = make_synthetic(dt.date(1979, 7, 7), 5)
    f = tmp_path / "skatt.sqlite"
    old = LookupCache(f)  # for its key and person key
    pk = old.person_key(p)
    old.close()
    con = sqlite3.connect(f)
    con.execute("DROP TABLE oppslag")
    con.execute(
        "CREATE TABLE oppslag (person TEXT NOT NULL, inntektsaar INTEGER NOT NULL, stadie TEXT NOT NULL,"
        " status TEXT NOT NULL, kode TEXT NOT NULL, body TEXT, korrelasjonsid TEXT, hentet TEXT NOT NULL,"
        " PRIMARY KEY (person, inntektsaar, stadie))"
    )
    con.execute(
        "INSERT INTO oppslag VALUES (?, 2023, 'oppgjoer', 'ok', '200', ?, NULL, '2025-01-01T00:00:00+00:00')",
        (pk, json.dumps(real_shaped(p))),
    )
    con.execute("PRAGMA user_version=0")
    con.commit()
    con.close()
    c = LookupCache(f)
    hit = c.get(p, 2023, "oppgjoer")
    c.close()
    assert hit is not None and hit.status == "ok"
    assert p.encode() not in all_bytes(tmp_path) and b"samletLoennsinntekt" not in all_bytes(tmp_path)


# -- 5: never committable ---------------------------------------------------------------------------
def test_the_default_cache_folder_is_ignored_by_git(tmp_path, monkeypatch):
    assert ".fee-engine/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    git = subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], capture_output=True)
    if git.returncode != 0:
        pytest.skip("git is not available")
    monkeypatch.chdir(tmp_path / "repo")
    c = LookupCache(Path(".fee-engine") / "skatt.sqlite")
    c.close()
    assert (tmp_path / "repo" / ".fee-engine" / "skatt.sqlite.nokkel").exists()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], capture_output=True, text=True)
    assert status.stdout == ""  # nothing to add, not even by «git add -A»
    assert oct(os.stat(".fee-engine").st_mode & 0o777) == "0o700"


# -- 11: concurrent runs on one cache ------------------------------------------------------------------
def test_racing_processes_agree_on_one_key(tmp_path):
    go = tmp_path / "go"
    code = (
        "import sys, time, pathlib\n"
        "from fee_engine.taxdata.cache import LookupCache\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.001)\n"
        "c = LookupCache(sys.argv[1]); print(c.person_key('x')); c.close()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "c" / "skatt.sqlite"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    time.sleep(0.5)
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    assert len({o.strip() for o, _ in outs}) == 1


def test_two_runs_on_one_fresh_cache_share_the_limit_and_a_warm_cache_asks_nothing(tmp_path):
    from fee_engine.synthetic import generate

    pop = generate(200, tmp_path / "pop", seed=11, kommune="0301")
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    cache = tmp_path / "c" / "skatt.sqlite"
    with EmulatorServer(pop / "skatt", trusted_certs=trusted, faults=Faults(latency_ms=10)) as s:
        env = api_env(s, key_file, cert_file)

        def both(tag: str) -> list[subprocess.CompletedProcess]:
            procs = [
                subprocess.Popen(
                    run_cmd(pop / "innskriving.csv", tmp_path / f"{tag}{i}", cache),
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                for i in range(2)
            ]
            return [subprocess.CompletedProcess(p.args, p.wait(timeout=180), *p.communicate()) for p in procs]

        fresh = both("a")
        for r in fresh:
            err = r.stderr.decode(errors="replace")
            assert r.returncode == 0 and "locked" not in err and "Traceback" not in err, err[-2000:]
        assert s.state.max_in_flight <= 5  # the two runs together
        asked = s.state.requests
        warm = both("b")
        assert all(r.returncode == 0 for r in warm)
        assert s.state.requests == asked  # both answered from the cache: one key, readable by both
    for name in ("maanedlig.csv", "vedtak.csv"):
        texts = {(tmp_path / d / name).read_text(encoding="utf-8") for d in ("a0", "a1", "b0", "b1")}
        assert len(texts) == 1


def test_slots_are_shared_between_clients_of_one_cache(tmp_path):
    a = LookupCache(tmp_path / "skatt.sqlite").slots()
    b = LookupCache(tmp_path / "skatt.sqlite").slots()
    held = [a.try_acquire() for _ in range(3)] + [b.try_acquire() for _ in range(2)]
    assert None not in held and b.try_acquire() is None and a.try_acquire() is None
    a.release(held[0])
    assert b.try_acquire() is not None


# -- 12: damaged cache, full disk --------------------------------------------------------------------
def _filled_cache(f: Path, n: int = 400) -> None:
    from fee_engine.taxdata.base import Lookup

    c = LookupCache(f)
    for i in range(n):
        person = make_synthetic(dt.date(1970, 1, 1) + dt.timedelta(days=i), i % 400)
        c.put(Lookup(person, 2023, "oppgjoer", "ingen_data", "SSG-008", korrelasjonsid="k" * 200))
    c.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed_header"])
def test_a_damaged_cache_is_set_aside_with_a_warning_and_a_fresh_one_started(tmp_path, damage):
    f = tmp_path / "skatt.sqlite"
    if damage == "garbage":
        f.write_bytes(os.urandom(50_000))
    else:
        _filled_cache(f)
        data = f.read_bytes()
        f.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\0" * 100 + data[100:])
    c = LookupCache(f)
    assert c.count() == 0 and c.warnings and "korrupt" in c.warnings[0]
    assert list(tmp_path.glob("skatt.sqlite.korrupt-*"))
    c.close()


def test_cache_purge_on_a_garbage_file_reports_and_goes_on(tmp_path):
    f = tmp_path / "skatt.sqlite"
    f.write_bytes(b"dette er ikke en database" * 100)
    res = runner.invoke(app, ["cache", "purge", "--days", "30", "--cache", str(f)])
    assert res.exit_code == 0 and "Traceback" not in res.output and "korrupt" in res.output
    assert "Slettet 0 svar" in res.output


def test_a_run_on_a_garbage_cache_asks_again_and_says_so(tmp_path):
    f = tmp_path / "c" / "skatt.sqlite"
    f.parent.mkdir()
    f.write_bytes(os.urandom(10_000))
    res = run_emulator_source(f, tmp_path / "o")
    assert res.exit_code == 1 and "korrupt" in res.output, res.output
    assert LookupCache(f).count() > 0


def test_a_full_cache_disk_stops_the_batch_with_a_clear_error(tmp_path):
    expected = population(tmp_path / "skatt", 60)
    cache = LookupCache(tmp_path / "c" / "skatt.sqlite")
    pages = cache.db.execute("PRAGMA page_count").fetchone()[0]
    cache.db.execute(f"PRAGMA max_page_count={pages + 1}")  # SQLite answers SQLITE_FULL, as on a full disk, soon
    with EmulatorServer(tmp_path / "skatt", trusted_certs=[DER]) as s:
        with pytest.raises(DiskFullError, match="disken er full"):
            run(client_for(s), expected, PLAN, cache=cache)


def test_a_really_full_disk_under_the_cache_exits_2(tmp_path, small_disk):  # noqa: F811
    res = run_emulator_source(small_disk / "skatt.sqlite", tmp_path / "o")
    (small_disk / "fyll").unlink(missing_ok=True)
    assert res.exit_code == 2 and "disken er full" in res.output, res.output
    assert not (tmp_path / "o" / "maanedlig.csv").exists()


def test_answered_reads_in_one_pass_what_the_step_by_step_walk_reads(tmp_path):
    """cache.answered gives each person the answers the fallback walk (cache.get a step at a time) would take,
    and leaves out whoever has a step not stored or not readable: they are asked."""
    from fee_engine.taxdata.answer import decode
    from fee_engine.taxdata.base import Lookup

    def ok(p, year, stage):
        body = json.dumps(real_shaped(p, str(year), stage)).encode()
        return Lookup(p, year, stage, "ok", "200", decode(body, p, year, stage))

    people = [make_synthetic(dt.date(1980, 1, 1) + dt.timedelta(days=i), i) for i in range(8)]
    a, b, c, d, e, f, g, h = people
    (y1, s1), (y2, s2), (y3, s3) = PLAN
    cache = LookupCache(tmp_path / "skatt.sqlite")
    stored = [
        ok(a, y1, s1),  # answered at the first step
        Lookup(b, y1, s1, "ingen_data", "SSG-008"),  # at the second
        ok(b, y2, s2),
        Lookup(c, y1, s1, "ingen_data", "SSG-008"),  # no data in any step: that is an answer too
        Lookup(c, y2, s2, "ingen_data", "SSG-008"),
        Lookup(c, y3, s3, "ingen_data", "SSG-008"),
        Lookup(d, y1, s1, "ingen_data", "SSG-008"),  # the second step not stored: to be asked
        Lookup(e, y1, s1, "ukjent_person", "SSG-007"),  # a final answer without data
        ok(f, y1, s1),  # unreadable (below): to be asked
        ok(g, y1 - 5, s1),  # only a year outside the plan: to be asked
        Lookup(h, y1, s1, "slettet", "SSG-011"),  # deleted at Skatteetaten: the walk goes on, as for no data
        ok(h, y2, s2),
    ]
    for res in stored:
        cache.put(res)
    cache.db.execute("UPDATE oppslag SET body = X'00' WHERE person = ?", (cache.person_key(f),))
    cache.db.commit()

    got = cache.answered(people + [a, f], PLAN)  # a person twice is one person
    assert {p: [(r.inntektsaar, r.stadie, r.kode) for r in v] for p, v in got.items()} == {
        a: [(y1, s1, "200")],
        b: [(y1, s1, "SSG-008"), (y2, s2, "200")],
        c: [(y1, s1, "SSG-008"), (y2, s2, "SSG-008"), (y3, s3, "SSG-008")],
        e: [(y1, s1, "SSG-007")],
        h: [(y1, s1, "SSG-011"), (y2, s2, "200")],
    }
    assert got[a][0].body.grunnlag == ok(a, y1, s1).body.grunnlag
    # the unreadable answer was counted once and deleted (and that deletion is not left open for the run)
    assert cache.unreadable == 1 and not cache.db.in_transaction
    assert cache.db.execute("SELECT COUNT(*) FROM oppslag WHERE person = ?", (cache.person_key(f),)).fetchone() == (0,)
    cache.put(ok(f, y1, s1))  # stored again: readable again, for the walk below

    def walk(p):
        tried = []
        for year, stage in PLAN:
            res = cache.get(p, year, stage)
            if res is None:
                return None
            tried.append(res)
            if res.status not in ("ingen_data", "slettet"):
                break
        return [(r.inntektsaar, r.stadie, r.kode) for r in tried]

    again = {p: [(r.inntektsaar, r.stadie, r.kode) for r in v] for p, v in cache.answered(people, PLAN).items()}
    assert again == {
        **{p: [(r.inntektsaar, r.stadie, r.kode) for r in v] for p, v in got.items()},
        f: [(y1, s1, "200")],
    }
    assert {p: walk(p) for p in people if walk(p) is not None} == again


def test_a_batch_the_cache_answers_opens_no_connection(tmp_path, monkeypatch):
    """Run again from a full cache: every answer and an audit line for each from the cache, and no HTTP client
    is even made (nor a token asked for)."""
    import httpx

    from fee_engine.audit import AuditLog
    from fee_engine.taxdata.client import SsgClient
    from tests.test_taxdata_http import population

    data = tmp_path / "skatt"
    expected = population(data, 60)
    cache = LookupCache(tmp_path / "cache.sqlite")
    with EmulatorServer(data, trusted_certs=[DER]) as s:
        first = run(client_for(s), expected, cache=cache)

    def refuse(*a, **kw):
        raise AssertionError("an HTTP client was made")

    monkeypatch.setattr(httpx, "AsyncClient", refuse)
    client = SsgClient("http://127.0.0.1:9", None)  # type: ignore[arg-type]  # no tokens: none may be asked for
    log = AuditLog(tmp_path / "revisjon.jsonl", command="oppslag", purpose=client.formaal.revisjon)
    ticks = []
    again = run(client, expected, cache=cache, audit=log, progress=lambda: ticks.append(1))
    log.close()
    assert {p: [r.kode for r in v] for p, v in again.items()} == {p: [r.kode for r in v] for p, v in first.items()}
    lines = [json.loads(x) for x in (tmp_path / "revisjon.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == sum(len(v) for v in first.values()) == client.stats.cache_hits
    assert {x["kilde"] for x in lines} == {"lager"} and len(ticks) == len(expected)


def test_a_cache_damaged_during_the_run_is_set_aside_when_read_in_one_pass(tmp_path):
    """Pages of the file broken under an open cache: the one-pass read sets the file aside with a warning and
    everyone is asked again, as a step-by-step read does."""
    from fee_engine.taxdata.answer import decode
    from fee_engine.taxdata.base import Lookup

    path = tmp_path / "skatt.sqlite"
    cache = LookupCache(path)
    (y1, s1) = PLAN[0]
    people = [make_synthetic(dt.date(1970, 1, 1) + dt.timedelta(days=i), 1) for i in range(3000)]
    for p in people:
        body = json.dumps(real_shaped(p, str(y1), s1)).encode()
        cache.put(Lookup(p, y1, s1, "ok", "200", decode(body, p, y1, s1)))
    cache.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as fh:
        for page in range(pages - 40, pages - 20):
            fh.seek(page * 4096)
            fh.write(b"\xff" * 64)
    assert cache.answered(people, PLAN) == {}
    assert any("korrupt" in w for w in cache.warnings) and list(tmp_path.glob("skatt.sqlite.korrupt-*"))
    assert cache.count() == 0  # a fresh cache, in use


def test_a_large_batch_the_cache_answers_is_opened_and_digested_by_two_processes(tmp_path, monkeypatch):
    """With a digest, a large batch's answers in the cache are opened, written in the audit log and digested by
    two processes, a half each: the child's half is digested in the child. Whoever the cache cannot answer (not
    stored, or stored but unreadable: one in each half) is still asked, and the incomes, counts and audit lines
    are what the lookups read in one process give."""
    import msgspec

    from fee_engine.audit import AuditLog
    from fee_engine.income import decide
    from fee_engine.regelsett import load_rules
    from fee_engine.taxdata.base import Lookup

    data = tmp_path / "skatt"
    persons = list(population(data, 60))
    not_stored, unreadable = persons[3], persons[45]  # both with an oppgjør: asked again, one lookup each
    monkeypatch.setattr("fee_engine.taxdata.client.SPLIT_AT", 10)  # 60 persons: split
    rules = load_rules()

    class Seen(msgspec.Struct):
        persons: list[str]
        pids: list[int]

        def merged(self, other):
            return Seen(self.persons + other.persons, self.pids + other.pids)

    def fetched(name: str, cores: str, digest):
        monkeypatch.setenv("FEE_ENGINE_PROSESSER", cores)
        cache = LookupCache(tmp_path / f"{name}.sqlite")
        with EmulatorServer(data, trusted_certs=[DER]) as s:
            run(client_for(s), persons, cache=cache)  # every answer stored
            cache.db.execute("DELETE FROM oppslag WHERE person = ?", (cache.person_key(not_stored),))
            cache.db.execute("UPDATE oppslag SET body = X'00' WHERE person = ?", (cache.person_key(unreadable),))
            cache.db.commit()
            client = client_for(s)
            log = AuditLog(
                tmp_path / f"{name}.jsonl", command="oppslag", purpose=client.formaal.revisjon, copy=tmp_path / name
            )
            # a line already in the copy's buffer at the fork is written once; a person named twice is asked once
            log.write(Lookup(persons[0], 2020, "oppgjoer", "ingen_data", "SSG-008"), "test")
            got = run(client, persons + persons[:1], cache=cache, audit=log, digest=digest)
            log.close()
        kept = (tmp_path / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        copy = (tmp_path / name).read_text(encoding="utf-8").splitlines()
        assert len(kept) == len(copy) == log.lines  # one whole line per lookup, in both files
        kilder = [json.loads(line)["kilde"] for line in kept]
        assert kilder.count("lager") == client.stats.cache_hits and kilder.count("skatteetaten") == 2
        assert kilder.count("test") == 1 and len(kept) == client.stats.cache_hits + 3
        assert cache.unreadable == 1  # counted once, and deleted: stored again when asked
        assert cache.db.execute(
            "SELECT COUNT(*) FROM oppslag WHERE person = ?", (cache.person_key(unreadable),)
        ).fetchone() == (1,)
        return got, len(kept) - 1

    seen, _ = fetched("seen", "2", lambda got: Seen(list(got), [os.getpid()]))
    cached = [p for p in persons if p not in (not_stored, unreadable)]
    assert seen.persons[: len(cached)] == cached and set(seen.persons[len(cached) :]) == {not_stored, unreadable}
    parent, child, asked = seen.pids
    assert parent == asked == os.getpid() and child != os.getpid()  # the second half was digested in the child

    whole, lines = fetched("whole", "2", None)  # no digest: read in one process, as before
    expected = decide(whole, rules)
    for cores in ("1", "2"):
        decided, n = fetched(f"split-{cores}", cores, lambda got: decide(got, rules))
        assert decided.incomes() == expected.incomes() and n == lines
        assert (decided.lookups, decided.incomplete) == (expected.lookups, expected.incomplete) == (n, 0)
        assert [p.person for p in decided.persons][: len(cached)] == cached
