"""Units: the crews of an agency, as Mesa agents with an explicit life cycle.

A unit is a small state machine. It knows where it is, what it is doing and
until when; what happens next (which call, how long on scene, whether a
follow-up or a hand-over is needed) is decided by its controller, the
unit life cycle, which it reaches only through the :class:`UnitController`
protocol. Each unit has at most one pending event that counts: the end of what
it is doing. Events carry the unit's ``epoch`` when they were planned: one
scheduled in an earlier state (the end of a duty or of a journey the unit was
called away from) finds the epoch changed and does nothing. A free crew has no
event: its patrol legs, and the duties its life cycle plans between calls
(:meth:`Unit.plan_duty`), are played on the fleet's leg table when the model
needs to know where it is or whether it is free.
"""

from __future__ import annotations

import math
import weakref
from array import array
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

import mesa
import numpy as np

from simulator.agencies.agency import Agency
from simulator.agencies.kernels import (
    ARRIVE,
    AVAILABLE,
    CELL,
    DUTY_AT,
    DUTY_GAP,
    DUTY_MEAN,
    END,
    LEG_CELL,
    LEG_X,
    LEG_Y,
    MIN_LEG_H,
    N_FLOATS,
    N_INTS,
    NEXT,
    ON_DUTY,
    SINCE,
    START,
    STATION,
    X,
    Y,
)
from simulator.agencies.legs import LegTable
from simulator.agencies.patrol import PatrolStrategy, PresenceLog
from simulator.records.incidents import Incident
from simulator.records.recorder import Recorder
from simulator.world.territory import Territory
from simulator.world.travel import TravelModel


class UnitState(StrEnum):
    """What a unit is doing."""

    OFF_DUTY = "off_duty"
    AVAILABLE = "available"  # idle: patrolling or at the station, can be dispatched
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    FOLLOW_UP = "follow_up"  # report writing, custody procedure
    HOLDING = "holding"  # keeping an arrested person until a judicial unit takes over
    DUTY = "duty"  # a non-call duty at the station (reports, guard, escorts)


BUSY_STATES = frozenset(
    {UnitState.EN_ROUTE, UnitState.ON_SCENE, UnitState.FOLLOW_UP, UnitState.HOLDING}
)


_COORDS: weakref.WeakKeyDictionary[Territory, tuple[list[float], list[float]]] = (
    weakref.WeakKeyDictionary()
)


def _cell_coords(territory: Territory) -> tuple[list[float], list[float]]:
    """The cell centres as Python floats, shared by every unit on ``territory``.

    A patrol leg reads two coordinates; indexing a list is several times cheaper
    than indexing a numpy array and converting the scalar, and the values are
    the same floats.
    """
    found = _COORDS.get(territory)
    if found is None:
        found = (territory.x_m.tolist(), territory.y_m.tolist())
        _COORDS[territory] = found
    return found


class UnitController(Protocol):
    """What a unit reports to whoever directs it."""

    def period_ended(self, unit: Unit) -> None:
        """The unit finished what it was doing (arrived, cleared, ended a follow-up)."""
        ...


class Unit(mesa.Agent):  # type: ignore[misc]
    """A crew of an agency (patrol car, foot patrol, guard).

    While it patrols (``AVAILABLE``), where it is and its current patrol leg are
    its row of the fleet's :class:`~simulator.agencies.legs.LegTable`, so that
    the legs of many idle crews are played in one compiled loop; its ``cell``,
    ``x`` and ``y`` attributes are then out of date. It copies its leg to the
    table when it starts patrolling and its position back when it stops, and
    otherwise keeps plain attributes, cheaper to read and write from Python.
    """

    def __init__(
        self,
        model: mesa.Model,
        *,
        agency: Agency,
        number: int,
        territory: Territory,
        travel: TravelModel,
        patrol: PatrolStrategy,
        presence: PresenceLog,
        recorder: Recorder,
        legs: LegTable,
    ):
        super().__init__(model)
        self.agency = agency
        self.number = number
        self.controller: UnitController | None = None
        self.state = UnitState.OFF_DUTY
        self.incident: Incident | None = None
        self.end_of_shift = False
        self._territory = territory
        self._xs, self._ys = _cell_coords(territory)
        self.travel = travel  # how this crew travels (its agency's mode)
        self._patrol = patrol
        self._presence = presence
        self._recorder = recorder
        # Changes with every change of state (a duty on patrol taken up included):
        # the unit's events of an older epoch are stale.
        self.epoch = 0
        # The journey to the current incident: left (x, y) at _route_t0, arrives at _route_t1.
        self._route_t0 = 0.0
        self._route_t1 = 0.0
        station = agency.station_of(number)
        self.station_cell = station  # where it starts, returns and takes arrested persons
        # Where it is when it does not patrol (patrolling: its row of the leg table).
        self.cell = station
        self.x = float(territory.x_m[station])
        self.y = float(territory.y_m[station])
        # Since when it stays where it is, to record as presence when it leaves; None
        # while it patrols (its stays are then its legs', which the table records).
        self._present_since: float | None = None
        # Its row of the leg table: floats _fr, integers _ir (views of it). While it
        # patrols, its current leg runs from (X, Y) at START to LEG_CELL, arriving at
        # ARRIVE and leaving at END; (LEG_X, LEG_Y) is LEG_CELL's centre. SINCE is when
        # its current state began (the start of its next state interval recorded; 0 at
        # first). The crews of a model share one table (the fleet's): the compiled loops
        # read their rows by number, and end its duties on patrol there.
        self._legs = legs
        self._slot = legs.add(self)  # which sets _fr and _ir
        self._slots = np.array([self._slot], dtype=np.int64)
        legs.set_agency(self._slot, agency.index, station, (self.unique_id, agency.name))
        legs.set_patrol(self._slot, patrol, travel)
        self._fr[DUTY_AT] = math.inf

    def _rows(self, floats: array[float], ints: array[int]) -> None:
        """The leg table's arrays, where this crew's row is (the table tells it).

        The crew keeps views of its row: indexing one is cheaper than indexing
        the arrays at an offset.
        """
        f = self._slot * N_FLOATS
        i = self._slot * N_INTS
        self._fr: memoryview[float] = memoryview(floats)[f : f + N_FLOATS]  # type: ignore[assignment]
        self._ir: memoryview[int] = memoryview(ints)[i : i + N_INTS]

    @property
    def since(self) -> float:
        """When the crew's current state began: the start of its next state interval.

        A crew on a duty its patrol loop plays is ``available`` until that duty is
        recorded, at its end (read-only; the leg table's SINCE).
        """
        since: float = self._fr[SINCE]
        return since

    def leg(self) -> tuple[int, float, float, float, int, float, float, float, float]:
        """Where a patrolling crew is and its current leg, as played so far (read-only).

        ``(cell, x, y, start, leg_cell, leg_x, leg_y, arrive, end)``: it left cell
        ``cell`` at (x, y) at ``start`` for ``leg_cell``, centred at (leg_x, leg_y),
        where it arrives at ``arrive`` and stays until ``end``.
        """
        f = self._fr
        i = self._ir
        return (
            i[CELL],
            f[X],
            f[Y],
            f[START],
            i[LEG_CELL],
            f[LEG_X],
            f[LEG_Y],
            f[ARRIVE],
            f[END],
        )

    # ----------------------------------------------------------------- helpers

    @property
    def label(self) -> str:
        """Readable name, e.g. ``state_police#3``."""
        return f"{self.agency.name}#{self.number}"

    def _now(self) -> float:
        now: float = self.model.now_h  # the model's clock as a plain float
        return now

    def _set_state(self, state: UnitState, now: float) -> None:
        """Change to ``state`` at ``now`` (the model's clock), closing the old state's interval."""
        f = self._fr
        since = f[SINCE]
        old = self.state
        if now > since or state is not old:
            # _value_: the member's value as a plain attribute (``value`` is a property).
            self._recorder.state_interval(self.unique_id, self.agency.name, old._value_, since, now)
        self.state = state
        f[SINCE] = now
        self.epoch += 1

    def _arrive_at(self, cell: int, x: float, y: float, now: float) -> None:
        self.cell, self.x, self.y = cell, x, y
        self._present_since = now

    def _leave(self, now: float) -> None:
        """Record the stay where the crew stood, if one is open, up to ``now``."""
        since = self._present_since
        if since is not None:
            self._presence.add(self.agency.index, self.cell, since, now)
            self._present_since = None

    def _schedule_end(self, at: float) -> None:
        self.model.call_at(at, self._period_end, self.epoch)

    def _period_end(self, epoch: int) -> None:
        if epoch != self.epoch:  # the unit was called away from what this event ended
            return
        if self.controller is not None:
            self.controller.period_ended(self)

    # ----------------------------------------------------------------- patrol

    def _start_leg(self, now: float) -> None:
        """Start patrolling now from where the crew is: its first leg, into the table.

        No duty is planned yet (the life cycle plans one, :meth:`plan_duty`).
        """
        cell = self.cell
        target = self._patrol.next_cell(cell)
        self._fr[DUTY_AT] = math.inf
        self._new_leg(cell, self.x, self.y, now, cell if target is None else target)
        self._ir[AVAILABLE] = 1

    def _new_leg(self, cell: int, x: float, y: float, start: float, target: int) -> None:
        """Write into the table the leg from ``cell`` at (x, y), at ``start``, to ``target``."""
        tx = self._xs[target]
        ty = self._ys[target]
        arrive = start + self.travel.patrol_h(math.hypot(tx - x, ty - y), int(start) % 24)
        f = self._fr
        f[X] = x
        f[Y] = y
        f[START] = start
        f[LEG_X] = tx
        f[LEG_Y] = ty
        f[ARRIVE] = arrive
        # A leg lasts at least a minute, so that replaying legs always moves time on
        # (a zero dwell on the unit's own cell would otherwise never end): max(), as
        # an ``if`` (the first of equal values, as max() takes).
        end = arrive + self._patrol.dwell_h
        least = start + MIN_LEG_H
        end = least if least > end else end
        f[END] = end
        duty_at = f[DUTY_AT]
        f[NEXT] = duty_at if duty_at < end else end
        i = self._ir
        i[CELL] = cell
        i[LEG_CELL] = target

    def advance_patrol(self, until: float) -> None:
        """Play the patrol legs and duties completed by ``until`` (lazily, without events)."""
        if self.state is UnitState.AVAILABLE and self._fr[NEXT] <= until:
            self._legs.advance(self._slots, until)

    # ----------------------------------------------------------------- duties on patrol

    def set_duties(self, gap_h: float | None, mean_h: float) -> None:
        """Its agency's mean free time before a duty (``None``: no duties) and mean duty, hours."""
        self._legs.set_duties(self._slot, gap_h, mean_h)

    def plan_duty(self, at: float) -> None:
        """A patrolling crew leaves patrol for a duty at its station at ``at``.

        The leg table's loop plays the duty when it plays the crew's legs past
        ``at``, and the duties that follow (:func:`simulator.agencies.kernels.play`):
        the crew stays :attr:`UnitState.AVAILABLE` for the control room, which asks
        :meth:`free_at` before it sends it anywhere.
        """
        f = self._fr
        f[DUTY_AT] = at
        end = f[END]
        f[NEXT] = at if at < end else end

    def free_at(self, now: float) -> bool:
        """Whether a patrolling crew is free at ``now``, not on a duty the leg table plays.

        Plays its legs and duties up to ``now``.
        """
        if self._fr[NEXT] <= now:
            self._legs.advance(self._slots, now)
        return not self._ir[ON_DUTY]

    def _duty_done(self, start: float, end: float) -> None:
        """A duty on patrol played in Python ended: its two state intervals recorded.

        Available from SINCE to the duty's ``start``, on the duty to its ``end``; the
        compiled loop writes the same two rows for the duties it plays
        (``LegTable._records``).
        """
        f = self._fr
        uid = self.unique_id
        name = self.agency.name
        self._recorder.state_interval(uid, name, UnitState.AVAILABLE._value_, f[SINCE], start)
        self._recorder.state_interval(uid, name, UnitState.DUTY._value_, start, end)
        f[SINCE] = end

    def take_up_duty(self, now: float) -> bool:
        """Make the duty the leg table plays for this crew a duty of the life cycle (``DUTY``).

        For what a duty on patrol does not do: be called off by an urgent call, end
        with a waiting call taken, outlast a shift, see a policy change. The crew is
        played up to ``now`` first; its duty, if it is on one, goes on to the same
        end, which becomes an event.

        Returns:
            Whether the crew was on a duty.
        """
        if self.state is not UnitState.AVAILABLE or self.free_at(now):
            return False
        f = self._fr
        i = self._ir
        start = f[ARRIVE]
        end = f[END]
        self._recorder.state_interval(
            self.unique_id, self.agency.name, UnitState.AVAILABLE._value_, f[SINCE], start
        )
        i[ON_DUTY] = 0
        i[AVAILABLE] = 0
        f[DUTY_AT] = math.inf
        station = i[STATION]
        self.cell = station
        self.x = self._xs[station]
        self.y = self._ys[station]
        self.state = UnitState.DUTY
        f[SINCE] = start
        self.epoch += 1
        self._schedule_end(end)
        return True

    def _next_target(self) -> int:
        """The strategy's next target from the current leg's cell (its own cell if none)."""
        cell: int = self._ir[LEG_CELL]
        target = self._patrol.next_cell(cell)
        return cell if target is None else target

    def _legs_one_by_one(self, until: float) -> None:
        """Play the legs and duties ended by ``until`` in Python (a travel the loop does not know).

        Finish the current leg and start the next ones, as long as they end by
        ``until``; a duty due before the leg ends takes the crew to its station
        until the duty ends. The steps of :func:`simulator.agencies.kernels._play_one`.
        """
        f = self._fr
        i = self._ir
        patrol = self._patrol
        legs = self._legs
        while f[NEXT] <= until:
            end = f[END]
            cell = i[LEG_CELL]
            if i[ON_DUTY]:  # the duty is over: patrol from the station, the next duty planned
                target = patrol.next_cell(cell)
                self._duty_done(f[ARRIVE], end)
                i[ON_DUTY] = 0
                gap = f[DUTY_GAP]
                f[DUTY_AT] = end + gap * legs.duty_draw() if gap >= 0.0 else math.inf
            elif f[DUTY_AT] < end:  # a duty starts before the leg ends: to the station
                at = f[DUTY_AT]
                self._presence.add(self.agency.index, cell, f[ARRIVE], at)
                station = i[STATION]
                x = self._xs[station]
                y = self._ys[station]
                i[ON_DUTY] = 1
                i[CELL] = station
                i[LEG_CELL] = station
                f[X] = f[LEG_X] = x
                f[Y] = f[LEG_Y] = y
                f[START] = f[ARRIVE] = at
                f[END] = f[NEXT] = at + f[DUTY_MEAN] * legs.duty_draw()
                continue
            else:
                # The leg to ``cell`` is over: the unit dwelt there from its arrival.
                self._presence.add(self.agency.index, cell, f[ARRIVE], end)
                target = patrol.next_cell(cell)
            self._new_leg(cell, f[LEG_X], f[LEG_Y], end, cell if target is None else target)

    def _stop_patrol(self, now: float, *, where: bool = True) -> None:
        """Stop patrolling at ``now``: play the legs ended by now, record the dwell so far.

        The crew's position comes back from the table: the current leg's cell if
        it has arrived there, else (with ``where``) the point of the leg reached.
        """
        f = self._fr
        if f[NEXT] <= now:
            self._legs.advance(self._slots, now)
        i = self._ir
        assert not i[ON_DUTY], f"{self.label} left a duty on patrol without take_up_duty"
        i[AVAILABLE] = 0
        f[DUTY_AT] = math.inf
        arrive = f[ARRIVE]
        if now >= arrive:
            cell = i[LEG_CELL]
            self._presence.add(self.agency.index, cell, arrive, now)
            self.cell = cell
            self.x = f[LEG_X]
            self.y = f[LEG_Y]
        elif where:
            start = f[START]
            share = (now - start) / (arrive - start)
            x = f[X]
            y = f[Y]
            x += (f[LEG_X] - x) * share
            y += (f[LEG_Y] - y) * share
            self.x = x
            self.y = y
            self.cell = self._territory.cell_at(x, y)

    def position(self, now: float | None = None) -> tuple[float, float]:
        """Where the unit is now (on a patrol leg: interpolated along it).

        Plays the patrol legs completed by now, which draws patrol targets: only
        the model itself may call it. Observers use :meth:`where`.

        Args:
            now: The model's current time, when the caller has it at hand.
        """
        if now is None:
            now = self._now()
        if self.state is not UnitState.AVAILABLE:
            return self._at(now)
        if self._fr[NEXT] <= now:
            self._legs.advance(self._slots, now)
        return self._on_leg(now)

    def _on_leg(self, now: float) -> tuple[float, float]:
        """Where a patrolling unit is on its current leg at ``now``, as played so far."""
        f = self._fr
        arrive = f[ARRIVE]
        if now < arrive:
            start = f[START]
            share = (now - start) / (arrive - start)
            x = f[X]
            y = f[Y]
            return x + (f[LEG_X] - x) * share, y + (f[LEG_Y] - y) * share
        return f[LEG_X], f[LEG_Y]

    def where(self, now: float | None = None) -> tuple[float, float]:
        """Where the unit is, as far as the model has played its patrol (read-only).

        Never plays a leg nor draws a random number, so looking does not change
        the run. An idle unit is interpolated along its current leg; a leg that
        ended after the last hourly update shows the unit at that leg's cell
        until the model plays the next one (at most an hour later). A free crew
        whose planned duty is due (or played) is at its station: it may be back on
        patrol already, which only playing its legs would tell.

        Args:
            now: The model's current time, when the caller has it at hand.
        """
        if now is None:
            now = self._now()
        if self.state is UnitState.AVAILABLE:
            if self._fr[DUTY_AT] <= now and not self._ir[ON_DUTY]:  # due, not yet played
                station = self._ir[STATION]
                return self._xs[station], self._ys[station]
            return self._on_leg(now)
        return self._at(now)

    def _at(self, now: float) -> tuple[float, float]:
        """Where a unit that is not patrolling is: on its way, along the straight line."""
        if self.state is UnitState.EN_ROUTE and self.incident is not None:
            t0 = self._route_t0
            t1 = self._route_t1
            if t1 > t0:
                share = min(1.0, max(0.0, (now - t0) / (t1 - t0)))
                inc = self.incident
                return self.x + (inc.x_m - self.x) * share, self.y + (inc.y_m - self.y) * share
        return self.x, self.y

    # ----------------------------------------------------------------- life cycle

    def come_on_duty(self) -> None:
        """Start a shift at the station, available."""
        now = self._now()
        station = self.station_cell
        self._set_state(UnitState.AVAILABLE, now)
        self.end_of_shift = False
        self._arrive_at(station, self._xs[station], self._ys[station], now)
        self._present_since = None
        self._start_leg(now)

    def become_available(self) -> None:
        """Back to patrol from wherever the last job ended."""
        now = self._now()
        self._leave(now)
        self.incident = None
        self._set_state(UnitState.AVAILABLE, now)
        self._start_leg(now)

    def go_off_duty(self) -> None:
        """End the shift, from patrol or straight from the last job."""
        now = self._now()
        if self.state is UnitState.AVAILABLE:
            self._stop_patrol(now)
        self._leave(now)
        self.incident = None
        self._set_state(UnitState.OFF_DUTY, now)
        self.end_of_shift = False

    def dispatch_to(self, incident: Incident, arrive_at: float) -> None:
        """Leave patrol (or the last job) for ``incident``; arrival is an event at ``arrive_at``."""
        now = self._now()
        if self.state is UnitState.AVAILABLE:
            self._stop_patrol(now)  # a patrolling crew's stays are its legs': none is open
        else:
            self._leave(now)
        self.incident = incident
        self._route_t0 = now
        self._route_t1 = arrive_at
        self._set_state(UnitState.EN_ROUTE, now)
        self._schedule_end(arrive_at)

    def divert_to(self, incident: Incident, arrive_at: float) -> Incident | None:
        """Leave a duty, or the way to an incident, now for ``incident`` (pre-emption).

        The unit sets off from where it is (on the way: the point of the straight
        line it has reached); the pending end of what it was doing becomes stale.

        Returns:
            The incident it was on its way to, which nobody attends now; ``None``
            when called off a duty.
        """
        left = self.incident if self.state is UnitState.EN_ROUTE else None
        if left is not None:
            self.x, self.y = self._at(self._now())
            self.cell = self._territory.cell_at(self.x, self.y)
        self.dispatch_to(incident, arrive_at)
        return left

    def work(self, state: UnitState, until: float, *, at_station: bool = False) -> None:
        """Spend until ``until`` on scene or in follow-up; then report back.

        Args:
            state: ``ON_SCENE`` or ``FOLLOW_UP``.
            until: When the work ends.
            at_station: The work happens at the station (custody procedure).
        """
        now = self._now()
        inc = self.incident
        if self.state is UnitState.EN_ROUTE and inc is not None:
            self._arrive_at(inc.cell, inc.x_m, inc.y_m, now)
            self._route_t1 = self._route_t0  # arrived: no longer on a journey
        if at_station:
            self._leave(now)
            station = self.station_cell
            self._arrive_at(station, self._xs[station], self._ys[station], now)
        self._set_state(state, now)
        self._schedule_end(until)

    def hold(self) -> None:
        """Wait on scene, without a set end, for a judicial unit to take over."""
        self._set_state(UnitState.HOLDING, self._now())

    def release_at(self, at: float) -> None:
        """End the hold at ``at`` (when the hand-over is done)."""
        self._schedule_end(at)

    @property
    def patrol(self) -> PatrolStrategy:
        """The unit's patrol strategy."""
        return self._patrol

    def reassign(self, agency: Agency, patrol: PatrolStrategy, travel: TravelModel) -> None:
        """Take an agency's changed settings (a policy change); the current job goes on.

        An idle unit given a new patrol strategy leaves its current leg now and
        starts patrolling the new way.
        """
        changed = patrol is not self._patrol
        self.agency = agency
        self.station_cell = agency.station_of(self.number)
        self.travel = travel
        legs = self._legs
        legs.set_agency(self._slot, agency.index, self.station_cell, (self.unique_id, agency.name))
        if changed and self.state is UnitState.AVAILABLE:
            legs.set_patrol(self._slot, self._patrol, travel)  # the legs up to now
            now = self._now()
            self.free_at(now)  # played up to now (a crew on a duty was taken up before)
            duty_at = self._fr[DUTY_AT]  # its planned duty, which a new patrol keeps
            self._stop_patrol(now)
            self._patrol = patrol
            legs.set_patrol(self._slot, patrol, travel)
            self._start_leg(now)
            self.plan_duty(duty_at)
        else:
            self._patrol = patrol
            legs.set_patrol(self._slot, patrol, travel)

    def close_log(self) -> None:
        """Write the current state's interval up to now (end of the run)."""
        now = self._now()
        self._leave(now)
        self.take_up_duty(now)  # a duty on patrol: the duty's interval is the one to close
        self._set_state(self.state, now)


def advance_all_patrols(groups: Sequence[Sequence[Unit]], now: float) -> None:
    """:meth:`Unit.advance_patrol` of the crews of each of ``groups`` in turn, in one compiled loop.

    The model asks it of the fleet's crews, agency by agency, at the start of every
    hour. Each agency's crews draw from their own patrol streams and record their
    own presence, so playing the groups one after the other in a single loop is
    playing each in its own.
    """
    first = next((units[0] for units in groups if units), None)
    if first is not None:
        legs = first._legs
        legs.advance(legs.slots_of_all(groups), now)


def free(units: Sequence[Unit], now: float, x0: float, y0: float) -> tuple[list[Unit], list[float]]:
    """Those of the available ``units`` not on a duty at ``now``, and their :func:`distances`.

    In order, each from where :meth:`Unit.position` puts it, from (``x0``, ``y0``).
    Their legs and duties are played up to ``now`` in one compiled loop, one unit
    after the other in the order given (:meth:`Unit.free_at` of each). The units
    share one leg table.
    """
    if not units:
        return [], []
    return units[0]._legs.free(units, now, x0, y0)


def distances(units: Sequence[Unit], now: float, x0: float, y0: float) -> list[float]:
    """How far each of ``units`` is at ``now`` from (``x0``, ``y0``), in metres, in order.

    Each from where :meth:`Unit.position` puts it. The nearest-unit search asks
    this of every free unit of an agency for each call; the idle ones are played
    and measured in one compiled loop. Idle units play their patrol legs up to
    ``now`` one after the other, in the order given, so the patrol targets are
    drawn in the same order as unit by unit. Distances are ``abs(complex)``, the
    C library's hypot, which np.hypot calls too (``math.hypot`` computes its own,
    and may differ). The units share one leg table (those of one model do).
    """
    if not units:
        return []
    return units[0]._legs.distances(units, now, x0, y0)
