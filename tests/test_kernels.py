"""The compiled loops give the answers of the array formulas they replaced.

Each kernel of :mod:`simulator.crime.kernels` and :mod:`simulator.world.kernels`
is checked against the NumPy code it replaced, written out here as the
reference: the same offender to the slot, the same decisions and places, the
same chances, presence and patrol fields up to rounding (the kernels use the C
library's exp and expm1, sum squares row by row and the patrol field agency by
agency), the same residents' trust and fear to the bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.crime import kernels
from simulator.crime.engine import (
    _DECISION_COLUMNS,
    _KEPT_COLUMNS,
    _NO_HISTORY,
    _OFFENCE_COLUMNS,
    _PICK_COLUMNS,
    _U,
    _UNIFORMS,
    _VICTIMS,
    CrimeEngine,
)
from simulator.crime.offenders import OffenderPool
from simulator.model import SecurityModel
from simulator.scenario.schema import CitizensSpec, OffenderSpec
from simulator.world import kernels as world_kernels

from .conftest import SMALL_TOWN, scenario_from

RTOL = 1e-12  # a few ulps of the chances and guardianships


@pytest.fixture(scope="module")
def town() -> SecurityModel:
    """The small town with offences, after a week (arrests, patrols and near repeats)."""
    crime = {"crime": {}, "run__days": 10}
    for name in ("incivility", "theft", "burglary", "assault", "drug_dealing", "serious_violence"):
        crime[f"competences__{name}"] = ["state_police"]
    model = SecurityModel(scenario_from(SMALL_TOWN, **crime), seed=1)
    model.run_until(7 * 24.0 + 10.5)
    return model


def plain_pick(
    pool: OffenderPool, types: np.ndarray, cells: np.ndarray, u_cell: np.ndarray, u_who: np.ndarray
) -> np.ndarray:
    """``OffenderPool.pick`` as it was written on arrays before its compiled loop."""
    n = pool._box.shape[0]
    m = types.size
    box = pool._box[cells]
    type_at = types * (n + 1)
    running = np.cumsum(pool._weight_flat[type_at[:, None] + box], axis=1)
    total = running[:, -1]
    col = np.minimum((running < (u_cell * total)[:, None]).sum(axis=1), box.shape[1] - 1)
    home = box[np.arange(m), col]
    far = total <= 0
    if far.any():
        wc = np.cumsum(pool._weight[:, :n], axis=1)[types[far]]
        x = u_cell[far] * wc[:, -1]
        home[far] = np.minimum((wc < x[:, None]).sum(axis=1), n - 1)
    start, stop = pool._cell_start[home], pool._cell_start[home + 1]
    weight = pool._weight_flat[type_at + home]
    row = types * pool.size
    j = np.searchsorted(pool._cum_flat, pool._below[row + start] + u_who * weight, side="right")
    j = np.clip(j - row, start, np.maximum(stop - 1, start))
    ok = (stop > start) & (weight > 0)
    return np.where(ok, pool._order[j], -1)


@pytest.mark.parametrize("reach", [0, 1, 2])
def test_offenders_picked_in_compiled_loops_are_those_of_the_array_formula(
    town: SecurityModel, reach: int
) -> None:
    """Every cell of the town (some with nobody within reach), every type, many uniforms."""
    pool = OffenderPool(
        OffenderSpec(), 3, town.territory, town.population, np.random.SeedSequence(7), reach
    )
    rng = np.random.default_rng(reach)
    n = town.territory.n_cells
    cells = np.tile(np.arange(n), 20)
    types = rng.integers(0, 3, cells.size)
    u_cell, u_who = rng.random(cells.size), rng.random(cells.size)
    picked = pool.pick(types, cells, u_cell, u_who)
    np.testing.assert_array_equal(picked, plain_pick(pool, types, cells, u_cell, u_who))
    if reach == 0:  # cells where nobody lives: anyone may come
        assert (pool._weight[0, :n] <= 0).any()
    assert (picked >= 0).mean() > 0.9


@settings(max_examples=60, deadline=None)
@given(
    nx=st.integers(1, 9),
    ny=st.integers(1, 9),
    radius=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_guardianship_reads_the_plain_mean_over_the_square_around_each_cell(
    nx: int, ny: int, radius: int, seed: int
) -> None:
    """Standing guardians + crowd x (patrol + weight x the mean remembered presence around)."""
    rng = np.random.default_rng(seed)
    n = nx * ny
    area = rng.exponential(size=n) * (rng.random(n) < 0.5)
    patrol, static = rng.exponential(size=n), rng.random(n)
    crowd = rng.random(n).astype(np.float32)
    cells = rng.integers(0, n, size=int(rng.integers(0, 30)))
    guard = kernels.guardianship(cells, (patrol, area, crowd, static, 2.5, nx, ny, radius))
    grid = area.reshape(ny, nx)
    mean = np.array(
        [
            grid[max(j - radius, 0) : j + radius + 1, max(i - radius, 0) : i + radius + 1].mean()
            for j, i in (divmod(int(c), nx) for c in cells)
        ]
    )
    expected = static[cells] + crowd[cells] * (patrol[cells] + 2.5 * mean)
    np.testing.assert_allclose(guard, expected, rtol=RTOL, atol=1e-13 * (1 + area.sum()))
    local = kernels.guardianship(cells, (patrol, area, crowd, static, 0.0, nx, ny, radius))
    np.testing.assert_array_equal(local, static[cells] + crowd[cells] * patrol[cells])


def plain_guardianship(
    engine: CrimeEngine, cells: np.ndarray, patrol: np.ndarray, hour: int
) -> np.ndarray:
    """Guardianship as the engine computed it on arrays: the mean over each square."""
    t, spec = engine._t, engine.spec.offenders
    r = spec.area_radius_cells
    grid = engine._area_field.reshape(t.ny, t.nx)
    mean = np.array(
        [
            grid[max(j - r, 0) : j + r + 1, max(i - r, 0) : i + r + 1].mean()
            for j, i in (divmod(int(c), t.nx) for c in cells)
        ]
    )
    crowd = engine._crowd[hour % 168, cells]
    return engine._static_guard[cells] + crowd * (patrol[cells] + spec.area_weight * mean)


def plain_decisions(
    engine: CrimeEngine,
    rows: np.ndarray,
    cells: np.ndarray,
    u: np.ndarray,
    slots: np.ndarray,
    hour: int,
    patrol: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``CrimeEngine._commit``'s decisions as they were written on arrays."""
    now = float(hour)
    pool, spec = engine.offenders, engine.spec.offenders
    has = slots >= 0
    slot0 = np.where(has, slots, 0)
    free = has & (pool.held_until_h[slot0] <= now)
    fade = np.exp(-(now - pool.own_arrests_t[slot0]) / (spec.memory_days * 24.0))
    personal = (
        spec.own_arrest * (pool.own_arrests[slot0] * fade)
        + spec.others_arrest * engine._arrests_near[pool.home[slot0]]
    )
    delta = engine._deterrence[rows]
    share = engine.spec.displacement_share
    inside = engine._inside[cells]
    looks = np.flatnonzero(free & (inside > 0)) if share > 0 else np.empty(0, np.int64)
    nb = engine._next_door[cells[looks]]
    guard = plain_guardianship(engine, np.concatenate([cells, nb.ravel()]), patrol, hour)
    m = cells.size
    chance = np.exp(-delta * (guard[:m] + personal))
    chance[~free] = 0.0
    chance_next = np.exp(
        -delta[looks, None] * (guard[m:].reshape(nb.shape) + personal[looks, None])
    )
    commit = u[:, _U["commit"]] < chance
    where = cells.copy()
    for row, c in enumerate(looks):
        d, k = u[c], int(inside[c])
        if commit[c] or not d[_U["move"]] < share:
            continue
        pick = min(int(d[_U["next_door"]] * k), k - 1)
        if d[_U["commit_next_door"]] < chance_next[row, pick]:
            where[c] = nb[row, pick]
            commit[c] = True
    return chance, commit, where, looks, chance_next


def test_decisions_in_compiled_loops_are_those_of_the_array_formula(town: SecurityModel) -> None:
    """Thousands of opportunities in the town's state after a week: who acts, and where."""
    engine = town.crime
    assert engine is not None
    pool = engine.offenders
    spec = engine.spec.offenders
    rng = np.random.default_rng(11)
    hour = round(float(town.time))
    patrol = rng.exponential(0.3, town.territory.n_cells) * (
        rng.random(town.territory.n_cells) < 0.3
    )
    # Some offenders held, some with arrests of their own, as the week left them or set here.
    pool.held_until_h[rng.random(pool.size) < 0.1] = hour + 5.0
    pool.own_arrests[rng.random(pool.size) < 0.2] = 1.5
    m = 4000
    rows = rng.integers(0, len(engine._order), m)
    cells = rng.integers(0, town.territory.n_cells, m)
    u = rng.random((m, len(_UNIFORMS)))
    slots = pool.pick(engine._order_index[rows], cells, u[:, _U["home"]], u[:, _U["who"]])
    slots[rng.random(m) < 0.05] = -1  # no offender with a propensity for some
    share = engine.spec.displacement_share
    assert share > 0 and engine._area_field.any()  # the area term and displacement are on

    def decide(share: float) -> tuple[np.ndarray, ...]:
        return kernels.decide(  # type: ignore[no-any-return]
            rows, cells, u, _DECISION_COLUMNS, slots, float(hour), pool.held_until_h,
            pool.own_arrests, pool.own_arrests_t, pool.home, spec.memory_days * 24.0,
            spec.own_arrest, spec.others_arrest, engine._arrests_near, engine._deterrence,
            share, engine._inside, engine._next_door, engine._guardians(patrol, hour),
        )  # fmt: skip

    chance, commit, where, looks, chance_next = decide(share)
    want = plain_decisions(engine, rows, cells, u, slots, hour, patrol)
    np.testing.assert_allclose(chance, want[0], rtol=RTOL)
    np.testing.assert_array_equal(looks, want[3])
    np.testing.assert_allclose(chance_next, want[4], rtol=RTOL)
    np.testing.assert_array_equal(commit, want[1])
    np.testing.assert_array_equal(where, want[2])
    # The draw exercised every branch: held, deterred, displaced, committed where it arose.
    assert 0 < commit.sum() < m and (where != cells).any() and (chance == 0).any()
    assert (chance[slots >= 0] > 0).any() and looks.size > m / 4
    # Without displacement nobody looks next door: each acts where the opportunity arose.
    chance0, commit0, where0, looks0, _ = decide(0.0)
    np.testing.assert_array_equal(chance0, chance)
    assert looks0.size == 0 and (where0 == cells).all()
    np.testing.assert_array_equal(commit0, u[:, _U["commit"]] < chance)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), saturation=st.sampled_from([0.0, 0.1, 0.5]))
def test_presence_taken_in_compiled_loops_is_the_array_formula(
    seed: int, saturation: float
) -> None:
    """An hour of the presence log: what it added, residual deterrence, the day's presence,
    then the patrol field and what offenders remember of it."""
    rng = np.random.default_rng(seed)
    agencies, n = int(rng.integers(1, 5)), int(rng.integers(1, 60))
    last = rng.exponential(size=(agencies, n)) * (rng.random((agencies, n)) < 0.5)
    hours = last.copy()
    touched = np.sort(
        rng.choice(agencies * n, size=int(rng.integers(0, agencies * n)), replace=False)
    )
    hours.reshape(-1)[touched] += rng.exponential(0.3, touched.size)
    touched_last = np.sort(
        rng.choice(agencies * n, size=int(rng.integers(0, agencies * n)), replace=False)
    )
    hour = np.zeros((agencies, n))
    hour.reshape(-1)[touched_last] = rng.random(touched_last.size)
    effective = rng.exponential(size=(agencies, n))
    day = rng.random(n)
    decay, scale = 0.37, 0.25 / -np.expm1(-0.25 / saturation) if saturation else 1.0
    # The array formula.
    want_hour = hour.copy()
    want_hour.reshape(-1)[touched_last] = 0.0
    added = hours.reshape(-1)[touched] - last.reshape(-1)[touched]
    want_hour.reshape(-1)[touched] = added
    want_eff = effective * decay
    if saturation:
        added = scale * -np.expm1(-added / saturation)
    want_eff.reshape(-1)[touched] += added
    cells = np.unique(touched % n)
    want_day = day.copy()
    want_day[cells] += want_hour[:, cells].sum(axis=0)
    seen = np.zeros(n, dtype=bool)
    kernels.observe_presence(
        hours.reshape(-1), touched, touched_last, hour.reshape(-1), last.reshape(-1),
        effective.reshape(-1), day, seen, decay, saturation, scale,
    )  # fmt: skip
    np.testing.assert_array_equal(hour, want_hour)
    np.testing.assert_array_equal(last, hours)
    np.testing.assert_allclose(effective, want_eff, rtol=RTOL)
    np.testing.assert_array_equal(day, want_day)
    assert not seen.any()  # the scratch mask is left clear
    strength, area, keep = rng.random(agencies), rng.random(n), 0.9
    patrol = np.empty(n)
    want_patrol = strength @ effective
    want_area = area * keep + (1.0 - keep) * want_patrol
    kernels.patrol_field(strength, effective, area, keep, patrol)
    np.testing.assert_allclose(patrol, want_patrol, rtol=RTOL)
    np.testing.assert_allclose(area, want_area, rtol=RTOL)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_a_days_trust_and_fear_in_one_pass_are_those_of_the_array_formula(seed: int) -> None:
    """Residents stored cell by cell (some cells empty); float32 to the bit."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, int(rng.integers(1, 40)))
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(first[-1])
    trust0 = rng.random(n).astype(np.float32)
    trust, fear = rng.random(n).astype(np.float32), rng.random(n).astype(np.float32)
    presence = rng.exponential(size=counts.size) * (rng.random(counts.size) < 0.5)
    victims = rng.poisson(0.5, counts.size).astype(float)
    s = CitizensSpec(
        trust_presence_gain=float(rng.random()),
        trust_recovery_per_day=float(rng.random() * 0.1),
        fear_neighbourhood_gain=float(rng.random() * 0.5),
        fear_decay_per_day=float(rng.random() * 0.1),
    )
    # The array formula (before the kernel), on copies.
    want_trust, want_fear = trust.copy(), fear.copy()
    gain = np.repeat(np.minimum(1.0, s.trust_presence_gain * presence.astype(np.float32)), counts)
    scratch = np.subtract(1.0, want_trust, dtype=np.float32)
    scratch *= gain
    want_trust += scratch
    np.subtract(trust0, want_trust, out=scratch)
    scratch *= s.trust_recovery_per_day
    want_trust += scratch
    nearby = victims.astype(np.float32)
    worry = np.repeat(1.0 - (1.0 - s.fear_neighbourhood_gain) ** nearby, counts)
    np.subtract(1.0, want_fear, out=scratch)
    scratch *= worry
    want_fear += scratch
    want_fear *= 1.0 - s.fear_decay_per_day
    world_kernels.daily_update(
        first,
        np.minimum(1.0, s.trust_presence_gain * presence.astype(np.float32)),
        1.0 - (1.0 - s.fear_neighbourhood_gain) ** nearby,
        trust,
        trust0,
        fear,
        np.float32(s.trust_recovery_per_day),
        np.float32(1.0 - s.fear_decay_per_day),
    )
    assert trust.dtype == fear.dtype == np.float32
    np.testing.assert_array_equal(trust, want_trust)
    np.testing.assert_array_equal(fear, want_fear)


def detection_chances(
    kinds: np.ndarray,
    cells: np.ndarray,
    visibility: np.ndarray,
    presence: np.ndarray,
    cctv: np.ndarray,
    patrol_weight: float,
    cctv_weight: float,
) -> np.ndarray:
    """The chances that guardians see an hour's offences, as the engine computed them on
    arrays: 1 - exp(-visibility x (patrol weight x presence + CCTV weight x coverage)).

    Each cell's column of presence (agency x cell) is summed along a contiguous row,
    in NumPy's pairs, as ``presence[:, cell].sum()`` adds it.
    """
    seen = patrol_weight * np.ascontiguousarray(presence[:, cells].T).sum(axis=1)
    seen += cctv_weight * cctv[cells]
    chance: np.ndarray = 1.0 - np.exp(-visibility[kinds] * seen)
    return chance


@pytest.mark.parametrize("agencies", [0, 1, 3, 7, 8, 9, 17, 128, 129, 300, 1000])
def test_detection_chances_of_an_hour_are_those_of_each_offence(agencies: int) -> None:
    """The hour's columns of presence summed at once as one by one (NumPy's pairs, from 8
    agencies on), with and without CCTV."""
    rng = np.random.default_rng(agencies)
    n = 40
    presence = rng.exponential(size=(agencies, n)) * 10.0 ** rng.uniform(-3, 3, (agencies, 1))
    presence[:, :10] = 0.0  # no patrol there
    cctv = rng.random(n) * (rng.random(n) < 0.5)
    cells = rng.integers(0, n, size=60)
    kinds = rng.integers(0, 3, size=60)
    visibility = np.array([0.4, 1.0, 2.5])
    p_detect = detection_chances(kinds, cells, visibility, presence, cctv, 0.7, 0.3)
    seen = [0.7 * float(presence[:, c].sum()) + 0.3 * cctv[c] for c in cells.tolist()]
    expected = [  # CrimeEngine._offence: each offence's chance of being seen, one by one
        1.0 - np.exp(-visibility[k] * s) if s else 0.0 for k, s in zip(kinds, seen, strict=True)
    ]
    assert p_detect.tolist() == expected
    assert (p_detect == 0.0).any() and (p_detect > 0.0).any()
    # The compiled chance of commit_hour: the same sums to the bit (NumPy's pairs); the
    # C library's exp, within an ulp or so.
    for c in range(n):
        column = np.ascontiguousarray(presence[:, c])
        assert kernels.pairwise_sum(column, agencies) == presence[:, c].sum()
    scratch = np.empty(agencies)
    seeing = (visibility, presence, cctv, 0.7, 0.3)
    compiled = [
        kernels.detection_chance(k, c, seeing, scratch)
        for k, c in zip(kinds.tolist(), cells.tolist(), strict=True)
    ]
    np.testing.assert_allclose(compiled, p_detect, rtol=RTOL, atol=0.0)
    assert [p == 0.0 for p in compiled] == (p_detect == 0.0).tolist()


def plain_offences(
    kinds: list[int],
    cells: list[int],
    when: list[float],
    u: np.ndarray,
    lengths: np.ndarray,
    p_detect: list[float],
    types: list[dict[str, float | str]],
    first: list[int],
    people: dict[str, np.ndarray],
    citizens: CitizensSpec,
) -> tuple[list[list[int]], list[list[float]], int]:
    """``CrimeEngine._offence``'s numbers as it computed them, offence after offence."""
    trust, fear, times = people["trust"], people["fear"], people["victimisations"]
    size = trust.size
    ints, floats, first_time = [], [], 0
    for i, (k, cell, at) in enumerate(zip(kinds, cells, when, strict=True)):
        ts, uu = types[k], u[i].tolist()
        start, stop = first[cell], first[cell + 1]
        victim = -1
        if ts["victim"] != "none" and size > 0:
            if stop > start and (ts["victim"] == "household" or uu[_U["local"]] < 0.5):
                victim = start + int(uu[_U["victim"]] * (stop - start)) % (stop - start)
            else:
                victim = int(uu[_U["victim"]] * size) % size
        reported_at = at
        if uu[_U["detect"]] < p_detect[i]:
            known, needs_unit = kernels.DETECTED, True
        else:
            p_report = float(ts["report_prob"])
            if victim >= 0:  # Population.reporting_probability, before the kernel
                p = p_report * (0.5 + float(trust[victim])) * float(people["propensity"][victim])
                if people["watch"][victim]:
                    p += citizens.watch_report_bonus
                p_report = min(1.0, max(0.0, p))
            if uu[_U["report"]] < p_report:
                known = kernels.REPORTED
                reported_at = at + float(lengths[i, 0]) * float(ts["report_delay_min"]) / 60.0
                needs_unit = uu[_U["respond"]] < float(ts["response_share"])
            else:
                known, needs_unit = kernels.DARK, False
        if victim >= 0:  # Population.victimise, before the kernel
            if times[victim] == 0:
                first_time += 1
            times[victim] += 1
            trust[victim] *= 1.0 - citizens.trust_victim_loss
            f = fear[victim]
            fear[victim] = f + citizens.fear_victim_gain * (1.0 - f)
            people["victims_day"][cell] += 1.0
        slot = int(people["slots"][i])
        people["offences"][slot] += 1
        arrest = uu[_U["arrest"]] < float(ts["arrest_prob"])
        offender = slot + people["offences"].size * int(people["generation"][slot])
        ints.append([known, int(needs_unit), int(arrest), victim, offender])
        follow = (
            float(ts["follow_up_min"]) / 60.0 if uu[_U["follow"]] < ts["follow_up_prob"] else 0.0
        )
        floats.append(
            [
                reported_at,
                float(people["x"][cell]) + (uu[_U["jitter_x"]] - 0.5) * 200.0,
                float(people["y"][cell]) + (uu[_U["jitter_y"]] - 0.5) * 200.0,
                float(ts["on_scene_mean_min"]) / 60.0 * float(lengths[i, 1]),
                follow,
                at + float(ts["stay_min"]) / 60.0 * float(lengths[i, 2]),
                -(reported_at - at) / float(ts["later_clearance_delay_h"]),
                float(ts["later_clearance_prob"]),
            ]
        )
    return ints, floats, first_time


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_offences_in_one_compiled_pass_are_those_of_the_plain_formulas(seed: int) -> None:
    """Victims in the cell and elsewhere (or none), detection or not, reports and the
    dark figure, float32 trust and fear to the bit, a resident victimised twice in
    the hour (the second offence reading the trust the first left)."""
    rng = np.random.default_rng(seed)
    n, m, pool = 12, 60, 15
    residents = rng.integers(0, 4, n)
    residents[0], residents[1] = 0, 1  # nobody lives in cell 0, one resident in cell 1
    first = np.concatenate([[0], np.cumsum(residents)]).astype(np.int64)
    size = int(first[-1])
    citizens = CitizensSpec(
        trust_victim_loss=float(rng.uniform(0.01, 0.3)),
        fear_victim_gain=float(rng.uniform(0.01, 0.3)),
        watch_report_bonus=float(rng.uniform(0.0, 0.3)),
    )
    types = [
        {
            "victim": victim,
            "report_prob": float(rng.random()),
            "response_share": float(rng.random()),
            "report_delay_min": float(rng.uniform(1, 600)),
            "on_scene_mean_min": float(rng.uniform(5, 90)),
            "follow_up_min": float(rng.uniform(0, 120)),
            "follow_up_prob": float(rng.random()),
            "arrest_prob": float(rng.random()),
            "stay_min": float(rng.uniform(1, 60)),
            "later_clearance_prob": float(rng.random()),
            "later_clearance_delay_h": float(rng.uniform(1, 200)),
        }
        for victim in ("none", "household", "person", "household", "person")
    ]
    table = np.array(
        [[_VICTIMS[str(ts["victim"])]] + [float(v) for v in list(ts.values())[1:]] for ts in types]
    )
    kinds = rng.integers(0, len(types), m)
    cells = rng.integers(0, n, m)
    kinds[:3], cells[:3] = 1, 1  # the resident of cell 1, three times a victim
    when = np.sort(rng.random(m)) + 5.0
    u = rng.random((m, len(_UNIFORMS)))
    lengths = -np.log1p(-u[:, [_U["delay"], _U["scene"], _U["stay"]]])
    p_detect = rng.random(m) * (rng.random(m) < 0.5)
    people = {
        "trust": rng.uniform(0.01, 0.99, size).astype(np.float32),
        "propensity": rng.lognormal(-0.045, 0.3, size).astype(np.float32),
        "watch": rng.random(size) < 0.3,
        "fear": rng.random(size).astype(np.float32),
        "victimisations": rng.integers(0, 2, size).astype(np.int16),
        "victims_day": rng.random(n),
        "x": rng.random(n) * 1e4,
        "y": rng.random(n) * 1e4,
        "slots": rng.integers(0, pool, m),
        "offences": rng.integers(0, 5, pool),
        "generation": rng.integers(0, 3, pool),
    }
    plain = {k: v.copy() for k, v in people.items()}
    ints, floats, first_time = kernels.offences(
        kinds,
        cells,
        when,
        people["slots"],
        u,
        _OFFENCE_COLUMNS,
        lengths,
        p_detect,
        table,
        first,
        people["trust"],
        people["propensity"],
        people["watch"],
        people["fear"],
        people["victimisations"],
        citizens.watch_report_bonus,
        1.0 - citizens.trust_victim_loss,
        citizens.fear_victim_gain,
        people["victims_day"],
        people["x"],
        people["y"],
        200.0,
        people["offences"],
        people["generation"],
    )
    want_ints, want_floats, want_first = plain_offences(
        kinds.tolist(),
        cells.tolist(),
        when.tolist(),
        u,
        lengths,
        p_detect.tolist(),
        types,
        first.tolist(),
        plain,
        citizens,
    )
    assert ints.tolist() == want_ints
    assert floats.tolist() == want_floats
    p_later = floats[:, 7] * np.exp(floats[:, 6])  # as CrimeEngine._offences reads them
    assert p_later.tolist() == [  # CrimeEngine._offence, one by one
        float(types[k]["later_clearance_prob"])
        * np.exp(-(row[0] - at) / float(types[k]["later_clearance_delay_h"]))
        for k, at, row in zip(kinds.tolist(), when.tolist(), want_floats, strict=True)
    ]
    assert first_time == want_first
    for key in ("trust", "fear", "victimisations", "victims_day", "offences"):
        assert people[key].dtype == plain[key].dtype
        np.testing.assert_array_equal(people[key], plain[key])
    victims = ints[:, 3]
    assert (victims[:3] == first[1]).all()  # victimised three times in the hour
    assert (victims[kinds == 0] == -1).all()
    elsewhere = (victims >= 0) & ((victims < first[cells]) | (victims >= first[cells + 1]))
    assert elsewhere.any() and ((victims >= first[cells]) & (victims < first[cells + 1])).any()
    known = ints[:, 0]
    assert set(known.tolist()) == {kernels.DETECTED, kernels.REPORTED, kernels.DARK}


def test_an_hours_commit_in_one_call_is_its_steps_one_after_the_other(
    town: SecurityModel,
) -> None:
    """``commit_hour``: the offenders picked, the decisions, the offences in time order
    (ties in opportunity order), their chances of being seen and their numbers, and the
    expected offences, as the steps give them one after the other; and nothing where
    nobody could offend."""
    engine = town.crime
    assert engine is not None
    pool, pop, spec = engine.offenders, town.population, engine.spec.offenders
    rng = np.random.default_rng(23)
    hour = round(float(town.time))
    n = town.territory.n_cells
    patrol = rng.exponential(0.3, n) * (rng.random(n) < 0.3)
    presence = rng.exponential(0.2, engine._presence_hour.shape)
    presence *= rng.random(presence.shape) < 0.3
    m = 600
    rows = rng.integers(0, len(engine._order), m)
    cells = rng.integers(0, n, m)
    u = rng.random((m, len(_UNIFORMS)))
    u[: m // 10, _U["time"]] = 0.5  # offences at the same time
    # Each opportunity placed where it is drawn: running sums 1, 2, 3... of one a cell.
    cum = np.arange(1.0, len(engine._order) * n + 1.0)
    u[:, _U["where"]] = (rows * n + cells + 0.5) / cum.size
    lengths = np.ascontiguousarray(-np.log1p(-u[:, [_U["delay"], _U["scene"], _U["stay"]]]))
    deciding = (
        _DECISION_COLUMNS, pool.held_until_h, pool.own_arrests, pool.own_arrests_t,
        pool.home, spec.memory_days * 24.0, spec.own_arrest, spec.others_arrest,
        engine._arrests_near, engine._deterrence, engine.spec.displacement_share,
        engine._inside, engine._next_door,
    )  # fmt: skip
    guardians = engine._guardians(patrol, hour)
    seeing = (engine._visibility, presence, engine.cctv_effective, 0.8, 0.4)
    citizens = pop.spec

    def victims() -> tuple[object, ...]:  # the state offences change, copied for each way
        return (
            engine._type_table, pop.first, pop.trust.copy(), pop.report_propensity,
            pop.watch, pop.fear.copy(), pop.victimisations.copy(),
            float(citizens.watch_report_bonus), 1.0 - citizens.trust_victim_loss,
            float(citizens.fear_victim_gain), engine._victims_day.copy(), engine._x,
            engine._y, float(town.territory.cell_m), pool.offences.copy(), pool.generation,
        )  # fmt: skip

    # The steps, one after the other.
    types = engine._order_index[rows]
    slots = pool.pick(types, cells, u[:, _U["home"]], u[:, _U["who"]])
    chance, commit, where, looks, chance_next = kernels.decide(
        rows, cells, u, _DECISION_COLUMNS, slots, float(hour), *deciding[1:], guardians
    )
    committed = np.flatnonzero(commit)
    when = hour + u[committed, _U["time"]]
    order = np.argsort(when, kind="stable")
    done = committed[order]
    p_detect = detection_chances(
        types[done], where[done], engine._visibility, presence, engine.cctv_effective, 0.8, 0.4
    )
    stepped = victims()
    ints, floats, first_time = kernels.offences(
        types[done], where[done], when[order], slots[done], u[done], _OFFENCE_COLUMNS,
        lengths[done], p_detect, *stepped,
    )  # fmt: skip
    # In one call.
    at_once = victims()
    expected = np.zeros_like(engine._expected)
    numbers, values, got_first_time = kernels.commit_hour(
        float(hour), u, lengths, m, cum, _U["where"], n, _NO_HISTORY, engine._order_index,
        _PICK_COLUMNS, _OFFENCE_COLUMNS, _KEPT_COLUMNS, pool.picking, deciding, guardians,
        seeing, at_once, expected,
    )  # fmt: skip
    np.testing.assert_array_equal(numbers, np.column_stack([types[done], where[done], ints]))
    kept = u[done][:, _KEPT_COLUMNS]
    np.testing.assert_array_equal(values, np.column_stack([when[order], floats, kept]))
    assert got_first_time == first_time
    for changed, want in zip(at_once, stepped, strict=True):  # trust, fear, counts...
        np.testing.assert_array_equal(changed, want)
    # Expected offences: each opportunity's chance where it arose, then next door the
    # share of the rest that moves to each neighbour times the chance there, in order.
    want_expected = np.zeros_like(expected)
    np.add.at(want_expected, (rows, cells), chance)
    share = engine.spec.displacement_share
    for row, c in enumerate(looks.tolist()):
        k = int(engine._inside[cells[c]])
        moved = (1.0 - chance[c]) * share / k
        for j in range(k):
            want_expected[rows[c], engine._next_door[cells[c], j]] += chance_next[row, j] * moved
    np.testing.assert_array_equal(expected, want_expected)
    assert (want_expected > 0).sum() > looks.size  # neighbours took their share
    # The draw exercised ties, displacement, detection and every way of becoming known.
    assert (np.diff(when[order]) == 0).any() and (where[done] != cells[done]).any()
    ways = {kernels.DETECTED, kernels.REPORTED, kernels.DARK}
    assert (p_detect > 0).any() and set(ints[:, 0].tolist()) == ways
    # Nobody in the pool: no offender met, nothing decided, no offence.
    untouched = np.zeros_like(expected)
    nobody = kernels.commit_hour(
        float(hour), u, lengths, m, cum, _U["where"], n, _NO_HISTORY, engine._order_index,
        _PICK_COLUMNS, _OFFENCE_COLUMNS, _KEPT_COLUMNS, (*pool.picking[:7], 0), deciding,
        guardians, seeing, victims(), untouched,
    )  # fmt: skip
    assert nobody[0].shape == (0, 7) and nobody[1].shape == (0, 13) and nobody[2] == 0
    assert not untouched.any()


def test_an_hours_offences_are_its_opportunities_located_then_committed(
    town: SecurityModel,
) -> None:
    """``commit_hour`` locates the ordinary rows as np.searchsorted places them and the rows
    after them as ``locate_history`` does (near repeats and markets): its results and
    changes to the state are those of the opportunities placed there beforehand."""
    engine = town.crime
    assert engine is not None
    pool, pop, spec = engine.offenders, town.population, engine.spec.offenders
    rng = np.random.default_rng(29)
    hour = round(float(town.time))
    n = town.territory.n_cells
    m, ordinary = 300, 200
    u = rng.random((m, len(_UNIFORMS)))
    u[[0, ordinary], _U["where"]] = 0.0  # past the cells without rate, in both parts
    lengths = np.ascontiguousarray(-np.log1p(-u[:, [_U["delay"], _U["scene"], _U["stay"]]]))
    cum = engine._opportunity_cum[hour % 168].copy()
    cum[: n // 2] = 0.0  # cells without rate
    risk = np.zeros(n)
    at = np.sort(rng.choice(n, size=n // 3, replace=False))
    risk[at] = rng.exponential(1e-3, at.size)
    repeat_rows = np.array([0, len(engine._order) - 2], dtype=np.int64)
    market_flat = (len(engine._order) - 1) * n + np.sort(rng.choice(n, size=4, replace=False))
    market_rates = rng.exponential(0.1, market_flat.size)
    repeat_total, market_total = float(risk[at].sum()), float(market_rates.sum())
    total = repeat_total + repeat_total + market_total
    history = (
        risk, at, repeat_rows, repeat_total, market_flat, market_rates, market_total, total
    )  # fmt: skip
    # The steps, one after the other.
    # The ordinary rows where NumPy's search puts them (the old engine's code).
    x = u[:ordinary, _U["where"]] * cum[-1]
    found = np.divmod(np.minimum(np.searchsorted(cum, x, side="right"), cum.size - 1), n)
    rows, cells = np.full(m, -1, dtype=np.int64), np.full(m, -1, dtype=np.int64)
    kernels.locate_history(u, ordinary, _U["where"], n, history, rows, cells)
    rows[:ordinary], cells[:ordinary] = found
    assert set(rows[ordinary:].tolist()) == {*repeat_rows.tolist(), len(engine._order) - 1}
    citizens = pop.spec

    def state() -> tuple[tuple[object, ...], np.ndarray]:  # what an hour changes, copied
        victims = (
            engine._type_table, pop.first, pop.trust.copy(), pop.report_propensity,
            pop.watch, pop.fear.copy(), pop.victimisations.copy(),
            float(citizens.watch_report_bonus), 1.0 - citizens.trust_victim_loss,
            float(citizens.fear_victim_gain), engine._victims_day.copy(), engine._x,
            engine._y, float(town.territory.cell_m), pool.offences.copy(), pool.generation,
        )  # fmt: skip
        return victims, engine._expected.copy()

    deciding = (
        _DECISION_COLUMNS, pool.held_until_h, pool.own_arrests, pool.own_arrests_t,
        pool.home, spec.memory_days * 24.0, spec.own_arrest, spec.others_arrest,
        engine._arrests_near, engine._deterrence, engine.spec.displacement_share,
        engine._inside, engine._next_door,
    )  # fmt: skip
    guardians = engine._guardians(rng.exponential(0.3, n), hour)
    seeing = (engine._visibility, engine._presence_hour, engine.cctv_effective, 0.8, 0.4)
    # The located opportunities placed where they fell, through running sums 1, 2, 3...
    stepped, stepped_expected = state()
    placed = u.copy()
    ones = np.arange(1.0, len(engine._order) * n + 1.0)
    placed[:, _U["where"]] = (rows * n + cells + 0.5) / ones.size
    want = kernels.commit_hour(
        float(hour), placed, lengths, m, ones, _U["where"], n, _NO_HISTORY,
        engine._order_index, _PICK_COLUMNS, _OFFENCE_COLUMNS, _KEPT_COLUMNS, pool.picking,
        deciding, guardians, seeing, stepped, stepped_expected,
    )  # fmt: skip
    # Located in the call.
    at_once, expected = state()
    got = kernels.commit_hour(
        float(hour), u, lengths, ordinary, cum, _U["where"], n, history, engine._order_index,
        _PICK_COLUMNS, _OFFENCE_COLUMNS, _KEPT_COLUMNS, pool.picking, deciding, guardians,
        seeing, at_once, expected,
    )  # fmt: skip
    assert want[0].shape[0] > 10 and got[2] == want[2]
    for value, expect in zip(got[:2], want[:2], strict=True):
        np.testing.assert_array_equal(value, expect)
    for changed, expect in zip((*at_once, expected), (*stepped, stepped_expected), strict=True):
        np.testing.assert_array_equal(changed, expect)


def _layouts(types: object) -> set[str]:
    """The layouts of the arrays among Numba types (in tuples too)."""
    if isinstance(types, (tuple, list)):
        return set().union(*(_layouts(t) for t in types)) if types else set()
    if hasattr(types, "types"):  # a tuple type
        return _layouts(list(types.types))
    layout = getattr(types, "layout", None)
    return {layout} if layout else set()


def test_the_hours_arrays_reach_the_kernels_in_c_order(town: SecurityModel) -> None:
    """Hours of one opportunity and of many give the kernels C-ordered arrays: one
    compiled version of each serves every hour (a strided or Fortran-ordered array,
    as a column or the columns of a draw are, would compile it again mid-run)."""
    engine = town.crime
    assert engine is not None
    hour = round(float(town.time))
    rng = np.random.default_rng(3)
    for m in (1, 2, 40):
        engine._commit(hour, rng.random((m, len(_UNIFORMS))), m, _NO_HISTORY)
    town.run_until(town.time + 30.0)  # and the hours as they come
    for kernel in (
        kernels.commit_hour,  # (the kernels they call are compiled with them)
        kernels.hour_fields,
        kernels.any_nonzero,
        kernels.observe_presence,
    ):
        assert kernel.signatures
        for signature in kernel.signatures:
            assert _layouts(signature) == {"C"}, (kernel, signature)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_risk_faded_in_one_pass_is_the_array_formula(seed: int) -> None:
    """Near-repeat risk fades at the cells that hold some; those below the negligible
    rate drop to 0 and out of the list, the others keep their order."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    risk = np.zeros(n)
    at = np.sort(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False))
    risk[at] = rng.exponential(size=at.size) * 10.0 ** rng.uniform(-12, 0, at.size)
    keep, negligible = float(rng.uniform(0.5, 1.0)), 1e-10
    # The array formula (CrimeEngine._decay_near_repeat, before the kernel).
    want = risk.copy()
    faded = want[at] * keep
    want[at] = faded
    dropped = faded < negligible
    want[at[dropped]] = 0.0
    want_at = at[~dropped]
    scratch = np.empty(n)
    no = np.empty(0)  # no market
    kept = kernels.history_rates(risk, at, keep, negligible, scratch, no, no, 1.0, no)
    np.testing.assert_array_equal(risk, want)
    np.testing.assert_array_equal(at[:kept], want_at)
    assert scratch[:kept].sum() == want[want_at].sum()  # the total the hour's draw reads


def test_kernels_compile_uncached_where_no_cache_folder_can_be_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Numba refuses ``cache=True`` when it finds no writable folder (a read-only
    installation without a home folder): the kernel is then compiled in the process."""
    from simulator import compiled as module

    real = module.njit

    def njit(**options: object) -> object:
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'twice': no locator available")
        return real(**options)

    monkeypatch.setattr(module, "njit", njit)

    def twice(x: float) -> float:
        return 2.0 * x

    kernel = module.compiled(twice)
    assert kernel(1.5) == 3.0 and kernel is not twice
