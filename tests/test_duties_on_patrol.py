"""Non-call duties played with the patrol legs (life-cycle rule 6, without events).

A free crew's duties, and the patrol between them, are played by the leg table's
loop when the model needs the crew (:meth:`Unit.plan_duty`). These tests follow
one duty to the bit (when it starts, how long it lasts, what presence it leaves),
check the compiled loop against the same steps in Python, with buffers that fill
up and draws that run out in the middle of a loop, and check each moment a duty
on patrol becomes the life cycle's (``take_up_duty``): the end of a shift, the
end of the run.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from simulator.agencies.kernels import (
    DRAWN,
    DUTY_AT,
    DUTY_GAP,
    DUTY_MEAN,
    N_FLOATS,
    N_INTS,
    NEXT,
    ON_DUTY,
)
from simulator.agencies.units import Unit, UnitState
from simulator.model import STREAMS, SecurityModel

from .conftest import SMALL_TOWN, inject, scenario_from
from .test_leg_kernels import all_in_python


def town(
    *,
    share: float = 0.4,
    mean_min: float = 30.0,
    crews: int = 3,
    calls: float = 1.5,
    seed: int = 5,
    **extra: object,
) -> SecurityModel:
    """The small town: State crews on random patrol, with duties, and some calls."""
    scenario = scenario_from(
        SMALL_TOWN,
        travel__congestion=[1.0 + 0.05 * h for h in range(24)],
        demand__rate_per_hour=calls,
        agencies__state_police__units=crews,
        agencies__state_police__patrol={"strategy": "random", "dwell_min": 4},
        agencies__state_police__duties={"share": share, "mean_min": mean_min},
        **extra,
    )
    return SecurityModel(scenario, seed=seed)


def duties_rng(seed: int) -> np.random.Generator:
    """The duties stream of a run of ``seed``, as the model makes it."""
    return np.random.default_rng(
        np.random.SeedSequence(seed).spawn(len(STREAMS))[STREAMS.index("duties")]
    )


def crews(model: SecurityModel) -> list[Unit]:
    return [u for units in model.units for u in units]


def rows(model: SecurityModel) -> list[tuple[object, ...]]:
    """Each crew's state, its leg or position, and its duty fields in the leg table."""
    out = []
    for u in crews(model):
        f = u._legs.floats[u._slot * N_FLOATS : (u._slot + 1) * N_FLOATS]
        i = u._legs.ints[u._slot * N_INTS : (u._slot + 1) * N_INTS]
        where = u.leg() if u.state is UnitState.AVAILABLE else (u.cell, u.x, u.y)
        out.append((u.state, *where, f[NEXT], f[DUTY_AT], i[ON_DUTY]))
    return out


def test_one_duty_to_the_bit() -> None:
    """A duty planned at ``at`` starts there (the dwell so far recorded), lasts the
    mean times the next draw, and the next is planned the mean free time times the
    draw after, from its end."""
    model = town(crews=1, calls=0.0)
    model.run_until(2.0)
    (unit,) = crews(model)
    assert unit.free_at(2.0)
    legs = unit._legs
    f = unit._fr
    # A duty in the middle of the crew's current leg's dwell, after it arrived.
    unit.advance_patrol(2.0)
    arrive, end = unit.leg()[7], unit.leg()[8]
    at = max(arrive, 2.0) + 0.4 * (end - max(arrive, 2.0))
    unit.plan_duty(at)
    cell = unit.leg()[4]
    before = model.presence.hours.copy()
    # The next two draws of the duties stream, as the loop will take them.
    drawn = legs._count[DRAWN]
    if drawn + 2 > legs._duty_draws.size:
        legs._draw_duties()
        drawn = 0
    length, gap = legs._duty_draws[drawn] * f[DUTY_MEAN], legs._duty_draws[drawn + 1] * f[DUTY_GAP]
    assert not unit.free_at(at)  # on the duty from ``at`` on
    assert unit.where(at) == (unit._xs[unit.station_cell], unit._ys[unit.station_cell])
    after = model.presence.hours.ravel()
    flat = unit.agency.index * model.presence.n_cells + cell
    assert np.flatnonzero(after != before.ravel()).tolist() == [flat]
    assert after[flat] == before.ravel()[flat] + (at - arrive)  # the dwell up to the duty
    assert f[NEXT] == at + length
    assert not unit.free_at(math.nextafter(at + length, 0.0))
    assert unit.free_at(at + length)
    assert f[DUTY_AT] == at + length + gap
    intervals = [
        (s, a, b) for (uid, _, s, a, b) in model.recorder.state_intervals() if uid == unit.unique_id
    ]
    assert intervals[-2:] == [
        ("available", pytest.approx(intervals[-2][1]), at),
        ("duty", at, at + length),
    ]
    assert unit.state is UnitState.AVAILABLE


@pytest.mark.parametrize("seed", [1, 2])
def test_duties_played_in_python_are_those_of_the_compiled_loop(seed: int) -> None:
    """Crews whose travel the loop does not know play their duties in Python, the same
    steps: the same legs, duties, presence and state intervals."""
    compiled = town(seed=seed)
    python = town(seed=seed)
    all_in_python(python)
    for until in (5.5, 19.0, 40.25, 60.0):
        compiled.run_until(until)
        python.run_until(until)
        assert rows(compiled) == rows(python)
        assert np.array_equal(compiled.presence.hours, python.presence.hours)
    assert compiled.recorder.state_intervals() == python.recorder.state_intervals()
    assert sum(s == "duty" for (_, _, s, _, _) in compiled.recorder.state_intervals()) > 20


def test_a_loop_whose_duty_records_fill_up_or_whose_draws_run_out_goes_on() -> None:
    """Room for one duty a loop and two draws a batch: many stops, the same run.

    The duties stream gives the same numbers in batches of two as of 256."""
    # Short duties of many crews: several end within one hour's loop.
    small = town(seed=3, crews=8, mean_min=6.0)
    large = town(seed=3, crews=8, mean_min=6.0)
    legs = small.fleet.legs
    legs.record_buffers(duties=1)
    legs.duty_stream(duties_rng(3), batch=2)
    large.fleet.legs.duty_stream(duties_rng(3))
    stops: list[int] = []
    stopped = legs._stopped

    def counted(slot: int, why: int, until: float) -> int:
        stops.append(why)
        return stopped(slot, why, until)

    legs._stopped = counted  # type: ignore[method-assign]
    for model in (small, large):
        model.run_until(48.0)
    assert stops.count(0) > 20 and stops.count(3) > 5  # DRAWS, FULL
    assert rows(small) == rows(large)
    assert np.array_equal(small.presence.hours, large.presence.hours)
    assert small.recorder.state_intervals() == large.recorder.state_intervals()


def test_a_crew_on_a_duty_when_its_shift_ends_finishes_it_then_goes_off() -> None:
    """The end of a shift finds the crew on a duty played on patrol: it works on to the
    duty's end (as after a job), then goes off duty; nothing is recorded twice."""
    model = town(
        crews=1, calls=0.0, share=0.8, mean_min=240.0, agencies__state_police__service_hours=[6, 18]
    )
    (unit,) = crews(model)
    model.run_until(17.99)
    assert not unit.free_at(17.99), "the crew should be on a long duty at the end of its shift"
    duty_end = unit._fr[NEXT]
    assert duty_end > 18.0
    seen: list[UnitState] = []
    model.run_until(18.0 + 1e-9)
    seen.append(unit.state)
    assert unit.end_of_shift
    model.run_until(duty_end + 0.01)
    seen.append(unit.state)
    assert seen == [UnitState.DUTY, UnitState.OFF_DUTY]  # on the duty after 18 h, then off
    mine = [
        (s, a, b) for (uid, _, s, a, b) in model.recorder.state_intervals() if uid == unit.unique_id
    ]
    assert mine[-1][0] == "duty" and mine[-1][2] == duty_end  # off duty since (still open)
    assert "off_duty" not in [state for state, _, _ in mine[1:]]  # no other leave on the way
    for (_, _, end), (_, start, _) in itertools.pairwise(mine):
        assert start == end  # the intervals tile time


def test_the_end_of_the_run_closes_a_duty_played_on_patrol() -> None:
    model = town(crews=4, calls=0.0, share=0.9, mean_min=600.0)
    model.run_until(30.0)
    on_duty = [u for u in crews(model) if u.state is UnitState.AVAILABLE and not u.free_at(30.0)]
    assert on_duty
    model.finish()
    for unit in on_duty:
        last = [
            (s, a, b)
            for (uid, _, s, a, b) in model.recorder.state_intervals()
            if uid == unit.unique_id
        ][-1]
        assert last[0] == "duty" and last[2] == 30.0


def test_a_new_patrol_on_the_timeline_keeps_the_free_crews_planned_duties() -> None:
    """A policy change of patrol (not of duties) restarts a free crew's patrol: its
    planned duty stays planned, and duties go on being played after it."""
    model = town(calls=0.0)
    model.run_until(10.0)
    planned = [u._fr[DUTY_AT] for u in crews(model)]
    assert all(10.0 < at < math.inf for at in planned)
    new = scenario_from(
        SMALL_TOWN,
        travel__congestion=[1.0 + 0.05 * h for h in range(24)],
        demand__rate_per_hour=1.5,
        agencies__state_police__units=3,
        agencies__state_police__patrol={"strategy": "random", "dwell_min": 6},
        agencies__state_police__duties={"share": 0.4, "mean_min": 30.0},
    )
    model._reconfigure(new)
    assert [u._fr[DUTY_AT] for u in crews(model)] == planned
    model.run_until(60.0)
    model.finish()
    starts = [a for (_, _, s, a, _) in model.recorder.state_intervals() if s == "duty"]
    assert len([a for a in starts if a > 10.0]) > 20


def test_a_direct_call_passed_to_17_waits_for_a_crew_on_a_duty_on_patrol() -> None:
    """A call still waiting for a municipal police when its line closes is passed to
    17; with the State crew on a duty played on patrol, it is the crew's when the
    duty ends, as any waiting call."""
    pm = {
        "kind": "municipal_police",
        "communes": ["centre"],
        "station": "centre",
        "units": 1,
        "patrol": {"strategy": "static"},
        "service_hours": [8, 20],
        "direct_calls": {"types": {"noise": 0.5, "dispute": 0.3, "assistance": 0.2}},
    }
    model = town(crews=1, calls=0.0, share=0.6, mean_min=240.0, seed=1, agencies__pm=pm)
    (state,) = model.units[0]
    cell = model.agencies[0].station_cell
    sx, sy = float(model.territory.x_m[cell]), float(model.territory.y_m[cell])
    busy = inject(model, 19.0, sx, sy + 400, type="noise", on_scene_min=180)
    busy.addressed_to = "pm"
    waiting = inject(model, 19.5, sx, sy - 400, type="noise", on_scene_min=10, priority=3)
    waiting.addressed_to = "pm"
    model.run_until(20.0)
    on_duty = state.state is UnitState.DUTY or not state.free_at(20.0)
    assert on_duty, "the State crew should be on a duty when the line closes"
    model.run_until(60.0)
    (duty,) = [
        (a, b)
        for (uid, _, s, a, b) in model.recorder.state_intervals()
        if uid == state.unique_id and s == "duty" and a < 20.0 < b
    ]
    assert waiting.agency == "state_police"
    assert waiting.t_dispatched_h == duty[1]


def test_a_crew_whose_duty_is_due_is_seen_at_its_station_before_it_is_played() -> None:
    """``where`` plays nothing: a free crew whose planned duty is due is shown at its
    station (not frozen on its patrol leg until the next hourly play), and looking
    changes nothing of the run."""
    looked = town(crews=1, calls=0.0)
    plain = town(crews=1, calls=0.0)
    for model in (looked, plain):
        model.run_until(2.0)
    (unit,) = crews(looked)
    assert unit.free_at(2.0)
    at = unit._fr[DUTY_AT]
    assert 2.0 < at < math.inf
    station = (unit._xs[unit.station_cell], unit._ys[unit.station_cell])
    before = unit.where(math.nextafter(at, 0.0))
    if at < unit.leg()[8]:  # the leg it is on when the duty comes: seen on it until then
        assert before == unit._on_leg(math.nextafter(at, 0.0))
    assert unit.where(at) == station
    assert unit.where(at + 0.25) == station
    assert unit.state is UnitState.AVAILABLE and not unit._ir[ON_DUTY]  # nothing played
    for model in (looked, plain):
        model.run_until(30.0)
    assert rows(looked) == rows(plain)
    assert looked.recorder.state_intervals() == plain.recorder.state_intervals()
