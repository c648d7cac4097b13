"""Fresh processes for the whole-run benchmarks: the engine's command line and the OpenFisca pipeline.

Each run is a new Python process (start-up and imports included), timed from spawn to exit. Peak
memory: the process's own VmHWM, written by ``benchmarks/peak.py`` at exit, exact for one process.
A run may fork children for a part of its work (sharing memory copy-on-write); then the memory of
the whole tree is sampled every 0.1 s from here as the sum of the processes' proportional set size
(Pss: a shared page counted once in all), and the peak is the larger of the two. Without children
the sampler reads nothing but the process list.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from fee_engine.batch import LOCAL_SOURCES

HERE = Path(__file__).resolve().parent
PERIOD = "2024-08..2025-07"


def fee_engine_script() -> str:
    """The installed ``fee-engine`` console script (next to this Python, or on the PATH)."""
    beside = Path(sys.executable).parent / "fee-engine"
    found = str(beside) if beside.exists() else shutil.which("fee-engine")
    if not found:
        raise RuntimeError("fee-engine is not installed: pip install -e '.[bench]'")
    return found


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from the parent ids in /proc/*/stat)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        parent[int(entry)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreeSampler(threading.Thread):
    """The peak of the summed Pss of a process and its descendants, sampled while it has descendants."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_mb = 0.0
        self.saw_children = False
        self.done = threading.Event()

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self.done.wait(self.interval):
            kids = _descendants(self.pid)
            if kids:
                self.saw_children = True
                self.peak_mb = max(self.peak_mb, _pss_mb(self.pid) + sum(_pss_mb(k) for k in kids))


def run_program(program: str, args: list[str], ok_codes: tuple[int, ...] = (0,), sample_tree: bool = True) -> dict:
    """Run ``program args`` in a fresh process; returns seconds (spawn to exit), peak_mb and its parts, exit_code,
    and the CPU time it used (:func:`_cpu_since`). ``sample_tree=False``: the process tree's memory is not sampled
    (:class:`TreeSampler` takes 2–3 ms of CPU time ten times a second, taken from a program that keeps both cores
    busy), and the peak is the process's own VmHWM."""
    with tempfile.TemporaryDirectory(prefix="fee-engine-bench-") as tmp:
        peak_file = Path(tmp) / "peak.json"
        log = Path(tmp) / "log.txt"
        with open(log, "wb") as fh:
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "peak.py"), str(peak_file), program, *args],
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
            sampler = TreeSampler(proc.pid) if sample_tree else None
            if sampler is not None:
                sampler.start()
            proc.wait()
            seconds = time.perf_counter() - t
            cpu = _cpu_since(used)
            if sampler is not None:
                sampler.done.set()
                sampler.join()
        info = json.loads(peak_file.read_text()) if peak_file.exists() else {"peak_mb": None}
        if proc.returncode not in ok_codes:
            raise RuntimeError(f"{program} {' '.join(args)} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
    own = info.get("peak_mb")
    tree = round(sampler.peak_mb, 1) if sampler is not None and sampler.saw_children else None
    return {
        "seconds": seconds,
        "peak_mb": max(own or 0, tree or 0) or None,
        "process_peak_mb": own,
        "tree_pss_peak_mb": tree,
        "children_maxrss_mb": info.get("children_maxrss_mb"),
        "exit_code": proc.returncode,
        **cpu,
    }


CPU_KEYS = ("user_s", "system_s", "minor_faults")  # what :func:`_cpu_since` gives for a run


def cpu_by_round(runs: list[dict]) -> dict[str, list]:
    """The CPU figures of several runs (:func:`run_program`), a list per figure in the order of the runs."""
    return {k: [r[k] for r in runs] for k in CPU_KEYS}


def _cpu_since(before: resource.struct_rusage) -> dict:
    """CPU time and minor page faults of the processes waited for since ``before``: the run and every child it
    forked and waited for (reaped before it exits). ``system_s`` is the kernel's time for them, most of it
    serving page faults: memory written for the first time, or a page copied after a fork."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "user_s": round(after.ru_utime - before.ru_utime, 3),
        "system_s": round(after.ru_stime - before.ru_stime, 3),
        "minor_faults": after.ru_minflt - before.ru_minflt,
    }


def engine_args(
    population: Path, out: Path, formats: str = "csv", source: str = "files", cache: Path | None = None
) -> list[str]:
    args = ["run", str(population / "innskriving.csv"), "--source", source]
    if source in LOCAL_SOURCES:  # the sources that read the answer files themselves
        args += ["--tax-data", str(population / "skatt")]
    args += ["--period", PERIOD, "--format", formats, "--out", str(out)]
    return args + (["--cache", str(cache)] if cache else [])


@contextlib.contextmanager
def emulator_process(data: Path, folder: Path, latency_ms: float = 0) -> Iterator[dict[str, str]]:
    """``fee-engine emulator`` on ``data`` as its own process (as Skatteetaten would be elsewhere); yields the
    environment that points ``--source api`` at it (its Maskinporten side included, with a client key it trusts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    cmd = [fee_engine_script(), "emulator", "--data", str(data), "--port", str(port), "--write-client", str(folder)]
    server = subprocess.Popen(
        cmd + (["--latency-ms", str(latency_ms)] if latency_ms else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield {
            "FEE_ENGINE_SSG_URL": base,
            "FEE_ENGINE_TOKEN_URL": base + "/token",
            "FEE_ENGINE_AUDIENCE": base + "/",
            "FEE_ENGINE_CLIENT_ID": "bench",
            "FEE_ENGINE_KEY_FILE": str(folder / "klient.key.pem"),
            "FEE_ENGINE_CERT_FILE": str(folder / "klient.cert.pem"),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_engine(population: Path, out: Path, sample_tree: bool = True, **kw) -> dict:
    """``fee-engine run`` on a population (exit 0: no row is rejected in a synthetic population)."""
    return run_program(fee_engine_script(), engine_args(population, out, **kw), sample_tree=sample_tree)


def run_pipeline(population: Path, out_csv: Path, sample_tree: bool = True) -> dict:
    """The OpenFisca pipeline on the same files."""
    return run_program(
        str(HERE / "openfisca_pipeline.py"),
        [
            str(population / "innskriving.csv"),
            "--tax-data",
            str(population / "skatt"),
            "--period",
            PERIOD,
            "--out",
            str(out_csv),
        ],
        sample_tree=sample_tree,
    )


def amounts(csv: Path, sep: str) -> dict[tuple[str, str, str], int]:
    """{(barn_id, tilbud, maaned): belop} from the engine's maanedlig.csv or the pipeline's CSV."""
    import pandas as pd

    df = pd.read_csv(
        csv,
        sep=sep,
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
        usecols=["barn_id", "tilbud", "maaned", "belop"],
    )
    return dict(zip(zip(df["barn_id"], df["tilbud"], df["maaned"]), df["belop"].astype(int)))
