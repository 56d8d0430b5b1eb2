"""Stopping when told: SIGINT and SIGTERM end a command cleanly, with all it started.

The command line turns both signals into :class:`Interrupted`, an exception that
unwinds every ``try``/``finally`` on the way out: temporary folders are removed,
worker processes are stopped, runs in flight are recorded as interrupted. The
few steps that must not be cut in two (swapping a finished folder into place)
run with the signals held back by :func:`signals_deferred`.

One place cannot raise: Python code that a compiled kernel calls back into (Numba
unpickles there the type of each array a kernel returns). Numba does not check that
call for an exception: one raised there comes out as a ``SystemError`` in the middle of
the next array. A signal that arrives there is held, and raised by the next
:func:`raise_pending` (each simulated day of a run, before any result is put in
place, and when the command ends).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The command was asked to stop by a signal.

    A ``BaseException``, like ``KeyboardInterrupt``, so that ``except Exception``
    (a failed run, recorded and skipped) never swallows it.

    Attributes:
        signum: The signal received.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


_held: list[int] = []  # signals received inside a compiled kernel's call-back, not yet raised


def _inside_compiled_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` (or a frame it was called from) is Numba's call-back from machine code."""
    while frame is not None:
        if (
            frame.f_code.co_name == "_numba_unpickle"
            and frame.f_globals.get("__name__") == "numba.core.serialize"
        ):
            return True
        frame = frame.f_back
    return False


def _raise(signum: int, frame: FrameType | None) -> None:
    if _inside_compiled_code(frame):
        _held.append(signum)
        return
    _held.clear()  # a stop is under way: one held before must not cut its clean-up short
    raise Interrupted(signum)


def forget_held() -> None:
    """Drop a signal held back and not raised (the command ended another way)."""
    _held.clear()


def raise_pending() -> None:
    """Raise :class:`Interrupted` for a signal held back inside a compiled kernel, if any.

    Raises:
        Interrupted: The first signal held.
    """
    if _held:
        signum = _held[0]
        _held.clear()
        raise Interrupted(signum)


def install_handlers() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` in the main thread.

    A signal the process was started ignoring stays ignored: a shell script starts
    its background commands with SIGINT ignored, so that a Ctrl-C meant for the
    script's foreground command leaves them running (SIGTERM still stops them).
    """
    _held.clear()
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _raise)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a few statements that must not be cut in two.

    A signal received meanwhile is delivered (and raises) when the block ends; one held
    back inside a compiled kernel before the block raises before it starts.

    Raises:
        Interrupted: A signal was held back inside a compiled kernel.
    """
    raise_pending()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In a worker process: be killed by the kernel when the parent dies (Linux only).

    Belt and braces: the parent stops its workers itself on SIGINT and SIGTERM, but
    a parent killed with SIGKILL (or by the out-of-memory killer) cannot, and its
    workers would otherwise live on with parent 1.

    Args:
        parent_pid: The parent's process id, to catch a parent that died before the
            request was made.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the parent's own stopping still applies
        return
    if os.getppid() != parent_pid:
        os._exit(1)
