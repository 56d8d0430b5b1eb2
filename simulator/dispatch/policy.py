"""Dispatch policies: which unit answers an incident, and which waiting incident a freed unit takes.

A policy is a small object with two methods, behind one interface:

* :meth:`DispatchPolicy.choose_unit` is asked when an incident reaches dispatch
  (after call handling, or again after a policy change): it sees the free
  units of the agencies that may take the incident there, agency by agency in
  the order of the competence list, and returns one with its travel time, or
  ``None`` to queue the incident;
* :meth:`DispatchPolicy.next_job` is asked when a unit becomes free (after a
  job, or coming on duty): it sees the waiting incidents and returns one the
  unit's agency may take, or ``None`` to let the unit patrol.

Policies decide only the matching. What the control room does with the answer
(send the unit, queue, drop the abandoned) is the dispatcher's; what the unit
does next (scene, custody, holding, hand-over) is the life cycle's. A policy
must be a pure function of what it is shown and of the order it is shown in,
so that runs stay reproducible.

Policies are named in the scenario (``dispatch.policy``) and listed in
:mod:`simulator.dispatch.registry`; :func:`make_policy` builds one by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from simulator.agencies.units import Unit, distances, free
from simulator.dispatch.queues import WaitingCalls
from simulator.dispatch.registry import POLICIES
from simulator.records.incidents import Incident


class FreeUnits:
    """The available units that may answer one incident, as a policy sees them.

    Args:
        incident: The incident to answer.
        agencies: The agencies that may handle it where it is, in the order of the
            competence list.
        pools: The available units of every agency, by agency index, each in the
            order the units became available.
        now: The current model time, in hours.
    """

    __slots__ = ("_measured", "_now", "_pools", "agencies", "incident")

    def __init__(
        self,
        incident: Incident,
        agencies: tuple[int, ...],
        pools: Sequence[Mapping[int, Unit]],
        now: float,
    ):
        self.incident = incident
        self.agencies = agencies
        self._pools = pools
        self._now = now
        # The last units :meth:`of` gave, and how far each is from the incident.
        self._measured: tuple[list[Unit], list[float]] = ([], [])

    def of(self, agency: int) -> list[Unit]:
        """The free units of ``agency``, in the order they became available.

        Asking plays the patrol legs and duties of the agency's available crews up
        to now (a crew on a duty is not free), which draws patrol targets.
        """
        inc = self.incident
        self._measured = free(list(self._pools[agency].values()), self._now, inc.x_m, inc.y_m)
        return self._measured[0]

    def travel_h(self, units: Sequence[Unit]) -> np.ndarray:
        """Each unit's travel time to the incident from where it is now, in hours.

        Each crew travels by its own mode (the crews of one agency share theirs).
        Asking plays the patrol legs of those units up to now (which draws patrol
        targets): a policy should ask about the units it considers, in a fixed order.
        """
        return np.array(self.travel_times(units)) if units else np.empty(0)

    def travel_times(self, units: Sequence[Unit]) -> list[float]:
        """:meth:`travel_h` as a list of Python floats (a dozen units: no array needed)."""
        if not units:
            return []
        now = self._now
        inc = self.incident
        measured, found = self._measured
        # The units just given by of(), as they were: measured then already.
        if units is measured and len(found) == len(units):
            dist = found
        else:
            dist = distances(units, now, inc.x_m, inc.y_m)
        hour = int(now) % 24
        first = units[0].travel
        for unit in units:  # a loop: cheaper than all() over a generator
            if unit.travel is not first:
                break
        else:  # one travel model for all (the crews of one agency share theirs)
            return first.response_times_h(dist, hour, inc.priority)
        times = [0.0] * len(dist)
        for model in {id(u.travel): u.travel for u in units}.values():
            mine = [k for k, u in enumerate(units) if u.travel is model]
            found = model.response_times_h([dist[k] for k in mine], hour, inc.priority)
            for k, t in zip(mine, found, strict=True):
                times[k] = t
        return times


class DispatchPolicy(Protocol):
    """Which unit answers an incident; which waiting incident a freed unit takes."""

    def choose_unit(self, free: FreeUnits) -> tuple[Unit, float] | None:
        """The unit to send to ``free.incident`` and its travel time, or ``None`` to queue it."""
        ...

    def next_job(self, unit: Unit, waiting: WaitingCalls) -> Incident | None:
        """The waiting incident ``unit`` takes, or ``None`` (it patrols).

        It must be one ``waiting`` holds and the unit's agency may take.
        """
        ...


def quickest(units: Sequence[Unit], times: Sequence[float]) -> int:
    """The position in ``units`` of the one with the shortest travel time.

    Ties go to the lower unit number, then to the earlier in ``units``.
    """
    if len(units) == 1:
        return 0
    fastest = min(times)
    if fastest != fastest:  # a NaN time: let numpy's sort order (NaN last) decide
        return int(np.lexsort((np.array([u.number for u in units]), np.array(times)))[0])
    # Once a call: a fastest time met once (the usual case) needs no tie-break,
    # and two scans in C cost less than one in Python (a list's; the dispatcher's
    # times are one).
    if isinstance(times, list) and times.count(fastest) == 1:
        return times.index(fastest)
    # A few units: scanning the list beats sorting arrays.
    return min((k for k, t in enumerate(times) if t == fastest), key=lambda k: units[k].number)


class AgencyOrder:
    """The default: the competence list is an order of preference between agencies.

    The first agency of the list (among those that may act at the incident's
    place) that has a free unit sends the one with the shortest travel time
    (ties: the lowest unit number); a later agency is asked only when every
    earlier one is fully busy, however much closer its units are. This is how a
    scenario's competence list reads ("disputes: municipal police, then the
    State"), and the hypercube queueing model's fixed preference list of
    responders (Larson 1974, Computers & Operations Research 1(1)).

    A freed unit takes the most urgent waiting incident its agency may take, first
    come first served within a priority, wherever it is and whatever its agency's
    rank in the incident's list.
    """

    def choose_unit(self, free: FreeUnits) -> tuple[Unit, float] | None:
        """The quickest free unit of the first agency in the list that has one."""
        for agency in free.agencies:
            units = free.of(agency)
            if units:
                times = free.travel_times(units)
                best = quickest(units, times)
                return units[best], times[best]
        return None

    def next_job(self, unit: Unit, waiting: WaitingCalls) -> Incident | None:
        """The most urgent, then longest-waiting, incident the unit's agency may take."""
        agency = unit.agency.index
        for priority in waiting.priorities:
            found = waiting.first_for(agency, priority)
            if found is not None:
                return found
        return None


class ClosestUnit(AgencyOrder):
    """The closest free unit of any agency that may take the incident goes.

    The competence list then says only who may take an incident, not in which
    order: one control room sees every crew (a joint or co-located control room)
    and sends the one with the shortest travel time, the "closest idle unit"
    rule that is the usual baseline of dispatch studies (Carter, Chaiken and
    Ignall 1972, Operations Research 20(3); Jagtenberg, Bhulai and van der Mei
    2017, Health Care Management Science 20(4)). Ties go to the agency earlier in
    the list, then the lowest unit number. That French forces would dispatch
    each other's crews this way is an assumption (the coordination agreements
    between municipal and State police share tasks, not a control room); the
    policy measures what such a merger would change. Freed units choose their
    next job as under :class:`AgencyOrder`.
    """

    def choose_unit(self, free: FreeUnits) -> tuple[Unit, float] | None:
        """The quickest free unit of every agency in the list."""
        units = [u for agency in free.agencies for u in free.of(agency)]
        if not units:
            return None
        listed = free.travel_times(units)
        # Units come agency by agency in list order: the first of the fastest wins
        # among agencies, the lowest number within one.
        fastest = min(listed)
        if fastest != fastest:  # a NaN time: treat it as the slowest
            order = np.argsort(np.array(listed), kind="stable")
            best = int(order[0])
        else:
            tied = [k for k, t in enumerate(listed) if t == fastest]
            first_agency = units[tied[0]].agency.index
            best = min(
                (k for k in tied if units[k].agency.index == first_agency),
                key=lambda k: units[k].number,
            )
        return units[best], listed[best]


def make_policy(name: str) -> DispatchPolicy:
    """Build the policy registered under ``name``.

    Raises:
        KeyError: If no policy has that name (the scenario schema refuses it first).
    """
    module, _, attr = POLICIES[name].target.partition(":")
    policy_class = getattr(importlib.import_module(module), attr)
    policy: DispatchPolicy = policy_class()
    return policy
