"""On two cores the outputs are written by two processes: the files are the same byte for byte as one process's."""

from __future__ import annotations

import json

import pytest

from fee_engine import batch
from fee_engine.synthetic import generate


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    return generate(6_000, tmp_path_factory.mktemp("pop6k"), seed=4, endringer=True)


def run(pop, out, monkeypatch, cores: str, formats=("csv", "json", "faktura"), dialect="excel") -> None:
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", cores)
    batch.run(
        batch.RunOptions(
            enrollment=pop / "innskriving.csv",
            out=out,
            period=batch.parse_period("2024/25"),
            source="files",
            tax_data=pop / "skatt",
            formats=formats,
            csv_dialect=dialect,
        )
    )


# With json or xlsx (the whole vedtak table needed here) the explanations come back from the child; CSV only (and the
# report and invoicing files), each process writes its own part of vedtak.csv and the child's part is appended.
@pytest.mark.parametrize(
    "formats,dialect",
    [
        (("csv", "json", "faktura"), "excel"),
        (("csv",), "excel"),
        (("csv", "html", "faktura"), "maskin"),
        (("csv", "xlsx"), "excel"),  # maanedlig.csv and vedtak.csv both in the child, the workbook here
    ],
)
def test_two_processes_write_the_same_files_as_one(population, tmp_path, monkeypatch, formats, dialect):
    whole_table = []
    real = batch._vedtak_in_two
    monkeypatch.setattr(batch, "_vedtak_in_two", lambda *a: whole_table.append(1) or real(*a))
    run(population, tmp_path / "one", monkeypatch, "1", formats, dialect)
    run(population, tmp_path / "two", monkeypatch, "2", formats, dialect)
    assert bool(whole_table) == bool({"json", "xlsx"} & set(formats))  # CSV only: vedtak.csv written in parts
    assert not [p.name for p in (tmp_path / "two").iterdir() if "del2" in p.name]  # the part file is gone
    names = sorted(p.name for p in (tmp_path / "one").iterdir() if p.suffix in (".csv", ".json") and p.name[0] != ".")
    assert "vedtak.csv" in names and ("fakturagrunnlag.csv" in names) == ("faktura" in formats)
    for name in names:
        a, b = (tmp_path / "one" / name).read_bytes(), (tmp_path / "two" / name).read_bytes()
        if name in ("vedtak.json", "kjoering.json"):  # the time the run was made differs
            a, b = (json.dumps(_without_time(json.loads(x))) for x in (a, b))
        assert a == b, name
    lines = (tmp_path / "two" / "vedtak.csv").read_text(encoding="utf-8-sig").count("\n")
    assert lines > 10_001  # enough periods that the explanations were split between the two processes


@pytest.mark.parametrize("which", ["write_first_part", "write_next_part"])
def test_a_part_only_pandas_can_write_makes_the_whole_file_be_written_at_once(population, tmp_path, monkeypatch, which):
    """A part whose table only pandas' writer knows (a lone carriage return in the maskin dialect, say) cannot
    simply follow the other: the whole table is then written in one piece, and the file is still the same."""
    run(population, tmp_path / "one", monkeypatch, "1", ("csv",))
    monkeypatch.setattr(batch, which, lambda *a: False)  # as if that part could not be written on its own
    run(population, tmp_path / "two", monkeypatch, "2", ("csv",))
    assert (tmp_path / "two" / "vedtak.csv").read_bytes() == (tmp_path / "one" / "vedtak.csv").read_bytes()
    assert not [p.name for p in (tmp_path / "two").iterdir() if "del2" in p.name]


def test_the_child_appends_its_part_itself_once_the_first_part_is_written(population, tmp_path, monkeypatch):
    """On two cores the child copies its part onto the end of vedtak.csv (while this process writes
    maanedlig.csv), and only after this process has written the first part."""
    import os

    run(population, tmp_path / "one", monkeypatch, "1", ("csv",))
    seen = tmp_path / "appended-by"
    real_append, real_first = batch.append_part, batch.write_first_part

    def append(path, part):  # in whichever process appends: its pid, and how much of the first part it found
        seen.write_text(f"{os.getpid()} {path.stat().st_size}")
        real_append(path, part)

    def first(*a):
        written = real_first(*a)
        (tmp_path / "first-size").write_text(str(a[1].stat().st_size))
        return written

    monkeypatch.setattr(batch, "append_part", append)
    monkeypatch.setattr(batch, "write_first_part", first)
    run(population, tmp_path / "two", monkeypatch, "2", ("csv",))
    pid, size_seen = seen.read_text().split()
    assert int(pid) != os.getpid()  # the child appended, not this process
    assert size_seen == (tmp_path / "first-size").read_text()  # the first part was whole when it did
    assert (tmp_path / "two" / "vedtak.csv").read_bytes() == (tmp_path / "one" / "vedtak.csv").read_bytes()
    assert not [p.name for p in (tmp_path / "two").iterdir() if "del2" in p.name]


def test_a_first_part_that_fails_does_not_leave_the_child_waiting(population, tmp_path, monkeypatch):
    """The child waits to hear that the first part is written; when writing it fails, the child is told so and
    ends, and the error comes through here instead of the run hanging."""

    def fails(*a):
        raise OSError("disken er full")

    monkeypatch.setattr(batch, "write_first_part", fails)
    done = _no_hang()
    try:
        with pytest.raises(OSError, match="disken er full"):
            run(population, tmp_path / "two", monkeypatch, "2", ("csv",))
    finally:
        done()


def _no_hang(seconds: int = 60):
    import signal

    def hung(*a):
        raise AssertionError("the run hung: the child was left waiting")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    return lambda: (signal.alarm(0), signal.signal(signal.SIGALRM, old))


def test_a_progress_bar_that_fails_does_not_leave_the_child_waiting(population, tmp_path, monkeypatch):
    """The web page's progress writes a status file at each phase: a full disk there is raised as itself."""

    def progress(label, total):
        if label == "Skriver forklaringer":
            raise OSError(28, "No space left on device", "status.json")
        return lambda *a, **k: None

    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "2")
    done = _no_hang()
    try:
        with pytest.raises(OSError, match="No space left"):
            batch.run(
                batch.RunOptions(
                    enrollment=population / "innskriving.csv",
                    out=tmp_path / "two",
                    period=batch.parse_period("2024/25"),
                    source="files",
                    tax_data=population / "skatt",
                    formats=("csv",),
                ),
                progress=progress,
            )
    finally:
        done()


def test_a_fork_that_fails_leaves_no_descriptor_open(population, tmp_path, monkeypatch):
    """The run goes on in one process (the pipe to a child that never came is closed: no descriptor is left)."""
    import os

    from fee_engine import parallel

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(parallel.os, "fork", no_fork)
    before = sorted(os.listdir("/proc/self/fd"))
    run(population, tmp_path / "two", monkeypatch, "2", ("csv",))
    assert (tmp_path / "two" / "vedtak.csv").exists()
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_a_full_disk_in_the_child_is_raised_as_itself(population, tmp_path, monkeypatch):
    """The child's append (the largest write of the run) failing on a full disk ends the run with that OSError,
    as in one process (the command line then names the file), and leaves no part file."""

    def full(path, part):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(batch, "append_part", full)
    with pytest.raises(OSError, match="No space left") as caught:
        run(population, tmp_path / "two", monkeypatch, "2", ("csv",))
    assert caught.value.errno == 28 and caught.value.filename.endswith("vedtak.csv")
    assert not list(tmp_path.rglob("*.del2"))


@pytest.mark.parametrize("cores", ["1", "2"])
def test_vedtak_csv_explained_a_block_at_a_time_is_the_file_explained_whole(population, tmp_path, monkeypatch, cores):
    """CSV only, each part of vedtak.csv is explained and written a block of periods at a time. With blocks far
    smaller than a part (997 periods: a dozen blocks a part, the last one short), the file is byte for byte the
    one written from the whole table, as a run that also writes vedtak.json makes it."""
    run(population, tmp_path / "whole", monkeypatch, "1", ("csv", "json"))
    monkeypatch.setattr(batch, "EXPLAIN_BLOCK", 997)
    made = []
    real = batch.forklaring.vedtak_table_numbered
    monkeypatch.setattr(batch.forklaring, "vedtak_table_numbered", lambda p, *a: made.append(len(p)) or real(p, *a))
    run(population, tmp_path / "blocks", monkeypatch, cores, ("csv",))
    whole = (tmp_path / "whole" / "vedtak.csv").read_bytes()
    assert (tmp_path / "blocks" / "vedtak.csv").read_bytes() == whole
    if cores == "1":  # both parts made here: every block seen, none larger than the bound
        assert len(made) > 10 and max(made) == 997 and sum(made) == whole.count(b"\n") - 1


def test_a_block_only_pandas_can_write_midway_makes_the_whole_file_be_written_at_once(
    population, tmp_path, monkeypatch
):
    """A block that only pandas' writer knows, after others were written, still gives the whole file as one piece."""
    from fee_engine.output import csv as csv_out

    run(population, tmp_path / "one", monkeypatch, "1", ("csv",))
    monkeypatch.setattr(batch, "EXPLAIN_BLOCK", 997)
    real, blocks = csv_out._own_kinds, []

    def third_block_fails(df, d):  # asked once by the part's writer and again by the table's: count each block once
        if not any(b is df for b in blocks):
            blocks.append(df)  # kept: no later block reuses its id
        return not (df is blocks[2] if len(blocks) > 2 else False) and real(df, d)

    monkeypatch.setattr(csv_out, "_own_kinds", third_block_fails)
    run(population, tmp_path / "two", monkeypatch, "1", ("csv",))
    assert len(blocks) > 3  # blocks were written before the third, which only pandas could write
    assert (tmp_path / "two" / "vedtak.csv").read_bytes() == (tmp_path / "one" / "vedtak.csv").read_bytes()
    assert not [p.name for p in (tmp_path / "two").iterdir() if "del2" in p.name]


def _without_time(doc: dict) -> dict:
    doc = doc.get("kjoering", doc)
    return {k: v for k, v in doc.items() if k != "laget"} if "vedtak" not in doc else doc


def test_tax_files_read_by_two_processes_give_the_same_answers_and_every_audit_line(population, tmp_path, monkeypatch):
    from fee_engine.audit import AuditLog
    from fee_engine.enrollment import read_enrollment
    from fee_engine.taxdata import FileSource, fallback_plan, fetch_with_fallback
    from fee_engine.taxdata.answer import Answer

    rows = read_enrollment(population / "innskriving.csv").rows
    persons = list(dict.fromkeys(list(rows["foresatt_fnr"]) + [p for p in rows["partner_fnr"] if p]))
    monkeypatch.setattr("fee_engine.taxdata.base.SPLIT_AT", len(persons) // 2)  # so the reading is split
    got = {}
    for cores in ("1", "2"):
        monkeypatch.setenv("FEE_ENGINE_PROSESSER", cores)
        log = AuditLog(tmp_path / f"kept-{cores}.jsonl", command="test", copy=tmp_path / f"copy-{cores}.jsonl")
        got[cores] = fetch_with_fallback(FileSource(population / "skatt"), persons, fallback_plan(2024), audit=log)
        log.close()
        kept = (tmp_path / f"kept-{cores}.jsonl").read_text(encoding="utf-8").splitlines()
        copy = (tmp_path / f"copy-{cores}.jsonl").read_text(encoding="utf-8").splitlines()
        n = sum(len(v) for v in got[cores].values())
        assert len(kept) == len(copy) == log.lines == n  # one whole line per lookup, in both files
        assert all(line.startswith("{") and line.endswith("}") for line in kept)
    assert list(got["1"]) == list(got["2"])
    # every field of every lookup the same, the checked answers too (the child's half comes back as MessagePack)
    assert got["1"] == got["2"]
    assert {type(x.body) for v in got["2"].values() for x in v} == {Answer, type(None)}


def test_the_childs_lookups_come_back_as_they_were_packed_and_other_bodies_are_not_packed():
    """The child's lookups travel as MessagePack: read back they are equal, field for field. A body that is not a
    checked answer (a dict from a source that does not check) is not packed, so it is not turned into one."""
    from fee_engine.taxdata.answer import Answer, Post
    from fee_engine.taxdata.base import Lookup, _packed, _unpacked

    answer = Answer(inntektsaar="2023", grunnlag=[Post("x", "12", ["inntekt", "y"]), Post("z", -3)])
    got = {
        "p1": [
            Lookup("p1", 2023, "oppgjoer", "ingen_data", "SSG-008", melding="ingen"),
            Lookup("p1", 2023, "utkast", "ok", "200", body=answer, korrelasjonsid="k-1"),
        ],
        "p2": [Lookup("p2", 2023, "oppgjoer", "feil", "HTTP-503", melding="borte", midlertidig=True)],
    }
    packed = _packed(got)
    assert isinstance(packed, bytes) and _unpacked(packed) == got
    assert list(_unpacked(packed)) == ["p1", "p2"]
    odd = {
        "p3": [Lookup("p3", 2023, "oppgjoer", "ok", "200", body={"grunnlag": [{"tekniskNavn": "x", "beloep": 1.5}]})]
    }
    assert _packed(odd) is odd


def test_tax_files_read_by_two_processes_are_digested_where_they_were_read(population, tmp_path, monkeypatch):
    """With a digest, each process digests the half it read and only the child's digest comes back: the digests
    merged, the parent's half first, are what digesting all the lookups in one process gives."""
    import os

    import msgspec

    from fee_engine.audit import AuditLog
    from fee_engine.enrollment import read_enrollment
    from fee_engine.income import decide
    from fee_engine.regelsett import load_rules
    from fee_engine.taxdata import FileSource, fallback_plan, fetch_with_fallback

    class Seen(msgspec.Struct):
        persons: list[str]
        pids: list[int]

        def merged(self, other):
            return Seen(self.persons + other.persons, self.pids + other.pids)

    rows = read_enrollment(population / "innskriving.csv").rows
    persons = list(dict.fromkeys(list(rows["foresatt_fnr"]) + [p for p in rows["partner_fnr"] if p]))
    monkeypatch.setattr("fee_engine.taxdata.base.SPLIT_AT", len(persons) // 2)  # so the reading is split
    rules = load_rules()
    source, plan = FileSource(population / "skatt"), fallback_plan(2024)
    log = AuditLog(tmp_path / "kept.jsonl", command="test")
    monkeypatch.setenv("FEE_ENGINE_PROSESSER", "2")
    seen = fetch_with_fallback(source, persons, plan, audit=log, digest=lambda got: Seen(list(got), [os.getpid()]))
    assert seen.persons == persons
    assert seen.pids[0] == os.getpid() and seen.pids[1] != os.getpid()  # the second half was digested in the child
    decided = {}
    for cores in ("1", "2"):
        monkeypatch.setenv("FEE_ENGINE_PROSESSER", cores)
        decided[cores] = fetch_with_fallback(source, persons, plan, audit=log, digest=lambda got: decide(got, rules))
    log.close()
    whole = decide(fetch_with_fallback(source, persons, plan), rules)
    assert decided["2"] == decided["1"] == whole
    assert [p.person for p in decided["2"].persons] == persons
    assert decided["2"].lookups >= len(persons) and any(p.ok for p in decided["2"].persons)
    assert any(not p.ok for p in decided["2"].persons)  # unknown persons and missing answers travel as well


def test_a_run_whose_tax_files_are_read_by_two_processes_writes_the_same_files(population, tmp_path, monkeypatch):
    monkeypatch.setattr("fee_engine.taxdata.base.SPLIT_AT", 1_000)  # the population's persons are read in two halves
    run(population, tmp_path / "one", monkeypatch, "1", ("csv",))
    run(population, tmp_path / "two", monkeypatch, "2", ("csv",))
    for name in ("maanedlig.csv", "vedtak.csv", "avvist.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    one, two = (_without_time(json.loads((tmp_path / d / "kjoering.json").read_text())) for d in ("one", "two"))
    assert one == two and two["oppslag"] > 1_000


@pytest.mark.parametrize("formats", [("csv",), ("csv", "json", "faktura")])
def test_when_no_child_can_be_made_both_halves_run_here(population, tmp_path, monkeypatch, caplog, formats):
    """fork failing (EAGAIN: the system's limit of processes) is no failed run: every half is done in this process,
    one after the other, with a warning, and the files are those of a run in one process."""
    import errno
    import logging

    from fee_engine import parallel

    tried = []

    def no_fork():
        tried.append(1)
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    run(population, tmp_path / "one", monkeypatch, "1", formats)
    monkeypatch.setattr(parallel.os, "fork", no_fork)
    with caplog.at_level(logging.WARNING, logger="fee_engine.parallel"):
        run(population, tmp_path / "none", monkeypatch, "2", formats)
    assert tried  # a child was asked for (the outputs; at this size the answers are read in one process)
    assert "fikk ikke startet en prosess til" in caplog.text
    for name in ("vedtak.csv", "maanedlig.csv", "avvist.csv"):
        assert (tmp_path / "none" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert not [p.name for p in (tmp_path / "none").iterdir() if "del2" in p.name]
