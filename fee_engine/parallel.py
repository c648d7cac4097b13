"""Two pieces of independent work on two cores: one in this process, one in a forked child.

A batch's last phase (explanations, writing files) is CPU-bound Python and pandas; the machine an
office runs it on has at least two cores. :func:`in_two` runs ``second`` in a child made with
``fork`` (it shares the batch's memory copy-on-write, so nothing is sent to it) while this process
runs ``first``; the child's result comes back pickled through a private temporary file with no name. Where
``fork`` does not exist, or ``FEE_ENGINE_PROSESSER=1``, or a child cannot be made, both run here, one after
the other.

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
import logging
import os
import pickle
import signal
import tempfile
import threading
import traceback
from collections.abc import Callable
from typing import IO, NoReturn, TypeVar

from . import stopp
from .errors import FeeEngineError

A = TypeVar("A")
B = TypeVar("B")
log = logging.getLogger(__name__)


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
    """``(first(), second())``, with ``second`` in a forked child when there are two cores.

    The child's result comes back through a file with no name (``tempfile.TemporaryFile``): nothing of it stays
    on disk however either process ends. When ``first`` raises (an error, Ctrl-C, SIGTERM), the child is stopped
    with SIGTERM before this process waits for it; forked from the main thread, it is also stopped when this
    process ends without the chance (SIGKILL) (:func:`fee_engine.stopp.die_with_parent`). Stopped, the child
    raises :class:`fee_engine.stopp.Stopped` where it is, so its own ``finally`` blocks run (the audit lines of
    the answers it has read).

    When no child can be made (``fork`` fails: the system's limit of processes, or too little memory), both run
    here, one after the other, as on one core, with a warning in the log. A child that dies (killed for memory,
    say) ends the run with :class:`ChildError`: its half may have been partly done (audit lines written), so it
    is not done again here."""
    if not forks():
        return first(), second()
    try:
        return _forked(first, second)
    except _NoChild as exc:
        log.warning("fikk ikke startet en prosess til (%s); begge delene gjøres i denne, etter hverandre", exc.reason)
        return first(), second()


class _NoChild(Exception):
    """``fork`` failed (too many processes, too little memory): nothing of ``first`` or ``second`` has run."""

    def __init__(self, reason: OSError) -> None:
        super().__init__(str(reason))
        self.reason = reason


def _forked(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """:func:`in_two` with a child; :class:`_NoChild` when none could be made."""
    parent = os.getpid()
    main_thread = threading.current_thread() is threading.main_thread()
    give_back_free_memory()
    with tempfile.TemporaryFile(prefix="fee-engine-del-") as result:  # 0600, and unlinked at once
        pid = -1
        try:
            with stopp.whole():  # a stop as fork() returns waits until this process knows the child's pid
                try:
                    pid = os.fork()
                except OSError as exc:  # EAGAIN, ENOMEM: no child, and nothing done yet
                    raise _NoChild(exc) from None
            if pid == 0:  # the child
                _child(second, result, parent, main_thread)
        except BaseException:  # _NoChild too: no child, so it is raised as it is
            if os.getpid() != parent:  # a child stopped before it began: it never runs the caller's code
                os._exit(1)
            if pid > 0:  # this process, stopped as the child began
                _stop(pid)
                _wait(pid)
            raise
        try:
            a = first()
        except BaseException:
            _stop(pid)
            raise
        finally:
            status = _wait(pid)
        result.seek(0)
        kind, value = pickle.load(result) if os.fstat(result.fileno()).st_size else ("feil", ("Avbrutt", "", None, ""))
    if kind == "ok" and os.waitstatus_to_exitcode(status) == 0:
        return a, value  # type: ignore[return-value]
    name_, message, kept, _trace = value  # type: ignore[misc]
    if kept is not None:
        raise kept
    raise ChildError(f"den parallelle delen av jobben feilet ({name_}: {message})")


def _child(second: Callable[[], object], result: IO[bytes], parent: int, main_thread: bool) -> NoReturn:
    """The forked child: ``second()``, its result or error pickled into ``result``, then ``os._exit``."""
    code = 0
    try:
        if main_thread:
            stopp.stop_once()
            stopp.die_with_parent(parent)
        payload: tuple[str, object] = ("ok", second())
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        keep = exc if isinstance(exc, FeeEngineError | OSError) and _picklable(exc) else None
        payload = ("feil", (type(exc).__name__, str(exc), keep, traceback.format_exc(limit=5)))
        code = 1
    try:  # into the file made before the fork, shared with the parent
        pickle.dump(payload, result, protocol=pickle.HIGHEST_PROTOCOL)
        result.flush()
    except BaseException:  # noqa: BLE001
        code = 2
    os._exit(code)


def _wait(pid: int) -> int:
    """The child's wait status. Stopped while waiting (SIGTERM, Ctrl-C), this process stops the child too and
    waits for it to end before stopping."""
    try:
        return os.waitpid(pid, 0)[1]
    except BaseException:
        _stop(pid)
        os.waitpid(pid, 0)
        raise


def _stop(pid: int) -> None:
    """The child stopped: its result is not wanted (:func:`in_two`'s ``first`` failed)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:  # already ended
        pass
