"""A command stopped from outside ends the way Ctrl-C ends it.

``kill``, a service manager and the web page's server (when it stops, it stops its runs) send SIGTERM. Left to
the system, SIGTERM ends the process at once: the staging folder of ``--out`` stays behind, a forked child works
on alone, and answers already read can be left without their audit lines. With :func:`stop_on_sigterm`, SIGTERM
raises :class:`Stopped` (a ``KeyboardInterrupt``) where the process is, so every ``finally`` runs as it does
for Ctrl-C: the audit lines are handed over, the staging folder is removed, the forked child is stopped
(:func:`fee_engine.parallel.in_two`). :func:`end_as_stopped` then ends the process by SIGTERM itself, so
whoever sent it sees the process ended by it (exit status 143 in a shell).

Only the first SIGTERM raises: the cleanup it starts is not cut short by a second (SIGKILL still ends the
process at once). A forked child takes both SIGINT and SIGTERM this way (:func:`stop_once`): when a Ctrl-C
reaches both processes and this one then stops the child, the child's cleanup is not cut short either.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import NoReturn


class Stopped(KeyboardInterrupt):
    """SIGTERM, raised where the process was (:func:`stop_on_sigterm`)."""


_received: list[int] = []  # the signal that stopped this process, once one has


def _once(signum: int, frame: FrameType | None) -> None:
    if _received:  # already stopping: let the cleanup finish
        return
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped("stoppet av SIGTERM")


def stop_on_sigterm() -> bool:
    """SIGTERM raises :class:`Stopped` from now on (once). Only the main thread can set a handler: elsewhere
    nothing is changed, and False is returned."""
    if threading.current_thread() is not threading.main_thread():
        return False
    _received.clear()
    signal.signal(signal.SIGTERM, _once)
    return True


def stop_once() -> None:
    """In a forked child: SIGTERM and SIGINT each raise, the first of them only."""
    _received.clear()
    signal.signal(signal.SIGTERM, _once)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # an ignored Ctrl-C (a background job) stays so
        signal.signal(signal.SIGINT, _once)


def stopped() -> bool:
    """Whether SIGTERM has stopped this process (:func:`stop_on_sigterm`)."""
    return signal.SIGTERM in _received


def end_as_stopped() -> NoReturn:
    """End this process by SIGTERM, as it would have ended without the handler."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)  # not reached where SIGTERM ends a process


def die_with_parent(parent: int) -> None:
    """In a child forked by ``parent`` (Linux): SIGTERM when the parent ends, even by SIGKILL, so the child never
    works on alone; at once if the parent has already ended. Where the system has no such call, nothing is done."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the call above
        os.kill(os.getpid(), signal.SIGTERM)
