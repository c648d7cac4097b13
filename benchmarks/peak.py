"""Run a Python program in this fresh process and record its peak memory when it ends.

``python benchmarks/peak.py OUT.json PROGRAM [ARGS...]`` runs PROGRAM (a file, e.g. the installed
``fee-engine`` console script or ``benchmarks/openfisca_pipeline.py``) as ``__main__`` with ARGS, and
at exit writes ``{"peak_mb": VmHWM, "exit_code": ...}`` to OUT.json. VmHWM (``/proc/self/status``)
is the peak resident memory of this process since its ``exec``; ``ru_maxrss`` of a child, read by
the parent, would also count the memory of the process it was forked from.
"""

import atexit
import json
import runpy
import sys


def _peak_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main() -> None:
    out, program, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    code = {"exit_code": 0}

    def record() -> None:
        with open(out, "w") as fh:
            json.dump({"peak_mb": _peak_mb(), **code}, fh)

    atexit.register(record)
    sys.argv = [program, *args]
    try:
        runpy.run_path(program, run_name="__main__")
    except SystemExit as exc:
        code["exit_code"] = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        raise


if __name__ == "__main__":
    main()
