"""The run's one incident counter."""

from __future__ import annotations


class IncidentIds:
    """Incident ids 0, 1, 2... in the order incidents are created.

    The model owns the one counter of a run and hands :meth:`take` to whoever
    creates incidents (the call generator, the crime engine, the life cycle's
    hand-over tasks), so no two incidents share an id and nobody else keeps a
    count of its own.
    """

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def take(self) -> int:
        """Reserve the next id."""
        taken = self._next
        self._next += 1
        return taken

    @property
    def issued(self) -> int:
        """How many ids have been taken so far."""
        return self._next
