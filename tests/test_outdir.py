"""A run owns its output folder: a manifest, stale outputs of an earlier run removed, foreign folders refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.outdir import MANIFEST

from .helpers import run_demo

runner = CliRunner()


def visible(out) -> set[str]:
    return {p.name for p in out.iterdir() if not p.name.startswith(".")}


def test_a_later_run_removes_what_an_earlier_run_wrote_and_it_does_not(demo, tmp_path):
    out = tmp_path / "o"
    assert run_demo(demo, out, "--format", "csv,xlsx,json,html").exit_code == 1
    assert {"vedtak.xlsx", "rapport.html", "vedtak.json", "maanedlig.csv"} <= visible(out)
    (out / "notater.txt").write_text("mine notater", encoding="utf-8")  # not fee-engine's: stays
    assert run_demo(demo, out, "--format", "csv").exit_code == 1
    assert visible(out) == {
        "maanedlig.csv",
        "vedtak.csv",
        "avvist.csv",
        "utenfor_perioden.csv",
        "revisjon.jsonl",
        "kjoering.json",
        "notater.txt",
    }
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["filer"]) == visible(out) - {"notater.txt"} and manifest["laget_av"] == "fee-engine"


def test_an_output_name_taken_by_a_folder_stops_with_exit_2_and_moves_nothing(demo, tmp_path):
    out = tmp_path / "o"
    (out / "vedtak.csv").mkdir(parents=True)
    (out / MANIFEST).write_text(json.dumps({"laget_av": "fee-engine", "filer": []}), encoding="utf-8")
    res = run_demo(demo, out, "--format", "csv")
    assert res.exit_code == 2 and "vedtak.csv" in res.output and "mappe" in res.output
    assert list((out / "vedtak.csv").iterdir()) == []  # nothing was moved into it
    assert not (out / "maanedlig.csv").exists()  # and nothing else was presented as a result


def test_a_non_empty_folder_no_run_made_is_refused_unless_overwrite(demo, tmp_path):
    out = tmp_path / "prosjekt"
    out.mkdir()
    (out / "budsjett.xlsx").write_bytes(b"x")
    res = run_demo(demo, out)
    assert res.exit_code == 2 and "--overwrite" in res.output and "ikke laget av fee-engine" in res.output
    assert visible(out) == {"budsjett.xlsx"}
    res = run_demo(demo, out, "--overwrite", "--format", "csv")
    assert res.exit_code == 1 and "maanedlig.csv" in visible(out) and (out / "budsjett.xlsx").read_bytes() == b"x"
    # from now on the folder is fee-engine's output folder: no --overwrite needed, the foreign file still stays
    assert run_demo(demo, out, "--format", "csv").exit_code == 1 and "budsjett.xlsx" in visible(out)


def test_diff_owns_its_folder_too(demo, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "annet.txt").write_text("x")
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
            "--format",
            "csv",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 2 and "--overwrite" in res.output


def test_an_output_folder_from_before_the_manifest_is_taken_as_fee_engines(demo, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    for name in ("maanedlig.csv", "vedtak.xlsx", "kjoering.json"):
        (out / name).write_text("gammel")
    assert run_demo(demo, out, "--format", "csv").exit_code == 1
    assert "vedtak.xlsx" not in visible(out) and (out / "kjoering.json").read_text() != "gammel"


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(demo, tmp_path):
    out = tmp_path / "o"
    assert run_demo(demo, out, "--format", "csv").exit_code == 1
    stale = out / ".fee-engine-abc123"
    stale.mkdir()
    (stale / "revisjon.jsonl").write_text("{}\n")
    assert run_demo(demo, out, "--format", "csv").exit_code == 1
    assert not stale.exists()


def test_nothing_a_run_writes_is_readable_by_other_users(demo, tmp_path):
    import os
    import stat

    out = tmp_path / "o"
    old = os.umask(0o022)  # a usual umask: files 0644 unless the run tightens them
    try:
        assert run_demo(demo, out, "--format", "csv,xlsx,faktura").exit_code in (0, 1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    written = list(out.rglob("*"))  # the folder's manifest and lock files too
    assert {"vedtak.csv", "vedtak.xlsx", "maanedlig.csv", "revisjon.jsonl", MANIFEST} <= {p.name for p in written}
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) & 0o027 == 0, (p.name, oct(p.stat().st_mode))


def test_a_later_run_renames_no_file_over_an_earlier_runs_file(demo, tmp_path, monkeypatch):
    """A rename over an existing file makes ext4 write the new file to disk at once (``outdir.exchange``): each
    earlier output trades places with the new one in one step, and goes with the staging folder."""
    import os

    from fee_engine import outdir

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a"), b.write_text("b")
    if not outdir.exchange(a, b):
        pytest.skip("this system cannot swap two names in one step (renameat2): the old way is tested below")
    out = tmp_path / "o"
    assert run_demo(demo, out, "--format", "csv,brev").exit_code == 1
    before = {p.name: p.stat().st_ino for p in out.iterdir() if not p.name.startswith(".")}
    assert {"vedtak.csv", "brev"} <= set(before)
    over: list[str] = []
    real_replace, real_exchange = os.replace, outdir.exchange

    def spy(src, dst, *a, **k):
        if os.path.lexists(dst) and os.path.basename(dst) != MANIFEST:
            over.append(os.path.basename(dst))
        return real_replace(src, dst, *a, **k)

    def swapped(a, b):  # the name holds the new file (or folder) once swapped, the staging folder the old one
        new = a.stat().st_ino
        assert real_exchange(a, b)
        assert b.stat().st_ino == new and a.stat().st_ino == before[b.name]
        return True

    monkeypatch.setattr(outdir.os, "replace", spy)
    monkeypatch.setattr(outdir, "exchange", swapped)
    assert run_demo(demo, out, "--format", "csv,brev").exit_code == 1
    assert over == []
    after = {p.name: p.stat().st_ino for p in out.iterdir() if not p.name.startswith(".")}
    assert set(after) == set(before) and all(after[n] != before[n] for n in before)  # every one the new run's
    assert [p.name for p in out.iterdir() if p.name.startswith(".fee-engine-")] == [MANIFEST]  # staging gone


def test_where_names_cannot_be_swapped_the_files_are_replaced_as_before(demo, tmp_path, monkeypatch):
    from fee_engine import outdir

    out = tmp_path / "o"
    assert run_demo(demo, out, "--format", "csv,brev").exit_code == 1
    old = (out / "vedtak.csv").read_bytes()
    (out / "vedtak.csv").write_bytes(b"changed by hand\n")  # so the new run's file can be told from it
    monkeypatch.setattr(outdir, "exchange", lambda a, b: False)  # no renameat2, or a file system without it
    assert run_demo(demo, out, "--format", "csv,brev").exit_code == 1
    assert (out / "vedtak.csv").read_bytes() == old and (out / "brev").is_dir()
    assert [p.name for p in out.iterdir() if p.name.startswith(".fee-engine-")] == [MANIFEST]


def test_a_file_that_cannot_be_moved_in_leaves_the_earlier_one_in_place(demo, tmp_path, monkeypatch):
    import os

    from fee_engine import outdir

    out = tmp_path / "o"
    assert run_demo(demo, out, "--format", "csv").exit_code == 1
    old = (out / "vedtak.csv").read_bytes()
    real = os.replace

    def failing(src, dst, *a, **k):
        if os.path.basename(dst) == "vedtak.csv":
            raise OSError(28, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(outdir, "exchange", lambda a, b: False)
    monkeypatch.setattr(outdir.os, "replace", failing)
    assert run_demo(demo, out, "--format", "csv").exit_code == 2
    assert (out / "vedtak.csv").read_bytes() == old


def test_a_file_of_the_users_where_the_letters_go_is_kept(demo, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "brev").write_text("mine notater", encoding="utf-8")  # not a run's: a folder must not replace it
    assert run_demo(demo, out, "--format", "csv,brev", "--overwrite").exit_code == 2
    assert (out / "brev").read_text(encoding="utf-8") == "mine notater"


def test_the_previous_runs_files_are_deleted_while_the_command_ends_and_the_folder_stays_locked(tmp_path, monkeypatch):
    """A process that ends after its run (the command line) has the staging folder, which holds the previous run's
    files once the new ones are in place, deleted by a thread while it finishes. Until that is done the folder is
    locked (a second run is refused); after :func:`wait_for_clearing` nothing of the staging folder is left and the
    folder is free. A run that fails clears at once, as before."""
    import shutil
    import threading

    from fee_engine import outdir
    from fee_engine.errors import ConfigurationError

    out = tmp_path / "o"
    with outdir.OutputFolder(out) as folder:  # a previous run's file
        (folder.staging / "vedtak.csv").write_text("gammel\n", encoding="utf-8")
        folder.commit([folder.staging / "vedtak.csv"])
    go_on, real_rmtree = threading.Event(), shutil.rmtree
    monkeypatch.setattr(outdir.shutil, "rmtree", lambda path, **kw: (go_on.wait(10), real_rmtree(path, **kw)))
    with outdir.OutputFolder(out, clear_in_background=True) as folder:
        staging = folder.staging
        (staging / "vedtak.csv").write_text("ny\n", encoding="utf-8")
        folder.commit([staging / "vedtak.csv"])
    assert folder.clearing is not None and folder.clearing.is_alive() and not folder.clearing.daemon
    assert (staging / "vedtak.csv").read_text(encoding="utf-8") == "gammel\n"  # the previous file, not yet deleted
    assert (out / "vedtak.csv").read_text(encoding="utf-8") == "ny\n"
    with pytest.raises(ConfigurationError, match="en annen fee-engine-kjøring"):
        outdir.OutputFolder(out).__enter__()
    go_on.set()
    outdir.wait_for_clearing()
    assert not staging.exists() and not folder.clearing.is_alive()
    with outdir.OutputFolder(out) as again:  # free again
        assert again.staging is not None
    with pytest.raises(RuntimeError), outdir.OutputFolder(out, clear_in_background=True) as failed:
        kept = failed.staging
        raise RuntimeError("feil")
    assert failed.clearing is None and not kept.exists()
