"""Run a Python program in this fresh process and record its peak memory when it ends.

``python benchmarks/peak.py OUT.json PROGRAM [ARGS...]`` runs PROGRAM (a file, e.g. the installed
``fee-engine`` console script or ``benchmarks/openfisca_pipeline.py``) as ``__main__`` with ARGS, and
at exit writes ``{"peak_mb": VmHWM, "children_maxrss_mb": ..., "exit_code": ...}`` to OUT.json.
VmHWM (``/proc/self/status``) is the peak resident memory of this process since its ``exec``;
``ru_maxrss`` of a child, read by the parent, would also count the memory of the process it was
forked from. ``children_maxrss_mb`` is the largest resident size of a child this process forked and
waited for (it counts the pages it shares with this process too); the memory of the whole process
tree is sampled from outside (``measure.py``).
"""

import atexit
import json
import resource
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
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            json.dump({"peak_mb": _peak_mb(), "children_maxrss_mb": children, **code}, fh)

    atexit.register(record)
    sys.argv = [program, *args]
    try:
        runpy.run_path(program, run_name="__main__")
    except SystemExit as exc:
        code["exit_code"] = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        raise


if __name__ == "__main__":
    main()
