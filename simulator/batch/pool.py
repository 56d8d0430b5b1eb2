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
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from simulator.stopping import die_with_parent

Record = dict[str, Any]
GRACE_S = 3.0


def _serve(conn: Connection, parent_pid: int, fn: Callable[[Any], Record]) -> None:
    """A worker's life: take a task, send its record back, until told to stop."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(fn(task))


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
    """

    def __init__(
        self,
        fn: Callable[[T], Record],
        workers: int,
        on_death: Callable[[T, str], Record],
    ):
        self._fn = fn
        self._size = max(1, workers)
        self._on_death = on_death
        self._ctx = get_context("spawn")
        self._workers: list[_Worker[T]] = []

    def _start(self) -> _Worker[T]:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_serve, args=(child, os.getpid(), self._fn), daemon=True)
        # Started with SIGINT ignored, which the new interpreter keeps from its first
        # instruction: a Ctrl-C reaches the whole process group, and the batch decides.
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            process.start()
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
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
