"""Calls and offences made into incidents on Python numbers, against the array formulas.

The call generator works each call out on Python numbers and the crime engine makes
its offences' incidents with positional arguments; both must give, to the bit, the
incidents the formulas on arrays with keyword arguments gave (the references below
are those formulas as they were written before).
"""

from __future__ import annotations

import dataclasses
import itertools
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from simulator.crime import kernels
from simulator.crime.engine import CrimeEngine
from simulator.model import SecurityModel
from simulator.records.incidents import Incident, IncidentKind, Known, Outcome
from simulator.scenario import load_scenario
from simulator.world.demand import CallGenerator, CallMix
from simulator.world.registries import HOURS_PER_WEEK

from .conftest import SCENARIOS, SMALL_TOWN, scenario_from


def fields(incident: Incident) -> tuple[Any, ...]:
    """Every field of an incident (incidents compare by identity)."""
    return dataclasses.astuple(incident)


def calls_on_arrays(
    gen: CallGenerator,
    rng: np.random.Generator,
    n: int,
    hour: int,
    mix: CallMix,
    new_id: Callable[[], int],
    addressed_to: str | None = None,
) -> list[Incident]:
    """The calls as drawn on arrays, columns first, then made with keywords."""
    time_u, type_u, loc_u, prio_u = rng.random((4, n))
    z = rng.standard_normal(n)
    e = rng.standard_exponential(n)
    late = rng.random(4 * n)
    times = hour + np.sort(time_u)
    type_idx = np.minimum(np.searchsorted(mix.type_cum, type_u, side="right"), len(gen._types) - 1)
    rows = mix.cum_weights[:, gen._hour_class[hour % HOURS_PER_WEEK]]
    cells = [
        min(int(rows[gen._location_of[k]].searchsorted(u, side="right")), gen.territory.n_cells - 1)
        for k, u in zip(type_idx, loc_u, strict=True)
    ]
    priority = [
        1
        + min(int(np.searchsorted(gen._prio_rows[k], u, side="right")), len(gen._prio_rows[k]) - 1)
        for k, u in zip(type_idx, prio_u, strict=True)
    ]
    if gen._spec.on_scene.distribution == "exponential":
        on_scene = np.array(gen._scene_mean)[type_idx] * e / 60.0
    else:
        on_scene = np.exp(np.array(gen._scene_mu)[type_idx] + gen._scene_sigma * z) / 60.0
    follow = np.where(
        late[:n] < np.array(gen._follow_p)[type_idx], np.array(gen._follow_hours)[type_idx], 0.0
    )
    arrest = late[n : 2 * n] < np.array(gen._arrest_p)[type_idx]
    t = gen.territory
    xs = t.x_m[cells] + (late[2 * n :: 2] - 0.5) * t.cell_m
    ys = t.y_m[cells] + (late[2 * n + 1 :: 2] - 0.5) * t.cell_m
    return [
        Incident(
            incident_id=new_id(),
            kind=IncidentKind.CALL,
            type=gen.call_types[type_idx[i]],
            priority=priority[i],
            cell=cells[i],
            district=int(t.district[cells[i]]),
            commune=int(t.commune[cells[i]]),
            x_m=float(xs[i]),
            y_m=float(ys[i]),
            t_occurred_h=float(times[i]),
            t_reported_h=float(times[i]),
            on_scene_h=float(on_scene[i]),
            follow_up_h=float(follow[i]),
            arrest=bool(arrest[i]),
            addressed_to=addressed_to,
        )
        for i in range(n)
    ]


def town_with_calls(distribution: str) -> SecurityModel:
    """The small town with calls of types that differ in every respect a call draws."""
    return SecurityModel(
        scenario_from(
            SMALL_TOWN,
            demand__rate_per_hour=3.0,
            demand__on_scene={"distribution": distribution, "mean_min": 30, "cv": 0.8},
            demand__types={
                "assistance": {"share": 0.5, "location": "residents", "follow_up_prob": 0.3},
                "noise": {
                    "share": 0.3,
                    "location": "night",
                    "on_scene_mean_min": 12,
                    "priority_shares": [0, 0.2, 0.8],
                },
                "dispute": {"share": 0.2, "arrest_prob": 0.4, "follow_up_min": 45},
            },
        ),
        seed=4,
    )


@pytest.mark.parametrize("distribution", ["lognormal", "exponential"])
def test_calls_drawn_one_by_one_are_those_drawn_on_arrays(distribution: str) -> None:
    """Every field of every call, for hours of every class, one call or many, any mix."""
    gen = town_with_calls(distribution).calls
    inside = np.zeros(gen.territory.n_cells, dtype=bool)
    inside[::3] = True
    mixes = [gen._mix, gen.mix({"noise": 0.7, "dispute": 0.3}, inside)]
    made = 0
    for seed, (hour, n, mix) in enumerate(
        itertools.product(range(0, 2 * HOURS_PER_WEEK, 5), [1, 2, 7], mixes)
    ):
        ids, ref_ids = itertools.count(10 * seed), itertools.count(10 * seed)
        to = None if seed % 2 else "state_police"
        rng, ref_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        got = gen.incidents(gen.draw(rng, n, hour, mix), ids.__next__, to)
        want = calls_on_arrays(gen, ref_rng, n, hour, mix, ref_ids.__next__, to)
        assert [fields(c) for c in got] == [fields(c) for c in want]
        assert rng.random() == ref_rng.random()  # the stream is where it was left
        made += n
    assert made > 600


def test_the_hours_calls_are_drawn_from_the_generators_own_stream_as_before() -> None:
    """calls_in_hour: a Poisson count, then that many calls; none at all drawn at rate 0."""
    model = town_with_calls("lognormal")
    gen = model.calls
    ref_rng = np.random.default_rng()
    ref_rng.bit_generator.state = gen._rng.bit_generator.state
    ids, ref_ids = itertools.count(), itertools.count()
    seen = 0
    for hour in range(3 * 24):
        got = gen.calls_in_hour(hour, ids.__next__)
        n = int(ref_rng.poisson(gen.rate(hour)))
        want = calls_on_arrays(gen, ref_rng, n, hour, gen._mix, ref_ids.__next__) if n else []
        assert [fields(c) for c in got] == [fields(c) for c in want]
        seen += len(got)
    assert seen > 100


# How the kernel's codes read (the reference's own table, not the engine's).
KNOWN = {
    kernels.DETECTED: Known.DETECTED,
    kernels.REPORTED: Known.REPORTED,
    kernels.DARK: Known.DARK,
}


def offences_by_keyword(
    engine: CrimeEngine,
    args: tuple[np.ndarray, ...],
    ids: list[int],
) -> tuple[list[Incident], dict[int, tuple[float, float]], list[tuple[float, int, str]]]:
    """The offences as incidents made with keywords, and their investigations on arrays.

    Returns:
        The incidents, the uniforms kept for an arrest's fate, and the investigations
        (when they end, the incident's id, the agency).
    """
    numbers, values = args  # (type, cell, ints...), (when, floats..., uniforms kept)
    kinds, cells, ints = numbers[:, 0], numbers[:, 1], numbers[:, 2:]
    when, floats = values[:, 0], values[:, 1:9]
    u = {name: values[:, 9 + j] for j, name in enumerate(("later", "investigate", "prison"))}
    u["prison_days"] = values[:, 12]
    p_later = floats[:, 7] * np.exp(floats[:, 6])
    incidents, sentence, later = [], {}, []
    for i in range(kinds.size):
        k, cell = int(kinds[i]), int(cells[i])
        ts = engine._type_specs[k]
        known = KNOWN[int(ints[i, 0])]
        needs_unit, arrest = bool(ints[i, 1]), bool(ints[i, 2])
        incident = Incident(
            incident_id=ids[i],
            kind=IncidentKind.OFFENCE,
            type=engine.types[k],
            priority=ts.priority,
            cell=cell,
            district=engine._district[cell],
            commune=engine._commune[cell],
            x_m=float(floats[i, 1]),
            y_m=float(floats[i, 2]),
            t_occurred_h=float(when[i]),
            t_reported_h=float(floats[i, 0]),
            on_scene_h=float(floats[i, 3]),
            follow_up_h=float(floats[i, 4]),
            arrest=arrest,
            known=known,
            needs_response=needs_unit,
            resident=int(ints[i, 3]),
            outcome=Outcome.OPEN
            if needs_unit
            else (Outcome.DARK if known is Known.DARK else Outcome.RECORDED),
            offender=int(ints[i, 4]),
            t_offender_gone_h=float(floats[i, 5]),
        )
        incidents.append(incident)
        investigator = engine._investigator[cell]
        investigated = known is not Known.DARK and investigator >= 0 and u["later"][i] < p_later[i]
        if investigated:
            wait = ts.investigation_days * 24.0 * float(-np.log1p(-u["investigate"][i]))
            later.append((float(floats[i, 0]) + wait, ids[i], engine._agency_names[investigator]))
        if (needs_unit and arrest) or investigated:
            sentence[ids[i]] = (float(u["prison"][i]), float(u["prison_days"][i]))
    return incidents, sentence, later


def test_offences_made_positionally_are_those_made_by_keyword() -> None:
    """A month of the baseline: every field, investigation and arrest's draws of each offence.

    The known offences are the incidents made; the dark ones are kept as rows, and
    made into incidents when asked: both give what the keywords give.
    """
    scenario = load_scenario(SCENARIOS / "baseline.yaml")
    model = SecurityModel(scenario, seed=3)
    engine = model.crime
    assert engine is not None
    made = engine._incidents
    seen = {"offences": 0, "known": 0, "later": 0, "sentences": 0}

    def checked(*args: np.ndarray) -> list[Incident]:
        copies = tuple(a.copy() for a in args)
        before_sentence, before_later = dict(engine._sentence), list(engine._later)
        first, dark_before = model.ids.issued, len(engine.dark_offences())
        out = made(*args)
        n = copies[0].shape[0]
        assert model.ids.issued == first + n  # an id each, dark or not, in time order
        want, sentence, later = offences_by_keyword(engine, copies, list(range(first, first + n)))
        dark = engine.dark_offences().incidents(start=dark_before)
        assert all(o.known is not Known.DARK for o in out)
        assert all(o.known is Known.DARK for o in dark)
        got = sorted([*out, *dark], key=lambda o: o.incident_id)
        assert [fields(o) for o in got] == [fields(o) for o in want]
        added = {k: v for k, v in engine._sentence.items() if k not in before_sentence}
        assert added == sentence
        pushed = [e for e in engine._later if e not in before_later]
        assert sorted((w, i, a) for w, i, _, a in pushed) == sorted(later)
        assert all(i in engine._investigated for _, i, _ in later)
        seen["offences"] += n
        seen["known"] += len(out)
        seen["later"] += len(later)
        seen["sentences"] += len(sentence)
        return out

    engine._incidents = checked  # type: ignore[method-assign]
    model.run_until(24.0 * 30)
    assert seen["offences"] > 1000 and seen["known"] > 200
    assert seen["later"] > 20 and seen["sentences"] > 20


def test_the_fields_are_in_the_order_the_positional_calls_assume() -> None:
    """A swap of two fields of one type (x and y, district and commune, two times)
    passes the type checker: the order the two hot paths pass them in is pinned here."""
    assert [f.name for f in dataclasses.fields(Incident)][:26] == [
        "incident_id",
        "kind",
        "type",
        "priority",
        "cell",
        "district",
        "commune",
        "x_m",
        "y_m",
        "t_occurred_h",
        "t_reported_h",
        "on_scene_h",
        "follow_up_h",
        "arrest",
        "parent_id",
        "known",
        "needs_response",
        "resident",
        "t_dispatched_h",
        "t_arrived_h",
        "t_cleared_h",
        "agency",
        "unit",
        "outcome",
        "offender",
        "t_offender_gone_h",
    ]


def test_a_calls_cell_is_found_in_a_row_as_searchsorted_finds_it() -> None:
    """bisect_right on the rows' views (CallMix.rows) against NumPy's searchsorted "right",
    on rows with cells of no weight (repeated sums) and on the rows' own values."""
    rng = np.random.default_rng(3)
    weights = rng.random((2, 3, 50)) * (rng.random((2, 3, 50)) < 0.4)
    weights[1, 2] = 0.0
    cum = np.cumsum(weights, axis=2)
    cum[1, 2] = np.linspace(0.0, 1.0, 50)
    cum[:, :2] /= cum[:, :2, -1:]
    mix = CallMix(np.array([1.0]), cum)
    for c in range(3):
        for k in range(2):
            row = cum[k, c]
            found = np.concatenate([row, np.nextafter(row, -1.0), np.nextafter(row, 2.0)])
            for u in [*rng.random(200).tolist(), *found.tolist(), 0.0, 1.0, -0.0]:
                assert bisect_right(mix.rows[c][k], u) == int(row.searchsorted(u, "right")), u
