"""Two pieces of independent work on two cores: one in this process, one in a forked child.

A batch's last phase (explanations, writing files) is CPU-bound Python and pandas; the machine an
office runs it on has at least two cores. :func:`in_two` runs ``second`` in a child made with
``fork`` (it shares the batch's memory copy-on-write, so nothing is sent to it) while this process
runs ``first``; the child's result comes back pickled through a private temporary file. Where
``fork`` does not exist, or ``FEE_ENGINE_PROSESSER=1``, both run here, one after the other.

Before the fork, :func:`give_back_free_memory` returns the C heap's free pages to the system: pages the batch
has freed but the allocator still holds (the tax answers' parsing, the calculation's intermediate tables)
would otherwise be counted for both processes and copied as soon as either writes to them.

The child must not touch the console (the progress bar's thread does not exist in it) and leaves
with ``os._exit``, so no exit handler of the parent runs twice. An error in the child is raised
here, with its message (messages are safe to show: no full fødselsnummer); the project's own errors and
the system's (``OSError``: a full disk, say) are raised as themselves, so they end the run as they would
in one process.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import tempfile
import traceback
from collections.abc import Callable
from typing import TypeVar

from .errors import FeeEngineError

A = TypeVar("A")
B = TypeVar("B")


def cores() -> int:
    setting = os.environ.get("FEE_ENGINE_PROSESSER", "")
    if setting.isdigit() and int(setting) >= 1:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ChildError(FeeEngineError):
    """The forked half of the work failed; its message is kept."""

    exit_code = 1


def give_back_free_memory() -> bool:
    """The C allocator's free pages handed back to the system (glibc's ``malloc_trim``): a few milliseconds.
    False where the C library has no such call (musl, macOS), and nothing is done."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: the C library's among them
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


def _picklable(exc: BaseException) -> bool:
    try:
        pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any exception that cannot travel is reported by name and message
        return False
    return True


def forks() -> bool:
    """Whether :func:`in_two` runs ``second`` in a forked child (else both here, ``first`` before ``second``)."""
    return cores() >= 2 and hasattr(os, "fork")


def in_two(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """``(first(), second())``, with ``second`` in a forked child when there are two cores."""
    if not forks():
        return first(), second()
    fd, name = tempfile.mkstemp(prefix="fee-engine-del-", suffix=".pickle")
    os.close(fd)  # 0600 from mkstemp: the child writes its result here, only this user can read it
    give_back_free_memory()
    try:
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                payload: tuple[str, object] = ("ok", second())
            except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
                keep = exc if isinstance(exc, FeeEngineError | OSError) and _picklable(exc) else None
                payload = ("feil", (type(exc).__name__, str(exc), keep, traceback.format_exc(limit=5)))
                code = 1
            try:  # into the file made above, never a new one (gone if the parent has stopped waiting)
                with os.fdopen(os.open(name, os.O_WRONLY | os.O_TRUNC), "wb") as fh:
                    pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # noqa: BLE001
                code = 2
            os._exit(code)
        try:
            a = first()
        finally:
            _, status = os.waitpid(pid, 0)
        with open(name, "rb") as fh:
            kind, value = pickle.load(fh) if os.path.getsize(name) else ("feil", ("Avbrutt", "", None, ""))
    finally:
        os.unlink(name)
    if kind == "ok" and os.waitstatus_to_exitcode(status) == 0:
        return a, value  # type: ignore[return-value]
    name_, message, kept, _trace = value  # type: ignore[misc]
    if kept is not None:
        raise kept
    raise ChildError(f"den parallelle delen av jobben feilet ({name_}: {message})")
