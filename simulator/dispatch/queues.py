"""Incidents waiting for a unit: one queue per priority, and abandonment.

Each priority has its own queue, in order of entry (first come, first served).
With ``max_wait_h`` set, an incident still queued that long after the end of its
call handling (a hand-over task: after its creation) is abandoned: it can never
be dispatched, and it is closed when a freed unit looks past it or at the next
hourly purge, whichever comes first. A policy reads the queues only through
:meth:`WaitingCalls.first_for` and :meth:`WaitingCalls.waiting`, which both
close the abandoned incidents they meet, so that no policy can send a unit to
a caller who has hung up.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.dispatch.rules import DispatchRules
from simulator.records.incidents import Incident, IncidentKind


class WaitingCalls:
    """The priority queues of the control room.

    Args:
        rules: Durations and limits (the number of priorities, the maximum wait).
        clock: The model's current time, in hours.
        eligible: The agencies that may handle an incident where it is.
        abandon: Closes an incident as abandoned.
    """

    def __init__(
        self,
        rules: DispatchRules,
        clock: Callable[[], float],
        eligible: Callable[[Incident], tuple[int, ...]],
        abandon: Callable[[Incident], None],
    ):
        self._rules = rules
        self._clock = clock
        self._eligible = eligible
        self._abandon = abandon
        self._queues: list[dict[int, Incident]] = [{} for _ in range(rules.n_priorities)]

    @property
    def priorities(self) -> range:
        """The priorities, most urgent (1) first."""
        return range(1, len(self._queues) + 1)

    def __bool__(self) -> bool:
        """Whether any incident is queued (abandoned ones not yet closed included)."""
        return any(self._queues)

    def add(self, incident: Incident) -> None:
        """Queue ``incident`` behind the others of its priority."""
        self._queues[incident.priority - 1][incident.incident_id] = incident

    def remove(self, incident: Incident) -> None:
        """Take ``incident`` out of its queue (a unit was sent).

        Raises:
            KeyError: If it is not waiting.
        """
        del self._queues[incident.priority - 1][incident.incident_id]

    def _overdue(self, incident: Incident, now: float) -> bool:
        limit = self._rules.max_wait_h
        if limit is None:
            return False
        handling = 0.0 if incident.kind is IncidentKind.TASK else self._rules.call_handling_h
        return incident.t_reported_h + handling + limit <= now

    def first_for(self, agency: int, priority: int) -> Incident | None:
        """The longest-waiting incident of ``priority`` that ``agency`` may take.

        Incidents abandoned meanwhile that come before it in the queue are closed;
        the one found stays queued until :meth:`remove`.
        """
        queue = self._queues[priority - 1]
        if not queue:  # the common case: nothing waits
            return None
        now = self._clock()
        dropped: list[int] = []
        chosen: Incident | None = None
        for key, incident in queue.items():
            if self._overdue(incident, now):
                dropped.append(key)
            elif agency in self._eligible(incident):
                chosen = incident
                break
        for key in dropped:
            self._abandon(queue.pop(key))
        return chosen

    def waiting(self, priority: int) -> list[Incident]:
        """Every incident of ``priority`` still waiting, longest-waiting first.

        The abandoned ones of that priority are closed first.
        """
        now = self._clock()
        queue = self._queues[priority - 1]
        for key in [k for k, inc in queue.items() if self._overdue(inc, now)]:
            self._abandon(queue.pop(key))
        return list(queue.values())

    def purge(self) -> None:
        """Close every abandoned incident (hourly housekeeping)."""
        if not self:  # most hours nothing waits
            return
        now = self._clock()
        for queue in self._queues:
            for key in [k for k, inc in queue.items() if self._overdue(inc, now)]:
                self._abandon(queue.pop(key))

    def reset(self, rules: DispatchRules) -> list[Incident]:
        """Take changed rules; return and forget every waiting incident.

        Returns:
            The incidents that were waiting, most urgent first, first come first
            served within a priority (the dispatcher dispatches them again).
        """
        self._rules = rules
        while len(self._queues) < rules.n_priorities:
            self._queues.append({})
        waiting = [inc for queue in self._queues for inc in queue.values()]
        for queue in self._queues:
            queue.clear()
        return waiting
