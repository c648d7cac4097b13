"""A run's work, in a process of its own: ``python -m fee_engine.web.arbeider DIR``.

``DIR/jobb.json`` says what to do (``kontroll``: read and check the enrollment file; ``kjoering``: the
batch of ``fee-engine run``; ``regelendring``: the batch under a reform, as ``fee-engine diff``).
Progress goes to ``DIR/status.json`` (replaced atomically, at most a few times a second), through the
same progress factory the command line gives :func:`fee_engine.batch.run`. Every file the process
makes is private (umask 077). Error messages are masked like the command line's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Phases the page shows, by the progress labels of fee_engine.batch.
PHASES = {"Leser og kontrollerer innskrivingsfilen": "lese", "Henter skattegrunnlag": "hente", "Beregner": "beregne"}


def phase_of(label: str) -> str:
    return PHASES.get(label, "skrive" if label.startswith("Skriver") else "annet")


class Status:
    """``status.json``: state, the phase in progress and how far it has come, the phases done."""

    def __init__(self, directory: Path, task: str) -> None:
        self.path = directory / "status.json"
        self.data: dict[str, Any] = {
            "oppgave": task,
            "tilstand": "i_gang",
            "fase": "",
            "etikett": "",
            "gjort": 0,
            "totalt": 0,
            "faser": [],
            "startet": time.time(),
            "oppdatert": time.time(),
            "melding": "",
        }
        self.last_write = 0.0
        self.lock = threading.Lock()
        self.write(force=True)

    def write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_write < 0.2:
            return
        self.last_write = now
        self.data["oppdatert"] = time.time()
        tmp = self.path.with_name(f".status.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)

    def factory(self, label: str, total: int) -> Callable[..., None]:
        with self.lock:
            self.data["faser"].append([phase_of(label), label, 0, int(total)])
            self.data.update(fase=phase_of(label), etikett=label, gjort=0, totalt=int(total))
            self.write(force=True)
        entry = self.data["faser"][-1]

        def tick(advance: int = 1) -> None:
            with self.lock:
                entry[2] += advance
                self.data["gjort"] = entry[2]
                self.write(force=entry[2] >= entry[3])

        return tick

    def finish(self, state: str, message: str = "") -> None:
        self.data.update(tilstand=state, melding=message)
        self.write(force=True)


def _rules(job: dict[str, Any]):
    from ..regelsett import load_rules

    return load_rules(_path(job.get("rules_dir")), [Path(p) for p in job.get("kommunefiler", [])])


def _path(p: str | None) -> Path | None:
    return Path(p) if p else None


def _run_options(job: dict[str, Any], out: Path):
    from .. import batch

    return batch.RunOptions(
        enrollment=Path(job["innskriving"]),
        out=out,
        period=batch.parse_period(job["periode"]),
        source=job["source"],
        tax_data=_path(job.get("tax_data")),
        rules_dir=_path(job.get("rules_dir")),
        kommune_config=[Path(p) for p in job.get("kommunefiler", [])],
        formats=tuple(job["formater"]),
        api_config=_path(job.get("api_config")),
        cache=_path(job.get("cache")),
    )


def kontroll(job: dict[str, Any], directory: Path, status: Status) -> None:
    """Read and check the file as ``fee-engine validate`` does, against the period and the rule set of the run."""
    from .. import batch
    from ..beregning import month_range
    from ..output.csv import write_rejections

    rules = _rules(job)
    first, last = batch.parse_period(job["periode"])
    months = month_range(first, last)
    for m in (months[0], months[-1]):
        rules.value("barnehage.maksimalpris.generell", m)  # the rule set must cover the period
    tick = status.factory("Leser og kontrollerer innskrivingsfilen", 1)
    enr = batch.check_enrollment(Path(job["innskriving"]), rules, (first, last))  # as run and validate check it
    tick()
    # The run reads the file with the same rule set and period: it takes this reading instead of a second one.
    # (A private file of the server's own making, in the run's 0700 folder; nothing a client can write.)
    with (directory / "innskriving.pickle").open("wb") as fh:
        pickle.dump(enr, fh, protocol=pickle.HIGHEST_PROTOCOL)
    write_rejections(enr.rejections, directory / "avvist.csv")
    summary = {
        "rader": enr.n_rows,
        "avviste_rader": enr.rejected_rows,
        "problemer": len(enr.rejections),
        "utenfor_perioden": enr.outside_rows,
        "godtatt": enr.n_rows - enr.rejected_rows,
        "merknader": enr.notices,
        "regelsett": rules.version,
        "periode": f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}",
        "ekstra_kolonner": enr.extra_columns,
    }
    (directory / "oppsummering.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")


def kjoering(job: dict[str, Any], directory: Path, status: Status) -> None:
    from .. import batch

    opts = _run_options(job, directory / "ut")
    checked = directory.parent / "kontroll" / "innskriving.pickle"
    enrollment = None
    if checked.is_file():
        with checked.open("rb") as fh:
            enrollment = pickle.load(fh)  # noqa: S301 - written by the check above, in the run's private folder
    result = batch.run(opts, progress=status.factory, enrollment=enrollment)
    summary = {
        "rader_inn": result.rows_in,
        "rader_avvist": result.rows_rejected,
        "rader_utenfor": result.rows_outside,
        "barn": result.children,
        "barn_manuell": result.children_manual,
        "barn_maaneder": result.child_months,
        "sum_belop": result.total_belop,
        "oppslag": result.lookups,
        "advarsler": result.warnings,
        "merknader": result.notices,
        "filer": sorted(f.name for f in result.files),
        "periode": f"{opts.period[0]:%Y-%m}..{opts.period[1]:%Y-%m}",
        "ferdig": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    (directory / "manuelle.json").write_text(
        json.dumps(manual_cases(result.manual), ensure_ascii=False), encoding="utf-8"
    )
    (directory / "resultat.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")


MAX_MANUAL_SHOWN = 2000


def manual_cases(manual) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The children waiting for a caseworker: who, where, from which month, and what to do (the office's note)."""
    from ..forklaring import office_note

    if manual is None or not len(manual):
        return {"totalt": 0, "saker": []}
    m = manual.sort_values(["husholdning_id", "barn_id", "tilbud"], kind="stable").reset_index(drop=True)
    shown = m.head(MAX_MANUAL_SHOWN).reset_index(drop=True)
    notes = office_note(shown)
    rows = [
        {
            "barn_id": str(r["barn_id"]),
            "husholdning_id": str(r["husholdning_id"]),
            "tilbud": str(r["tilbud"]),
            "institusjon": str(r["institusjon"]),
            "fra_maaned": f"{r['maaned']:%Y-%m}",
            "belop": int(r["belop"]),
            "merknad_saksbehandler": str(note),
        }
        for (_, r), note in zip(shown.iterrows(), notes)
    ]
    return {"totalt": len(m), "saker": rows}


def regelendring(job: dict[str, Any], directory: Path, status: Status) -> None:
    """The run's batch under rule set A (as it ran) and B (A plus the reform): revenue per month, households."""
    from .. import batch

    opts = _run_options(job, directory / "ut")
    opts.formats = ("csv", "xlsx", "html")
    result = batch.diff(batch.DiffOptions(opts, reforms=[Path(job["reform"])]), progress=status.factory)
    s = result.summary
    per_month = (
        s.groupby("maaned")[["inntekt_a", "inntekt_b", "differanse", "husholdninger_bedre", "husholdninger_verre"]]
        .sum()
        .reset_index()
    )
    changes = result.changes
    per_household = changes.groupby("husholdning_id")["differanse"].sum() if len(changes) else None
    summary = {
        "regelsett_a": result.rules_a,
        "regelsett_b": result.rules_b,
        "inntekt_a": int(result.revenue_a),
        "inntekt_b": int(result.revenue_b),
        "differanse": int(result.difference),
        "barn_maaneder_endret": int(len(changes)),
        "barn_beroert": int(changes.drop_duplicates(["barn_id", "tilbud"]).shape[0]) if len(changes) else 0,
        "husholdninger_bedre": int((per_household < 0).sum()) if per_household is not None else 0,
        "husholdninger_verre": int((per_household > 0).sum()) if per_household is not None else 0,
        "per_maaned": [
            {k: (int(v) if k != "maaned" else str(v)) for k, v in row.items()} for row in per_month.to_dict("records")
        ],
    }
    (directory / "sammendrag.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")


TASKS = {"kontroll": kontroll, "kjoering": kjoering, "regelendring": regelendring}


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    from .. import stopp

    stopp.stop_on_signals()  # the server stopping stops its runs with SIGTERM: they end as after Ctrl-C
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0])
    job = json.loads((directory / "jobb.json").read_text(encoding="utf-8"))
    status = Status(directory, job["oppgave"])
    from ..errors import FeeEngineError
    from ..identity import mask_digits_in_text

    try:
        TASKS[job["oppgave"]](job, directory, status)
    except KeyboardInterrupt as exc:  # SIGTERM (the server stopping) or SIGINT: the run cleaned up after itself
        stopped = isinstance(exc, stopp.Stopped)
        why = "fordi serveren stoppet (SIGTERM)" if stopped else "(SIGINT)"
        status.finish("feilet", f"arbeidet ble stoppet {why}; start det på nytt")
        if stopped:
            stopp.end_as_stopped()
        return 130
    except FeeEngineError as exc:
        status.finish("feilet", mask_digits_in_text(str(exc)))
        return exc.exit_code
    except OSError as exc:
        status.finish("feilet", mask_digits_in_text(f"{exc.strerror or exc}"))
        return 2
    except Exception as exc:  # noqa: BLE001 - reported on the page, the trace (no local variables) to the log
        status.finish("feilet", f"uventet feil ({type(exc).__name__}); se serverloggen")
        print(mask_digits_in_text("".join(traceback.format_exception_only(type(exc), exc))), file=sys.stderr)
        print(mask_digits_in_text("".join(traceback.format_tb(exc.__traceback__))), file=sys.stderr)
        return 3
    status.finish("ferdig")
    return 0


if __name__ == "__main__":
    sys.exit(main())
