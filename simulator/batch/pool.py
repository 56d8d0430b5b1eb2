"""Local worker processes that stop with the batch and whose deaths are recorded.

``concurrent.futures.ProcessPoolExecutor`` cannot stop a running worker, and
one worker killed by the out-of-memory killer breaks the whole pool without
saying which run it held. This small pool keeps one pipe per worker and knows
which run each one holds:

* a worker that dies (killed, out of memory) gives a failed record for its run,
  with the cause, and is replaced: the batch goes on;
* :meth:`WorkerPool.stop` terminates every worker (SIGTERM, then SIGKILL after a
  grace period) and waits for them; :meth:`WorkerPool.in_flight` says which runs
  they held, so that they can be recorded as interrupted;
* each worker asks the kernel to kill it if the batch process dies
  (:func:`simulator.stopping.die_with_parent`), so that no worker outlives a
  batch killed with SIGKILL, and ignores SIGINT: a Ctrl-C reaches the whole
  process group, and the batch process decides how its workers stop.

On Linux the workers are forked from the batch process: they start with its
modules imported and its territories built (the batch built them when it checked
the scenarios). A spawned worker imports everything again in a new interpreter,
about 2 s of CPU (1.8 to 2.2 s on the 2-core benchmark machine) that each worker
spends before its first run while the batch waits. Forking a process that has
threads is unsafe in general; a batch process has those of OpenBLAS (which stops
them itself around a fork), the background thread of Arrow's allocator (jemalloc
has its own fork handlers) and, in ``secsim batch`` on a terminal, the progress
bar's refresh thread, whose locks (the console's, standard output's) a worker
never takes: it never writes to standard output, and leaves with ``os._exit``,
which flushes nothing. Elsewhere (macOS, where forking is unsafe; Windows) the
workers are spawned. Either way a worker told to stop leaves with ``os._exit``:
the interpreter's clean-up (0.4 to 0.8 s, measured) is nothing the batch needs,
and the batch waits for its workers to end.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from simulator.stopping import STOP_SIGNALS, die_with_parent, signals_deferred

Record = dict[str, Any]
StartMethod = Literal["fork", "spawn"]
GRACE_S = 3.0


def _serve(conn: Connection, parent_pid: int, fn: Callable[[Any], Record]) -> None:
    """A worker's life: take a task, send its record back, until told to stop."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the batch's handler (SIGTERM raising Interrupted) and,
    # from _start, both signals blocked: SIGTERM ends a worker at once, as it does a
    # spawned one.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            break
        if task is None:
            break
        conn.send(fn(task))
    conn.close()
    os._exit(0)  # see the module's docstring


def start_method() -> StartMethod:
    """How workers are started here: ``fork`` on Linux, ``spawn`` elsewhere."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


def death_cause(exitcode: int | None) -> str:
    """Why a worker process ended, in words."""
    if exitcode is None:
        return "worker process vanished"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = " (out of memory, or killed by someone)" if -exitcode == signal.SIGKILL else ""
        return f"worker process killed by {name}{why}"
    return f"worker process exited with status {exitcode}"


@dataclass
class _Worker[T]:
    process: BaseProcess
    conn: Connection
    task: T | None = None


class WorkerPool[T]:
    """``workers`` processes running ``fn(task) -> record``; a record per task, as they finish.

    Args:
        fn: A module-level function (it is imported by name in each worker).
        workers: Number of processes.
        on_death: Makes the record of a task whose worker died, from the task and the cause.
        method: ``fork`` or ``spawn`` (:func:`start_method` if omitted).
    """

    def __init__(
        self,
        fn: Callable[[T], Record],
        workers: int,
        on_death: Callable[[T, str], Record],
        method: StartMethod | None = None,
    ):
        self._fn = fn
        self._size = max(1, workers)
        self._on_death = on_death
        self._method = method or start_method()
        self._ctx = get_context("fork") if self._method == "fork" else get_context("spawn")
        self._workers: list[_Worker[T]] = []

    def _start(self) -> _Worker[T]:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_serve, args=(child, os.getpid(), self._fn), daemon=True)
        # Started with SIGINT ignored, which the new interpreter keeps from its first
        # instruction: a Ctrl-C reaches the whole process group, and the batch decides.
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            if self._method == "fork":
                # Held back until the worker is known to the pool (so that stop() ends
                # it); the worker unblocks them once it has its own handlers.
                with signals_deferred(), warnings.catch_warnings():
                    warnings.filterwarnings(
                        "ignore", "This process .* is multi-threaded", DeprecationWarning
                    )
                    return self._launch(process, parent, child)
            return self._launch(process, parent, child)
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)

    def _launch(self, process: BaseProcess, parent: Connection, child: Connection) -> _Worker[T]:
        process.start()
        child.close()
        worker: _Worker[T] = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker[T]) -> None:
        worker.conn.close()
        worker.process.join(GRACE_S)
        self._workers.remove(worker)

    def results(self, tasks: Sequence[T]) -> Iterator[Record]:
        """Run every task; yield each record as it arrives (not in task order)."""
        waiting = deque(tasks)
        while waiting or any(w.task is not None for w in self._workers):
            for worker in self._workers:
                if worker.task is None and waiting:
                    worker.task = waiting.popleft()
                    worker.conn.send(worker.task)
            while waiting and len(self._workers) < self._size:
                worker = self._start()
                worker.task = waiting.popleft()
                worker.conn.send(worker.task)
            busy = [w for w in self._workers if w.task is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                task = worker.task
                assert task is not None
                lost = False
                if worker.conn in ready:
                    try:
                        record: Record = worker.conn.recv()
                    except (EOFError, OSError):
                        lost = True  # it died while sending
                    else:
                        worker.task = None
                        yield record
                        continue
                if lost or worker.process.sentinel in ready or not worker.process.is_alive():
                    worker.process.join(GRACE_S)
                    if worker.process.is_alive():
                        worker.process.kill()
                        worker.process.join()
                    cause = death_cause(worker.process.exitcode)
                    worker.task = None
                    self._retire(worker)
                    yield self._on_death(task, cause)

    def in_flight(self) -> list[T]:
        """The tasks the workers hold now."""
        return [w.task for w in self._workers if w.task is not None]

    def stop(self) -> None:
        """End every worker now: SIGTERM, then SIGKILL for any still alive after a grace period."""
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self._workers:
            worker.process.join(GRACE_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()

    def close(self) -> None:
        """Let idle workers finish, then stop whatever remains."""
        for worker in self._workers:
            if worker.task is None:
                with suppress(OSError):
                    worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(GRACE_S)
        self.stop()

    def __enter__(self) -> WorkerPool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        if any(exc):
            self.stop()
        else:
            self.close()
