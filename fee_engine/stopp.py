"""A command stopped from outside ends the way Ctrl-C ends it, and a stop waits for the steps that must be whole.

``kill``, a service manager and the web page's server (when it stops, it stops its runs) send SIGTERM. Left to
the system, SIGTERM ends the process at once: the staging folder of ``--out`` stays behind, a forked child works
on alone, and answers already read can be left without their audit lines. With :func:`stop_on_signals`, SIGTERM
raises :class:`Stopped` (a ``KeyboardInterrupt``) where the process is, and Ctrl-C (SIGINT) raises
``KeyboardInterrupt`` as always, so every ``finally`` runs: the audit lines are handed over, the staging folder
is removed, the forked child is stopped (:func:`fee_engine.parallel.in_two`). :func:`end_as_stopped` then ends
the process by SIGTERM itself, so whoever sent it sees the process ended by it (exit status 143 in a shell).

One stop per process: only the first of the two signals raises, so the cleanup it starts is not cut short by a
second one (a Ctrl-C, then the server's SIGTERM; SIGKILL still ends the process at once). A forked child takes
both signals the same way (:func:`stop_once`).

Some steps must not be cut in two: handing a block of audit lines to the system and counting them, moving a
run's files into ``--out``. Inside :func:`whole`, a stop waits: it is raised when the step is done.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn


class Stopped(KeyboardInterrupt):
    """SIGTERM, raised where the process was (:func:`stop_on_signals`)."""


_received: list[int] = []  # the signal that stopped this process, once one has
_waiting: list[int] = []  # a stop that came inside :func:`whole`, raised when it ends
_passed: list[int] = []  # a stop that waited for a step that then ended by an exception of its own
_depth = [0]  # how many :func:`whole` blocks this process is in


def _raise(signum: int) -> NoReturn:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped("stoppet av SIGTERM")


def _once(signum: int, frame: FrameType | None) -> None:
    if _received or _waiting:  # already stopping: let the cleanup finish
        return
    if _depth[0]:
        _waiting.append(signum)
        return
    _received.append(signum)
    _raise(signum)


@contextmanager
def whole() -> Iterator[None]:
    """A step a stop does not cut in two: SIGINT or SIGTERM (through this module's handler) that comes inside it
    is raised when it is done. When the step ends by an exception of its own, that one goes on instead (it ends
    the command); the stop still counts for :func:`stopped`, and a later signal stops the process again."""
    _depth[0] += 1
    try:
        yield
    except BaseException:
        _depth[0] -= 1
        if not _depth[0] and _waiting:
            _passed.append(_waiting.pop())
        raise
    _depth[0] -= 1
    if not _depth[0] and _waiting:
        signum = _waiting.pop()
        _received.append(signum)
        _raise(signum)


def stop_on_signals() -> bool:
    """SIGTERM and SIGINT raise from now on, the first of them only (:func:`_once`). Only the main thread can set a
    handler: elsewhere nothing is changed, and False is returned. An ignored SIGINT (a job started in the
    background) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return False
    stop_once()
    return True


def stop_once() -> None:
    """SIGTERM and SIGINT each raise, the first of them only (in a forked child, whatever the parent had)."""
    _received.clear()
    _waiting.clear()
    _passed.clear()
    _depth[0] = 0
    signal.signal(signal.SIGTERM, _once)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _once)


def done() -> None:
    """The command has ended (its exit code decided): a signal that comes now is ignored, not raised while the
    interpreter shuts down."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) is _once:
            signal.signal(sig, signal.SIG_IGN)


def stopped() -> bool:
    """Whether SIGTERM has stopped this process (:func:`stop_on_signals`)."""
    return signal.SIGTERM in _received or signal.SIGTERM in _waiting or signal.SIGTERM in _passed


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
