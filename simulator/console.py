"""The ``secsim`` command's entry point, light enough to catch a stop while it loads.

Loading the simulator's libraries (NumPy, SciPy, Mesa, Numba) takes a second or
two, before :mod:`simulator.cli` can turn SIGINT into
:class:`simulator.stopping.Interrupted`. A Ctrl-C in that time would print
Python's traceback of the import under way: here it ends the command as a stop
at any later moment does (exit status 130, nothing written). A SIGTERM then
ends the process by its default action, silently; nothing has been started.
Once the command has returned, both signals are ignored while the interpreter
shuts down.
"""

from __future__ import annotations

import os
import signal
import sys

_STOPPED = "stopped by SIGINT; nothing half-written is left\n"
EXIT_SIGINT = 130  # the shell's convention: 128 + the signal number


def _exit(status: int) -> None:
    """End the process now with ``status``, its output flushed.

    Not ``sys.exit``: a library that was running code through the C API's
    ``PyRun_*`` when the KeyboardInterrupt came marks it unhandled, and the
    interpreter would then end by SIGINT instead (status -2 to a Python caller).
    Nothing of the command's own has started that would need cleaning up.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main() -> int:
    """Load the command line and run it (``secsim``, ``python -m simulator``)."""
    try:
        from simulator.cli import main as run_command

        status = run_command()
    except KeyboardInterrupt:  # before the command's own handlers, or after them
        sys.stderr.write(_STOPPED)
        _exit(EXIT_SIGINT)
        return EXIT_SIGINT  # only where _exit is replaced (tests)
    # The command is over, its results in place: what is left is the interpreter's
    # tear-down (half a second), which a stop signal would only turn into a traceback
    # or a death by signal. Nothing remains to stop.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    return status
