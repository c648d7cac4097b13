"""The audit log: append-only, 0600, kept across runs outside --out, one line per lookup from every command."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fee_engine.audit import AuditLog
from fee_engine.cli import app
from fee_engine.identity import make_synthetic
from fee_engine.taxdata.base import Lookup
from fee_engine.taxdata.emulator import EmulatorServer, Faults
from tests.apirun import api_env, client_identity, kill_after, run_cmd

from .helpers import run_demo

runner = CliRunner()
FIELDS = {
    "tid",
    "kjoering",
    "kommando",
    "bruker",
    "formaal",
    "kilde",
    "person",
    "inntektsaar",
    "stadie",
    "resultat",
    "korrelasjonsid",
}


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def demo_ids(demo) -> set[str]:
    e = pd.read_csv(demo / "innskriving.csv", sep=";", dtype=str, keep_default_na=False)
    return (set(e.foresatt_fnr) | set(e.partner_fnr)) - {""}


def test_runs_append_to_the_kept_log_and_out_gets_only_this_runs_lines(demo, tmp_path, audit_log_in_tmp):
    assert run_demo(demo, tmp_path / "o").exit_code == 1
    first = lines(audit_log_in_tmp)
    assert run_demo(demo, tmp_path / "o").exit_code == 1
    kept = lines(audit_log_in_tmp)
    copy = lines(tmp_path / "o" / "revisjon.jsonl")
    assert len(first) > 0 and len(kept) == 2 * len(first)  # appended, not replaced
    assert kept[: len(first)] == first
    assert copy == kept[len(first) :]  # --out: this run's lines only
    assert len({x["kjoering"] for x in kept}) == 2 and len({x["kjoering"] for x in copy}) == 1
    for x in kept:
        assert set(x) == FIELDS
        assert x["kilde"] == "filer" and x["kommando"] == "run" and x["formaal"] == "kommuneforeldrebetaling"
        assert x["bruker"] and x["person"].endswith("*****") and len(x["person"]) == 11
    assert mode(audit_log_in_tmp) == 0o600 and mode(tmp_path / "o" / "revisjon.jsonl") == 0o600
    text = audit_log_in_tmp.read_text(encoding="utf-8")
    assert not any(fnr in text for fnr in demo_ids(demo))


def test_default_log_is_in_dot_fee_engine_also_for_files_and_ignored_by_git(demo, tmp_path, monkeypatch):
    monkeypatch.delenv("FEE_ENGINE_AUDIT_LOG")
    monkeypatch.chdir(tmp_path)
    assert run_demo(demo, tmp_path / "o").exit_code == 1
    log = tmp_path / ".fee-engine" / "revisjon.jsonl"
    assert log.exists() and mode(log) == 0o600 and mode(log.parent) == 0o700
    assert (log.parent / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert {x["kilde"] for x in lines(log)} == {"filer"}


def test_an_existing_log_with_a_loose_mode_is_tightened(demo, tmp_path, audit_log_in_tmp):
    audit_log_in_tmp.write_text("")
    os.chmod(audit_log_in_tmp, 0o644)
    run_demo(demo, tmp_path / "o")
    assert mode(audit_log_in_tmp) == 0o600


def test_audit_log_option_wins_over_the_environment(demo, tmp_path, audit_log_in_tmp):
    chosen = tmp_path / "logg" / "min.jsonl"
    run_demo(demo, tmp_path / "o", "--audit-log", str(chosen))
    assert lines(chosen) and not audit_log_in_tmp.exists()


def test_the_kept_log_cannot_be_in_out(demo, tmp_path):
    res = run_demo(demo, tmp_path / "o", "--audit-log", str(tmp_path / "o" / "revisjon.jsonl"))
    assert res.exit_code == 2 and "--out" in res.output


def test_diff_writes_audit_lines(demo, tmp_path, audit_log_in_tmp):
    reform = demo.parent / "reformer" / "maksimalpris_1500.yaml"
    res = runner.invoke(
        app,
        [
            "diff",
            str(demo / "innskriving.csv"),
            "--source",
            "files",
            "--tax-data",
            str(demo / "skatt"),
            "--period",
            "2024-08..2025-07",
            "--reform",
            str(reform),
            "--format",
            "csv",
            "--out",
            str(tmp_path / "d"),
        ],
    )
    assert res.exit_code == 1, res.output
    kept = lines(audit_log_in_tmp)
    assert kept and {x["kommando"] for x in kept} == {"diff"} and {x["kilde"] for x in kept} == {"filer"}
    assert lines(tmp_path / "d" / "revisjon.jsonl") == kept


def test_lines_are_synced_within_a_second_and_at_the_end(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    log = AuditLog(tmp_path / "r.jsonl", command="test", sync_interval=0.02)
    log.write(Lookup(make_synthetic(dt.date(1980, 1, 1), 1), 2023, "oppgjoer", "ok", "200"), "filer")
    deadline = time.monotonic() + 20  # generous: this waits for the background sync, it does not time it
    while not synced and time.monotonic() < deadline:
        time.sleep(0.01)
    assert synced, "no fsync while the log was open"
    n = len(synced)
    log.close()
    assert len(synced) > n  # and once more at the end
    assert len(lines(tmp_path / "r.jsonl")) == 1


def test_a_full_disk_under_the_audit_log_stops_with_exit_2(demo, tmp_path, monkeypatch):
    real = os.write

    def full(fd, data):
        if bytes(data[:8]) == b'{"tid": ':
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "write", full)
    res = run_demo(demo, tmp_path / "o")
    assert res.exit_code == 2 and "disken er full" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o" / "maanedlig.csv").exists()


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A real, tiny file system (tmpfs); skipped where this process may not mount one."""
    mnt = tmp_path / "liten"
    if not _tmpfs(mnt, "96k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)


def test_a_really_full_disk_under_the_audit_log_stops_with_exit_2(demo, tmp_path, small_disk):
    (small_disk / "fyll").write_bytes(b"x" * (96 * 1024 - 4096))  # leaves a page for the log to start in
    res = run_demo(demo, tmp_path / "o", "--audit-log", str(small_disk / "revisjon.jsonl"))
    assert res.exit_code == 2 and "disken er full" in res.output and "Traceback" not in res.output


def test_killed_runs_lose_no_audit_line_and_leave_nothing_readable_in_out(tmp_path, audit_log_in_tmp):
    """Two SIGKILLs and a resume: every answer Skatteetaten (the emulator) gave has its line in the kept log."""
    import subprocess as sp

    from fee_engine.synthetic import generate

    pop = generate(300, tmp_path / "pop", seed=5, kommune="0301")
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    cache, out = tmp_path / "c" / "skatt.sqlite", tmp_path / "out"
    with EmulatorServer(pop / "skatt", trusted_certs=trusted, faults=Faults(latency_ms=15)) as s:
        env = api_env(s, key_file, cert_file)
        cmd = run_cmd(pop / "innskriving.csv", out, cache)
        kill_after(sp.Popen(cmd, env=env, stdout=sp.DEVNULL, stderr=sp.DEVNULL), cache, 40)
        staging = [p for p in out.iterdir() if p.name.startswith(".fee-engine-")]
        assert staging and all(mode(p) == 0o700 for p in staging)
        assert all(mode(f) == 0o600 for p in staging for f in p.iterdir() if f.name == "revisjon.jsonl")
        kill_after(sp.Popen(cmd, env=env, stdout=sp.DEVNULL, stderr=sp.DEVNULL), cache, 120)
        done = sp.run(cmd, env=env, capture_output=True, timeout=180)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        answered = sum(s.state.served.values())
    kept = lines(audit_log_in_tmp)
    from_skatteetaten = [x for x in kept if x["kilde"] == "skatteetaten"]
    assert answered > 200
    assert len(from_skatteetaten) >= answered - 2 * 5  # at most the requests in flight at each kill
    assert len({x["kjoering"] for x in kept}) == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".fee-engine-") and p.is_dir()]  # stale staging removed
    last_run = lines(out / "revisjon.jsonl")
    assert len({x["kjoering"] for x in last_run}) == 1 and {x["kilde"] for x in last_run} <= {"lager", "skatteetaten"}


def _answer_folder(root: Path, persons: list[str]) -> Path:
    """A folder of answers (the files source): each person an answer for 2023's settlement."""
    d = root / "2023" / "oppgjoer"
    d.mkdir(parents=True)
    for p in persons:
        (d / f"{p}.json").write_text(json.dumps({"grunnlag": []}), encoding="utf-8")
    return root


def _writes_of(log: AuditLog) -> list[int]:
    """The lines of each write ``log`` hands to the system from now on, in order."""
    writes: list[int] = []
    real = log._append
    log._append = lambda line, n=1: (writes.append(n), real(line, n))[1]  # type: ignore[method-assign]
    return writes


def test_a_local_sources_lines_go_to_the_system_a_block_at_a_time_and_all_before_any_answer_is_used(tmp_path):
    """Answers read from files have their audit lines handed to the system a block of LOCAL_LINES at a time, not one
    write per line and not all at the end; every line is in the log when the digest sees the answers (as it was with
    a write per line). A source that asks someone (not ``local``) still has a write per lookup."""
    from fee_engine.taxdata import FileSource, fallback_plan
    from fee_engine.taxdata.base import LOCAL_LINES, fetch_with_fallback

    assert LOCAL_LINES * 3 < 1_000  # below write_many's own block: the blocks seen below are _fetch's
    persons = [make_synthetic(dt.date(1980, 1, 1) + dt.timedelta(days=i), 1) for i in range(3 * LOCAL_LINES + 5)]
    source = FileSource(_answer_folder(tmp_path / "skatt", persons))
    log_path = tmp_path / "r.jsonl"
    log = AuditLog(log_path, command="test")
    writes = _writes_of(log)
    seen: list[int] = []

    def digest(got: dict) -> int:
        seen.append(len(log_path.read_text(encoding="utf-8").splitlines()))  # lines in the log at this moment
        return len(got)

    # every person answered at the first step: one lookup, one line each
    assert fetch_with_fallback(source, persons, fallback_plan(2024), audit=log, digest=digest) == len(persons)
    log.close()
    assert seen == [len(persons)]  # all lines written before the digest ran
    assert writes == [LOCAL_LINES, LOCAL_LINES, LOCAL_LINES, 5]  # 773 lines in four writes

    class Asking:  # a source that is not local: a line handed over as each lookup is made
        name = kilde = "emulator"

        def lookup(self, person: str, year: int, stage: str) -> Lookup:
            return source.lookup(person, year, stage)

    log = AuditLog(tmp_path / "r2.jsonl", command="test")
    writes = _writes_of(log)
    fetch_with_fallback(Asking(), persons[:7], fallback_plan(2024), audit=log)
    log.close()
    assert writes == [1] * 7
    assert len(lines(tmp_path / "r2.jsonl")) == 7


def test_a_local_source_that_stops_midway_still_has_a_line_for_every_answer_it_read(tmp_path):
    """Reading stops at the (LOCAL_LINES + 500)th person (here an error; Ctrl-C alike): the answers read before it
    have their lines, the first blocks' as they were full and the rest handed over on the way out."""
    from fee_engine.taxdata import FileSource, fallback_plan
    from fee_engine.taxdata.base import LOCAL_LINES, fetch_with_fallback

    persons = [make_synthetic(dt.date(1980, 1, 1) + dt.timedelta(days=i), 1) for i in range(LOCAL_LINES + 600)]
    stop_at = persons[LOCAL_LINES + 499]

    class Stopping(FileSource):
        def lookup(self, person: str, inntektsaar: int, stadie: str) -> Lookup:
            if person == stop_at:
                raise RuntimeError("stopped")
            return super().lookup(person, inntektsaar, stadie)

    source = Stopping(_answer_folder(tmp_path / "skatt", persons))
    log = AuditLog(tmp_path / "r.jsonl", command="test")
    with pytest.raises(RuntimeError, match="stopped"):
        fetch_with_fallback(source, persons, fallback_plan(2024), audit=log)
    log.close()
    got = lines(tmp_path / "r.jsonl")
    assert len(got) == LOCAL_LINES + 499  # one lookup each (every person answered at the first step)
    assert [x["person"] for x in got] == [p[:6] + "*****" for p in persons[: LOCAL_LINES + 499]]


def test_a_line_cut_short_in_the_kept_log_is_ended_before_the_next_runs_first_line(tmp_path):
    """A run that stopped in the middle of a line (a full disk) left it without its line break: the next run's
    first line starts on a line of its own, so it can be read; the cut line stays as it was."""
    path = tmp_path / "r.jsonl"
    whole = '{"tid": "2026-11-24T09:30:01+00:00", "resultat": "200"}\n'
    path.write_text(whole + '{"tid": "2026-11-24T09:30:02+00:00", "resul', encoding="utf-8")
    person = make_synthetic(dt.date(1980, 1, 1), 1)
    log = AuditLog(path, command="test")
    log.write(Lookup(person, 2023, "oppgjoer", "ok", "200"), "filer")
    log.close()
    got = path.read_text(encoding="utf-8").splitlines()
    assert got[:2] == [whole.strip(), '{"tid": "2026-11-24T09:30:02+00:00", "resul']
    assert json.loads(got[2])["person"] == person[:6] + "*****" and len(got) == 3
    before = path.read_bytes()
    AuditLog(path, command="test").close()  # a log that ends with its line break gets nothing added
    assert path.read_bytes() == before


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.uuids().map(str),
        st.text(alphabet=st.sampled_from(list('0123456789abcdefAB-_ ."\\\n\tø')), max_size=120),
        st.text(max_size=40),
    )
)
def test_a_correlation_id_is_written_as_json_with_its_digits_masked(korr):
    """A plain id (a UUID) is written without going through json.dumps: the same text as json.dumps of the id with
    its digit runs masked, for any id."""
    from fee_engine.audit import _korr
    from fee_engine.identity import mask_digits_in_text

    assert _korr(korr) == json.dumps(mask_digits_in_text(korr[:100]))
    assert json.loads(_korr(korr)) == mask_digits_in_text(korr[:100])


def test_a_correlation_id_with_a_fodselsnummer_in_it_is_masked():
    """Eleven digits in an id are masked as a fødselsnummer; a plain UUID is written as it is."""
    from fee_engine.audit import _korr

    fnr = make_synthetic(dt.date(2019, 5, 17), 123)
    assert _korr(f"3c6d2f1a-{fnr}") == f'"3c6d2f1a-{fnr[:6]}*****"'
    assert _korr("3c6d2f1a-1b2c-4d5e-8f90-1a3b5c7d9e0f") == '"3c6d2f1a-1b2c-4d5e-8f90-1a3b5c7d9e0f"'
    assert _korr(None) == "null"
