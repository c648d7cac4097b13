"""A command stopped from outside (SIGTERM: the web page's server, a service manager, ``kill``) ends as Ctrl-C ends
it: its staging folder removed, its audit lines written, its forked child stopped, no file of the child's left."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess as sp
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fee_engine.parallel import in_two
from fee_engine.taxdata.emulator import EmulatorServer, Faults
from tests.apirun import api_env, client_identity, run_cmd, stored

ROOT = Path(__file__).parents[1]
HERE = {**os.environ, "PYTHONPATH": str(ROOT)}  # a script run by a test imports this tree's fee_engine


def _wait_for(check, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigterm_ends_a_run_as_ctrl_c_does(tmp_path, audit_log_in_tmp):
    """Stopped while it asks Skatteetaten (the emulator, slowed down): the run ends by SIGTERM, says so, leaves no
    staging folder in --out, and every answer the emulator gave but the requests in flight has its audit line."""
    from fee_engine.synthetic import generate

    pop = generate(300, tmp_path / "pop", seed=5, kommune="0301")
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    cache, out = tmp_path / "c" / "skatt.sqlite", tmp_path / "out"
    with EmulatorServer(pop / "skatt", trusted_certs=trusted, faults=Faults(latency_ms=15)) as s:
        proc = sp.Popen(
            run_cmd(pop / "innskriving.csv", out, cache),
            env=api_env(s, key_file, cert_file, PYTHONPATH=str(ROOT)),
            stdout=sp.PIPE,
            stderr=sp.PIPE,
        )
        assert _wait_for(lambda: stored(cache) >= 40 or proc.poll() is not None)
        assert proc.poll() is None, "the run ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        answered = sum(s.state.served.values())
    assert proc.returncode == -signal.SIGTERM  # ended by the signal, as it would be without a handler
    assert "Stoppet" in err.decode() and "Traceback" not in err.decode()
    assert not [p for p in out.iterdir() if p.name.startswith(".fee-engine-") and p.is_dir()]  # no staging folder
    kept = [json.loads(x) for x in audit_log_in_tmp.read_text(encoding="utf-8").splitlines()]
    assert answered >= 40
    assert answered - 5 <= len([x for x in kept if x["kilde"] == "skatteetaten"]) <= answered  # 5 calls at a time


def test_when_the_first_half_fails_the_child_is_stopped_and_cleans_up(tmp_path, monkeypatch):
    """The child's ``finally`` runs (as the audit lines of the answers it has read do) and it stops at once,
    instead of working on for a result nobody will read."""
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "2")
    started, marker = tmp_path / "startet", tmp_path / "slutt"

    def second() -> str:
        ended = "ferdig"
        try:
            started.write_text(str(os.getpid()))
            time.sleep(30)
        except BaseException as exc:
            ended = type(exc).__name__
            raise
        finally:
            marker.write_text(ended)
        return ended

    def first() -> None:
        assert _wait_for(started.exists, 30)
        raise ValueError("feil i første halvdel")

    with pytest.raises(ValueError, match="første halvdel"):
        in_two(first, second)
    assert marker.read_text() == "Stopped"  # stopped by SIGTERM, not left to sleep its 30 s to the end
    assert not _alive(int(started.read_text()))


def test_the_childs_result_leaves_no_file_behind(tmp_path, monkeypatch):
    """The child's result (tax digests, in a run) travels through a file that has no name, even while it is
    being written: a parent killed at that moment leaves nothing in the temporary folder."""
    import tempfile

    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "2")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    here, seen = in_two(lambda: sorted(os.listdir(tmp)), lambda: sorted(os.listdir(tmp)))
    assert (here, seen) == ([], [])
    assert os.listdir(tmp) == []


SCRIPT = """
import os, sys, time
from pathlib import Path
from fee_engine.parallel import in_two
os.environ["FEE_ENGINE_PROSESSER"] = "2"
folder = Path(sys.argv[1])
def second():
    (folder / "barn").write_text(str(os.getpid()))
    time.sleep(60)
in_two(lambda: time.sleep(60), second)
"""


def test_a_child_does_not_outlive_a_killed_parent(tmp_path):
    """SIGKILL (the web page's last resort, the kernel's out-of-memory killer) gives the parent no chance to stop
    its child: the child is stopped by the system then (Linux), not left to work on alone."""
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(SCRIPT))
    parent = sp.Popen([sys.executable, str(script), str(tmp_path)], env=HERE)
    assert _wait_for(lambda: (tmp_path / "barn").exists() and (tmp_path / "barn").read_text() != "")
    child = int((tmp_path / "barn").read_text())
    assert _alive(child)
    parent.kill()
    parent.wait()
    assert _wait_for(lambda: not _alive(child), 20)


WORKER = """
import sys, time
from pathlib import Path
from fee_engine.web import arbeider
folder = Path(sys.argv[1])
def slow(job, directory, status):
    status.factory("Henter skattegrunnlag", 10)
    (folder / "klar").touch()
    time.sleep(60)
arbeider.TASKS["kjoering"] = slow
sys.exit(arbeider.main([str(folder)]))
"""


def test_a_web_run_stopped_by_the_server_says_so_on_the_page(tmp_path):
    """The server stopping sends its runs SIGTERM: the run's status says it was stopped and should be started
    again, instead of staying «i gang» (in progress)."""
    script = tmp_path / "w.py"
    script.write_text(textwrap.dedent(WORKER))
    (tmp_path / "jobb.json").write_text(json.dumps({"oppgave": "kjoering"}))
    proc = sp.Popen([sys.executable, str(script), str(tmp_path)], env=HERE)
    assert _wait_for(lambda: (tmp_path / "klar").exists() or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    status = json.loads((tmp_path / "status.json").read_text(encoding="utf-8"))
    assert status["tilstand"] == "feilet" and "serveren stoppet (SIGTERM)" in status["melding"]


@pytest.fixture
def own_handlers():
    """This process's SIGINT and SIGTERM handlers as fee-engine's command line sets them, put back afterwards."""
    from fee_engine import stopp

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stopp.stop_on_signals()
    yield stopp
    for s, handler in before.items():
        signal.signal(s, handler)
    for state in (stopp._received, stopp._waiting, stopp._passed):
        state.clear()
    stopp._depth[0] = 0


def test_a_stop_waits_for_a_whole_step_and_comes_once(own_handlers):
    stopp = own_handlers
    done = []
    with pytest.raises(stopp.Stopped):
        with stopp.whole():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler has run by now, and waits
            done.append("the step")
    assert done == ["the step"] and stopp.stopped()
    os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C during the cleanup the stop began: nothing raised
    time.sleep(0.05)


def test_ctrl_c_then_sigterm_is_one_stop(own_handlers):
    """Ctrl-C at the terminal, then the server's SIGTERM: the second does not cut the first one's cleanup short."""
    stopp = own_handlers
    with pytest.raises(KeyboardInterrupt) as caught:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    assert not isinstance(caught.value, stopp.Stopped)
    os.kill(os.getpid(), signal.SIGTERM)  # nothing raised
    time.sleep(0.05)
    assert not stopp.stopped()


def test_a_stop_while_answer_files_are_read_leaves_no_answer_read_without_its_line(tmp_path, own_handlers, monkeypatch):
    """SIGTERM while a block of audit lines is being written: the block is still written, and the reading stops
    after it. It used to be dropped: 512 answers read, 256 lines."""
    from fee_engine.audit import AuditLog
    from fee_engine.identity import make_synthetic
    from fee_engine.taxdata import FileSource, fallback_plan
    from fee_engine.taxdata.base import fetch_with_fallback

    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "1")
    stopp = own_handlers
    persons = [make_synthetic(dt.date(1980, 1, 1) + dt.timedelta(days=i), 1) for i in range(1000)]
    folder = tmp_path / "skatt" / "2023" / "oppgjoer"
    folder.mkdir(parents=True)
    for p in persons:
        (folder / f"{p}.json").write_text(json.dumps({"grunnlag": []}), encoding="utf-8")
    source = FileSource(tmp_path / "skatt")
    read: list[str] = []
    real_lookup = source.lookup
    source.lookup = lambda person, *a: (read.append(person), real_lookup(person, *a))[1]  # type: ignore[method-assign]
    log = AuditLog(tmp_path / "r.jsonl", command="test")
    real_line, made = log._line, [0]

    def line(*a):  # the 300th line (in the second block of 256) is where the stop comes
        made[0] += 1
        if made[0] == 300:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_line(*a)

    log._line = line  # type: ignore[method-assign]
    with pytest.raises(stopp.Stopped):
        fetch_with_fallback(source, persons, fallback_plan(2024), audit=log)
    log.close()
    written = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert 300 <= len(read) < len(persons)  # stopped, after the block with the 300th line
    assert len(written) == len(read) == log.lines


def test_a_stop_while_files_are_moved_into_out_waits_until_all_are(demo, tmp_path, own_handlers, monkeypatch):
    """--out holds one run's files, never some of each: a stop during the move waits until every file is in."""
    from fee_engine import outdir

    from .helpers import read_out, run_demo

    stopp = own_handlers
    out = tmp_path / "o"
    assert run_demo(demo, out, "--format", "csv").exit_code == 1  # 2024-08..2025-07
    real, moved = outdir.exchange, []

    def exchanging(a, b):
        moved.append(Path(b).name)
        if len(moved) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        return real(a, b)

    monkeypatch.setattr(outdir, "exchange", exchanging)
    run_demo(demo, out, "--format", "csv", "--period", "2024-09..2025-07")
    assert stopp.stopped() and len(moved) >= 4
    assert json.loads((out / "kjoering.json").read_text(encoding="utf-8"))["periode"] == "2024-09..2025-07"
    assert read_out(out / "maanedlig.csv")["maaned"].min() == "2024-09"
    assert read_out(out / "vedtak.csv")["fra_maaned"].min() == "2024-09"


OPENING = """
import os, signal, sys
from fee_engine.taxdata import cache
real = cache.LookupCache._opened
opened = [0]
def stop_at_150(self, *a):  # SIGTERM as the 150th answer is taken from the cache
    opened[0] += 1
    if opened[0] == 150:
        os.kill(os.getpid(), signal.SIGTERM)
    return real(self, *a)
cache.LookupCache._opened = stop_at_150
from fee_engine.cli import main
sys.argv = ["fee-engine", *sys.argv[1:]]
main()
"""


def test_answers_opened_from_the_cache_before_a_stop_have_their_lines(tmp_path, audit_log_in_tmp):
    """A second run of 300 children from a full cache, stopped while it opens the answers: each answer opened (149
    or 150, as the stop comes before or after the 150th) has its «lager» line. It had none."""
    from fee_engine.synthetic import generate

    pop = generate(300, tmp_path / "pop", seed=5, kommune="0301")
    key_file, cert_file, trusted = client_identity(tmp_path / "klient")
    cache, out = tmp_path / "c" / "skatt.sqlite", tmp_path / "out"
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(OPENING))
    with EmulatorServer(pop / "skatt", trusted_certs=trusted) as s:
        env = api_env(s, key_file, cert_file, PYTHONPATH=str(ROOT))
        cmd = run_cmd(pop / "innskriving.csv", out, cache)
        first = sp.run(cmd, env=env, capture_output=True, timeout=300)
        assert first.returncode == 0, first.stderr.decode(errors="replace")[-2000:]
        second = sp.run([sys.executable, str(script), *cmd[3:]], env=env, capture_output=True, timeout=300)
    assert second.returncode == -signal.SIGTERM, second.stderr.decode(errors="replace")[-2000:]
    kept = [json.loads(x) for x in audit_log_in_tmp.read_text(encoding="utf-8").splitlines()]
    runs = list(dict.fromkeys(x["kjoering"] for x in kept))
    assert len(runs) == 2
    second_lines = [x for x in kept if x["kjoering"] == runs[1]]
    assert {x["kilde"] for x in second_lines} == {"lager"} and len(second_lines) in (149, 150)


def test_a_stop_that_waited_for_a_step_that_failed_counts_and_a_later_one_still_stops(own_handlers):
    """The step's own error goes on (it ends the command: a full disk is exit 2); the stop counts for the exit, and
    should the error be caught, the next signal stops the process: it is never left unstoppable."""
    stopp = own_handlers
    with pytest.raises(OSError, match="disken er full"):
        with stopp.whole():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            raise OSError("disken er full")
    assert stopp.stopped()
    with pytest.raises(stopp.Stopped):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
